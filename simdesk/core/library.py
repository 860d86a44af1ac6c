"""A photo library: the user's settings (folders, model, pooling) plus its cache database.

This is the one object the CLI and the GUI talk to. Settings live in ``settings.json``; the
database is a cache that can always be rebuilt from the photos, so if it is damaged it is moved
aside and rebuilt, and the user's choices survive.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from simdesk.core.decode import DecodeError, decode_image
from simdesk.core.duplicates.facade import DuplicatesFacade
from simdesk.core.embedder import Embedder
from simdesk.core.indexer import MAX_FILE_BYTES, IndexReport, index_folders
from simdesk.core.map.facade import MapFacade
from simdesk.core.progress import ProgressCallback
from simdesk.core.models.catalog import DEFAULT_MODEL, ModelError, ModelManifest, load_model
from simdesk.core.paths import ChangedWhileReading, FileTooLarge, NotRegularFile, read_file_stable
from simdesk.core.pooling import POOLINGS, l2_normalize
from simdesk.core.search import EmbeddingIndex
from simdesk.core import settings as settings_file
from simdesk.core.settings import DEFAULT_POOLING, SETTINGS_NAME, Settings  # noqa: F401 (re-exported)
from simdesk.core import store as store_module
from simdesk.core.store import DamagedDatabaseError, EmbeddingSpace, Store, StoreError
from simdesk.core.store_salvage import restore_salvage, salvage

DB_NAME = "library.db"
# Similar photos are ranked with query expansion over the 10 nearest (EmbeddingIndex.query(expand)):
# P@30 0.953 -> 0.969 on imagenette-val, 0.975 -> 0.985 on animals (`simdesk eval retrieval`).
QUERY_EXPANSION = 10


class LibraryError(Exception):
    """Something the user asked of the library cannot be done; the message says why."""


def default_library_dir() -> Path:
    """$SIMDESK_LIBRARY, else a folder under the user data dir."""
    override = os.environ.get("SIMDESK_LIBRARY")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("simdesk", appauthor=False)) / "library"


def load_search_index(store: Store, space: EmbeddingSpace) -> EmbeddingIndex:
    """The similarity index of every photo embedded in ``space``, centred as the app compares
    photos. The vectors go from the store into the index's own array a slice at a time: at a
    million photos nothing but the index (bfloat16) and one slice is held, no float32 copy of all."""
    with store.snapshot():  # the count and the rows from one state of the database
        count = store.count_embedded(space.id)
        return EmbeddingIndex.from_slices(count, space.dim, lambda: store.embedding_slices(space),
                                          center=True)


@dataclass
class Match:
    path: str
    similarity: float
    photo_id: int


@dataclass
class SimilarResult:
    query: str
    model: str
    pooling: str
    in_library: bool  # every query photo is a library photo (its stored vector was used)
    matches: list[Match]
    queries: list[str] = field(default_factory=list)  # all the query photos (``query`` is the first)

    def to_json(self) -> dict:
        out = {"query": self.query}
        if len(self.queries) > 1:
            out["queries"] = list(self.queries)
        out.update({
            "model": self.model,
            "results": [{"path": m.path, "similarity": round(m.similarity, 6)} for m in self.matches],
        })
        return out


@dataclass
class LibraryStatus:
    directory: str
    folders: list[str]
    offline_folders: list[str]
    model: str
    pooling: str
    photos: int
    embedded: int
    skipped_by_reason: dict[str, int]
    database_bytes: int
    notices: list[str] = field(default_factory=list)
    precision: str = ""  # "int8 (checked: ...)", "fp32 (why)" or "" before the first index


class Library(MapFacade, DuplicatesFacade):
    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory else default_library_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.notices: list[str] = []  # things the user should be told once (e.g. a rebuilt cache)
        loaded = settings_file.load(self.settings_path)
        self._settings: Settings = loaded.settings
        self.notices.extend(loaded.notices)
        # Neither settings.json nor its copy could be read: rebuilt from the cache when it opens.
        self._settings_from_cache = not loaded.found
        self._local = threading.local()
        self._checked = False  # the cache's pages were walked once (by this thread's first open)
        self._embedders: dict[tuple[str, str], Embedder] = {}
        self._map_colour_cache: dict = {}  # photo colours for the map, shared by its views
        if self._settings_from_cache and self.db_path.exists():
            try:
                self.store
            except StoreError:
                pass  # said again, with its reason, on the next use of the cache

    # -- settings ------------------------------------------------------------------------------

    @property
    def settings_path(self) -> Path:
        return self.directory / SETTINGS_NAME

    @property
    def db_path(self) -> Path:
        return self.directory / DB_NAME

    def _write_settings(self) -> None:
        """Save the settings: settings.json, then its last good copy."""
        settings_file.save(self.settings_path, self._settings)
        store = getattr(self._local, "store", None)
        if store is not None:
            self._mirror_settings(store)

    def _mirror_settings(self, store: Store) -> None:
        """Keep the cache's copy of the settings current, when the cache is free at once: a
        settings change never waits for the write lock (an index run may hold it); the copy is
        brought up to date again on the next open or close."""
        text = self._settings.dumps()
        try:
            if store.get_meta(settings_file.META_KEY) == text or store.connection.in_transaction:
                return
            store.connection.execute("PRAGMA busy_timeout = 0")
            try:
                store.set_meta(settings_file.META_KEY, text)
            finally:
                store.connection.execute(f"PRAGMA busy_timeout = {store_module.BUSY_TIMEOUT_MS}")
        except (sqlite3.Error, StoreError):
            pass  # the copy is a fallback; settings.json and its .bak are already saved

    def _rebuild_settings(self, store: Store) -> None:
        """Settings from the cache when no settings file could be read: its copy, else its folders."""
        copy = settings_file.from_meta(store.get_meta(settings_file.META_KEY))
        self._settings_from_cache = False
        if copy is not None:
            self._settings = copy
            how = "the copy kept in the cache"
        elif store.folders():
            self._settings = Settings(folders=sorted(store.folders()))
            how = "the cache's folder list (set the model and reference folders again if you had any)"
        else:
            return  # a new library: nothing to rebuild
        self.notices.append(f"The library settings were rebuilt from {how}.")
        self._write_settings()

    @property
    def folders(self) -> list[str]:
        return list(self._settings.folders)

    @property
    def model_name(self) -> str:
        return self._settings.model or DEFAULT_MODEL

    @property
    def model_chosen(self) -> bool:
        return self._settings.model is not None

    @property
    def pooling(self) -> str:
        return self._settings.pooling

    def set_model(self, name: str | None = None, pooling: str | None = None) -> None:
        """Choose the model and pooling; photos are embedded again on the next index run."""
        if pooling is not None and pooling not in POOLINGS:
            raise LibraryError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
        if name is not None:
            self._settings.model = name
        if pooling is not None:
            self._settings.pooling = pooling
        self._write_settings()

    def add_folder(self, folder: str | os.PathLike) -> str:
        path = os.path.abspath(os.fspath(folder))
        if not os.path.isdir(path):
            raise LibraryError(f"{path} is not a folder")
        if path not in self._settings.folders:
            self._settings.folders.append(path)
            self._write_settings()
        self.store.add_folder(path)
        return path

    def remove_folder(self, folder: str | os.PathLike) -> bool:
        """Stop indexing a folder and forget its photos (nothing on disk is touched)."""
        path = os.path.abspath(os.fspath(folder))
        if path not in self._settings.folders:
            return False
        self._settings.folders.remove(path)
        self._write_settings()
        self.store.remove_folder(path)
        self.store.prune_orphans()
        return True

    # -- the cache -----------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """This thread's connection to the cache (SQLite connections are per thread)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._open_store()
            self._local.store = store
        return store

    def _open_store(self) -> Store:
        first = not self._checked
        try:
            store = Store(self.db_path, check=not self._checked)
            self._checked = True
        except DamagedDatabaseError as exc:
            # Only a file SQLite itself calls damaged gets here (busy, full, read-only and I/O
            # errors raise DatabaseUnavailableError and leave it alone). What cannot be
            # recomputed (the trash journal above all) is read out of it first.
            found = salvage(self.db_path)
            aside = self._move_aside(self.db_path)
            for suffix in ("-wal", "-shm"):  # kept beside it: the WAL may hold its latest writes
                sidecar = Path(f"{self.db_path}{suffix}")
                if sidecar.exists():
                    os.replace(sidecar, f"{aside}{suffix}")
            store = Store(self.db_path)
            counts = restore_salvage(store, found)
            kept = counts.get("trash_journal", 0)
            saved = (f" {kept} trash journal entr{'y' if kept == 1 else 'ies'} (for undo) and the other "
                     "choices it could still read were carried over." if counts else "")
            self.notices.append(
                f"{exc} It was moved to {aside} and a new cache was started;{saved} run `simdesk index` "
                "to rebuild it. Your photos were not touched."
            )
        if self._settings_from_cache:
            self._rebuild_settings(store)
        if first:
            self._mirror_settings(store)
        self._sync_folders(store)
        return store

    def _sync_folders(self, store: Store) -> None:
        wanted = set(self._settings.folders)
        known = store.folders()
        with store.transaction():
            for path in wanted - set(known):
                store.add_folder(path)
            for path in set(known) - wanted:
                store.remove_folder(path)

    @staticmethod
    def _move_aside(path: Path) -> Path:
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        return aside

    def close(self) -> None:
        store = getattr(self._local, "store", None)
        if store is not None:
            self._mirror_settings(store)
            store.close()
            self._local.store = None

    # -- model ---------------------------------------------------------------------------------

    def manifest(self) -> ModelManifest:
        """The model file every photo of this library is embedded with (its int8 copy if chosen)."""
        return self._current_manifest(verify=True)

    def _current_manifest(self, verify: bool = True) -> ModelManifest:
        base = load_model(self.model_name, verify=verify)
        decision = self._precision()
        if decision and decision.get("state") == "int8":
            try:
                return load_model(decision["model"], self.directory / "models", verify=verify)
            except ModelError as exc:
                self.notices.append(f"the library's int8 model is unusable ({exc}); fp32 is used "
                                    "and photos are embedded again")
        return base

    # -- int8 by default, guarded (see simdesk.core.int8) --

    def _precision(self) -> dict | None:
        decision = self._settings.precision.get(self.model_name)
        return decision if isinstance(decision, dict) else None

    def _record_precision(self, state: str, reason: str, **extra) -> None:
        self._settings.precision[self.model_name] = {"state": state, "reason": reason, **extra}
        self._write_settings()
        self._embedders.clear()

    def precision(self) -> str:
        """What `simdesk status` says about the model's precision."""
        decision = self._precision()
        if not decision:
            return ""
        return f"{decision['state']} ({decision['reason']})"

    def settle_precision(self, *, progress: ProgressCallback | None = None,
                         cancel: threading.Event | None = None) -> str:
        """Decide once, before the first photos are embedded, whether this library uses int8."""
        from simdesk.core import int8

        return int8.settle_precision(self, progress=progress, cancel=cancel)

    def embedder(self) -> Embedder:
        key = (self.model_name, self.pooling)
        if key not in self._embedders:
            self._embedders[key] = Embedder(self.manifest(), pooling=self.pooling)
        return self._embedders[key]

    def space(self, embedder: Embedder | None = None) -> EmbeddingSpace:
        embedder = embedder or self.embedder()
        return self._space_for(embedder.manifest, embedder.pooling)

    def _space_for(self, manifest: ModelManifest, pooling: str) -> EmbeddingSpace:
        return self.store.ensure_space(manifest.name, manifest.onnx_sha256, pooling,
                                       manifest.embedding_size, manifest.space_key)

    # -- indexing ------------------------------------------------------------------------------

    def index(
        self,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        retry_failed: bool = False,
        workers: int | None = None,
        batch_size: int = 16,
        one_pass: bool = True,
        int8: bool = True,
    ) -> IndexReport:
        """Index new and changed photos. ``one_pass`` (the default): the duplicate descriptors and
        the map's colours come from the same decode and forward pass, so the first `duplicates`
        and the first map have no per-photo model work left; False is the older path (they are
        computed later, by ``prepare_duplicates`` and the map), kept for the benchmarks.
        ``int8``: settle the model's precision first (see ``settle_precision``); False leaves it
        undecided (fp32 until decided)."""
        if not self.folders:
            raise LibraryError("the library has no folders yet: add one with `simdesk index FOLDER`")
        if int8:
            self.settle_precision(progress=progress, cancel=cancel)
        descriptors = classes_as = None
        if one_pass:
            from simdesk.core.duplicates.descriptors import IndexingDescriptors

            descriptors = IndexingDescriptors(self.embedder().manifest)
            # The map's region captions: the classifier head's logits of the same forward pass,
            # kept under the library's model name, where `map_classes` looks for them.
            logits = self.embedder().manifest.logits_output
            classes_as = self.model_name if logits else None
            embedder = self._indexing_embedder(tuple(o for o in (descriptors.extra_output, logits) if o))
        else:
            embedder = self.embedder()
        try:
            return index_folders(
                self.store,
                self.space(embedder),
                embedder,
                progress=progress,
                cancel=cancel,
                retry_failed=retry_failed,
                workers=workers,
                batch_size=batch_size,
                descriptors=descriptors,
                classes_as=classes_as,
            )
        except sqlite3.OperationalError as exc:
            if store_module.is_damage(exc):
                raise
            # Disk full, busy past the timeout, read-only, I/O: what was committed stays, and the
            # next run resumes from there.
            raise LibraryError(
                f"indexing stopped: {store_module.unavailable_message(self.db_path, exc)} "
                "Photos indexed so far are kept; run `simdesk index` again to resume."
            ) from exc

    def _indexing_embedder(self, extra_outputs: tuple[str, ...]) -> Embedder:
        """The library's embedder whose session also returns ``extra_outputs`` (one forward pass)."""
        if not extra_outputs:
            return self.embedder()
        key = (self.model_name, self.pooling, extra_outputs)
        if key not in self._embedders:
            self._embedders[key] = Embedder(self.embedder().manifest, pooling=self.pooling,
                                            extra_outputs=extra_outputs)
        return self._embedders[key]

    # -- similar photos ------------------------------------------------------------------------

    def search_index(self) -> EmbeddingIndex:
        return load_search_index(self.store, self.space())

    def embed_file(self, path: str | os.PathLike) -> np.ndarray:
        """The embedding of any image file, in this library's space (for outside queries)."""
        embedder = self.embedder()
        try:
            # The indexer's own limits: a regular file (a FIFO would hang, /dev/zero never ends)
            # no larger than any photo it indexes.
            data, _ = read_file_stable(os.fspath(path), max_bytes=MAX_FILE_BYTES)
        except FileNotFoundError:
            raise LibraryError(f"{path} does not exist") from None
        except NotRegularFile:
            raise LibraryError(f"cannot use {path} as a query: not a regular file") from None
        except FileTooLarge:
            raise LibraryError(f"cannot use {path} as a query: file too large to be a photo "
                               f"(limit {MAX_FILE_BYTES / 1e9:.1f} GB)") from None
        except ChangedWhileReading:
            raise LibraryError(f"{path} changed while it was being read; try again") from None
        except OSError as exc:
            raise LibraryError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            decoded = decode_image(
                data, input_size=embedder.input_size, resize_mode=embedder.manifest.resize_mode
            )
        except DecodeError as exc:
            raise LibraryError(f"cannot use {path} as a query: {exc.reason}") from None
        return embedder.embed(decoded.pixels[np.newaxis])[0]

    def similar(self, query: str | os.PathLike, k: int = 10, index: EmbeddingIndex | None = None, *,
                min_similarity: float | None = None, folder: str | os.PathLike | None = None,
                expand: int = QUERY_EXPANSION) -> SimilarResult:
        """The ``k`` photos most similar to ``query``, a library photo or any image file.

        ``min_similarity``: only photos at least this similar (as reported), so maybe fewer
        than ``k``. ``folder``: only photos under this folder (None: the whole library).
        ``expand``: rank with query expansion over this many nearest photos (0: none; see
        ``EmbeddingIndex.query``); the similarities are the cosines to the query either way.
        """
        return self.similar_to_many([query], k, index, min_similarity=min_similarity, folder=folder,
                                    expand=expand)

    def similar_to_many(self, queries, k: int = 10, index: EmbeddingIndex | None = None, *,
                        min_similarity: float | None = None, folder: str | os.PathLike | None = None,
                        expand: int = QUERY_EXPANSION) -> SimilarResult:
        """The ``k`` photos most similar to several photos at once (library photos or files).

        The query is the normalised mean of their directions (each as the index compares it),
        so the photos found are like all of them rather than like any one; the queries
        themselves are left out of the results. Options as in :meth:`similar`.
        """
        paths = list(dict.fromkeys(os.path.abspath(os.fspath(q)) for q in queries))
        if not paths:
            raise LibraryError("no query photo given")
        index = index if index is not None else self.search_index()
        if len(index) == 0:
            raise LibraryError(
                f"no photos are indexed with {self.model_name} ({self.pooling}) yet: run `simdesk index`"
            )
        vectors, exclude, in_library = [], [], True
        for path in paths:
            vector, photo_id = self._query_vector(path, index)
            vectors.append(vector)
            if photo_id is not None:
                exclude.append(photo_id)
            else:
                in_library = False
        vector = vectors[0] if len(vectors) == 1 else l2_normalize(np.mean(vectors, axis=0))
        only = None
        if folder is not None:
            only = self.store.browse_photos(os.path.abspath(os.fspath(folder)), "folder")[0]
        ids, sims = index.query(vector, k, exclude_ids=tuple(exclude), transformed=True,
                                min_similarity=min_similarity, only_ids=only, expand=expand)
        records = self.store.photos_by_ids(ids)
        matches = [
            Match(records[int(i)].path, float(s), int(i)) for i, s in zip(ids, sims) if int(i) in records
        ]
        return SimilarResult(paths[0], self.model_name, self.pooling, in_library, matches,
                             queries=paths)

    def _query_vector(self, path: str, index: EmbeddingIndex) -> tuple[np.ndarray, int | None]:
        """A query photo's vector as ``index`` compares it, and its photo id if the library's
        stored vector is used (None: a file outside the library, or changed since indexing)."""
        record = self.store.photo_by_path(path)
        if record is not None:
            try:
                stat = os.stat(path)
                unchanged = (stat.st_size, stat.st_mtime_ns) == (record.size, record.mtime_ns)
            except OSError:
                unchanged = True  # gone from disk since indexing: its stored vector still answers
            vector = index.vector_of(record.id) if unchanged else None
            if vector is not None:
                return vector, record.id
        return index.transform(self.embed_file(path)), None

    # -- status --------------------------------------------------------------------------------

    def status(self) -> LibraryStatus:
        store = self.store
        reasons = Counter(e.reason for e in store.errors())
        embedded = 0
        try:
            manifest = self._current_manifest(verify=False)
            space = self._space_for(manifest, self.pooling)
            embedded = store.count_embedded(space.id)
        except (ModelError, StoreError) as exc:  # status must work with a broken or missing model
            self.notices.append(str(exc))
        try:
            db_bytes = self.db_path.stat().st_size
        except OSError:
            db_bytes = 0
        return LibraryStatus(
            directory=str(self.directory),
            folders=self.folders,
            offline_folders=[f for f in self.folders if not os.path.isdir(f)],
            model=self.model_name,
            pooling=self.pooling,
            photos=store.photo_count(),
            embedded=embedded,
            skipped_by_reason=dict(reasons.most_common()),
            database_bytes=db_bytes,
            notices=list(self.notices),
            precision=self.precision(),
        )

    # -- browsing (GUI) --

    def browse(self, folder: str | None = None, order: str = "date"):
        """``(ids, paths, content_hashes, times)`` of the library's photos for a grid.

        ``folder``: only photos under this folder (None: all). ``order``: ``"date"``, ``"name"``
        or ``"folder"``; see :meth:`Store.browse_photos`.
        """
        return self.store.browse_photos(folder, order)

    def folder_tree(self):
        """The folders with photos, one tree per library folder: a list of ``folders.FolderNode``."""
        from simdesk.core.folders import folder_tree

        return folder_tree(self.store.browse_photos(None, "folder")[1], self.folders)

    def thumbnails(self, content_hashes) -> dict[bytes, bytes]:
        """JPEG thumbnails by content hash (those the cache has)."""
        return self.store.thumbnails_for(content_hashes)

    def photo_hashes(self, photo_ids) -> dict[int, bytes]:
        """photo id -> content hash, for ids still in the cache."""
        return {i: r.content_hash for i, r in self.store.photos_by_ids(photo_ids).items()}

    def check_model(self) -> str:
        """Raise ModelError if the chosen model is not installed or is damaged; else its name."""
        return self.manifest().name
