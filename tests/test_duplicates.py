"""The near-duplicate engine: all pairs, complete linkage, keep rules, dismissals, the scan, the CLI."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_MODEL, draw_photo
from simdesk.cli import main
from simdesk.core.duplicates import candidates, dismissed, linkage
from simdesk.core.duplicates import grouping as duplicates
from simdesk.core.duplicates.candidates import Whitening, nearest_pairs, similar_pairs
from simdesk.core.duplicates.grouping import DuplicateError, parse_keep_rule
from simdesk.core.duplicates.keep import DEFAULT_KEEP_RULE, Member, choose_keep
from simdesk.core.duplicates.linkage import complete_linkage
from simdesk.core.pooling import l2_normalize
from simdesk.core.store import Store


def compared_similarities(a, r=None, aspects=None):
    """The full matrix of what the scan compares: upright, and turned between inverse aspects."""
    sims = a @ a.T
    if r is not None:
        cross = a @ r.T
        turned = np.maximum(cross, cross.T)
        if aspects is not None:
            la = np.log(aspects)
            turned = np.where(np.abs(la[:, None] + la[None, :]) <= candidates.ROTATION_ASPECT_TOLERANCE,
                              turned, -np.inf)
        sims = np.maximum(sims, turned)
    return sims


def brute_force_pairs(a, threshold, r=None, aspects=None):
    sims = compared_similarities(a, r, aspects)
    i, j = np.triu_indices(len(a), 1)
    keep = sims[i, j] >= threshold
    return {(int(x), int(y)): float(v) for x, y, v in zip(i[keep], j[keep], sims[i, j][keep])}


def random_unit(rng, n, d):
    return l2_normalize(rng.standard_normal((n, d)).astype(np.float32))


# -- all pairs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [7, 64, 1000])
def test_similar_pairs_matches_brute_force_in_any_tiling(block):
    rng = np.random.default_rng(0)
    a = random_unit(rng, 150, 8)
    i, j, s = similar_pairs(a, 0.5, block=block)
    got = {(int(x), int(y)): float(v) for x, y, v in zip(i, j, s)}
    expected = brute_force_pairs(a, 0.5)
    assert set(got) == set(expected) and len(got) > 20
    assert all(x < y for x, y in got)
    assert max(abs(got[k] - expected[k]) for k in expected) < 1e-5


@pytest.mark.parametrize("with_aspects", [False, True])
def test_turned_view_finds_rotated_copies_and_respects_aspect(with_aspects):
    rng = np.random.default_rng(1)
    n = 120
    a, r = random_unit(rng, n, 16), random_unit(rng, n, 16)
    aspects = rng.choice([4 / 3, 3 / 4, 1.0, 16 / 9], n)
    # Photo 5 is photo 9 turned: its upright view is photo 9's turned view; their aspects swap.
    a[5] = l2_normalize(r[9] + 0.02 * rng.standard_normal(16).astype(np.float32))
    aspects[5], aspects[9] = 3 / 4, 4 / 3
    asp = aspects if with_aspects else None
    i, j, s = similar_pairs(a, 0.4, r, asp, block=17)
    got = {(int(x), int(y)): float(v) for x, y, v in zip(i, j, s)}
    expected = brute_force_pairs(a, 0.4, r, asp)
    assert set(got) == set(expected)
    assert max(abs(got[k] - expected[k]) for k in expected) < 1e-5
    assert got[(5, 9)] > 0.95


def test_turned_comparison_is_skipped_between_same_orientation_photos():
    rng = np.random.default_rng(2)
    a, r = random_unit(rng, 4, 8), random_unit(rng, 4, 8)
    a[1] = r[0]  # looks like photo 0 turned...
    i, j, s = similar_pairs(a, 0.9, r, np.array([4 / 3, 4 / 3, 1.0, 1.0]))
    assert (0, 1) not in set(zip(i.tolist(), j.tolist()))  # ...but both are landscape: not a turn


def test_similar_pairs_handles_empty_and_single():
    empty = np.zeros((0, 4), np.float32)
    assert all(len(x) == 0 for x in similar_pairs(empty, 0.5))
    assert all(len(x) == 0 for x in similar_pairs(np.ones((1, 4), np.float32) / 2, 0.5))


def test_whitening_is_normalised_and_survives_tiny_libraries():
    rng = np.random.default_rng(3)
    for n in (2, 5, 300):
        x = np.abs(rng.standard_normal((n, 32))).astype(np.float32)
        w = Whitening.fit(x, dims=16)
        y = w.apply(x)
        assert y.shape == (n, 16) and np.all(np.isfinite(y))
        assert np.allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)


# -- complete linkage ------------------------------------------------------------------------------------


def pairs(*triples):
    i, j, s = zip(*triples)
    return np.array(i), np.array(j), np.array(s, dtype=np.float32)


def test_complete_linkage_does_not_chain_through_an_intermediate():
    # A~B and B~C pass, A~C does not (the pair is not even listed): no group holds both A and C.
    groups = complete_linkage(3, *pairs((0, 1, 0.95), (1, 2, 0.90)), threshold=0.8)
    assert groups == [[0, 1]]
    # A chain of 6 photos each close to the next only: never one group of 6.
    chain = complete_linkage(6, *pairs(*[(k, k + 1, 0.9) for k in range(5)]), threshold=0.8)
    assert all(len(g) == 2 for g in chain)
    for g in chain:
        assert g[1] - g[0] == 1


def test_complete_linkage_groups_a_clique_and_honours_the_threshold():
    clique = pairs((0, 1, 0.9), (0, 2, 0.85), (1, 2, 0.88), (3, 4, 0.7))
    assert complete_linkage(5, *clique, threshold=0.8) == [[0, 1, 2]]
    assert complete_linkage(5, *clique, threshold=0.6) == [[0, 1, 2], [3, 4]]
    assert complete_linkage(5, *clique, threshold=0.89) == [[0, 1]]


def test_complete_linkage_greedy_variant_for_huge_components(monkeypatch):
    monkeypatch.setattr(linkage, "DENSE_LINKAGE_LIMIT", 2)
    groups = complete_linkage(4, *pairs((0, 1, 0.95), (1, 2, 0.9), (0, 2, 0.85), (2, 3, 0.99)), threshold=0.8)
    for g in groups:  # every pair inside a group is listed above the threshold
        for x in g:
            for y in g:
                assert x == y or {(0, 1), (1, 2), (0, 2), (2, 3)} & {(min(x, y), max(x, y))}
    assert [2, 3] in groups


# -- keep rules ----------------------------------------------------------------------------------------------


def member(path, w=100, h=100, size=1000, capture=None, mtime=1_000_000_000_000_000_000, reference=False):
    return Member(hash(path) & 0xFFFF, path, size, mtime, path.encode(), w, h, capture, reference)


def test_keep_rule_order_and_reasons():
    big = member("/p/big.jpg", 4000, 3000, size=100)
    small = member("/p/small.jpg", 2000, 1500, size=900)
    keep, reason = choose_keep([small, big])
    assert keep is big and reason == "largest pixel count (4000x3000)"

    heavy = member("/p/heavy.jpg", size=5_000_000)
    light = member("/p/light.jpg", size=10)
    keep, reason = choose_keep([light, heavy])
    assert keep is heavy and reason.startswith("larger file (5.0 MB")

    old = member("/p/b.jpg", capture=1_000_000.0)
    new = member("/p/a.jpg", capture=2_000_000.0)
    keep, reason = choose_keep([new, old])
    assert keep is old and reason.startswith("older capture date (1970-01-12")

    short = member("/p/x.jpg")
    long = member("/p/longer/x.jpg")
    keep, reason = choose_keep([long, short])
    assert keep is short and reason == "shorter path"

    keep, reason = choose_keep([member("/p/b.jpg"), member("/p/a.jpg")])
    assert keep.path == "/p/a.jpg" and reason.startswith("first by name")


def test_a_custom_keep_rule_and_the_date_fallback_to_file_time():
    older_file = member("/p/one.jpg", 100, 100, mtime=1_000_000_000_000_000_000)
    newer_big = member("/p/two.jpg", 200, 200, mtime=2_000_000_000_000_000_000)
    keep, reason = choose_keep([newer_big, older_file], parse_keep_rule("oldest,pixels"))
    assert keep is older_file and "no capture date; file time" in reason
    keep, _ = choose_keep([newer_big, older_file], ("newest",))
    assert keep is newer_big


def test_parse_keep_rule_rejects_nonsense():
    assert parse_keep_rule(None) == DEFAULT_KEEP_RULE
    assert parse_keep_rule("size, pixels") == ("size", "pixels")
    for bad in ("sharpness", "", "oldest,newest"):
        with pytest.raises(DuplicateError):
            parse_keep_rule(bad)


def test_reference_copies_are_kept_and_never_extras():
    best = member("/p/best.jpg", 4000, 3000)
    archived = member("/archive/old.jpg", 100, 100, reference=True)
    keep, reason = choose_keep([best, archived])
    assert keep is archived and reason == "in a reference folder (never deleted)"


# -- the scan, with vectors made to order -----------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "library.db") as s:
        yield s


def add_photo(store, path, chash, w=100, h=100, size=1000, capture=None):
    fid = store.add_folder(os.path.dirname(path))
    store.upsert_photo(path, folder_id=fid, size=size, mtime_ns=1, content_hash=chash, width=w,
                       height=h, capture_time=capture)
    return store.photo_by_path(path).id


def test_scan_finds_exact_copies_without_vectors(store):
    add_photo(store, "/p/a.jpg", b"h1", size=10)
    add_photo(store, "/p/b/a copy.jpg", b"h1", size=10)
    add_photo(store, "/p/c.jpg", b"h2")
    scan = duplicates.scan(store, None, threshold=0.5)
    (group,) = scan.groups()
    assert group.kind == "identical" and group.paths == ["/p/a.jpg", "/p/b/a copy.jpg"]
    assert group.keep == "/p/a.jpg" and group.reason == "shorter path"
    assert [m.similarity for m in group.members] == [1.0, 1.0]
    data = group.to_json()
    assert (data["kind"], data["keep"], data["paths"]) == ("identical", "/p/a.jpg", ["/p/a.jpg", "/p/b/a copy.jpg"])
    assert [(m["path"], m["kept"], m["size"], m["evidence"]) for m in data["members"]] == [
        ("/p/a.jpg", True, 10, {"identical": True}), ("/p/b/a copy.jpg", False, 10, {"identical": True})]


def near_store(store):
    """Four photos: 0 and 1 near copies, 2 a byte-identical copy of 1, 3 unrelated."""
    ids = [add_photo(store, "/p/orig.jpg", b"A", 4000, 3000, size=3000),
           add_photo(store, "/p/small.jpg", b"B", 800, 600, size=200),
           add_photo(store, "/q/small.jpg", b"B", 800, 600, size=200),
           add_photo(store, "/p/other.jpg", b"C")]
    v = np.array([[1, 0, 0], [0.9, 0.1, 0], [0.9, 0.1, 0], [0, 0, 1]], dtype=np.float32)
    return np.array(ids), v


def test_scan_groups_near_copies_with_their_byte_identical_copies(store):
    ids, v = near_store(store)
    scan = duplicates.scan(store, (ids, v, None), threshold=0.9, whiten=False)
    (group,) = scan.groups()
    assert group.kind == "copy"
    assert set(group.paths) == {"/p/orig.jpg", "/p/small.jpg", "/q/small.jpg"}
    assert group.keep == "/p/orig.jpg" and group.reason == "largest pixel count (4000x3000)"
    by_path = {m.path: m for m in group.members}
    assert by_path["/p/small.jpg"].similarity == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-5)
    assert group.similarity == pytest.approx(0.9 / np.hypot(0.9, 0.1), abs=1e-5)
    assert [m.path for m in group.extras] == ["/p/small.jpg", "/q/small.jpg"]
    # The slider: above the near similarity only the byte-identical pair remains.
    (exact,) = scan.groups(0.999)
    assert exact.kind == "identical" and set(exact.paths) == {"/p/small.jpg", "/q/small.jpg"}
    with pytest.raises(DuplicateError, match="scan again"):
        scan.groups(0.1)


def test_user_choice_of_keep_and_reference_folders(store):
    ids, v = near_store(store)
    scan = duplicates.scan(store, (ids, v, None), threshold=0.9, whiten=False)
    (group,) = scan.groups()
    chosen = group.with_keep("/q/small.jpg")
    assert chosen.keep == "/q/small.jpg" and chosen.reason == "chosen by you"
    assert chosen.members[0].path == "/q/small.jpg"
    assert {m.path: m.similarity for m in chosen.members}["/p/small.jpg"] == 1.0
    with pytest.raises(DuplicateError):
        group.with_keep("/nowhere.jpg")
    (ref,) = scan.groups(reference_folders=["/q"])
    assert ref.keep == "/q/small.jpg" and ref.reason.startswith("in a reference folder")
    assert "/q/small.jpg" not in [m.path for m in ref.extras]
    (ruled,) = scan.groups(keep_rule=("shortest_path", "size"))
    assert ruled.keep in ("/p/orig.jpg",)  # equal path lengths, then the larger file


def test_a_dismissed_pair_never_comes_back(store):
    ids, v = near_store(store)
    dismissed.dismiss(store, [b"A", b"B"])
    scan = duplicates.scan(store, (ids, v, None), threshold=0.5, whiten=False)
    for t in (0.5, 0.9, 0.999):
        for group in scan.groups(t):
            assert {m.content_hash for m in group.members} != {b"A", b"B"}
            assert not ({b"A", b"B"} <= {m.content_hash for m in group.members})
    # Byte-identical copies can be accepted too: (h, h) hides them.
    dismissed.dismiss(store, [b"B", b"B"])
    assert duplicates.scan(store, (ids, v, None), threshold=0.5, whiten=False).groups() == []
    assert dismissed.undismiss(store, [b"A", b"B"]) == 1
    assert dismissed.dismissed_pairs(store) == {(b"B", b"B")}


def test_scan_compares_photos_turned_by_90_degrees(store):
    ids = np.array([add_photo(store, "/p/land.jpg", b"L", 400, 300),
                    add_photo(store, "/p/port.jpg", b"P", 300, 400),
                    add_photo(store, "/p/else.jpg", b"E", 400, 300)])
    up = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=np.float32)
    turned = np.array([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]], dtype=np.float32)
    assert duplicates.scan(store, (ids, up, None), threshold=0.9, whiten=False).groups() == []
    (group,) = duplicates.scan(store, (ids, up, turned), threshold=0.9, whiten=False).groups()
    assert set(group.paths) == {"/p/land.jpg", "/p/port.jpg"}


def test_scan_rejects_a_threshold_out_of_range(store):
    with pytest.raises(DuplicateError):
        duplicates.scan(store, None, threshold=1.5)


# -- the real pipeline, with the tiny test model -------------------------------------------------------------------


@pytest.fixture
def dup_folder(tmp_path):
    folder = tmp_path / "photos"
    for i in range(8):
        draw_photo(folder / f"photo_{i}.jpg", seed=i, size=(160, 120), quality=92)
    shutil.copy(folder / "photo_0.jpg", folder / "copy_of_0.jpg")
    (folder / "album").mkdir()
    shutil.copy(folder / "photo_1.jpg", folder / "album" / "photo_1.jpg")
    Image.open(folder / "photo_2.jpg").save(folder / "photo_2_resaved.jpg", quality=70)
    return folder


def test_library_prepares_descriptors_once_and_finds_duplicates(library, dup_folder):
    library.add_folder(dup_folder)
    library.index(one_pass=False)  # a library indexed before the one-pass index: filled in here
    model = library.duplicate_descriptor_model()
    assert model.spec.layer == "features"  # the tiny model has no known mid-level layer
    assert library.duplicates_missing() == 9  # 11 files, 9 distinct contents
    report = library.prepare_duplicates(workers=1)
    assert report.computed == 9 and not report.skipped
    assert library.duplicates_missing() == 0
    assert library.prepare_duplicates().computed == 0
    scan = library.find_duplicates(threshold=0.95)
    groups = library.duplicate_groups(scan)
    exact = {frozenset(g.paths) for g in groups if g.kind == "identical"}
    assert frozenset({str(dup_folder / "photo_0.jpg"), str(dup_folder / "copy_of_0.jpg")}) in exact
    assert frozenset({str(dup_folder / "photo_1.jpg"), str(dup_folder / "album" / "photo_1.jpg")}) in exact
    assert scan.not_compared == 0 and scan.model == TINY_MODEL


def test_descriptors_skip_a_file_changed_since_indexing(library, dup_folder):
    library.add_folder(dup_folder)
    library.index(one_pass=False)
    draw_photo(dup_folder / "photo_3.jpg", seed=99, size=(160, 120))
    report = library.prepare_duplicates(workers=1)
    assert [p for p, _ in report.skipped] == [str(dup_folder / "photo_3.jpg")]
    assert "changed since it was indexed" in report.skipped[0][1]


def test_truncated_graph_gives_the_layer_it_was_cut_at(tiny_model):
    import onnx
    import onnxruntime as ort

    from simdesk.core.duplicates.descriptors import _truncate

    cut = _truncate(onnx.load(str(tiny_model.onnx_path)), "r1")
    assert [n.op_type for n in cut.graph.node] == ["Conv", "Relu"]
    session = ort.InferenceSession(cut.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(["r1"], {"input": np.zeros((2, 3, 32, 32), np.float32)})
    assert out.shape == (2, 16, 16, 16)


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli_dups(library_dir, tiny_model, dup_folder, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    code, _, err = run_cli(capsys, "index", str(dup_folder), "--model", TINY_MODEL)
    assert code == 0, err
    return dup_folder


def test_cli_duplicates_json(cli_dups, capsys):
    code, out, err = run_cli(capsys, "duplicates", "--json", "--threshold", "0.97")
    assert code == 0, err
    data = json.loads(out)
    assert set(data) == {"threshold", "model", "groups"}
    assert data["threshold"] == 0.97 and data["model"] == TINY_MODEL
    assert all({"kind", "keep", "paths", "reason", "members"} <= set(g) and g["keep"] in g["paths"]
               for g in data["groups"])
    for group in data["groups"]:
        assert [m["path"] for m in group["members"]] == group["paths"]
        assert [m["kept"] for m in group["members"]].count(True) == 1
    pairs_found = {frozenset(g["paths"]) for g in data["groups"]}
    assert frozenset({str(cli_dups / "photo_0.jpg"), str(cli_dups / "copy_of_0.jpg")}) in pairs_found


def test_cli_duplicates_readable_list_and_not_duplicates(cli_dups, capsys):
    code, out, err = run_cli(capsys, "duplicates", "--threshold", "0.97")
    assert code == 0, err
    assert "identical files" in out and "keep " in out and "<- " in out
    assert "--trash-extras" in out
    code, out, err = run_cli(capsys, "not-duplicates", str(cli_dups / "photo_0.jpg"),
                             str(cli_dups / "copy_of_0.jpg"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "duplicates", "--json", "--threshold", "0.97")
    assert str(cli_dups / "copy_of_0.jpg") not in out
    code, out, err = run_cli(capsys, "not-duplicates", str(cli_dups / "nope.jpg"), str(cli_dups / "photo_0.jpg"))
    assert code == 1 and "not a photo of this library" in err


def test_cli_keep_rule_and_reference_folders(cli_dups, capsys):
    code, out, err = run_cli(capsys, "duplicates", "--json", "--threshold", "0.97", "--keep-rule", "nonsense")
    assert code == 1 and "unknown keep rule" in err
    code, out, err = run_cli(capsys, "reference", "add", str(cli_dups / "album"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "reference")
    assert out.strip() == str(cli_dups / "album")
    code, out, err = run_cli(capsys, "duplicates", "--json", "--threshold", "0.97")
    keeps = {g["keep"] for g in json.loads(out)["groups"]}
    assert str(cli_dups / "album" / "photo_1.jpg") in keeps
    code, out, err = run_cli(capsys, "reference", "remove", str(cli_dups / "album"))
    assert code == 0
    code, out, err = run_cli(capsys, "reference", "remove", str(cli_dups / "album"))
    assert code == 1


def test_different_capture_times_are_different_shots_not_copies(store):
    # A burst: the same scene one second apart; a copy keeps the capture time or has none;
    # a time-zone fix moves it by whole hours.
    ids = np.array([add_photo(store, "/p/burst1.jpg", b"1", capture=1000.0),
                    add_photo(store, "/p/burst2.jpg", b"2", capture=1001.0),
                    add_photo(store, "/p/edited.jpg", b"3", capture=1000.0),
                    add_photo(store, "/p/stripped.jpg", b"4", capture=None),
                    add_photo(store, "/p/tz-fixed.jpg", b"5", capture=1000.0 + 7200)])
    v = np.array([[1, 0.01 * k, 0] for k in range(5)], dtype=np.float32)
    scan = duplicates.scan(store, (ids, v, None), threshold=0.9, whiten=False)
    (group,) = [g for g in scan.groups() if g.kind == "copy"]
    assert set(group.paths) == {"/p/burst1.jpg", "/p/edited.jpg", "/p/stripped.jpg", "/p/tz-fixed.jpg"}
    # The other exposure is a similar shot of the group's photos: listed apart, nothing proposed.
    (shots,) = [g for g in scan.groups() if g.kind == "similar_shot"]
    assert "/p/burst2.jpg" in shots.paths and shots.extras == [] and shots.reclaimable_bytes == 0
    (together,) = scan.groups(separate_shots=False)
    assert len(together.members) == 5


def test_star_groups_keep_copies_of_one_original_together_without_chaining():
    # 0 is an original; 1, 2, 3 its copies, verified against it but not all against each other.
    groups = linkage.star_groups(6, np.array([0, 0, 0, 1]), np.array([1, 2, 3, 2]),
                                 np.array([0.9, 0.5, 0.4, 0.6], np.float32))
    assert groups == [[0, 1, 2, 3]]
    # A chain of links (4-5 is a separate pair) never joins two centres' groups.
    chain = linkage.star_groups(8, np.array([0, 1, 2, 3, 5]), np.array([1, 2, 3, 4, 6]),
                                np.full(5, 0.8, np.float32))
    assert all(len(g) <= 3 for g in chain)
    members = [m for g in chain for m in g]
    assert len(members) == len(set(members))  # no photo in two groups
    for g in chain:  # every member linked to one of its group's members (the centre)
        links = {(0, 1), (1, 2), (2, 3), (3, 4), (5, 6)}
        assert any(all(m == c or (min(m, c), max(m, c)) in links for m in g) for c in g)
    assert linkage.star_groups(3, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)) == []
    # Photos kept apart (different exposures) never share a group, even both linked to a centre.
    apart = linkage.star_groups(3, np.array([0, 0]), np.array([1, 2]), np.array([0.9, 0.8], np.float32),
                                lambda a, b: {a, b} == {1, 2})
    assert apart == [[0, 1]]


def test_a_second_scan_reuses_the_verdicts_kept_in_the_library(library, dup_folder, monkeypatch):
    from simdesk.core.duplicates import verify

    library.add_folder(dup_folder)
    library.index()
    library.prepare_duplicates(workers=1)
    calls = []
    real = verify.verify_pair
    monkeypatch.setattr(verify, "verify_pair", lambda a, b: calls.append(1) or real(a, b))
    first = library.find_duplicates(workers=1)
    assert calls and len(first.pair_i)  # the first scan verifies its candidates
    verified = len(calls)
    second = library.find_duplicates(workers=1)
    assert len(calls) == verified  # ...the second reads the same verdicts back
    assert second.pair_kind.tolist() == first.pair_kind.tolist()
    assert second.evidence == first.evidence
    assert all(isinstance(e, dict) for e in second.evidence.values())
    # A new verification version verifies everything again.
    monkeypatch.setattr(verify, "VERDICT_VERSION", verify.VERDICT_VERSION + 1)
    library.find_duplicates(workers=1)
    assert len(calls) > verified


# -- each photo's nearest ------------------------------------------------------------------------------


def clustered_library(rng, n, d=16):
    """Clustered upright and turned views, aspects, and rotated copies, quantised to sixteenths so
    that every similarity is exact in float32 whatever the tiling: ties stay ties."""
    centres = random_unit(rng, n // 25, d)
    centres[:, -1] = 0.0  # the last axis is the loners' own (below)
    a, r = (l2_normalize(centres[rng.integers(0, len(centres), n)]
                         + 0.3 * rng.standard_normal((n, d)) * (np.arange(d) < d - 1)) for _ in "ar")
    a[10:18] = a[9]  # nine photos with one descriptor: equal similarities across the k-th place
    a[100:110] = r[200:210]  # turned copies
    a[-4:-1] = r[-4:-1] = np.eye(d)[-1]  # loners: three with only each other above any floor,
    a[-1] = r[-1] = -np.eye(d)[-1]  # and one with nothing at all
    aspects = rng.choice([4 / 3, 3 / 4, 1.0, 16 / 9], n, p=[0.6, 0.25, 0.1, 0.05])
    aspects[100:110] = 1 / aspects[200:210]
    quantised = lambda x: (np.round(x * 16) / 16).astype(np.float32)  # noqa: E731
    return quantised(a), quantised(r), aspects


def all_similarities(a, r=None, aspects=None):
    """``compared_similarities`` with the diagonal -inf, capped at 1 as the scan ranks."""
    sims = compared_similarities(a, r, aspects)
    np.fill_diagonal(sims, -np.inf)
    return np.minimum(sims, 1.0)


def nearest_by_brute_force(sims, floor, k):
    """Each photo's k best above the floor; ties: photos after it first, then by index."""
    pairs = {}
    for x in range(len(sims)):
        above = np.flatnonzero(sims[x] >= floor).tolist()
        for y in sorted(above, key=lambda y: (-sims[x, y], y < x, y))[:k]:
            pairs[(min(x, y), max(x, y))] = float(sims[x, y])
    return pairs


