"""Near-duplicate detection quality on a folder with known copies: pairwise precision / recall / F1.

Ground truth is a list of groups of photos that are copies of each other. A *true pair* is two photos
of one group; every other pair of photos in the folder is a false pair. The truth comes either from
a JSON file (``{"groups": [[path, path, ...], ...]}``, paths relative to the folder; photos in no
group have no copy) or from the folder layout: every subfolder of the folder (with everything below
it) is one group of copies, and photos directly in the folder have no copy.

The decisions are the app's own: the folder is indexed into a temporary :class:`Library`, which
computes its duplicate descriptors and scans (``Library.find_duplicates``: candidates, then
verification). A pair's score is its descriptor similarity when the scan counts it as a copy, so
the default (the scan's floor) scores verification alone and higher thresholds what
``--threshold`` would keep; pairs the scan does not call copies count as predicted negative.

The metric helpers work on arrays: ``scores`` (one similarity per candidate pair), ``is_true`` (is
that pair a true pair) and ``positives`` (how many true pairs there are in all, found or not).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

DEFAULT_SWEEP = tuple(round(0.30 + 0.05 * k, 2) for k in range(14))  # 0.30 .. 0.95


# -- ground truth --------------------------------------------------------------------------------


def photos_in(root: str | os.PathLike) -> list[str]:
    """Photo files under ``root`` (hidden files and folders skipped), as sorted relative paths."""
    from simdesk.core.decode import IMAGE_EXTENSIONS

    root = Path(root)
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
            found.append(rel.as_posix())
    return sorted(found)


def groups_from_layout(root: str | os.PathLike) -> list[list[str]]:
    """Every subfolder of ``root`` is one group of copies; photos directly in ``root`` have no copy."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder")
    groups: dict[str, list[str]] = {}
    for rel in photos_in(root):
        parts = rel.split("/")
        if len(parts) > 1:
            groups.setdefault(parts[0], []).append(rel)
    return [groups[name] for name in sorted(groups)]


def groups_from_truth_file(path: str | os.PathLike, root: str | os.PathLike) -> list[list[str]]:
    """Groups from a JSON file ``{"groups": [[path, ...], ...]}``, paths relative to ``root``."""
    root = Path(root)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the truth file {path}: {exc}") from None
    raw = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not all(isinstance(g, list) for g in raw):
        raise ValueError(f'{path}: expected {{"groups": [[path, path, ...], ...]}}')
    seen: set[str] = set()
    groups = []
    for group in raw:
        members = []
        for item in group:
            if not isinstance(item, str):
                raise ValueError(f"{path}: group members are paths, not {item!r}")
            rel = Path(os.path.normpath(item)).as_posix()
            if Path(item).is_absolute() or rel.startswith("../"):
                raise ValueError(f"{path}: {item} is not a path inside {root}")
            if not (root / rel).is_file():
                raise ValueError(f"{path}: {item} is not a file in {root}")
            if rel in seen:
                raise ValueError(f"{path}: {item} is in more than one group")
            seen.add(rel)
            members.append(rel)
        groups.append(members)
    return groups


