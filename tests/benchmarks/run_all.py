"""Every benchmark, one after another, with its output kept: the one command behind the README's
Performance and Quality figures.

    python tests/benchmarks/run_all.py [--quick] [--only NAME ...] [--out results.txt]

--quick uses smaller sizes (minutes instead of about an hour on 2 cores). Each script prints its
own figures as ratios against a baseline measured in the same run; this runner adds nothing of its
own, so a figure always comes from a run. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared" / "data"
OFFLINE = "efficientnet-lite0"  # the quality figures need real weights

# name: (script and arguments, quick arguments); "simdesk" runs the command itself (the evals).
BENCHMARKS: dict[str, tuple[list[str], list[str]]] = {
    "decode": (["bench_decode.py"], ["--count", "2", "--repeat", "2"]),
    "indexing": (["bench_indexing.py"], ["--rounds", "1", "--big", "4"]),
    "indexing-resnet50": (["bench_indexing.py", "--model", "resnet50-random"],
                          ["--model", "resnet50-random", "--rounds", "1", "--big", "8", "--photos",
                           str(SHARED / "animals")]),
    "search": (["bench_search.py", "--sizes", "10000", "100000"], ["--sizes", "10000", "100000", "--queries", "10"]),
    "search-real-spectrum": (["bench_search.py", "--data", "real-spectrum"], ["--data", "real-spectrum", "--queries", "10"]),
    "search-1M": (["bench_search.py", "--sizes", "1000000", "--queries", "10"], None),
    "search-1M-real-spectrum": (["bench_search.py", "--data", "real-spectrum", "--sizes", "1000000", "--no-sklearn"], None),
    "int8": (["bench_int8.py"], ["--calibration", "32"]),
    "int8-resnet50": (["bench_int8.py", "--model", "resnet50-random"], ["--model", "resnet50-random", "--calibration", "32"]),
    "retrieval": (["simdesk", "eval", "retrieval", str(SHARED / "imagenette-val"), "--model", OFFLINE], []),
    "duplicates-speed": (["bench_duplicates.py"], ["--sizes", "10000"]),
    "duplicates-quality": (["near_dup_benchmark.py"], ["--distractors", "300"]),
    "duplicates-eval": (["simdesk", "eval", "duplicates", str(SHARED / "imagenette-val"), "--edited-copies",
                         "--model", OFFLINE],
                        ["eval", "duplicates", str(SHARED / "imagenette-val"), "--edited-copies", "--model",
                         OFFLINE, "--originals", "40", "--distractors", "160"]),
    "layout": (["bench_layout.py"], ["--sizes", "1000,10000"]),
    "gui": (["bench_gui.py"], ["--photos", "20000", "--stall-photos", "100"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run just these")
    parser.add_argument("--out", type=Path, help="also write everything printed to this file")
    args = parser.parse_args()
    log = open(args.out, "w", encoding="utf-8") if args.out else None
    failed = []
    for name, (full, quick) in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        if args.quick and quick is None:
            continue  # too big for a quick run
        script, *rest = full
        program = ["-m", "simdesk"] if script == "simdesk" else [str(HERE / script)]
        argv = [sys.executable, *program, *(quick if args.quick and quick is not None else rest)]
        header = f"\n===== {name}: {' '.join(Path(a).name if a.endswith('.py') else a for a in argv[1:])}"
        print(header, flush=True)
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
        output = proc.stdout + (proc.stderr if proc.returncode else "")
        footer = f"----- {name}: exit {proc.returncode}, {time.perf_counter() - start:.0f} s"
        print(output.rstrip(), footer, sep="\n", flush=True)
        if log:
            log.write(f"{header}\n{output}{footer}\n")
        if proc.returncode:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
