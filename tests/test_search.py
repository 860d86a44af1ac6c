import numpy as np
import pytest

from simdesk.core.search import EmbeddingIndex


def brute_force_top_k(vectors, query, k):
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    q = query / np.linalg.norm(query)
    sims = v @ q
    return np.argsort(-sims, kind="stable")[:k], np.sort(sims)[::-1][:k]


def test_matches_brute_force_ranking():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(500, 32)).astype(np.float32)
    ids = np.arange(1000, 1500)
    index = EmbeddingIndex(ids, vectors)
    query = rng.normal(size=32).astype(np.float32)
    got_ids, got_sims = index.query(query, 10)
    want_rows, want_sims = brute_force_top_k(vectors, query, 10)
    assert list(got_ids) == list(ids[want_rows])
    assert np.allclose(got_sims, want_sims, atol=1e-5)
    assert all(np.diff(got_sims) <= 0)


def test_excluded_photo_never_returned_and_k_is_capped():
    vectors = np.eye(3, dtype=np.float32)
    index = EmbeddingIndex(np.array([7, 8, 9]), vectors)
    ids, sims = index.query(vectors[0], 10, exclude_ids=(7,))
    assert 7 not in ids
    assert len(ids) == 2


def test_identical_vector_scores_one():
    vectors = np.array([[3, 4], [1, 0]], dtype=np.float32)
    index = EmbeddingIndex(np.array([1, 2]), vectors)
    ids, sims = index.query(np.array([6, 8], dtype=np.float32), 1)
    assert ids[0] == 1 and sims[0] == pytest.approx(1.0)


def test_empty_index_and_wrong_dimension():
    empty = EmbeddingIndex(np.zeros(0, np.int64), np.zeros((0, 4), np.float32))
    assert len(empty.query(np.ones(4), 5)[0]) == 0
    index = EmbeddingIndex(np.array([1]), np.ones((1, 4), np.float32))
    with pytest.raises(ValueError):
        index.query(np.ones(3), 1)


def test_equal_scores_come_out_in_a_stable_order():
    vectors = np.ones((5, 2), dtype=np.float32)
    index = EmbeddingIndex(np.array([5, 3, 4, 1, 2]), vectors)
    assert list(index.query(np.ones(2), 5)[0]) == [1, 2, 3, 4, 5]


def test_centering_removes_what_every_photo_shares():
    rng = np.random.default_rng(3)
    shared = rng.normal(size=16) * 5  # a strong direction common to the whole collection
    vectors = shared + rng.normal(size=(100, 16))
    plain = EmbeddingIndex(np.arange(100), vectors)
    centred = EmbeddingIndex(np.arange(100), vectors, center=True)
    assert plain.query(vectors[0], 2)[1][1] > 0.8  # everything looks alike
    assert centred.query(vectors[0], 2)[1][1] < 0.6  # only real resemblance counts
    # The photo itself still scores 1, through either entry point.
    assert centred.query(vectors[0], 1)[1][0] == pytest.approx(1.0)
    assert centred.query(centred.vector_of(0), 1, transformed=True)[0][0] == 0


def test_small_collections_are_not_centred():
    vectors = np.array([[1, 0], [0.9, 0.1]], dtype=np.float32)
    index = EmbeddingIndex(np.array([1, 2]), vectors, center=True)
    assert index.mean_ is None
    assert index.query(vectors[0], 2)[1][1] > 0.9


@pytest.mark.parametrize("center", [False, True])
def test_vectors_prepared_in_slices_match_the_whole_array_way(monkeypatch, center):
    # Slices of 7 rows over 50 vectors: the last slice is short, and every slice boundary is crossed.
    rng = np.random.default_rng(3)
    raw = rng.gamma(1.0, 1.0, (50, 16)).astype(np.float16)  # the store keeps float16
    monkeypatch.setattr(EmbeddingIndex, "MIN_TO_CENTER", 10)
    monkeypatch.setattr(EmbeddingIndex, "SLICE_ROWS", 7)
    index = EmbeddingIndex(np.arange(50), raw, center=center)
    unit = raw.astype(np.float64) / np.linalg.norm(raw.astype(np.float64), axis=1, keepdims=True)
    if center:
        unit -= unit.mean(axis=0)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    assert index.storage == "float32" and index.unit_vectors().shape == (50, 16)
    np.testing.assert_allclose(index.unit_vectors(), unit, atol=1e-6)
    # A raw vector from outside is prepared the same way as the library's own rows.
    np.testing.assert_allclose(index.transform(raw[5]), unit[5], atol=1e-6)