def true_pairs(groups: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """Every pair of two members of one group, as (smaller, larger)."""
    pairs = set()
    for group in groups:
        members = sorted(set(group))
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                pairs.add((members[x], members[y]))
    return pairs


# -- metrics -------------------------------------------------------------------------------------


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def prf_at(scores, is_true, positives: int, threshold: float) -> tuple[float, float, float]:
    """(precision, recall, F1) of "similarity >= threshold"; precision is 1.0 when nothing is found."""
    scores, is_true = np.asarray(scores), np.asarray(is_true, dtype=bool)
    hit = scores >= threshold
    found = int(hit.sum())
    tp = int(is_true[hit].sum())
    p = tp / found if found else 1.0
    r = tp / positives if positives else 0.0
    return p, r, _f1(p, r)


def pr_curve(scores, is_true, positives: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at every distinct similarity (highest first): (thresholds, precision, recall).

    Equal scores are one cut: a threshold cannot separate them.
    """
    scores, is_true = np.asarray(scores, dtype=np.float64), np.asarray(is_true, dtype=bool)
    if not len(scores):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    tp = np.cumsum(is_true[order])
    last = np.append(np.flatnonzero(s[1:] != s[:-1]), len(s) - 1)  # the last pair of each tie
    found = last + 1
    precision = tp[last] / found
    recall = tp[last] / positives if positives else np.zeros(len(last))
    return s[last], precision, recall


def recall_at_precision(scores, is_true, positives: int, precision: float = 0.99) -> tuple[float, float]:
    """(best recall with precision >= ``precision``, the threshold that gives it); (0, nan) if none."""
    thresholds, prec, rec = pr_curve(scores, is_true, positives)
    ok = np.flatnonzero(prec >= precision)
    if not len(ok):
        return 0.0, float("nan")
    best = ok[np.argmax(rec[ok])]  # first maximum: the highest threshold with that recall
    return float(rec[best]), float(thresholds[best])


def best_f1(scores, is_true, positives: int) -> tuple[float, float, float, float]:
    """The best F1 over every possible threshold: (F1, threshold, precision, recall)."""
    thresholds, prec, rec = pr_curve(scores, is_true, positives)
    if not len(thresholds):
        return 0.0, float("nan"), 1.0, 0.0
    f1 = 2 * prec * rec / np.maximum(prec + rec, 1e-12)
    k = int(np.argmax(f1))
    return float(f1[k]), float(thresholds[k]), float(prec[k]), float(rec[k])


def sweep(scores, is_true, positives: int, thresholds: Sequence[float] = DEFAULT_SWEEP) -> list[dict]:
    """P/R/F1 and the number of pairs found at each threshold."""
    scores = np.asarray(scores)
    rows = []
    for t in thresholds:
        p, r, f = prf_at(scores, is_true, positives, t)
        rows.append({"threshold": float(t), "precision": p, "recall": r, "f1": f,
                     "found": int((scores >= t).sum())})
    return rows


def grouped_prf(groups: Iterable[Sequence[str]], truth: set[tuple[str, str]]) -> tuple[float, float, float]:
    """P/R/F1 of the pairs inside predicted groups (every two members of a group count as found)."""
    found = true_pairs(groups)
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 0.0
    return p, r, _f1(p, r)


# -- the precision-recall plot -------------------------------------------------------------------


def plot_pr(path: str | os.PathLike, precision: Sequence[float], recall: Sequence[float], *,
            point: tuple[float, float] | None = None, point_label: str = "",
            title: str = "Precision-recall", size: tuple[int, int] = (640, 480)) -> Path:
    """Draw a precision-recall curve into a PNG with Pillow: axes 0..1, ticks, the curve, one marked point.

    ``precision`` / ``recall``: the curve's points in order of falling threshold. ``point``:
    (recall, precision) to mark (the default threshold's), labelled ``point_label``.
    """
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 60, 20, 40, 50
    pw, ph = max(w - left - right, 1), max(h - top - bottom, 1)

    def xy(r: float, p: float) -> tuple[float, float]:
        return left + r * pw, top + (1 - p) * ph

    grey, black = (225, 225, 225), (0, 0, 0)
    for k in range(11):
        v = k / 10
        x, _ = xy(v, 0)
        _, y = xy(0, v)
        draw.line([(x, top), (x, top + ph)], fill=grey)
        draw.line([(left, y), (left + pw, y)], fill=grey)
        draw.line([(x, top + ph), (x, top + ph + 5)], fill=black)
        draw.line([(left - 5, y), (left, y)], fill=black)
        if k % 2 == 0:
            label = f"{v:.1f}"
            tw = draw.textlength(label, font=font)
            draw.text((x - tw / 2, top + ph + 8), label, fill=black, font=font)
            draw.text((left - 8 - tw, y - 6), label, fill=black, font=font)
    draw.rectangle([left, top, left + pw, top + ph], outline=black)
    draw.text((left + pw / 2 - draw.textlength("recall", font=font) / 2, h - 20), "recall", fill=black, font=font)
    draw.text((8, top - 16), "precision", fill=black, font=font)
    tw = draw.textlength(title, font=font)
    draw.text((max((w - tw) / 2, 2), 10), title, fill=black, font=font)

    points = [xy(float(r), float(p)) for r, p in zip(recall, precision)]
    if points:
        # A step from recall 0 at the first point's precision, so a one-point curve is visible too.
        line = [xy(0.0, float(precision[0]))] + points
        draw.line(line, fill=(31, 119, 180), width=2)
    if point is not None:
        x, y = xy(*point)
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=(214, 39, 40), width=2)
        if point_label:
            tw = draw.textlength(point_label, font=font)
            tx = x + 8 if x + 8 + tw < w - 2 else x - 8 - tw
            draw.text((tx, y + 6 if y < top + ph - 20 else y - 18), point_label, fill=(214, 39, 40), font=font)
    path = Path(path)
    img.save(path, format="PNG")
    return path


# -- the evaluation ------------------------------------------------------------------------------


def evaluate_duplicates(folder: str | os.PathLike, *, truth_file: str | os.PathLike | None = None,
                        model: str | None = None,
                        thresholds: Sequence[float] = DEFAULT_SWEEP, workers: int | None = None,
                        progress: Callable | None = None,
                        recipes: dict[str, str] | None = None,
                        describe_progress: Callable | None = None) -> dict:
    """Index ``folder`` into a temporary library, scan it for duplicates and score the pairs.

    Returns a JSON-ready report; its "curve" holds the precision-recall curve's points. With
    ``recipes`` (copy -> edit names, as an edited-copies set records them; the one member of a
    group without a recipe is the original) the report also says, per edit, how many copies the
    default threshold pairs with their original. ``progress`` follows the indexing and
    ``describe_progress`` the duplicate descriptors, as for ``Library.index`` and
    ``Library.prepare_duplicates``.
    """
    from simdesk.core.duplicates import grouping as duplicates
    from simdesk.core.library import Library

    root = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(root):
        raise ValueError(f"{root} is not a folder")
    if truth_file is not None:
        groups = groups_from_truth_file(truth_file, root)
    else:
        groups = groups_from_layout(root)
    photos = photos_in(root)
    if len(photos) < 2:
        raise ValueError(f"{root} needs at least two photos")
    default = duplicates.DEFAULT_THRESHOLD

    with tempfile.TemporaryDirectory(prefix="simdesk-eval-") as tmp:
        library = Library(tmp)
        try:
            if model:
                library.set_model(model)
            library.add_folder(root)
            library.index(progress=progress, workers=workers)
            library.prepare_duplicates(workers=workers, progress=describe_progress)
            scan = library.find_duplicates(threshold=default)
            predicted_groups = library.duplicate_groups(scan)
            model_name = library.model_name
        finally:
            library.close()

    rel = [Path(os.path.relpath(m.path, root)).as_posix() for m in scan.photos]
    indexed = set(rel)
    truth = {pair for pair in true_pairs(groups) if pair[0] in indexed and pair[1] in indexed}
    # A pair's score is its similarity when the scan counts it as a copy at its floor (verified, or
    # unverified above the unverified threshold); identical files score 1; everything else is
    # not found. The sweep then asks verified copies for more similarity, as --threshold does.
    pair_scores: dict[tuple[str, str], float] = {}

    def score(a: int, b: int, s: float) -> None:
        key = (rel[a], rel[b]) if rel[a] < rel[b] else (rel[b], rel[a])
        pair_scores[key] = max(s, pair_scores.get(key, -2.0))

    copy = scan.copy_pairs(scan.floor)
    for ca, cb, s in zip(scan.pair_i[copy].tolist(), scan.pair_j[copy].tolist(), scan.pair_s[copy].tolist()):
        for a in scan.contents[ca]:
            for b in scan.contents[cb]:
                score(a, b, s)
    for files in scan.contents:
        for x in range(len(files)):
            for y in range(x + 1, len(files)):
                score(files[x], files[y], 1.0)
    keys = list(pair_scores)
    scores = np.array([pair_scores[k] for k in keys], dtype=np.float64)
    is_true = np.array([k in truth for k in keys], dtype=bool)
    positives = len(truth)

    f1, f1_t, f1_p, f1_r = best_f1(scores, is_true, positives)
    r99, r99_t = recall_at_precision(scores, is_true, positives, 0.99)
    p, r, f = prf_at(scores, is_true, positives, default)
    offered = [g for g in predicted_groups if g.kind != "similar_shot"]
    gp, gr, gf = grouped_prf([[Path(os.path.relpath(m.path, root)).as_posix() for m in g.members]
                              for g in offered], truth)
    curve_t, curve_p, curve_r = pr_curve(scores, is_true, positives)
    n = len(indexed)
    report_by_edit = _recall_by_edit(groups, recipes or {}, pair_scores, default, indexed)
    return {
        "folder": root,
        "truth": os.path.abspath(truth_file) if truth_file is not None else "folder layout",
        "model": model_name,
        "descriptor": scan.descriptor,
        "photos": n,
        "not_indexed": len(photos) - n,
        "groups": len(groups),
        "true_pairs": positives,
        "all_pairs": n * (n - 1) // 2,
        "floor": scan.floor,
        "candidate_pairs": len(keys),
        "sweep": [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
                  for row in sweep(scores, is_true, positives, [t for t in thresholds if t >= scan.floor - 1e-9])],
        "best_f1": {"f1": f1, "threshold": None if np.isnan(f1_t) else f1_t, "precision": f1_p, "recall": f1_r},
        "recall_at_precision_0.99": {"recall": r99, "threshold": None if np.isnan(r99_t) else r99_t},
        "default": {"threshold": default, "precision": p, "recall": r, "f1": f,
                    "grouped": {"precision": gp, "recall": gr, "f1": gf, "groups": len(offered),
                                "similar_shot_groups": len(predicted_groups) - len(offered)}},
        "curve": {"threshold": curve_t.tolist(), "precision": curve_p.tolist(), "recall": curve_r.tolist()},
        **({"by_edit": report_by_edit} if report_by_edit else {}),
    }


def _recall_by_edit(groups, recipes: dict[str, str], pair_scores: dict, threshold: float,
                    indexed: set[str]) -> dict[str, dict]:
    """Per recipe: copies whose pair with their original scores at least ``threshold``."""
    tally: dict[str, list[int]] = {}
    for group in groups:
        originals = [member for member in group if member not in recipes]
        if len(originals) != 1 or originals[0] not in indexed:
            continue
        original = originals[0]
        for copy in group:
            recipe = recipes.get(copy)
            if recipe is None or copy not in indexed:
                continue
            key = (original, copy) if original < copy else (copy, original)
            row = tally.setdefault(recipe, [0, 0])
            row[0] += pair_scores.get(key, -2.0) >= threshold
            row[1] += 1
    return {recipe: {"found": found, "copies": total, "recall": found / total}
            for recipe, (found, total) in sorted(tally.items())}


def format_report(report: dict) -> str:
    """The report as text for the terminal."""
    lines = [
        f"{report['folder']}: {report['photos']} photos, {report['groups']} groups of copies, "
        f"{report['true_pairs']} true pairs of {report['all_pairs']} (truth: {report['truth']})",
        f"model {report['model']}; {report['descriptor']}",
        f"{report['candidate_pairs']} candidate pairs kept at similarity >= {report['floor']:.2f} "
        "(pairs below count as not found)",
    ]
    if report["not_indexed"]:
        lines.append(f"({report['not_indexed']} photos could not be read and were left out)")
    lines.append(f"{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'found':>6}")
    for row in report["sweep"]:
        lines.append(f"{row['threshold']:9.2f} {row['precision']:9.3f} {row['recall']:7.3f} "
                     f"{row['f1']:6.3f} {row['found']:6d}")
    b = report["best_f1"]
    if b["threshold"] is not None:
        lines.append(f"best F1 {b['f1']:.3f} at threshold {b['threshold']:.3f} "
                     f"(precision {b['precision']:.3f}, recall {b['recall']:.3f})")
    else:
        lines.append("best F1: no candidate pairs")
    r = report["recall_at_precision_0.99"]
    at = f" (threshold {r['threshold']:.3f})" if r["threshold"] is not None else ""
    lines.append(f"recall at precision >= 0.99: {r['recall']:.3f}{at}")
    d = report["default"]
    g = d["grouped"]
    lines.append(f"default threshold {d['threshold']:.2f}: precision {d['precision']:.3f}  recall "
                 f"{d['recall']:.3f}  F1 {d['f1']:.3f}")
    lines.append(f"  after grouping ({g['groups']} groups): precision {g['precision']:.3f}  recall "
                 f"{g['recall']:.3f}  F1 {g['f1']:.3f}")
    if report.get("by_edit"):
        lines.append(f"copies paired with their original at {d['threshold']:.2f}, by edit:")
        for recipe, row in report["by_edit"].items():
            lines.append(f"  {recipe:<34} {row['found']:>4}/{row['copies']:<4} {row['recall']:.3f}")
    return "\n".join(lines)


def plot_report(report: dict, path: str | os.PathLike, size: tuple[int, int] = (640, 480)) -> Path:
    """The report's precision-recall curve, the default threshold's point marked."""
    d = report["default"]
    name = os.path.basename(report["folder"].rstrip(os.sep)) or report["folder"]
    return plot_pr(path, report["curve"]["precision"], report["curve"]["recall"],
                   point=(d["recall"], d["precision"]), point_label=f"default {d['threshold']:.2f}",
                   title=f"Near-duplicates, {name}: {report['model']} "
                         f"(pairs >= {report['floor']:.2f}, {report['true_pairs']} true pairs)",
                   size=size)
