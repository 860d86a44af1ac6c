"""Category-retrieval quality of each pooling: a thin wrapper over `simdesk eval retrieval`.

    python tests/benchmarks/eval_retrieval.py [DIR] [--model efficientnet-lite0] [--json]

DIR defaults to ../shared/data/imagenette-val.
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
    sys.exit(main(["eval", "retrieval", *args]))
