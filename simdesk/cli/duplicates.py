"""``duplicates``, ``undo``, ``reference`` and ``not-duplicates``: copies found, trashed, put back."""

from __future__ import annotations

import csv
import sys
import time

from simdesk.cli.common import (EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, CliError, edit_folders, json_text,
                                open_library, print_err)
from simdesk.cli.models import ensure_model
from simdesk.cli.render import ProgressRenderer, cancel_on_interrupt
from simdesk.core.units import format_bytes


def _fmt_date(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(seconds)) if seconds is not None else "no date"


def _ask(question: str) -> bool:
    """A yes/no question on the terminal; anything but yes is no."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


_GROUP_LABELS = {"identical": "identical files", "copy": "copies of one photo",
                 "similar_shot": "similar shots (different exposures: nothing is ticked)"}


def _print_groups(scan, groups, threshold: float, selected: dict | None = None) -> None:
    counts = {kind: sum(1 for g in groups if g.kind == kind) for kind in _GROUP_LABELS}
    print(f"{counts['identical'] + counts['copy']} duplicate groups ({counts['identical']} identical, "
          f"{counts['copy']} edited copies) and {counts['similar_shot']} groups of similar shots among "
          f"{len(scan.photos)} photos; {scan.model}, {scan.descriptor}"
          + (f", similarity at least {threshold:.2f}." if threshold > scan.floor else "."))
    for number, group in enumerate(groups, 1):
        _print_group(number, group, selected.get(group.key, set()) if selected is not None
                     else {m.path for m in group.extras})


def _print_group(number: int, group, extras: set[str], numbered: bool = False) -> None:
    freed = sum(m.size for m in group.members if m.path in extras)
    print(f"\nGroup {number} [{group.key}]: {len(group.members)} {_GROUP_LABELS[group.kind]}, "
          f"{format_bytes(freed)} to reclaim")
    for index, member in enumerate(group.members, 1):
        if member.path == group.keep:
            role, note = "keep ", f"  <- {group.reason}"
        elif member.reference:
            role, note = "ref  ", "  (reference folder: never deleted)"
        else:
            same = "identical" if member.content_hash == group.kept.content_hash else f"{member.similarity:.2f}"
            role = "extra" if member.path in extras else "shot " if group.kind == "similar_shot" else "kept "
            note = f"  similarity {same}"
        dims = f"{member.width}x{member.height}" if member.pixels else "?x?"
        prefix = f"{index:>2}. " if numbered else ""
        print(f"  {prefix}{role} {member.path}  {dims}  {format_bytes(member.size)}  {_fmt_date(member.capture_time)}{note}")


CSV_FIELDS = ("group", "group_id", "kind", "role", "path", "size", "width", "height", "capture_time",
              "similarity", "camera", "software", "reason")


def _write_csv(groups, selected: dict) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for number, group in enumerate(groups, 1):
        ticked = selected.get(group.key, set())
        for member in group.members:
            role = ("keep" if member.path == group.keep else "reference" if member.reference
                    else "extra" if member.path in ticked else "shot" if group.kind == "similar_shot" else "kept")
            p = member.provenance
            writer.writerow([number, group.key, group.kind, role, member.path, member.size, member.width or "",
                             member.height or "",
                             time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(member.capture_time))
                             if member.capture_time is not None else "",
                             f"{member.similarity:.4f}", p.camera or "", p.software or "",
                             group.reason if member.path == group.keep else ""])


def _interactive(library, groups, selected: dict) -> dict:
    """Ask group by group; returns the selection to move ({group key: paths})."""
    from simdesk.core.duplicates.decisions import ticked_paths

    chosen: dict[str, set[str]] = {}
    asked = [g for g in groups if selected.get(g.key) or g.kind == "similar_shot"]
    for number, group in enumerate(asked, 1):
        while True:
            ticked = selected.get(group.key, set())
            _print_group(number, group, ticked, numbered=True)
            sys.stderr.write(f"Group {number} of {len(asked)}: move the {len(ticked)} extra(s) to the Trash? "
                             "[y]es, [n]o / skip, [k N] keep copy N instead, [q]uit: ")
            sys.stderr.flush()
            answer = sys.stdin.readline().strip().lower()
            if answer.startswith("k"):
                try:
                    index = int(answer[1:].strip()) - 1
                    path = group.members[index].path
                except (ValueError, IndexError):
                    print_err("k needs the number of a copy in the list, e.g. k 2")
                    continue
                group = group.with_keep(path)
                library.record_duplicate_decision(group, keep=path)
                others = {m.path: True for m in group.members if m.path != path and not m.reference}
                selected[group.key] = ticked_paths(group, None, others)
                groups[groups.index(next(g for g in groups if g.key == group.key))] = group
                continue
            break
        if answer in ("q", "quit"):
            break
        if answer in ("y", "yes") and ticked:
            chosen[group.key] = set(ticked)
    return chosen


def _print_trash_report(report) -> None:
    moved = len(report.moved)
    lines = [f"Moved {moved} file{'s' if moved != 1 else ''}, {format_bytes(report.bytes)}, to the Trash."]
    for path, why in report.skipped:
        lines.append(f"skipped {path}: {why}")
    if moved:
        lines.append(f"Undo with `simdesk undo` (batch {report.batch}).")
    print_err("\n".join(lines))


def cmd_duplicates(args) -> int:
    from simdesk.core.duplicates.freedesktop_trash import platform_support

    library = open_library(args)
    for path, what in library.reconcile_trash().settled:
        print_err(f"note: an interrupted move to the Trash was settled: {path}: {what}")
    rotations = not args.no_rotations
    if args.keep_rule:
        library.set_duplicate_keep_rule(args.keep_rule)
    if not library.store.photo_count():  # nothing to compare: no model needed, nothing downloaded
        if args.json:
            print(json_text({"threshold": args.threshold, "model": library.model_name, "groups": []}))
        else:
            print("No photos in the library yet: add and index a folder first (simdesk index FOLDER).")
        return EXIT_OK
    if not args.fast:
        ensure_model(library.model_name)
        missing = library.duplicates_missing(rotations)
        if missing:
            print_err(f"Preparing duplicate detection for {missing} photos (once per photo)…")
            with cancel_on_interrupt() as cancel, ProgressRenderer() as progress:
                report = library.prepare_duplicates(rotations=rotations, progress=progress, cancel=cancel)
            for path, why in report.skipped:
                print_err(f"not compared {path}: {why}")
            if report.cancelled:
                print_err("Stopped. Run the same command again to resume.")
                return EXIT_CANCELLED
    with cancel_on_interrupt() as cancel, ProgressRenderer() as progress:
        scan = library.find_duplicates(args.threshold, fast=args.fast, rotations=rotations,
                                       progress=progress, cancel=cancel)
    from simdesk.core.duplicates.decisions import apply_keep, ticked_paths

    if args.json and args.csv:
        raise CliError("--json and --csv: choose one")
    if (args.group or args.interactive) and not args.trash_extras:
        raise CliError("--group and --interactive choose what --trash-extras moves: add --trash-extras")
    groups = library.duplicate_groups(scan)
    decisions = library.duplicate_decisions(groups)  # what the user chose in the app's review
    groups = apply_keep(groups, decisions)
    selected = {g.key: ticked_paths(g, decisions.get(g.key)) for g in groups}
    if args.json:
        print(json_text({"threshold": scan.threshold, "model": scan.model,
                         "groups": [g.to_json() | {"id": g.key, "ticked": sorted(selected[g.key])}
                                    for g in groups]}))
    elif args.csv:
        _write_csv(groups, selected)
    else:
        _print_groups(scan, groups, scan.threshold, selected)
    if scan.not_compared:
        print_err(f"note: {scan.not_compared} photos have no duplicate descriptor yet; only their "
                  "byte-identical copies were looked for.")
    if args.group:
        known = {g.key for g in groups}
        unknown = [k for k in args.group if k not in known]
        if unknown:
            raise CliError(f"no group {', '.join(unknown)} in this scan (the IDs are printed in brackets)")
        groups = [g for g in groups if g.key in set(args.group)]
    plan = library.plan_trash(groups, selected)
    if not args.trash_extras:
        if not args.json and not args.csv and plan.files:
            copies = "extra copy" if plan.files == 1 else "extra copies"
            print(f"\n{plan.files} {copies}, {format_bytes(plan.bytes)}: run with --trash-extras "
                  "to move them to the Trash (you will be asked first; `simdesk undo` puts them back).")
        return EXIT_OK
    support = platform_support()
    if not support.can_trash:
        raise CliError(support.message)
    for path, why in plan.skipped:
        print_err(f"not moving {path}: {why}")
    if args.interactive:
        if not sys.stdin or not sys.stdin.isatty():
            raise CliError("--interactive asks in a terminal: run it in one")
        chosen = _interactive(library, groups, selected)
        plan = library.plan_trash([g for g in groups if g.key in chosen], chosen)
        if not plan.files:
            print_err("Nothing was moved.")
            return EXIT_OK
        _print_trash_report(library.trash_duplicates(plan))
        return EXIT_OK
    if not plan.files:
        print_err("Nothing to move to the Trash.")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin or not sys.stdin.isatty():
            raise CliError(f"{plan.summary()}? Not without confirmation: run in a terminal, or add --yes")
        if not _ask(f"{plan.summary()}?"):
            print_err("Nothing was moved.")
            return EXIT_OK
    _print_trash_report(library.trash_duplicates(plan))
    return EXIT_OK


def cmd_undo(args) -> int:
    library = open_library(args)
    if args.list:
        batches = library.trash_batches()
        if not batches:
            print("Nothing was moved to the Trash from this library.")
        for b in batches:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(b.at))
            print(f"{b.batch}  {when}  {b.trashed} in the Trash ({format_bytes(b.bytes)}), {b.restored} restored")
        return EXIT_OK
    report = library.undo_trash(args.batch)
    if report.batch is None:
        print("Nothing to undo: no files from this library are in the Trash.")
        return EXIT_OK
    print(f"Restored {len(report.restored)} file{'s' if len(report.restored) != 1 else ''} "
          f"(batch {report.batch}).")
    for path in report.restored:
        print(f"  {path}")
    for path, why in report.refused:
        print_err(f"not restored {path}: {why}")
    return EXIT_ERROR if report.refused else EXIT_OK


def cmd_reference(args) -> int:
    return edit_folders(args, "reference_folder", "a reference folder",
                        added="reference folder: {} (never deleted from)",
                        removed="no longer a reference folder: {}")


def cmd_not_duplicates(args) -> int:
    added = open_library(args).dismiss_duplicates(args.photos)
    print(f"Marked {len(args.photos)} photos as not duplicates of each other ({added} new marks).")
    return EXIT_OK
