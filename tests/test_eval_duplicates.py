"""`simdesk eval duplicates`: pair truth, pairwise metrics, the PR plot, and one run end to end."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_MODEL, draw_photo
from simdesk.cli import main
from simdesk.eval import duplicates as ev

# Five candidate pairs, best first; 4 true pairs exist in all (one of them is never a candidate).
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
IS_TRUE = np.array([True, False, True, True, False])
POSITIVES = 4


def test_prf_at_known_values():
    assert ev.prf_at(SCORES, IS_TRUE, POSITIVES, 0.85) == (1.0, 0.25, pytest.approx(0.4))
    p, r, f = ev.prf_at(SCORES, IS_TRUE, POSITIVES, 0.65)  # 3 found, 2 true
    assert (p, r) == (pytest.approx(2 / 3), 0.5)
    assert f == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    p, r, f = ev.prf_at(SCORES, IS_TRUE, POSITIVES, 0.0)  # everything: 5 found, 3 true
    assert (p, r, f) == (pytest.approx(0.6), 0.75, pytest.approx(2 / 3))
    # Nothing found: precision 1 by convention, recall 0.
    assert ev.prf_at(SCORES, IS_TRUE, POSITIVES, 0.95) == (1.0, 0.0, 0.0)


def test_curve_best_f1_and_recall_at_precision():
    t, p, r = ev.pr_curve(SCORES, IS_TRUE, POSITIVES)
    assert t.tolist() == SCORES.tolist()
    assert p == pytest.approx([1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])
    assert r == pytest.approx([0.25, 0.25, 0.5, 0.75, 0.75])
    f1, threshold, precision, recall = ev.best_f1(SCORES, IS_TRUE, POSITIVES)
    assert (threshold, precision, recall) == (0.6, 0.75, 0.75) and f1 == pytest.approx(0.75)
    assert ev.recall_at_precision(SCORES, IS_TRUE, POSITIVES, 0.99) == (0.25, 0.9)
    assert ev.recall_at_precision(SCORES, IS_TRUE, POSITIVES, 0.7) == (0.75, 0.6)
    recall, threshold = ev.recall_at_precision(SCORES, ~IS_TRUE, POSITIVES, 0.99)
    assert recall == 0.0 and math.isnan(threshold)


def test_tied_scores_are_one_cut():
    # A threshold cannot separate equal scores: the true pair tied with a false one gives P 0.5.
    scores, is_true = np.array([0.8, 0.8, 0.4]), np.array([True, False, True])
    t, p, r = ev.pr_curve(scores, is_true, 2)
    assert t.tolist() == [0.8, 0.4] and p == pytest.approx([0.5, 2 / 3]) and r == pytest.approx([0.5, 1.0])
    assert ev.recall_at_precision(scores, is_true, 2, 0.99)[0] == 0.0


def test_sweep_rows():
    rows = ev.sweep(SCORES, IS_TRUE, POSITIVES, [0.55, 0.75])
    assert [row["found"] for row in rows] == [4, 2]
    assert rows[0]["precision"] == pytest.approx(0.75) and rows[0]["recall"] == 0.75
    assert rows[1]["precision"] == 0.5 and rows[1]["recall"] == 0.25
    assert len(ev.DEFAULT_SWEEP) == 14 and ev.DEFAULT_SWEEP[0] == 0.3 and ev.DEFAULT_SWEEP[-1] == 0.95


def test_true_pairs_and_grouped_prf():
    truth = ev.true_pairs([["b", "a", "c"], ["d", "e"], ["f"]])
    assert truth == {("a", "b"), ("a", "c"), ("b", "c"), ("d", "e")}
    # Found: a-b (true), d-e (true), d-f (false), e-f (false).
    p, r, f = ev.grouped_prf([["a", "b"], ["d", "e", "f"]], truth)
    assert (p, r) == (0.5, 0.5) and f == 0.5


def test_groups_from_layout(tmp_path):
    for rel in ("loose.jpg", "g1/a.jpg", "g1/b.png", "g2/x.jpg", "g2/deep/y.jpg", "g3/only.jpg",
                ".hidden/z.jpg", "g1/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert ev.groups_from_layout(tmp_path) == [["g1/a.jpg", "g1/b.png"], ["g2/deep/y.jpg", "g2/x.jpg"],
                                               ["g3/only.jpg"]]
    assert "loose.jpg" in ev.photos_in(tmp_path) and ".hidden/z.jpg" not in ev.photos_in(tmp_path)
    with pytest.raises(ValueError):
        ev.groups_from_layout(tmp_path / "missing")


def test_groups_from_truth_file(tmp_path):
    for rel in ("a.jpg", "b.jpg", "sub/c.jpg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"groups": [["a.jpg", "./sub/c.jpg"], ["b.jpg"]]}))
    assert ev.groups_from_truth_file(truth, tmp_path) == [["a.jpg", "sub/c.jpg"], ["b.jpg"]]
    for bad in ({"groups": [["a.jpg", "nope.jpg"]]}, {"groups": [["a.jpg"], ["a.jpg"]]},
                {"groups": [["../a.jpg"]]}, {"pairs": []}, {"groups": [[1]]}):
        truth.write_text(json.dumps(bad))
        with pytest.raises(ValueError):
            ev.groups_from_truth_file(truth, tmp_path)
    truth.write_text("not json")
    with pytest.raises(ValueError):
        ev.groups_from_truth_file(truth, tmp_path)


def test_plot_writes_a_png_of_the_requested_size(tmp_path):
    out = ev.plot_pr(tmp_path / "pr.png", [1.0, 0.5, 0.6], [0.25, 0.25, 0.75], point=(0.5, 0.66),
                     point_label="default 0.55", title="test", size=(400, 300))
    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (400, 300)
        assert len(img.getcolors(maxcolors=100_000)) > 3  # something drawn
    empty = ev.plot_pr(tmp_path / "empty.png", [], [], size=(200, 150))
    with Image.open(empty) as img:
        assert img.size == (200, 150)


def test_eval_duplicates_cli_end_to_end(models_dir, tiny_model, tmp_path, capsys):
    root = tmp_path / "photos"
    for k in range(3):  # a group: the original, a byte-identical copy and a smaller copy
        original = draw_photo(root / f"g{k}" / "original.png", seed=10 + k, size=(96, 72))
        shutil.copyfile(original, root / f"g{k}" / "same.png")
        with Image.open(original) as img:
            img.resize((64, 48)).save(root / f"g{k}" / "small.png")
    for k in range(3):  # no copy
        draw_photo(root / f"single{k}.png", seed=50 + k)
    plot = tmp_path / "pr.png"
    assert main(["eval", "duplicates", str(root), "--model", TINY_MODEL, "--json", "--plot", str(plot)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["photos"] == 12 and report["groups"] == 3 and report["true_pairs"] == 9
    assert report["all_pairs"] == 66 and report["truth"] == "folder layout"
    assert [row["threshold"] for row in report["sweep"]] == list(ev.DEFAULT_SWEEP)
    for row in report["sweep"]:
        assert set(row) == {"threshold", "precision", "recall", "f1", "found"}
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
    assert report["default"]["recall"] >= 3 / 9  # the byte-identical pairs at least
    assert report["recall_at_precision_0.99"]["recall"] > 0
    assert report["best_f1"]["f1"] > 0
    assert set(report["default"]["grouped"]) == {"precision", "recall", "f1", "groups", "similar_shot_groups"}
    with Image.open(plot) as img:
        assert img.format == "PNG" and img.size == (640, 480)

    # The same folder with a truth file that says only g0 holds copies; plain text output.
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"groups": [["g0/original.png", "g0/same.png", "g0/small.png"]]}))
    assert main(["eval", "duplicates", str(root), "--model", TINY_MODEL, "--truth", str(truth)]) == 0
    out = capsys.readouterr().out
    assert "3 true pairs" in out and "recall at precision >= 0.99" in out and "best F1" in out


def test_eval_duplicates_cli_refuses_a_bad_folder(models_dir, tiny_model, tmp_path, capsys):
    assert main(["eval", "duplicates", str(tmp_path / "missing"), "--model", TINY_MODEL]) == 1
    assert "not a folder" in capsys.readouterr().err
