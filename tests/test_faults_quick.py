"""The quick parts of tests/faults/: one kill -9 per phase and a few of the zoo's worst files.

The long loops are scripts (python tests/faults/kill_loop.py --rounds N, bad_file_zoo.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

FAULTS = Path(__file__).resolve().parent / "faults"
sys.path.insert(0, str(FAULTS))

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX")]


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    # The scripts set these for their own sandbox; monkeypatch puts ours back afterwards.
    for name in ("SIMDESK_LIBRARY", "SIMDESK_MODELS_DIR", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name))


def test_one_kill_per_phase_loses_nothing(isolated, capsys):
    import kill_loop

    assert kill_loop.main(["--rounds", "1", "--photos", "12", "--copies", "4", "--max-delay", "1.0"]) == 0
    out = capsys.readouterr().out
    assert "lost 0" in out.splitlines()[-1]


def test_the_worst_of_the_zoo_neither_hangs_nor_crashes(isolated, capsys):
    import bad_file_zoo

    kinds = "fifo,zero_link,sparse_2gb,png_bomb_dims,non_utf8_name,link_loop,truncated_jpeg,empty"
    assert bad_file_zoo.main(["--only", kinds, "--good", "3", "--timeout", "60"]) == 0
    assert "lost 0" in capsys.readouterr().out