def test_large_library_mode_keeps_half_precision_and_finds_the_neighbours():
    # 40,000 photos: candidates from the PCA projection (2,000 of them, 5 %), scored in float32.
    rng = np.random.default_rng(5)
    centres = rng.gamma(1.0, 1.0, (400, 256))
    raw = (centres[rng.integers(0, 400, 40_020)] + rng.gamma(1.0, 0.5, (40_020, 256))).astype(np.float32)
    index = EmbeddingIndex(np.arange(40_000), raw[:40_000], center=True)
    assert index._coarse is not None and index.storage == "bfloat16"  # half the memory
    assert index._data.nbytes == 40_000 * 256 * 2
    unit = raw.astype(np.float64) / np.linalg.norm(raw, axis=1, keepdims=True)
    unit -= unit[:40_000].mean(axis=0)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    found = expected = 0
    for q in list(range(0, 40_000, 2_000)) + list(range(40_000, 40_020)):  # library and new photos
        exclude = (q,) if q < 40_000 else ()
        ids, sims = index.query(raw[q], 10, exclude_ids=exclude)
        truth = unit[:40_000] @ unit[q]
        truth[list(exclude)] = -np.inf
        top = np.argsort(-truth)[:10]
        found += len(set(ids) & set(top))
        expected += 10
        np.testing.assert_allclose(sims, truth[ids], atol=2e-3)  # bfloat16 storage, float32 scoring
        assert q not in ids
    assert found / expected >= 0.99
    # A library photo's own vector, as the app passes it (transformed), scores 1 with itself.
    ids, sims = index.query(index.vector_of(123), 1, transformed=True)
    assert ids[0] == 123 and sims[0] == pytest.approx(1.0, abs=2e-3)


def test_large_index_keeps_unit_rows_as_bfloat16_within_its_precision():
    from simdesk.core.search import EmbeddingIndex

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(300, 256)).astype(np.float32)
    exact = EmbeddingIndex(np.arange(300), vectors, coarse=False)
    half = EmbeddingIndex(np.arange(300), vectors, coarse=True)
    assert (exact.storage, half.storage) == ("float32", "bfloat16")
    widened = half.unit_vectors()
    assert widened.dtype == np.float32
    # 8 bits of mantissa, rounded to nearest: every element within 2^-8 of its float32 value.
    np.testing.assert_allclose(widened, exact.unit_vectors(), rtol=2 ** -8, atol=1e-9)
    # Ties go to the even value (1 + 2^-8 lies halfway between 1 and 1 + 2^-7).
    from ml_dtypes import bfloat16

    assert np.array([1 + 2 ** -8], np.float32).astype(bfloat16).astype(np.float32)[0] == 1.0


def test_query_expansion_keeps_the_nearest_first_and_reports_direct_cosines():
    from simdesk.core.search import EmbeddingIndex

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 16))
    vectors = np.vstack([c + rng.normal(size=(30, 16)) * 0.6 for c in centres]).astype(np.float32)
    vectors[7] = vectors[0]  # an exact copy of the query
    index = EmbeddingIndex(np.arange(len(vectors)), vectors, center=False)
    direct_ids, direct = index.query(vectors[0], 119, exclude_ids=(0,))
    cosine = dict(zip(direct_ids.tolist(), direct.tolist()))
    ids, sims = index.query(vectors[0], 30, exclude_ids=(0,), expand=10)
    keep = EmbeddingIndex.EXPAND_KEEPS
    assert list(ids[:keep]) == list(direct_ids[:keep])  # the nearest keep their place, in order
    assert ids[0] == 7 and sims[0] == pytest.approx(1.0)  # the copy first, at 1
    assert 0 not in ids and len(set(ids.tolist())) == 30
    assert np.allclose(sims, [cosine[i] for i in ids.tolist()])  # the cosines to the query
    assert list(ids) != list(direct_ids[:30])  # the rest is ranked otherwise
    # min_similarity applies to the cosine
    cut = float(direct[20])
    narrowed, narrowed_sims = index.query(vectors[0], 50, exclude_ids=(0,), expand=10, min_similarity=cut)
    assert set(narrowed.tolist()) == set(direct_ids[:21].tolist()) and narrowed_sims.min() >= cut
    # below MIN_TO_EXPAND photos searched: no expansion
    few = index.query(vectors[0], 5, exclude_ids=(0,), only_ids=range(20), expand=10)
    assert list(few[1]) == sorted(few[1], reverse=True)


def _slices_of(ids, vectors, sizes):
    """A reader of (ids, vectors) in slices of the given sizes, repeated; counts its readings."""
    def read():
        read.calls += 1
        start, k = 0, 0
        while start < len(ids):
            stop = start + sizes[k % len(sizes)]
            yield ids[start:stop], vectors[start:stop]
            start, k = stop, k + 1
    read.calls = 0
    return read


