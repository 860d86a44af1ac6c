"""The cluster map's data: layouts cached in the library database, and what a map draws per photo.

A layout is cached in the ``layouts`` table under a key made of the embedding space, the scope
(the whole library, one folder, or an explicit list of photos such as a similar-photos result)
and the layout parameters. It stores the photo ids it laid out, so that on the next open:

- the same photos: the cached coordinates are used as they are (no computing);
- photos removed: their points are dropped;
- photos added: each is placed near its nearest neighbours among the laid-out photos
  (``layout.place_points``), without laying everything out again;
- a full recompute happens on request, or once the photos added and removed since the last full
  layout exceed ``MAX_CHANGE`` (20 %) of it;
- another scope's layout of exactly the same photos (a folder that holds the whole library, the
  library of one folder, a similar-photos result of every photo) is reused as it is.

``MapLayout.positions`` gives every photo a position in a unit box (x right, y down, as on a
screen) for the free t-SNE map or the tidy grid; the canvas and the PNG export both draw from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from simdesk.core.paths import folder_prefix
from simdesk.core.progress import ProgressCallback
from simdesk.core.sql_batches import in_batches
from simdesk.core.map.layout import (
    LAYOUT_VERSION,
    LayoutParams,
    Reporter,
    compute_layout,
    grid_cells,
    place_points,
    reduce_dimensions,
)
from simdesk.core.store import EmbeddingSpace, Store, encode_path

MAX_CHANGE = 0.2  # above this share of photos added/removed since the full layout: recompute
MODES = ("tsne", "grid")


@dataclass(frozen=True)
class MapScope:
    """Which photos a map shows: ``MapScope.all()``, ``.folder(path)`` or ``.photos(ids)``."""

    kind: str = "all"
    folder_path: str | None = None
    photo_ids: tuple[int, ...] = ()

    @classmethod
    def all(cls) -> "MapScope":
        return cls("all")

    @classmethod
    def folder(cls, path: str | os.PathLike) -> "MapScope":
        return cls("folder", folder_path=os.path.abspath(os.fspath(path)))

    @classmethod
    def photos(cls, photo_ids: Iterable[int]) -> "MapScope":
        return cls("photos", photo_ids=tuple(sorted({int(i) for i in photo_ids})))

    @property
    def key(self) -> str:
        if self.kind == "all":
            return "all"
        if self.kind == "folder":
            digest = hashlib.sha1(encode_path(self.folder_path)).hexdigest()[:16]
            return f"folder:{digest}"
        digest = hashlib.sha1(np.asarray(self.photo_ids, dtype="<i8").tobytes()).hexdigest()[:16]
        return f"photos:{digest}"

    def describe(self) -> str:
        if self.kind == "all":
            return "the whole library"
        if self.kind == "folder":
            return f"folder {self.folder_path}"
        return f"{len(self.photo_ids)} chosen photos"


@dataclass
class MapLayout:
    """Map coordinates of photos: row i of ``coords`` is photo ``photo_ids[i]`` (ids ascending)."""

    key: str
    space_id: int
    photo_ids: np.ndarray  # (N,) int64
    coords: np.ndarray  # (N, 2) float32, raw t-SNE units
    params: LayoutParams
    created_at: float
    source: str = "computed"  # "cache" (used as stored), "updated" (added/dropped), "computed"
    added: int = 0  # photos placed into a cached layout by this open
    removed: int = 0  # photos dropped from a cached layout by this open
    full_count: int = 0  # photos in the last full layout
    changed_since_full: int = 0  # photos placed or dropped since then
    reused_from: str = ""  # the scope whose layout of the same photos this is ("" if its own)
    _rows: dict | None = field(default=None, repr=False)
    _grid: tuple | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.photo_ids)

    def row_of(self, photo_id: int) -> int | None:
        if self._rows is None:
            self._rows = {int(p): i for i, p in enumerate(self.photo_ids)}
        return self._rows.get(int(photo_id))

    def grid(self, leaf_size: int | None = None) -> tuple[np.ndarray, int, int]:
        """(cells (N,2) as (column, row), columns, rows) of the tidy grid; computed once."""
        if self._grid is None:
            self._grid = grid_cells(self.coords, leaf_size=leaf_size)
        return self._grid

    def positions(self, mode: str = "tsne") -> np.ndarray:
        """(N, 2) float64 positions in a box of size ``extent(mode)`` (longest side 1), y down.

        "tsne": the free layout scaled to fit; "grid": the centre of each photo's grid cell.
        """
        n = len(self)
        if n == 0:
            return np.zeros((0, 2))
        if mode == "grid":
            cells, cols, rows = self.grid()
            return (cells.astype(np.float64) + 0.5) / max(cols, rows)
        if mode != "tsne":
            raise ValueError(f"unknown map mode {mode!r}; choose one of {', '.join(MODES)}")
        pts = self.coords.astype(np.float64).copy()
        pts[:, 1] = -pts[:, 1]
        lo = pts.min(axis=0)
        span = float((pts.max(axis=0) - lo).max())
        if span <= 0:
            return np.full((n, 2), 0.5)
        # Half a typical spacing of margin so that thumbnails at the edge stay inside the box.
        margin = 0.5 / np.sqrt(n)
        return margin + (pts - lo) / span * (1 - 2 * margin)

    def extent(self, mode: str = "tsne") -> tuple[float, float]:
        """Width and height of the box ``positions(mode)`` lie in (the longer one is 1)."""
        if len(self) == 0:
            return 1.0, 1.0
        if mode == "grid":
            _, cols, rows = self.grid()
            m = max(cols, rows)
            return cols / m, rows / m
        span = self.coords.max(axis=0) - self.coords.min(axis=0)
        longest = float(span.max())
        if longest <= 0:
            return 1.0, 1.0
        return float(span[0] / longest), float(span[1] / longest)

    def cell_size(self, mode: str = "tsne") -> float:
        """A tile size (in the unit box) that lets photos sit side by side without much overlap."""
        if len(self) == 0:
            return 1.0
        if mode == "grid":
            _, cols, rows = self.grid()
            return 1.0 / max(cols, rows)
        w, h = self.extent("tsne")
        return float(np.sqrt(w * h / len(self)))


# -- the photos ---------------------------------------------------------------------------------


def scope_embeddings(store: Store, space: EmbeddingSpace, scope: MapScope) -> tuple[np.ndarray, np.ndarray]:
    """(ids ascending, vectors) of the embedded photos in ``scope``."""
    ids, vectors = store.load_embeddings(space)
    if scope.kind == "all" or len(ids) == 0:
        return ids, vectors
    if scope.kind == "photos":
        keep = np.isin(ids, np.asarray(scope.photo_ids, dtype=np.int64))
    elif scope.kind == "folder":
        prefix = encode_path(folder_prefix(scope.folder_path))
        rows = store.connection.execute("SELECT id, path FROM photos").fetchall()
        inside = np.fromiter((pid for pid, path in rows if bytes(path).startswith(prefix)),
                             dtype=np.int64)
        keep = np.isin(ids, inside)
    else:
        raise ValueError(f"unknown scope {scope.kind!r}")
    return ids[keep], vectors[keep]


@dataclass
class MapPhotos:
    """Per-photo details a map draws, aligned with the ids they were asked for.

    ``folder`` is the photo's own folder (its parent directory); ``time`` the capture time, else
    the file's modification time (POSIX seconds). Photos no longer in the library get "" and NaN.
    """

    photo_ids: np.ndarray
    paths: list[str]
    folders: list[str]
    times: np.ndarray
    content_hashes: list[bytes | None]


def photo_details(store: Store, photo_ids: Iterable[int]) -> MapPhotos:
    ids = np.asarray(list(photo_ids), dtype=np.int64)
    records = store.photos_by_ids(ids)
    paths, folders, hashes = [], [], []
    times = np.full(len(ids), np.nan)
    for i, pid in enumerate(ids):
        rec = records.get(int(pid))
        if rec is None:
            paths.append("")
            folders.append("")
            hashes.append(None)
            continue
        paths.append(rec.path)
        folders.append(os.path.dirname(rec.path))
        hashes.append(rec.content_hash)
        times[i] = rec.capture_time if rec.capture_time is not None else rec.mtime_ns / 1e9
    return MapPhotos(ids, paths, folders, times, hashes)


def average_colours(store: Store, content_hashes: Iterable[bytes | None], *,
                    progress: ProgressCallback | None = None,
                    cancel: threading.Event | None = None,
                    cache: dict | None = None) -> np.ndarray:
    """(N, 3) uint8 average colour of each photo, from its stored thumbnail (grey if none).

    Colours are kept in the library once computed; the others are computed from the thumbnail JPEG
    decoded at 1/8 scale (``draft``, about 0.2 ms a photo) and stored, a slice at a time, so a
    cancelled run keeps what it did. Pass a dict as ``cache`` to also keep them in memory.
    """
    from PIL import Image

    hashes = list(content_hashes)
    out = np.full((len(hashes), 3), 128, dtype=np.uint8)
    report = Reporter(progress, cancel, {"colours": (0.0, 1.0)})
    wanted = [h for h in hashes if h is not None and (cache is None or h not in cache)]
    stored = {h: _rgb_triplet(rgb) for h, rgb in store.thumbnail_colours(wanted).items()}
    computed: dict[bytes, int] = {}

    def save() -> None:
        if not computed:
            return
        try:
            with store.transaction():
                store.set_thumbnail_colours(computed)
        except sqlite3.Error:
            pass  # a busy or read-only library: the colours are computed again next time
        computed.clear()

    try:
        for i, chash in enumerate(hashes):
            if i % 500 == 0:
                report("colours", i, len(hashes))  # raises when cancelled
            if chash is None:
                continue
            colour = cache.get(chash) if cache is not None else None
            if colour is None:
                colour = stored.get(chash)
            if colour is None:
                jpeg = store.thumbnail(chash)
                if jpeg is None:
                    continue
                try:
                    with Image.open(io.BytesIO(jpeg)) as img:
                        img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
                        rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
                    colour = rgb.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
                except (OSError, ValueError):
                    continue
                computed[chash] = int(colour[0]) << 16 | int(colour[1]) << 8 | int(colour[2])
                if len(computed) >= 2000:
                    save()
            out[i] = colour
            if cache is not None:
                cache[chash] = colour
        report("colours", len(hashes), len(hashes))
    finally:
        save()
    return out


def _rgb_triplet(rgb: int) -> np.ndarray:
    return np.array([(rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255], dtype=np.uint8)


# -- the cache ----------------------------------------------------------------------------------


def layout_key(space_id: int, scope: MapScope, params: LayoutParams) -> str:
    digest = hashlib.sha1(params.to_json().encode()).hexdigest()[:12]
    return f"map/v{LAYOUT_VERSION}/space:{space_id}/{scope.key}/params:{digest}"


def read_layout(store: Store, key: str) -> MapLayout | None:
    row = store.connection.execute(
        "SELECT space_id, created_at, photo_ids, coords, params FROM layouts WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    space_id, created_at, ids_blob, coords_blob, params_json = row
    try:
        meta = json.loads(params_json)
        ids = np.frombuffer(ids_blob, dtype="<i8").astype(np.int64)
        coords = np.frombuffer(coords_blob, dtype="<f4").astype(np.float32).reshape(-1, 2)
        if len(ids) != len(coords) or not np.all(np.isfinite(coords)):
            return None
        params = LayoutParams.from_dict(meta.get("params", {}))
    except (ValueError, TypeError, AttributeError):
        return None  # a damaged row is simply recomputed
    return MapLayout(key, space_id, ids, coords, params, created_at, source="cache",
                     full_count=int(meta.get("full_count", len(ids))),
                     changed_since_full=int(meta.get("changed_since_full", 0)))


def write_layout(store: Store, layout: MapLayout, scope: MapScope) -> None:
    meta = {
        "version": LAYOUT_VERSION,
        "params": json.loads(layout.params.to_json()),
        "scope": scope.describe(),
        "full_count": layout.full_count,
        "changed_since_full": layout.changed_since_full,
    }
    with store.transaction():
        store.connection.execute(
            "INSERT OR REPLACE INTO layouts(key, space_id, created_at, photo_ids, coords, params) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (layout.key, layout.space_id, layout.created_at,
             np.ascontiguousarray(layout.photo_ids, dtype="<i8").tobytes(),
             np.ascontiguousarray(layout.coords, dtype="<f4").tobytes(),
             json.dumps(meta, sort_keys=True)),
        )


def delete_layouts(store: Store, space_id: int | None = None) -> int:
    """Forget cached layouts (of one space, or all)."""
    with store.transaction():
        if space_id is None:
            cur = store.connection.execute("DELETE FROM layouts")
        else:
            cur = store.connection.execute("DELETE FROM layouts WHERE space_id = ?", (space_id,))
    return cur.rowcount


def same_photos_layout(store: Store, key: str, ids: np.ndarray) -> tuple[MapLayout, str] | None:
    """A cached layout of another scope, same space and parameters, of exactly these photos."""
    space_part = key.split("/")[:3]  # map, vN, space:ID
    params_part = key.rsplit("/", 1)[-1]
    blob = np.ascontiguousarray(ids, dtype="<i8").tobytes()
    rows = store.connection.execute(
        "SELECT key, params FROM layouts WHERE key LIKE ? AND key LIKE ? AND key != ? AND photo_ids = ?",
        ("/".join(space_part) + "/%", "%/" + params_part, key, blob)).fetchall()
    for other, meta in rows:
        layout = read_layout(store, other)
        if layout is not None and np.array_equal(layout.photo_ids, ids):
            try:
                scope = json.loads(meta).get("scope", "")
            except ValueError:
                scope = ""
            return layout, scope or "another map"
    return None


def load_or_compute(
    store: Store,
    space: EmbeddingSpace,
    scope: MapScope = MapScope.all(),
    params: LayoutParams = LayoutParams(),
    *,
    recompute: bool = False,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    max_change: float = MAX_CHANGE,
) -> MapLayout:
    """The map layout of ``scope``: from the cache when it is still valid, updated in place when
    a few photos came or went, computed afresh otherwise (or when ``recompute``)."""
    report = Reporter(progress, cancel, {"loading": (0.0, 0.03)})
    report("loading", 0, 1, "reading embeddings")
    ids, vectors = scope_embeddings(store, space, scope)
    report("loading", 1, 1)
    key = layout_key(space.id, scope, params)
    now = time.time()
    if len(ids) == 0:
        return MapLayout(key, space.id, ids, np.zeros((0, 2), dtype=np.float32), params, now,
                         source="computed")
    cached = None if recompute else read_layout(store, key)
    if cached is not None and len(cached.photo_ids) == len(ids) and np.array_equal(cached.photo_ids, ids):
        report("done", 1, 1, "cached layout")
        return cached
    other = None if recompute else same_photos_layout(store, key, ids)
    if other is not None:  # the same photos laid out for another scope: one layout for both
        layout, described = other
        layout = dataclasses.replace(layout, key=key, source="cache", reused_from=described,
                                     _rows=None, _grid=None)
        write_layout(store, layout, scope)
        report("done", 1, 1, f"layout of {described}")
        return layout
    if cached is not None:
        keep = np.isin(cached.photo_ids, ids)
        is_new = ~np.isin(ids, cached.photo_ids)
        removed, added = int((~keep).sum()), int(is_new.sum())
        changed = cached.changed_since_full + removed + added
        if keep.sum() >= 5 and changed <= max_change * max(cached.full_count, 1):
            coords = np.empty((len(ids), 2), dtype=np.float32)
            coords[~is_new] = cached.coords[keep]  # both in ascending id order
            if added:
                report.spans.update({"reducing": (0.03, 0.3), "placing": (0.3, 0.5),
                                     "refining": (0.5, 0.99)})
                report("reducing", 0, 1, f"placing {added} new photos")
                features = reduce_dimensions(vectors, params.pca_components, params.seed)
                report("reducing", 1, 1)
                coords[is_new] = place_points(
                    features[~is_new], coords[~is_new], features[is_new], k=params.neighbors,
                    refine_iter=params.refine_iter, seed=params.seed + changed, report=report)
            layout = MapLayout(key, space.id, ids, coords, params, now, source="updated",
                               added=added, removed=removed, full_count=cached.full_count,
                               changed_since_full=changed)
            write_layout(store, layout, scope)
            report("done", 1, 1)
            return layout
    report.spans.update({"reducing": (0.03, 0.07), "affinities": (0.07, 0.12)})
    sampled = len(ids) > params.sample_size
    tsne_end = 0.8 if sampled else 0.98
    report.spans.update({"tsne": (0.12, tsne_end), "placing": (tsne_end, tsne_end + 0.04),
                         "refining": (tsne_end + 0.04, 0.99)})
    coords = compute_layout(vectors, params, report=report)
    layout = MapLayout(key, space.id, ids, coords, params, now, source="computed",
                       full_count=len(ids), changed_since_full=0)
    write_layout(store, layout, scope)
    report("done", 1, 1)
    return layout


# -- ImageNet classes of photos (the map's region captions) ------------------------------------

# The ``classes`` table: each photo's top ImageNet classes under one model, by content hash (the
# same photo in two places is classified once). The map fills it when it is first needed
# (``photo_classes``), a slice at a time, so a cancelled run keeps what it did; the indexing pass
# may fill it too (``store_classes``, from the model's ``logits`` output).
CLASSES_SQL = """
    CREATE TABLE classes (
        content_hash BLOB NOT NULL,
        model TEXT NOT NULL,
        top BLOB NOT NULL,    -- TOP_K class indices, int16 little-endian, best first
        probs BLOB NOT NULL,  -- their softmax probabilities, float16 little-endian
        PRIMARY KEY (content_hash, model)
    ) WITHOUT ROWID
