import numpy as np
import pytest

from simdesk.eval.retrieval import retrieval_scores


def test_perfectly_separated_classes_score_one():
    vectors = np.array([[1, 0], [1, 0.01], [0, 1], [0.01, 1]], dtype=np.float32)
    scores = retrieval_scores(vectors, np.array([0, 0, 1, 1]), ks=(1,))
    assert scores == {"P@1": 1.0, "mAP": 1.0}


def test_known_average_precision():
    # Query 0 ranks: 3 (wrong), 1 (right), 2 (wrong) -> AP = 1/2.
    vectors = np.array([[1, 0], [0.5, 0.5], [0, 1], [0.9, 0.1]], dtype=np.float32)
    labels = np.array([0, 0, 1, 2])
    scores = retrieval_scores(vectors, labels, ks=(1,), block=1)
    # Queries: 0 -> AP 0.5; 1 -> ranks 0 (1st? cos(1,0)=.707 vs 3: .78) so 3,0: AP .5; 2, 3 no relevants -> 0.
    assert scores["mAP"] == pytest.approx((0.5 + 0.5) / 4)
    assert scores["P@1"] == 0.0


def test_blocks_do_not_change_the_result():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8))
    labels = rng.integers(0, 3, 50)
    assert retrieval_scores(vectors, labels, block=7) == pytest.approx(retrieval_scores(vectors, labels, block=64))


def test_evaluate_retrieval_on_drawn_classes(tiny_model, tmp_path):
    from conftest import draw_photo
    from simdesk.core.embedder import Embedder
    from simdesk.eval.retrieval import evaluate_retrieval

    root = tmp_path / "labelled"
    for cls, base_seed in (("red", 0), ("blue", 50)):
        for i in range(4):
            draw_photo(root / cls / f"{i}.png", seed=base_seed + i)
    (root / "red" / "broken.jpg").write_bytes(b"nope")
    report = evaluate_retrieval(Embedder(tiny_model), root, pca_dims=4)
    assert report["photos"] == 8 and report["skipped"] == 1
    assert report["classes"] == ["blue", "red"]
    assert {"avg", "max", "gem", "avg+centre", "avg+centre+pca4", "avg+centre+qe3",
            "avg+centre+qe10a3"} <= set(report["results"])
    for scores in report["results"].values():
        assert 0.0 <= scores["mAP"] <= 1.0 and 0.0 <= scores["P@1"] <= 1.0


def test_eval_cli_refuses_a_folder_without_classes(models_dir, tiny_model, tmp_path, capsys):
    from simdesk.cli import main

    (tmp_path / "flat").mkdir()
    assert main(["eval", "retrieval", str(tmp_path / "flat"), "--model", "tiny"]) == 1
    assert "class subfolders" in capsys.readouterr().err


def test_query_expansion_pulls_the_query_towards_its_neighbours():
    from simdesk.core.search import expand_queries

    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [-1.0, 0.0]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = vectors[:1] @ vectors.T
    sims[0, 0] = -np.inf  # the query itself takes no part
    expanded = expand_queries(vectors[:1], sims, vectors, 1)
    assert np.allclose(expanded, (vectors[0] + vectors[1]) / np.linalg.norm(vectors[0] + vectors[1]))
    # alpha-QE weighs by similarity**alpha: a far neighbour hardly counts
    weighted = expand_queries(vectors[:1], sims, vectors, 2, alpha=3.0)
    plain = expand_queries(vectors[:1], sims, vectors, 2)
    assert weighted[0, 1] < plain[0, 1]
    # scores with expansion stay in range
    rng = np.random.default_rng(1)
    scores = retrieval_scores(rng.normal(size=(40, 6)), rng.integers(0, 2, 40), expand=(3, 0.0))
    assert 0.0 <= scores["P@30"] <= 1.0 and 0.0 <= scores["mAP"] <= 1.0
