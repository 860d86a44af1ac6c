"""The duplicate scan: groups of identical files, of edited copies, and of similar shots.

How a scan works:

1. **Identical**: files with the same content hash (BLAKE2b of the bytes) are certain copies; no
   model is needed. The rest of the scan works on distinct contents, one row each, so a thousand
   identical files cost what one does.
2. **Candidates** (``candidates``): whitened duplicate descriptors compared all against all; each
   photo keeps its ``CANDIDATES_PER_PHOTO`` most similar photos above ``CANDIDATE_FLOOR``. A rank,
   not a threshold: the number of candidates a photo gets does not grow with the library.
3. **Verification** (``verify``): each candidate pair is checked on the pixels' local features: one
   photo under one geometric transform, whose aligned pixels differ only where an edit would change
   them, is a **copy**; the same scene with something moved is a **similar shot**; else nothing.
   The decision depends on the two photos alone, never on the library's size. Two photos whose EXIF
   capture times differ are different exposures: at most similar shots.
4. **Grouping** (``linkage``): every member of a group is a verified copy of the group's centre
   (two copies of one original need not verify against each other: a mirrored and a blurred copy
   may not), and a verified pair is one photo twice, so different photos are never chained
   through a third. The missing pairs of a small group are verified too, for its similarities.
   Unverified scans (``--fast``) use complete linkage instead: every pair passes the threshold.
   Similar shots are grouped apart, with nothing proposed for the Trash. A "not duplicates" mark
   (``dismissed``) is a cannot-link constraint.
5. **Keep** (``keep``): each group proposes the copy to keep by an ordered rule and says why.

The result, a :class:`DuplicateScan`, keeps the verified pairs, so ``scan.groups(threshold)``
regroups at once: ``threshold`` only asks verified copies to be closer than that as well.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from simdesk.core.duplicates import facts, keep
from simdesk.core.duplicates.candidates import Whitening, nearest_pairs
from simdesk.core.duplicates.dismissed import pair_key, dismissed_pairs
from simdesk.core.duplicates.keep import DEFAULT_KEEP_RULE, Member, choose_keep
from simdesk.core.duplicates.linkage import complete_linkage, star_groups
from simdesk.core.paths import under_any_resolved
from simdesk.core.pooling import l2_normalize
from simdesk.core.progress import Progress, ProgressCallback, check
from simdesk.core.provenance import Provenance
from simdesk.core.store import Store, decode_path

# Candidates: each photo's most similar photos by whitened descriptor similarity, above a floor
# that only drops pairs too far apart to be worth a look.
CANDIDATE_FLOOR = 0.20
CANDIDATES_PER_PHOTO = 5
# The slider and --threshold ask verified copies for more descriptor similarity than the floor.
DEFAULT_THRESHOLD = CANDIDATE_FLOOR
SLIDER_MIN, SLIDER_MAX = CANDIDATE_FLOOR, 0.95
# Pairs that cannot be verified (a photo without local features, or --fast) count as copies only
# above the similarity that kept precision at 0.99 on the near-duplicate benchmark without
# verification; with the library's own vectors (--fast) the same calibration gave 0.80.
UNVERIFIED_THRESHOLD = 0.55
DEFAULT_THRESHOLD_LIBRARY_VECTORS = 0.80
# Groups of copies up to this many contents get every missing pair verified, so complete linkage
# sees them all; bigger ones (rare) are grouped on the pairs that were verified.
COMPLETE_GROUPS_UP_TO = 40
# Capture times this close (seconds) are the same moment; further apart, two different exposures
# (cameras that record fractions of a second tell burst frames apart this way).
SAME_MOMENT_S = 0.01

KINDS = ("identical", "copy", "similar_shot")
_UNVERIFIED, _COPY, _SHOT, _DIFFERENT = 0, 1, 2, 3
_VERDICT_CODES = {"copy": _COPY, "similar_shot": _SHOT, "different": _DIFFERENT}
_SHOWN_EVIDENCE = ("copy", "similar_shot")  # the groups show copies' and shots' evidence only


class DuplicateError(Exception):
    """The scan cannot be done as asked; the message says why."""


def parse_keep_rule(rule) -> tuple[str, ...]:
    """The keep rule as a tuple of criteria; DuplicateError names what is wrong."""
    try:
        return keep.parse_keep_rule(rule)
    except keep.KeepRuleError as exc:
        raise DuplicateError(str(exc)) from None


# -- groups ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateGroup:
    """Copies of one photo, or shots of one scene. ``members[0]`` is the one to keep."""

    key: str  # stable id: a hash of the members' content hashes (journaled with each move)
    kind: str  # "identical", "copy" or "similar_shot"
    members: tuple[Member, ...]
    keep: str  # path of the copy to keep
    reason: str  # why that one
    similarity: float  # the lowest similarity between any two members
    pair_similarity: tuple[tuple[float, ...], ...] = field(repr=False, default=())  # aligned with members
    evidence: tuple[dict | None, ...] = field(repr=False, default=())  # each member against the kept one

    @property
    def kept(self) -> Member:
        return next(m for m in self.members if m.path == self.keep)

    @property
    def extras(self) -> list[Member]:
        """The copies proposed for the Trash: not the kept one, none from a reference folder, and
        none at all in a group of similar shots (different exposures: the user picks)."""
        if self.kind == "similar_shot":
            return []
        return [m for m in self.members if m.path != self.keep and not m.reference]

    @property
    def reclaimable_bytes(self) -> int:
        return sum(m.size for m in self.extras)

    @property
    def paths(self) -> list[str]:
        return [m.path for m in self.members]

    def with_keep(self, path: str) -> "DuplicateGroup":
        """The same group with another copy kept (the user's choice); similarities re-based on it."""
        index = next((k for k, m in enumerate(self.members) if m.path == path), None)
        if index is None:
            raise DuplicateError(f"{path} is not in this group")
        return _assemble(self.key, self.kind, list(self.members), self.pair_similarity,
                         self._evidence_rows(), index, "chosen by you")

    def _evidence_rows(self):
        # Only evidence against the kept copy is kept; re-based on another copy it is unknown.
        return [[self.evidence[b] if a == 0 else (self.evidence[a] if b == 0 else None)
                 for b in range(len(self.members))] for a in range(len(self.members))]

    def to_json(self) -> dict:
        members = []
        for member, evidence in zip(self.members, self.evidence or [None] * len(self.members)):
            provenance = member.provenance
            members.append({
                "path": member.path, "size": member.size, "width": member.width,
                "height": member.height, "pixels": member.pixels, "capture_time": member.capture_time,
                "camera": provenance.camera, "software": provenance.software,
                "jpeg_quality": provenance.jpeg_quality, "reference": member.reference,
                "similarity": round(member.similarity, 6), "kept": member.path == self.keep,
                "evidence": evidence,
            })
        return {"kind": self.kind, "keep": self.keep, "reason": self.reason, "paths": self.paths,
                "members": members}


def _assemble(key: str, kind: str, members: list[Member], sims, evidence, keep_index: int,
              reason: str) -> DuplicateGroup:
    keep_sims = sims[keep_index]
    updated = [replace(m, similarity=float(keep_sims[k])) for k, m in enumerate(members)]
    order = sorted(range(len(members)),
                   key=lambda k: (k != keep_index, -updated[k].similarity, updated[k].path))
    lowest = min(min(row) for row in sims) if len(members) > 1 else 1.0
    return DuplicateGroup(
        key=key,
        kind=kind,
        members=tuple(updated[k] for k in order),
        keep=members[keep_index].path,
        reason=reason,
        similarity=float(lowest),
        pair_similarity=tuple(tuple(sims[a][b] for b in order) for a in order),
        evidence=tuple(evidence[keep_index][k] for k in order),
    )


def group_key(hashes: Iterable[bytes]) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for h in sorted(hashes):
        digest.update(h)
    return digest.hexdigest()


def all_photos(store: Store) -> list[Member]:
    rows = store.connection.execute(
        "SELECT p.id, p.path, p.size, p.mtime_ns, p.content_hash, p.width, p.height, p.capture_time, "
        "v.camera, v.software, v.jpeg_quality "
        "FROM photos p LEFT JOIN provenance v USING (content_hash) ORDER BY p.id"
    ).fetchall()
    return [Member(r[0], decode_path(r[1]), r[2], r[3], bytes(r[4]), r[5], r[6], r[7],
                   provenance=Provenance(r[8], r[9], r[10])) for r in rows]


def _different_moments(a: Member, b: Member) -> bool:
    """Both capture times known and apart: two exposures. A whole number of quarter hours apart is
    the same moment (a time-zone fix in an editor)."""
    if a.capture_time is None or b.capture_time is None:
        return False
    gap = abs(a.capture_time - b.capture_time)
    off = abs(gap - round(gap / 900.0) * 900.0)
    return gap > SAME_MOMENT_S and off > SAME_MOMENT_S


@dataclass
class DuplicateScan:
    """What one scan found: the photos, their contents and the candidate pairs with verdicts.

    Pairs are between contents (``contents[k]`` lists the photo indexes of one content, the first
    being the representative); ``pair_i``/``pair_j`` index ``contents``.
    """

    photos: list[Member]
    contents: list[list[int]]
    pair_i: np.ndarray
    pair_j: np.ndarray
    pair_s: np.ndarray  # descriptor similarity
    pair_kind: np.ndarray  # int8: unverified, copy, similar shot, different
    evidence: dict[tuple[int, int], dict]
    threshold: float  # the one asked for (the default groups() uses)
    unverified_threshold: float
    model: str
    descriptor: str  # what the similarities were measured on, for reports
    dismissed: set[tuple[bytes, bytes]]
    verified: bool = True
    not_compared: int = 0  # photos without a descriptor: only identical copies of them are found
    seconds: float = 0.0
    floor: float = CANDIDATE_FLOOR
    _bursts: np.ndarray | None = field(default=None, repr=False, compare=False)

    def _hash(self, content: int) -> bytes:
        return self.photos[self.contents[content][0]].content_hash

    def copy_pairs(self, threshold: float | None = None, separate_shots: bool = True) -> np.ndarray:
        """Mask of the pairs that count as copies at ``threshold``."""
        threshold = self.threshold if threshold is None else float(threshold)
        if threshold < self.floor - 1e-9:
            raise DuplicateError(
                f"this scan kept pairs down to {self.floor:.2f}; scan again for threshold {threshold:.2f}")
        copy = (self.pair_s >= threshold) & (
            (self.pair_kind == _COPY)
            | ((self.pair_kind == _UNVERIFIED) & (self.pair_s >= max(threshold, self.unverified_threshold))))
        if self.dismissed:
            copy &= ~self._dismissed_mask()
        if separate_shots:
            copy &= ~self._burst_mask()
        return copy

    def _apart(self, a: int, b: int, separate_shots: bool) -> bool:
        """Contents that must never share a group: a "not duplicates" mark, different exposures."""
        if self.dismissed and pair_key(self._hash(a), self._hash(b)) in self.dismissed:
            return True
        return separate_shots and _different_moments(self.photos[self.contents[a][0]],
                                                     self.photos[self.contents[b][0]])

    def _dismissed_mask(self) -> np.ndarray:
        """Pairs under a "not duplicates" mark; only pairs of two marked photos are looked up."""
        marked = {h for pair in self.dismissed for h in pair}
        involved = np.fromiter((self._hash(c) in marked for c in range(len(self.contents))),
                               dtype=bool, count=len(self.contents))
        mask = np.zeros(len(self.pair_i), dtype=bool)
        for k in np.flatnonzero(involved[self.pair_i] & involved[self.pair_j]).tolist():
            mask[k] = pair_key(self._hash(int(self.pair_i[k])), self._hash(int(self.pair_j[k]))) in self.dismissed
        return mask

    def _burst_mask(self) -> np.ndarray:
        """Pairs of different exposures (``_different_moments``, in arrays); the pairs and photos
        of a scan never change, so it is computed once."""
        if self._bursts is None:
            when = np.array([np.nan if self.photos[c[0]].capture_time is None else self.photos[c[0]].capture_time
                             for c in self.contents], dtype=np.float64)
            gap = np.abs(when[self.pair_i] - when[self.pair_j]) if len(self.pair_i) else np.zeros(0)
            off = np.abs(gap - np.round(gap / 900.0) * 900.0)  # distance to a whole quarter hour
            self._bursts = np.isfinite(gap) & (gap > SAME_MOMENT_S) & (off > SAME_MOMENT_S)
        return self._bursts

    def groups(
        self,
        threshold: float | None = None,
        *,
        keep_rule: Sequence[str] = DEFAULT_KEEP_RULE,
        reference_folders: Sequence[str] = (),
        separate_shots: bool = True,
    ) -> list[DuplicateGroup]:
        """Identical and copy groups, largest reclaimable size first, then similar shots.

        ``separate_shots``: two photos whose EXIF capture times are both known and differ are
        different exposures, listed as similar shots at most.
        """
        keep_rule = parse_keep_rule(keep_rule)
        copy = self.copy_pairs(threshold, separate_shots)
        pi, pj, ps = self.pair_i[copy], self.pair_j[copy], self.pair_s[copy]
        if self.verified:  # every member a verified copy of the group's centre
            clusters = star_groups(len(self.contents), pi, pj, ps,
                                   lambda a, b: self._apart(a, b, separate_shots))
        else:  # similarity alone: every pair of a group passes (a cosine is >= -1; unlisted never)
            clusters = complete_linkage(len(self.contents), pi, pj, ps, -1.0)
        # Similarities shown: of every pair the scan measured (copy or not), for the group's pairs.
        sims = {(int(a), int(b)): float(s) for a, b, s in
                zip(self.pair_i.tolist(), self.pair_j.tolist(), self.pair_s.tolist())}
        result: list[DuplicateGroup] = []
        in_copy_group = np.zeros(len(self.contents), dtype=bool)
        for cluster in clusters:
            in_copy_group[cluster] = True
            result.append(self._group("copy", cluster, sims, keep_rule, reference_folders))
        for content, files in enumerate(self.contents):
            if len(files) > 1 and not in_copy_group[content]:
                h = self._hash(content)
                if (h, h) not in self.dismissed:
                    result.append(self._group("identical", [content], sims, keep_rule, reference_folders))
        result.sort(key=lambda g: (-g.reclaimable_bytes, g.keep))
        # Similar shots: verified as such, or copies but for their different capture times.
        shot = self.pair_kind == _SHOT
        if separate_shots:
            shot |= self.copy_pairs(threshold, separate_shots=False) & self._burst_mask()
        return result + self._similar_shots(shot, clusters, keep_rule, reference_folders)

    def _similar_shots(self, shot, clusters, keep_rule, reference_folders) -> list[DuplicateGroup]:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        cluster_of = np.full(len(self.contents), -1, dtype=np.int64)
        for number, cluster in enumerate(clusters):
            cluster_of[cluster] = number
        same_group = (cluster_of[self.pair_i] >= 0) & (cluster_of[self.pair_i] == cluster_of[self.pair_j])
        shot = shot & ~same_group
        if self.dismissed:
            shot &= ~self._dismissed_mask()
        si, sj = self.pair_i[shot], self.pair_j[shot]
        if len(si) == 0:
            return []
        n = len(self.contents)
        graph = coo_matrix((np.ones(len(si), dtype=np.int8), (si, sj)), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        nodes = np.unique(np.concatenate([si, sj]))
        parts: dict[int, list[int]] = {}
        for node in nodes.tolist():
            parts.setdefault(int(labels[node]), []).append(node)
        sims = {(int(a), int(b)): float(s) for a, b, s in zip(si, sj, self.pair_s[shot])}
        groups = [self._group("similar_shot", part, sims, keep_rule, reference_folders)
                  for part in parts.values()]
        groups.sort(key=lambda g: (-len(g.members), g.keep))
        return groups

    def _group(self, kind: str, cluster: list[int], sims: dict, keep_rule, reference_folders
               ) -> DuplicateGroup:
        files = [(content, k) for content in sorted(cluster) for k in self.contents[content]]
        members = [replace(self.photos[k], reference=under_any_resolved(self.photos[k].path, reference_folders))
                   for _, k in files]

        def pair(a: int, b: int):
            ca, cb = files[a][0], files[b][0]
            if ca == cb:
                return 1.0, {"identical": True}
            key = (min(ca, cb), max(ca, cb))
            return sims.get(key, float("nan")), self.evidence.get(key)

        table = [[pair(a, b) for b in range(len(files))] for a in range(len(files))]
        similarity = [[s for s, _ in row] for row in table]
        evidence = [[e for _, e in row] for row in table]
        kept, reason = choose_keep(members, keep_rule)
        if kind == "similar_shot":
            reason = f"nothing ticked: different shots of one scene (best guess: {reason})"
        return _assemble(group_key(m.content_hash for m in members), kind, members, similarity,
                         evidence, members.index(kept), reason)


# -- the scan -------------------------------------------------------------------------------------


class _Verifier:
    """Verifies pairs of contents from their stored local features, loaded once each; verdicts are
    kept in the library, so a pair is verified once (until the verification's version changes)."""

    def __init__(self, store: Store, hashes: list[bytes]):
        from simdesk.core.duplicates import verify

        self._verify = verify
        self._hashes = hashes
        self._features: dict[int, bytes | None] = {}
        self._store = store
        self._unpacked = functools.lru_cache(maxsize=4096)(self._unpack)  # this scan's, not shared

    def key(self, a: int, b: int) -> tuple[bytes, bytes]:
        ha, hb = self._hashes[a], self._hashes[b]
        return (ha, hb) if ha < hb else (hb, ha)

    def cached(self, keys) -> dict[tuple[bytes, bytes], tuple[str, dict]]:
        return facts.cached_verdicts(self._store, keys, self._verify.VERDICT_VERSION,
                                     evidence_for=_SHOWN_EVIDENCE)

    def remember(self, rows) -> None:
        facts.put_verdicts(self._store, rows, self._verify.VERDICT_VERSION)

    def load(self, contents: Iterable[int]) -> None:
        """Read the stored features of these contents (kept packed: about 15 KB each, against
        35 KB unpacked; a few thousand are unpacked at a time)."""
        wanted = sorted(set(int(c) for c in contents) - set(self._features))
        blobs = facts.local_features_of(self._store, [self._hashes[c] for c in wanted])
        for c in wanted:
            self._features[c] = blobs.get(self._hashes[c]) or None

    def _unpack(self, content: int):
        blob = self._features.get(content)
        return self._verify.LocalFeatures.from_bytes(blob) if blob else None

    def __call__(self, a: int, b: int):
        fa, fb = self._unpacked(a), self._unpacked(b)
        if fa is None or fb is None:
            return None
        return self._verify.verify_pair(fa, fb)


def _verify_pairs(verifier: _Verifier, pi, pj, *, workers: int, progress, cancel, phase: str):
    """Verdict codes and evidence for pairs (pi[k], pj[k]); pairs without features stay unverified.
    Verdicts the library kept from an earlier scan are reused; new ones are kept."""
    codes = np.full(len(pi), _UNVERIFIED, dtype=np.int8)
    evidence: dict[tuple[int, int], dict] = {}
    pairs = list(zip(pi.tolist(), pj.tolist()))
    keys = [verifier.key(a, b) for a, b in pairs]
    known = verifier.cached(keys)
    todo = []
    for k, key in enumerate(keys):
        if key in known:
            kind, found = known[key]
            codes[k] = _VERDICT_CODES[kind]
            if kind in _SHOWN_EVIDENCE:
                evidence[(min(pairs[k]), max(pairs[k]))] = found
        else:
            todo.append(k)
    verifier.load([c for k in todo for c in pairs[k]])
    chunk = 256

    def run(start: int):
        out = []
        for k in todo[start:start + chunk]:
            if cancel is not None and cancel.is_set():
                break
            out.append(verifier(*pairs[k]))
        return start, out

    done = len(pairs) - len(todo)
    if progress:
        progress(Progress(phase, done, len(pairs), unit="pairs"))
    # Each pair's matrix products are small: BLAS threads of their own would only fight the
    # workers for the cores (measured 0.5 ms a product on one thread, 1-7 ms on two, busy machine).
    with threadpool_limits(1, user_api="blas"), \
            ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="simdesk-verify") as pool:
        for start, verdicts in pool.map(run, range(0, len(todo), chunk)):
            check(cancel)
            new = []
            for k, verdict in zip(todo[start:start + chunk], verdicts):
                if verdict is not None:
                    found = verdict.to_json()
                    codes[k] = _VERDICT_CODES[verdict.kind]
                    if verdict.kind in _SHOWN_EVIDENCE:
                        evidence[(min(pairs[k]), max(pairs[k]))] = found
                    new.append((*keys[k], verdict.kind, found))
            verifier.remember(new)  # a cancelled scan keeps what it verified
            done += len(verdicts)
            if progress:
                progress(Progress(phase, done, len(pairs), unit="pairs"))
    return codes, evidence


def _missing_group_pairs(n: int, pi, pj, codes) -> tuple[np.ndarray, np.ndarray]:
    """Pairs inside connected groups of copies (up to COMPLETE_GROUPS_UP_TO contents) not yet checked."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    copy = codes == _COPY
    if not copy.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ci, cj = pi[copy], pj[copy]
    graph = coo_matrix((np.ones(len(ci), dtype=np.int8), (ci, cj)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    known = set(zip(pi.tolist(), pj.tolist()))
    parts: dict[int, list[int]] = {}
    for node in np.unique(np.concatenate([ci, cj])).tolist():
        parts.setdefault(int(labels[node]), []).append(node)
    new_i, new_j = [], []
    for part in parts.values():
        if 2 < len(part) <= COMPLETE_GROUPS_UP_TO:
            for x in range(len(part)):
                for y in range(x + 1, len(part)):
                    a, b = min(part[x], part[y]), max(part[x], part[y])
                    if (a, b) not in known:
                        new_i.append(a)
                        new_j.append(b)
    return np.array(new_i, dtype=np.int64), np.array(new_j, dtype=np.int64)


def scan(
    store: Store,
    vectors,
    *,
    threshold: float | None = None,
    verify: bool = True,
    model: str = "",
    descriptor: str = "",
    whiten: bool = True,
    per_photo: int = CANDIDATES_PER_PHOTO,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> DuplicateScan:
    """Find and verify candidate pairs among the library's photos.

    ``vectors`` is (photo ids, upright vectors, rotated vectors or None), raw (not normalised), or
    a function that returns that tuple; the rotated vectors may themselves be a function that loads
    them (aligned with the ids). With loaders, only one raw matrix is in memory at a time. ``None``
    finds identical files only. ``verify`` False (the library's own vectors, ``--fast``) trusts
    the similarity alone, at ``threshold``. Setting ``cancel`` raises ``Cancelled``.
    """
    started = time.monotonic()
    unverified = UNVERIFIED_THRESHOLD if verify else DEFAULT_THRESHOLD_LIBRARY_VECTORS
    if threshold is None:
        threshold = DEFAULT_THRESHOLD if verify else DEFAULT_THRESHOLD_LIBRARY_VECTORS
    if not -1.0 <= threshold <= 1.0:
        raise DuplicateError(f"the threshold is a similarity between -1 and 1, not {threshold}")
    floor = min(CANDIDATE_FLOOR, threshold)
    workers = workers or max(1, os.cpu_count() or 1)
    photos = all_photos(store)
    index_of = {p.photo_id: k for k, p in enumerate(photos)}
    by_hash: dict[bytes, list[int]] = {}
    for k, p in enumerate(photos):
        by_hash.setdefault(p.content_hash, []).append(k)
    contents = list(by_hash.values())
    content_of_hash = {photos[ks[0]].content_hash: c for c, ks in enumerate(contents)}
    empty = np.zeros(0, dtype=np.int64)
    pi, pj, ps = empty, empty.copy(), np.zeros(0, dtype=np.float32)
    not_compared = len(photos)
    if callable(vectors):
        vectors = vectors()
    a = r = None
    if vectors is not None and len(vectors[0]) > 1:
        ids, upright, rotated = vectors
        del vectors  # with a loader, the raw matrices are freed as soon as they are whitened
        seen: dict[int, int] = {}  # content -> row of the vectors
        for row, photo_id in enumerate(ids.tolist()):
            k = index_of.get(int(photo_id))
            if k is not None:
                seen.setdefault(content_of_hash[photos[k].content_hash], row)
        rows_content = np.fromiter(seen.keys(), dtype=np.int64, count=len(seen))
        take = np.fromiter(seen.values(), dtype=np.int64, count=len(seen))
        not_compared = sum(len(contents[c]) for c in range(len(contents)) if c not in seen)
        if progress:
            progress(Progress("loading", 0, len(take)))
        whitening = Whitening.fit(upright[take]) if whiten else None

        def prepared(raw: np.ndarray) -> np.ndarray:
            return whitening.apply(raw) if whitening is not None else l2_normalize(raw.astype(np.float32))

        a = prepared(upright[take])
        del upright
        if rotated is not None:
            if callable(rotated):  # loaded only now, to hold one raw matrix at a time
                rotated = rotated()
            r = prepared(rotated[take])
            del rotated
        aspects = np.array([(photos[contents[c][0]].width or 1) / (photos[contents[c][0]].height or 1)
                            for c in rows_content.tolist()])

        def on_tiles(done, total):
            if progress:
                progress(Progress("comparing", done, total, unit="pairs"))

        li, lj, ls = nearest_pairs(a, floor, per_photo, r, aspects, cancel=cancel, progress=on_tiles)
        ci, cj = rows_content[li], rows_content[lj]
        pi, pj, ps = np.minimum(ci, cj), np.maximum(ci, cj), ls.astype(np.float32)
        row_of = {int(c): k for k, c in enumerate(rows_content.tolist())}
    codes = np.full(len(pi), _UNVERIFIED, dtype=np.int8)
    evidence: dict[tuple[int, int], dict] = {}
    if verify and len(pi):
        verifier = _Verifier(store, [photos[c[0]].content_hash for c in contents])
        codes, evidence = _verify_pairs(verifier, pi, pj, workers=workers, progress=progress,
                                        cancel=cancel, phase="verifying")
        # Complete linkage needs every pair of a group: verify the ones the candidates left out.
        mi, mj = _missing_group_pairs(len(contents), pi, pj, codes)
        if len(mi):
            rows_i = np.array([row_of[int(c)] for c in mi])
            rows_j = np.array([row_of[int(c)] for c in mj])
            ms = np.einsum("ij,ij->i", a[rows_i], a[rows_j])
            if r is not None:
                ms = np.maximum.reduce([ms, np.einsum("ij,ij->i", a[rows_i], r[rows_j]),
                                        np.einsum("ij,ij->i", r[rows_i], a[rows_j])])
            mcodes, mevidence = _verify_pairs(verifier, mi, mj, workers=workers, progress=progress,
                                              cancel=cancel, phase="verifying groups")
            pi, pj = np.concatenate([pi, mi]), np.concatenate([pj, mj])
            ps = np.concatenate([ps, ms.astype(np.float32)])
            codes = np.concatenate([codes, mcodes])
            evidence.update(mevidence)
    if progress:
        progress(Progress("grouping", 0, 1))
    return DuplicateScan(
        photos=photos, contents=contents, pair_i=pi, pair_j=pj, pair_s=np.minimum(ps, 1.0),
        pair_kind=codes, evidence=evidence, threshold=float(threshold), unverified_threshold=unverified,
        model=model, descriptor=descriptor, dismissed=dismissed_pairs(store), verified=verify,
        not_compared=not_compared, seconds=time.monotonic() - started, floor=floor,
    )