"""


def migrate_to_6(db: sqlite3.Connection) -> None:
    """Schema 6: the ``classes`` table."""
    db.execute(CLASSES_SQL)


def stored_classes(store: Store, model: str, content_hashes: list[bytes]) -> dict[bytes, tuple[np.ndarray, np.ndarray]]:
    found = {}
    for chunk, marks in in_batches(content_hashes):
        for chash, top, probs in store.connection.execute(
                f"SELECT content_hash, top, probs FROM classes WHERE model = ? AND content_hash IN ({marks})",
                [model, *chunk]):
            found[bytes(chash)] = (np.frombuffer(top, dtype="<i2"), np.frombuffer(probs, dtype="<f2"))
    return found


def store_classes(store: Store, model: str, content_hashes: list[bytes], logits: np.ndarray) -> None:
    """Keep the top classes of these photos' (N, 1000) logits (call inside a transaction)."""
    from simdesk.core.map.labels import top_classes

    top, probs = top_classes(logits)
    store.connection.executemany(
        "INSERT OR REPLACE INTO classes(content_hash, model, top, probs) VALUES (?, ?, ?, ?)",
        [(h, model, t.astype("<i2").tobytes(), p.astype("<f2").tobytes())
         for h, t, p in zip(content_hashes, top, probs)])


