"""The argument parser. No simdesk.core imports beyond the light ones: `simdesk --help` is instant."""

from __future__ import annotations

import argparse

from simdesk import __version__
from simdesk.cli.duplicates import cmd_duplicates, cmd_not_duplicates, cmd_reference, cmd_undo
from simdesk.cli.eval import cmd_eval, cmd_eval_duplicates
from simdesk.cli.gpu import cmd_gpu
from simdesk.cli.index import cmd_folders, cmd_index, cmd_problems, cmd_status
from simdesk.cli.map import cmd_map
from simdesk.cli.models import cmd_models
from simdesk.cli.similar import cmd_similar


def _global_options(top: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (``simdesk index --library X``).

    Below the top level the default is SUPPRESS, so a subcommand that was not given the option
    leaves the value parsed before the subcommand (or the top-level default) alone.
    """
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--library", metavar="DIR", default=None if top else argparse.SUPPRESS,
                         help="library folder (default: $SIMDESK_LIBRARY, else the user data folder)")
    return options


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError("the threshold is a similarity between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="simdesk", parents=[_global_options(top=True)],
        description="Find similar photos in your collection with a CNN. "
        "With no command, starts the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"simdesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_global_options(top=False)]

    def command(subparsers, name: str, func=None, **kwargs) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, parents=common, **kwargs)
        if func is not None:
            p.set_defaults(func=func)
        return p

    p = command(sub, "index", cmd_index, help="add folders and index their photos (Ctrl-C stops; rerun resumes)")
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="folders to add to the library first")
    p.add_argument("--model", help="model to index with (resnet50, efficientnet-lite0, or an imported one)")
    p.add_argument("--pooling", choices=("gem", "avg", "max"), help="how feature maps become vectors")
    p.add_argument("--retry-failed", action="store_true", help="try files that failed before again")
    p.add_argument("--workers", type=int, default=None, help="decoding threads (default: CPU count)")
    p.add_argument("--batch-size", type=int, default=16, help="photos per inference batch")

    p = command(sub, "similar", cmd_similar, help="photos most similar to a photo (in the library or not)")
    p.add_argument("query", metavar="PHOTO")
    p.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(sub, "status", cmd_status, help="library size, model, and what was skipped")
    p.add_argument("--json", action="store_true")

    p = command(sub, "problems", cmd_problems, help="files that could not be indexed, and why")
    p.add_argument("--json", action="store_true")

    p = command(sub, "folders", cmd_folders, help="list, add or remove library folders")
    p.add_argument("action", nargs="?", choices=("list", "add", "remove"), default="list")
    p.add_argument("paths", nargs="*", metavar="FOLDER")

    p = command(sub, "models", cmd_models, help="list, install, import or remove models")
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    msub.required = True
    command(msub, "list", help="installed and available models")
    m = command(msub, "install", help="install a built-in model")
    m.add_argument("name", choices=("resnet50", "efficientnet-lite0"))
    m = command(msub, "import", help="import your own .pth (ResNet-50 layout) or .onnx")
    m.add_argument("file")
    m.add_argument("--name", help="name for the model (default: from the file name)")
    m.add_argument("--mean", help="input mean per channel on 0..255, e.g. 123.7,116.3,103.5")
    m.add_argument("--std", help="input std per channel on 0..255, e.g. 58.4,57.1,57.4")
    m = command(msub, "quantize", help="make a faster int8 copy of a model, calibrated on photos")
    m.add_argument("name")
    m.add_argument("photos", metavar="FOLDER", help="photos like your library's, to calibrate on")
    m.add_argument("--count", type=int, default=200, help="how many photos to calibrate on")
    m = command(msub, "remove", help="delete an installed model's files")
    m.add_argument("name")

    p = command(sub, "gpu", cmd_gpu, help="which processor runs the model; put the NVIDIA GPU build in place",
                description="check (default): say whether the model runs on an NVIDIA GPU (CUDA) or "
                            "the CPU, and why. enable: replace ONNX Runtime's CPU build in simdesk's "
                            "environment with its GPU build and NVIDIA's CUDA and cuDNN wheels "
                            "(only the NVIDIA driver is needed), then prove that CUDA runs. "
                            "disable: put the CPU build back.")
    p.add_argument("action", nargs="?", choices=("check", "enable", "disable"), default="check")
    p.add_argument("--require-cuda", action="store_true", help="with check: exit 1 unless CUDA runs")
    p.add_argument("--json", action="store_true", help="with check: print JSON")

    p = command(sub, "eval", help="measure quality on labelled photos")
    esub = p.add_subparsers(dest="eval_kind", metavar="KIND")
    esub.required = True
    e = command(esub, "retrieval", cmd_eval, help="precision@1/@10 and mAP per pooling on DIR/<class>/*")
    e.add_argument("folder", metavar="DIR", help="a folder with one subfolder per class")
    e.add_argument("--model", default="efficientnet-lite0")
    e.add_argument("--resize", choices=("squash", "center_crop"), help="override the resize mode")
    e.add_argument("--json", action="store_true")
    e = command(
        esub, "duplicates", cmd_eval_duplicates,
        help="near-duplicate precision/recall/F1 over thresholds on a folder with known copies",
        description="Index DIR into a temporary library, scan it for duplicates and score the pairs. "
                    "Truth: --truth FILE (JSON {\"groups\": [[path, ...], ...]}, paths relative to DIR; "
                    "photos in no group have no copy), or else the folder layout: every subfolder of DIR "
                    "is one group of copies, photos directly in DIR have no copy. Or --edited-copies: "
                    "build the set from DIR's photos (originals, their edited copies, distractors).")
    e.add_argument("folder", metavar="DIR",
                   help="photos with known copies (or, with --edited-copies, photos to make copies of)")
    e.add_argument("--truth", metavar="FILE", help="JSON file with the groups of copies")
    e.add_argument("--edited-copies", action="store_true",
                   help="build the benchmark from DIR's photos: pick originals, write edited copies of "
                        "each (resize, recompress, crop, recolour, straighten, turn, caption, or a "
                        "combination) beside look-alike photos without copies, then score it; DIR is "
                        "only read")
    e.add_argument("--originals", type=int, default=100, metavar="N", help="with --edited-copies (100)")
    e.add_argument("--copies", type=int, default=3, metavar="N", help="edited copies per original (3)")
    e.add_argument("--distractors", type=int, default=400, metavar="N",
                   help="photos without copies, with --edited-copies (400)")
    e.add_argument("--strength", choices=("standard", "hard", "wide"), default="standard",
                   help="how strong the edits are (standard: web sizes, quality 30-60, crops keeping "
                        "the subject; wide: down to a quarter of the side and quality 15)")
    e.add_argument("--camera", action="store_true",
                   help="originals carry camera EXIF; copies none, or an editor's Software tag "
                        "(measures whether the original is kept)")
    e.add_argument("--seed", type=int, default=7, help="which photos and edits (the set is reproducible)")
    e.add_argument("--keep-set", metavar="OUT", help="write the built set here and keep it "
                                                       "(an empty or new folder)")
    e.add_argument("--model", default="efficientnet-lite0")
    e.add_argument("--plot", metavar="PNG", help="draw the precision-recall curve into this PNG")
    e.add_argument("--json", action="store_true")

    p = command(sub, "map", cmd_map, help="draw the cluster map (similar photos together) into a PNG")
    p.add_argument("--out", required=True, metavar="PNG", help="where to write the picture")
    p.add_argument("--folder", metavar="DIR", help="only the photos under this folder")
    p.add_argument("--grid", action="store_true", help="a tidy grid that keeps the neighbourhoods")
    p.add_argument("--colour-by", "--color-by", dest="colour_by", choices=("folder", "date"),
                   help="frame each photo in the colour of its folder or of its date")
    p.add_argument("--style", choices=("auto", "thumbnails", "dots"), default="auto",
                   help="thumbnails, or dots in each photo's average colour (auto: by tile size)")
    p.add_argument("--size", type=int, default=2400, help="longer side of the map in pixels")
    p.add_argument("--tile", type=int, default=None, help="thumbnail size in pixels (default: fit)")
    p.add_argument("--title", default=None, help="a line of text above the map")
    p.add_argument("--recompute", action="store_true",
                   help="lay out every photo afresh instead of reusing the cached layout")

    p = command(sub, "duplicates", cmd_duplicates, help="find byte-identical and near-duplicate photos; "
                                                        "optionally move the extra copies to the Trash")
    p.add_argument("--threshold", type=_threshold, default=None,
                   help="list only verified copies at least this similar (default: every copy "
                        "the verification accepts; higher: only closer copies)")
    p.add_argument("--json", action="store_true",
                   help='print {"threshold", "model", "groups": [{"kind", "keep", "reason", "paths", '
                        '"members": [{"path", "size", "pixels", "capture_time", "camera", "similarity", '
                        '"evidence", ...}]}]}')
    p.add_argument("--keep-rule", metavar="RULE",
                   help="which copy to keep, as an order of criteria, saved for next time "
                        "(default original,oldest,pixels,size,shortest_path; also newest)")
    p.add_argument("--csv", action="store_true",
                   help="print one CSV row per photo: group, group_id, kind, role, path, size, width, "
                        "height, capture_time, similarity, camera, software, reason")
    p.add_argument("--trash-extras", action="store_true",
                   help="move the ticked extra copies to the Trash (asks first); the keep choices and "
                        "ticks made in the app's review are followed")
    p.add_argument("--group", nargs="+", metavar="ID", default=None,
                   help="with --trash-extras: only these groups (the ID printed in brackets in the listing)")
    p.add_argument("--interactive", "-i", action="store_true",
                   help="with --trash-extras: ask group by group in the terminal (y: move its extras, "
                        "n: skip it, k N: keep copy N instead, then move the others, q: stop)")
    p.add_argument("--yes", action="store_true", help="with --trash-extras: do not ask")
    p.add_argument("--fast", action="store_true",
                   help="compare the library's own vectors (no preparation; finds fewer edited copies)")
    p.add_argument("--no-rotations", action="store_true",
                   help="do not look for copies turned by 90 degrees (prepares and compares faster)")

    p = command(sub, "undo", cmd_undo, help="put back the files the last --trash-extras moved to the Trash")
    p.add_argument("--batch", help="which trash action to undo (see --list; default: the latest)")
    p.add_argument("--list", action="store_true", help="list the trash actions of this library")

    p = command(sub, "reference", cmd_reference, help="list, add or remove reference folders (never deleted from)")
    p.add_argument("action", nargs="?", choices=("list", "add", "remove"), default="list")
    p.add_argument("paths", nargs="*", metavar="FOLDER")

    p = command(sub, "not-duplicates", cmd_not_duplicates,
                help="mark photos as not duplicates of each other, for good")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    return parser
