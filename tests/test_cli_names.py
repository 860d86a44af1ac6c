"""File names that are not UTF-8 in the command's output (14.8): text escapes them, JSON stays
valid and names the file exactly."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import TINY_MODEL
from simdesk.cli import main

ODD = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: a lone surrogate once decoded


@pytest.fixture
def odd_library(library_dir, tiny_model, photo_folder, capsys):
    shutil.copy2(photo_folder / "photo_0.jpg", photo_folder / ODD)  # a duplicate, listed everywhere
    (photo_folder / os.fsdecode(b"bad\xff.jpg")).write_bytes(b"not an image")  # a problem
    assert main(["index", str(photo_folder), "--model", TINY_MODEL]) == 0
    capsys.readouterr()
    return photo_folder


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()  # pytest's capture encodes UTF-8 strictly, like a terminal
    return code, out, err


@pytest.mark.parametrize("argv", [
    ("similar", "{odd}"), ("problems",), ("duplicates", "--fast", "--threshold", "0.99"),
])
def test_text_output_escapes_odd_names(odd_library, capsys, argv):
    argv = [a.format(odd=odd_library / ODD) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "caf\\udce9.jpg" in out or "bad\\udcff.jpg" in out


@pytest.mark.parametrize("argv", [
    ("similar", "{odd}", "--json"), ("problems", "--json"), ("duplicates", "--fast", "--threshold", "0.99", "--json"),
])
def test_json_output_stays_valid_and_exact(odd_library, capsys, argv):
    argv = [a.format(odd=odd_library / ODD) for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    text = json.dumps(json.loads(out))  # valid JSON
    assert "\\udce9" in text or "\\udcff" in text
    found = json.loads(out)
    paths = json.dumps(found)
    wanted = [str(odd_library / ODD), str(odd_library / os.fsdecode(b"bad\xff.jpg"))]
    assert any(json.dumps(w)[1:-1] in paths for w in wanted)  # the exact name, bytes recoverable