def thumbnail_pixels(jpeg: bytes, size: int) -> np.ndarray | None:
    """A stored thumbnail as the model's (size, size, 3) uint8 input: shorter side to ``size``,
    then the centre (the thumbnails are 256 px on the longer side, about the model's 224)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            img = img.convert("RGB")
            w, h = img.size
            scale = size / min(w, h)
            img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                             Image.Resampling.BILINEAR)
            left, top = (img.width - size) // 2, (img.height - size) // 2
            return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
    except (OSError, ValueError):
        return None


def photo_classes(store: Store, manifest, get_embedder, content_hashes: Iterable[bytes | None], *,
                  progress: ProgressCallback | None = None,
                  cancel: threading.Event | None = None,
                  batch: int = 32) -> np.ndarray | None:
    """(N,) int16 top ImageNet class of each photo (-1 when unknown), or None when the model has
    no classifier head. Stored ones are read; the others are classified from their thumbnails
    with the model of ``get_embedder()`` (called only then; its ``logits`` output) and stored a
    batch at a time."""
    if not manifest.logits_output:
        return None
    hashes = list(content_hashes)
    out = np.full(len(hashes), -1, dtype=np.int16)
    report = Reporter(progress, cancel, {"classes": (0.0, 1.0)})
    wanted = sorted({h for h in hashes if h is not None})
    known = {h: int(t[0]) for h, (t, _) in stored_classes(store, manifest.name, wanted).items()}
    missing = [h for h in wanted if h not in known]
    report("classes", 0, max(len(missing), 1), "naming the map's regions")
    embedder = get_embedder() if missing else None
    for start in range(0, len(missing), batch):
        chunk = missing[start:start + batch]
        pixels, done = [], []
        for h in chunk:
            jpeg = store.thumbnail(h)
            px = thumbnail_pixels(jpeg, embedder.input_size) if jpeg is not None else None
            if px is not None:
                pixels.append(px)
                done.append(h)
        if done:
            (logits,) = embedder.feature_maps(np.stack(pixels), outputs=[manifest.logits_output])
            logits = np.asarray(logits, dtype=np.float32).reshape(len(done), -1)
            try:
                with store.transaction():
                    store_classes(store, manifest.name, done, logits)
            except sqlite3.Error:
                pass  # a busy or read-only library: classified again next time
            known.update(zip(done, np.argmax(logits, axis=1).tolist()))
        report("classes", start + len(chunk), len(missing))  # raises when cancelled
    for i, h in enumerate(hashes):
        if h is not None and h in known:
            out[i] = known[h]
    return out
