"""Near-duplicate quality on an edited-copies set: a thin wrapper over `simdesk eval duplicates`.

    python tests/benchmarks/eval_duplicates.py [DIR] [--originals 100] [--distractors 400] [--json]

Builds the set from DIR's photos (default ../shared/data/imagenette-val) with --edited-copies and
scores it with the offline model. near_dup_benchmark.py measures the descriptor's variants; this
is the command a user runs on their own photos.
"""

import sys
from pathlib import Path

from simdesk.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        default = Path(__file__).resolve().parents[3] / "shared" / "data" / "imagenette-val"
        args = [str(default), *args]
    if "--model" not in args:
        args += ["--model", "efficientnet-lite0"]
    sys.exit(main(["eval", "duplicates", "--edited-copies", *args]))