def old_top_candidates(i, j, s, per_photo):
    """The scan's former rule, over all pairs above the floor: pairs among either photo's best."""
    node = np.concatenate([i, j])
    edge = np.concatenate([np.arange(len(i)), np.arange(len(i))])
    order = np.lexsort((-np.concatenate([s, s]), node))
    node, edge = node[order], edge[order]
    starts = np.flatnonzero(np.r_[True, node[1:] != node[:-1]])
    rank = np.arange(len(node)) - np.repeat(starts, np.diff(np.r_[starts, len(node)]))
    keep = np.zeros(len(i), dtype=bool)
    keep[edge[rank < per_photo]] = True
    return keep


@pytest.mark.parametrize("turned", [False, True])
@pytest.mark.parametrize("floor", [0.2, 0.9])
def test_nearest_pairs_are_each_photos_best_in_any_tiling(turned, floor):
    rng = np.random.default_rng(5)
    n, k = 2000, 5
    a, r, aspects = clustered_library(rng, n)
    r, aspects = (r, aspects) if turned else (None, None)
    sims = all_similarities(a, r, aspects)
    expected = nearest_by_brute_force(sims, floor, k)
    i, j, s = nearest_pairs(a, floor, k, r, aspects, block=97)  # 21 x 21 tiles, the last ones ragged
    got = {(x, y): v for x, y, v in zip(i.tolist(), j.tolist(), s.tolist())}
    assert got == expected
    assert np.all(np.diff(i * n + j) > 0)  # ordered by (i, j), each pair once
    # The former pipeline (every pair above the floor, then each photo's best) agrees.
    pi, pj, ps = similar_pairs(a, floor, r, aspects, block=n)
    keep = old_top_candidates(pi, pj, ps, k)
    assert set(zip(pi[keep].tolist(), pj[keep].tolist())) == set(got)
    # The cases that make it hard were there: ties across the k-th place, photos short of k.
    above = (sims >= floor).sum(axis=1)
    kth = -np.sort(-sims, axis=1)[:, k - 1]
    assert (np.sum(sims == kth[:, None], axis=1) > 1)[above > k].any()
    assert (above < k).any() and (above > k).any()
    assert not turned or {(100 + m, 200 + m) for m in range(10)} <= set(got)


def test_nearest_pairs_with_few_photos_or_none_above_the_floor():
    rng = np.random.default_rng(6)
    a = random_unit(rng, 3, 4)
    assert all(len(x) == 0 for x in nearest_pairs(a[:0], 0.2, 5))
    assert all(len(x) == 0 for x in nearest_pairs(a[:1], 0.2, 5))
    i, j, s = nearest_pairs(a, -1.0, 5)
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (0, 2), (1, 2)]
    assert all(len(x) == 0 for x in nearest_pairs(a, 1.01, 5))
