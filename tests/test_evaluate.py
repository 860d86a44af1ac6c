import numpy as np
import pytest

from simdesk.core.evaluate import retrieval_scores


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
