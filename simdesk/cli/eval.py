"""``eval retrieval`` and ``eval duplicates``: quality measured on labelled photos."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from contextlib import contextmanager

from simdesk.cli.common import EXIT_OK, CliError, print_err
from simdesk.cli.models import ensure_model
from simdesk.cli.render import ProgressRenderer


@contextmanager
def _bad_folder():
    """The evaluations refuse an unsuitable folder with a ValueError: one line, like any error.
    (Caught here, not in ``main``: elsewhere a ValueError is a bug and keeps its traceback.)"""
    try:
        yield
    except ValueError as exc:
        raise CliError(str(exc)) from None


def cmd_eval(args) -> int:
    from simdesk.core.embedder import Embedder
    from simdesk.core.models.catalog import load_model
    from simdesk.eval.retrieval import evaluate_retrieval

    ensure_model(args.model)
    manifest = load_model(args.model)
    if args.resize:
        manifest.resize_mode = args.resize
    embedder = Embedder(manifest)
    with _bad_folder(), ProgressRenderer() as progress:
        report = evaluate_retrieval(embedder, args.folder, progress=progress)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"{report['model']} ({report['resize']}): {report['photos']} photos in "
          f"{len(report['classes'])} classes; relevant = same class, query excluded")
    if report["skipped"]:
        print(f"({report['skipped']} files could not be decoded and were left out)")
    print(f"{'pooling':<20} {'P@1':>6} {'P@10':>6} {'P@30':>6} {'mAP':>6}")
    for name, scores in report["results"].items():
        print(f"{name:<20} {scores['P@1']:6.3f} {scores['P@10']:6.3f} {scores['P@30']:6.3f} "
              f"{scores['mAP']:6.3f}")
    return EXIT_OK


@contextmanager
def _edited_copies_set(args):
    """(folder to score, recipes): DIR itself, or an edited-copies set built from DIR's photos."""
    if not args.edited_copies:
        yield args.folder, None
        return
    from simdesk.eval.edited_copies import build_edited_copies

    with tempfile.TemporaryDirectory(prefix="simdesk-edited-") as tmp:
        out = args.keep_set or os.path.join(tmp, "set")
        with ProgressRenderer() as progress:
            built = build_edited_copies(args.folder, out, originals=args.originals, copies=args.copies,
                                        distractors=args.distractors, seed=args.seed,
                                        strength=args.strength, camera=args.camera, progress=progress)
        # With --json, stdout carries the report alone: the summary goes to stderr.
        print(f"Edited-copies set from {os.path.abspath(args.folder)}: {len(built.groups)} originals "
              f"x {args.copies} edited copies, {len(built.distractors)} distractors"
              + (f" (in {out})" if args.keep_set else ""), file=sys.stderr if args.json else sys.stdout)
        for source, why in built.skipped:
            print_err(f"skipped {source}: {why}")
        yield str(built.folder), built.recipes


def cmd_eval_duplicates(args) -> int:
    from simdesk.eval.duplicates import evaluate_duplicates, format_report, plot_report

    ensure_model(args.model)
    if args.edited_copies and args.truth:
        raise CliError("--truth and --edited-copies exclude each other: the set built brings its own truth")
    with _bad_folder(), _edited_copies_set(args) as (folder, recipes), ProgressRenderer() as progress:
        report = evaluate_duplicates(folder, truth_file=args.truth, model=args.model,
                                     progress=progress, recipes=recipes, describe_progress=progress)
    if args.plot:
        plot_report(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(format_report(report))
    if args.plot:
        print(f"precision-recall curve: {args.plot}")
    return EXIT_OK
