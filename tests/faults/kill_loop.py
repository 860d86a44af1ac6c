"""kill -9 at random moments during `index`, `duplicates --trash-extras` and `undo`, then check.

After every kill: SQLite's integrity_check is "ok"; no photo is lost (every original's bytes are
at its path or, exactly once, in the Trash: never twice, never nowhere); and at the end a clean run
settles everything (index finds every photo exactly once; undo puts every trashed photo back at
its own path with the same sha256).

    python tests/faults/kill_loop.py --rounds 20            # all three phases
    python tests/faults/kill_loop.py --phase undo --rounds 50 --max-delay 2

Prints, per phase and in total: tried (kills attempted), survived (rounds whose checks all
passed) and lost (photos whose bytes could not be found). Exits 1 if anything was lost or any
check failed.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TINY_MODEL, Sandbox, files_under  # noqa: E402


class Tally:
    def __init__(self, name: str) -> None:
        self.name, self.tried, self.killed, self.survived, self.lost, self.failures = name, 0, 0, 0, 0, []

    def line(self) -> str:
        return (f"{self.name:7s} tried {self.tried:4d}  (killed mid-run {self.killed:4d})  "
                f"survived {self.survived:4d}  lost {self.lost}")


def kill_at_random(box: Sandbox, args: list[str], rng: random.Random, max_delay: float) -> bool:
    """Start a command, kill -9 it after a random delay; True if it was still running (a real kill)."""
    proc = box.start(*args)
    time.sleep(rng.uniform(0.0, max_delay))
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive


def content_counts(box: Sandbox) -> collections.Counter:
    here = files_under(box.photos)
    trashed = files_under(box.trash / "files") if (box.trash / "files").exists() else {}
    return collections.Counter(list(here.values()) + list(trashed.values()))


def check(box: Sandbox, expected: collections.Counter, tally: Tally, round_no: int) -> None:
    problems = []
    integrity = box.integrity()
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    counts = content_counts(box)
    for digest, n in expected.items():
        if counts[digest] < n:
            tally.lost += n - counts[digest]
            problems.append(f"{n - counts[digest]} copies of {digest[:12]} lost")
        elif counts[digest] > n:
            problems.append(f"{digest[:12]} present {counts[digest]} times, expected {n} (not exactly once)")
    if problems:
        tally.failures.append((round_no, problems))
    else:
        tally.survived += 1


def phase_index(box: Sandbox, rounds: int, rng: random.Random, max_delay: float, expected) -> Tally:
    tally = Tally("index")
    for r in range(rounds):
        tally.tried += 1
        tally.killed += kill_at_random(box, ["index", str(box.photos), "--model", TINY_MODEL, "--workers", "2",
                                            "--batch-size", "4"], rng, max_delay)
        check(box, expected, tally, r)
    done = box.run("index", str(box.photos), "--model", TINY_MODEL)
    total = sum(expected.values())
    if done.returncode != 0 or box.photo_count() != total:
        tally.failures.append(("final", [f"index ended {done.returncode}, {box.photo_count()} of {total} photos: "
                                         f"{done.stderr[-400:]}"]))
    return tally


def _undo_everything(box: Sandbox) -> str:
    for _ in range(20):
        out = box.run("undo")
        if "Nothing to undo" in out.stdout + out.stderr or out.returncode != 0:
            return out.stdout + out.stderr
    return "undo did not settle in 20 runs"


def phase_trash(box: Sandbox, rounds: int, rng: random.Random, max_delay: float, expected,
                kill_undo: bool) -> Tally:
    tally = Tally("undo" if kill_undo else "trash")
    originals = files_under(box.photos)
    trash_args = ["duplicates", "--trash-extras", "--yes", "--fast", "--threshold", "0.99"]
    for r in range(rounds):
        tally.tried += 1
        if kill_undo:
            box.run(*trash_args)
            tally.killed += kill_at_random(box, ["undo"], rng, max_delay)
        else:
            tally.killed += kill_at_random(box, trash_args, rng, max_delay)
        check(box, expected, tally, r)
        _undo_everything(box)
        after = files_under(box.photos)
        missing = [p for p, digest in originals.items() if after.get(p) != digest]
        if missing:
            tally.failures.append((r, [f"after undo, {len(missing)} photos not back byte-exact: {missing[:3]}"]))
    return tally


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="kills per phase")
    parser.add_argument("--phase", choices=("index", "trash", "undo", "all"), default="all")
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--copies", type=int, default=12, help="byte-identical copies (what trash moves)")
    parser.add_argument("--max-delay", type=float, default=2.5, help="latest kill, seconds after start")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the sandbox folder")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    box = Sandbox(keep=args.keep)
    tallies = []
    try:
        box.draw(args.photos, args.copies)
        expected = content_counts(box)
        if args.phase in ("index", "all"):
            tallies.append(phase_index(box, args.rounds, rng, args.max_delay, expected))
        else:
            box.run("index", str(box.photos), "--model", TINY_MODEL)
        if args.phase in ("trash", "all"):
            tallies.append(phase_trash(box, args.rounds, rng, args.max_delay, expected, kill_undo=False))
        if args.phase in ("undo", "all"):
            tallies.append(phase_trash(box, args.rounds, rng, args.max_delay, expected, kill_undo=True))
    finally:
        if args.keep:
            print(f"sandbox kept: {box.root}")
        box.close()
    failed = False
    for tally in tallies:
        print(tally.line())
        for round_no, problems in tally.failures:
            failed = True
            print(f"  round {round_no}: " + "; ".join(problems))
    print(f"total   tried {sum(t.tried for t in tallies):4d}  (killed mid-run {sum(t.killed for t in tallies):4d})  survived {sum(t.survived for t in tallies):4d}  "
          f"lost {sum(t.lost for t in tallies)}")
    return 1 if failed or any(t.lost for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