@pytest.mark.parametrize("coarse", [False, True])
def test_index_filled_from_uneven_slices_equals_the_one_from_the_whole_matrix(coarse):
    rng = np.random.default_rng(11)
    raw = rng.gamma(1.0, 1.0, (1000, 160)).astype(np.float16)  # as the store keeps them
    ids = rng.permutation(1000) + 100
    whole = EmbeddingIndex(ids, raw, center=True, coarse=coarse)
    read = _slices_of(ids, raw, [7, 300, 1, 64])  # no slice size divides 1000
    sliced = EmbeddingIndex.from_slices(1000, 160, read, center=True, coarse=coarse)
    assert read.calls == 1  # float16 rows wait inside the index: the source is read once
    assert sliced.storage == whole.storage == ("bfloat16" if coarse else "float32")
    assert np.array_equal(sliced.ids, ids) and np.array_equal(sliced.mean_, whole.mean_)
    assert np.array_equal(sliced.unit_vectors(), whole.unit_vectors())
    for q in (0, 999, 500):
        got = sliced.query(raw[q], 10, exclude_ids=(int(ids[q]),))
        want = whole.query(raw[q], 10, exclude_ids=(int(ids[q]),))
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_float32_rows_for_a_bfloat16_index_are_read_twice_and_give_the_same_index():
    rng = np.random.default_rng(12)
    raw = rng.normal(size=(400, 160)).astype(np.float32)  # cannot wait in 16 bits unrounded
    read = _slices_of(np.arange(400), raw, [150])
    sliced = EmbeddingIndex.from_slices(400, 160, read, center=True, coarse=True)
    assert read.calls == 2
    whole = EmbeddingIndex(np.arange(400), raw, center=True, coarse=True)
    assert np.array_equal(sliced.unit_vectors(), whole.unit_vectors())


def test_slices_that_do_not_add_up_to_the_count_are_refused():
    raw = np.ones((10, 4), np.float32)
    with pytest.raises(ValueError):
        EmbeddingIndex.from_slices(12, 4, _slices_of(np.arange(10), raw, [4]))
    with pytest.raises(ValueError):
        EmbeddingIndex.from_slices(8, 4, _slices_of(np.arange(10), raw, [4]))
    with pytest.raises(ValueError):
        EmbeddingIndex.from_slices(10, 5, _slices_of(np.arange(10), raw, [4]))


def test_empty_index_from_no_slices():
    index = EmbeddingIndex.from_slices(0, 8, lambda: iter(()), center=True)
    assert len(index) == 0 and index.dim == 8 and index.mean_ is None
    assert len(index.query(np.ones(8), 3)[0]) == 0


def test_candidates_rescored_in_blocks_score_as_their_widened_rows(monkeypatch):
    rng = np.random.default_rng(13)
    raw = rng.normal(size=(300, 160)).astype(np.float32)
    index = EmbeddingIndex(np.arange(300), raw, coarse=True)
    monkeypatch.setattr(EmbeddingIndex, "RESCORE_ROWS", 7)  # 23 rows: the last block is short
    rows = np.sort(rng.choice(300, 23, replace=False))
    query = index.transform(raw[0])
    np.testing.assert_allclose(index._scores(rows, query), index.unit_vectors()[rows] @ query,
                               rtol=1e-6, atol=1e-6)
    assert len(index._scores(rows[:0], query)) == 0


def _approximate_scores(index, query):
    mean, axes, projected, dot_mean = index._coarse
    return projected @ (axes @ (query - mean)) + dot_mean


@pytest.mark.parametrize("margin", [1.1, 0.5])
def test_candidates_hold_every_row_of_the_approximate_top(monkeypatch, margin):
    # The cut is estimated on a sample; whether it lets through a few more rows (1.1) or, set too
    # high (0.5), too few and falls back to the partition, the exact top by approximate score
    # is always among the candidates, so recall never drops below the partition's.
    monkeypatch.setattr(EmbeddingIndex, "CUT_MARGIN", margin)
    rng = np.random.default_rng(5)
    monkeypatch.setattr(EmbeddingIndex, "COARSE_DIMS", 8)
    raw = rng.normal(size=(12_000, 24)).astype(np.float32)
    index = EmbeddingIndex(np.arange(12_000), raw, coarse=True)
    assert index._coarse is not None
    for q in range(5):
        query = index.transform(raw[q] + rng.normal(scale=0.5, size=24).astype(np.float32))
        rows = index._candidates(query, 600)
        approx = _approximate_scores(index, query)
        exact_top = np.argsort(-approx, kind="stable")[:600]
        assert set(exact_top) <= set(rows)
        assert list(rows) == sorted(rows)
        if margin < 1:
            assert len(rows) == 600
        else:
            assert 600 <= len(rows) <= 800  # a few more, not the whole library
