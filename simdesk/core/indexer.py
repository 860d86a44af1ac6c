"""Indexing: scan the library folders, decode new photos on worker threads, embed them in batches.

Data flows one way: scan -> plan (what is new, changed, moved, gone) -> read + hash + decode on a
thread pool -> batched inference on the calling thread -> batched writes to the store. Decoding
and inference overlap: while ONNX Runtime runs a batch (it releases the GIL), the pool keeps
decoding the next photos.

Every batch is written in one transaction, so a crash or kill loses at most the last batch, and a
rerun resumes where the last one stopped (finished photos are "unchanged" to the next plan).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace

import numpy as np

from simdesk.core.decode import IMAGE_EXTENSIONS, DecodedImage, DecodeError, decode_image
from simdesk.core.duplicates import facts as duplicate_facts
from simdesk.core.duplicates.descriptors import IndexingDescriptors
from simdesk.core.duplicates.facts import local_features_or_none
from simdesk.core.embedder import Embedder
from simdesk.core.map.cache import store_classes
from simdesk.core.paths import ChangedWhileReading, content_hash, folder_prefix, is_under, read_file_stable
from simdesk.core.progress import Progress, ProgressCallback
from simdesk.core.raw import VIDEO_EXTENSIONS, VIDEO_REASON
from simdesk.core.scan import FoundFile, ScanProblem, scan_folders
from simdesk.core.store import EmbeddingSpace, Store

THUMBNAIL_SIZE = 256
# Files are read whole (one read for the hash and the decode). Nothing this big is a photo we can
# decode within the pixel limit; it is most likely a video or disk image with a photo's name.
MAX_FILE_BYTES = 1 << 30
PROGRESS_INTERVAL_S = 0.1


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class IndexReport:
    """What a run did. A cancelled run (its cancel Event set) returns this partial report with
    ``cancelled`` True rather than raising: what it finished is written and the rerun resumes."""

    found: int = 0
    embedded: int = 0  # decoded and run through the model
    reused: int = 0  # moved, renamed or copied files that kept an existing embedding
    unchanged: int = 0
    removed: int = 0
    known_failures: int = 0  # failed before and unchanged since: not retried
    failed: list[Skipped] = field(default_factory=list)  # failed in this run (recorded in the store)
    retry_later: list[Skipped] = field(default_factory=list)  # vanished or changing while read
    scan_problems: list[ScanProblem] = field(default_factory=list)
    offline_folders: list[str] = field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        work = self.embedded + self.reused
        return work / self.seconds if self.seconds > 0 else 0.0


# -- planning --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItem:
    file: FoundFile
    folder_id: int


@dataclass
class Plan:
    work: list[WorkItem]
    unchanged: int
    known_failures: int
    removed_paths: list[str]


def _folder_of(path: str, roots: list[tuple[str, int]]) -> int | None:
    for root, folder_id in roots:  # longest root first, so nested library folders match tightly
        if is_under(path, root):
            return folder_id
    return None


def make_plan(
    store: Store,
    space: EmbeddingSpace,
    found: list[FoundFile],
    folders: dict[str, int],
    unreachable: list[str],
    retry_failed: bool = False,
) -> Plan:
    """Decide what to do with every file, from the scan and what the store already knows."""
    roots = sorted(folders.items(), key=lambda item: len(item[0]), reverse=True)
    known = store.photo_states()
    embedded = store.hashes_with_embedding(space.id)
    failed = {} if retry_failed else store.error_states()
    work: list[WorkItem] = []
    unchanged = known_failures = 0
    seen: set[str] = set()
    for file in found:
        seen.add(file.path)
        folder_id = _folder_of(file.path, roots)
        if folder_id is None:
            continue
        state = known.get(file.path)
        if state and state[0] == file.size and state[1] == file.mtime_ns and state[2] in embedded:
            unchanged += 1
        elif failed.get(file.path) == (file.size, file.mtime_ns):
            known_failures += 1
        else:
            work.append(WorkItem(file, folder_id))

    # A known photo that the scan did not find is gone, unless its folder could not be read
    # (an unplugged drive or a permission problem must not empty the library).
    shielded = tuple(folder_prefix(p) for p in unreachable)
    removed = [
        path
        for path in known
        if path not in seen and not path.startswith(shielded) and path not in unreachable
    ]
    return Plan(work, unchanged, known_failures, removed)


# -- per-file work on the pool ----------------------------------------------------------------


@dataclass
class Prepared:
    item: WorkItem
    size: int = 0
    mtime_ns: int = 0
    content_hash: bytes = b""
    decoded: DecodedImage | None = None  # None when the embedding is reused
    local_features: bytes | None = None  # for the duplicate verification, from the same decode
    colour: int | None = None  # average colour 0xRRGGBB, for the map, from the same decode
    error: str | None = None
    retry_later: str | None = None


def prepare(item: WorkItem, reusable: frozenset[bytes] | set[bytes], input_size: int,
            resize_mode: str) -> Prepared:
    result = Prepared(item)
    if os.path.splitext(item.file.path)[1].lower() in VIDEO_EXTENSIONS:  # listed, never read
        result.error = VIDEO_REASON
        return result
    if item.file.size > MAX_FILE_BYTES:
        result.error = (f"file too large to be a photo ({item.file.size / 1e9:.1f} GB; "
                        f"limit {MAX_FILE_BYTES / 1e9:.1f} GB)")
        return result
    try:
        data, stat = read_file_stable(item.file.path, max_bytes=MAX_FILE_BYTES)
    except FileNotFoundError:
        result.retry_later = "file vanished during the scan"
        return result
    except ChangedWhileReading:
        result.retry_later = "file changed while being read; it will be indexed on the next scan"
        return result
    except IsADirectoryError:
        result.retry_later = "became a folder during the scan"
        return result
    except PermissionError:
        result.error = "permission denied: cannot read the file"
        return result
    except OSError as exc:
        result.error = f"cannot read the file: {exc.strerror or exc}"
        return result
    result.size, result.mtime_ns = stat.st_size, stat.st_mtime_ns
    result.content_hash = content_hash(data)
    if result.content_hash in reusable:
        return result
    try:
        decoded = decode_image(
            data, input_size=input_size, resize_mode=resize_mode, thumb_size=THUMBNAIL_SIZE,
            keep_image=True,
        )
        result.local_features = local_features_or_none(decoded.image)
        result.colour = average_colour(decoded.image)
        result.decoded = replace(decoded, image=None)
    except DecodeError as exc:
        result.error = exc.reason
    except MemoryError:
        result.error = "not enough memory to decode this image"
    return result


def average_colour(image) -> int | None:
    """The photo's average colour as 0xRRGGBB (what the map's far-out dots are drawn with)."""
    from PIL import Image

    try:
        small = image.resize((16, 16), Image.BOX)  # BOX: every pixel counts, equally
        rgb = np.asarray(small.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
    except (OSError, ValueError, AttributeError):
        return None
    r, g, b = (int(v) for v in rgb.round())
    return r << 16 | g << 8 | b


def _prepare_unless_cancelled(cancel: threading.Event, *args) -> Prepared | None:
    # Checked by the worker itself: queued photos are dropped the moment Cancel is pressed.
    return None if cancel.is_set() else prepare(*args)


# -- the run --------------------------------------------------------------------------------


class _ProgressMeter:
    def __init__(self, callback: ProgressCallback | None, total: int):
        self.callback = callback
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0

    def step(self, current: str, force: bool = False) -> None:
        self.done += 1
        self.report(current, force)

    def report(self, current: str = "", force: bool = False, phase: str = "indexing") -> None:
        if not self.callback:
            return
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else None
        self.callback(Progress(phase, self.done, self.total, rate, eta, current))


class _BatchWriter:
    """Collects finished files and writes them, with their embeddings, one transaction a batch."""

    def __init__(self, store: Store, space: EmbeddingSpace, embedder: Embedder, report: IndexReport,
                 descriptors: IndexingDescriptors | None = None, classes_as: str | None = None):
        self.store, self.space, self.embedder, self.report = store, space, embedder, report
        self.descriptors = descriptors.bind(store) if descriptors is not None else None
        self.classes_as = classes_as
        self.to_embed: list[Prepared] = []
        self.others: list[Prepared] = []

    def add(self, prepared: Prepared) -> None:
        (self.to_embed if prepared.decoded is not None else self.others).append(prepared)

    def pending(self) -> int:
        return len(self.to_embed) + len(self.others)

    def flush(self) -> None:
        if not self.pending():
            return
        vectors = upright = rotated = logits = None
        if self.to_embed:
            pixels = np.stack([p.decoded.pixels for p in self.to_embed])
            if self.descriptors is None:
                vectors = self.embedder.embed(pixels)
            else:  # one pass: the descriptors' upright map comes out of the same forward pass
                vectors, maps = self.embedder.embed_with_maps(pixels)
                upright, rotated = self.descriptors.compute(pixels, maps)
                if self.classes_as:
                    logits = np.asarray(maps[self.embedder.manifest.logits_output], np.float32)
        store = self.store
        colours = {p.content_hash: p.colour for p in self.to_embed if p.colour is not None}
        with store.transaction():
            for prepared in self.others:
                self._write_other(prepared)
            if colours:
                store.set_thumbnail_colours(colours)
            if logits is not None:
                store_classes(store, self.classes_as, [p.content_hash for p in self.to_embed],
                              logits.reshape(len(self.to_embed), -1))
            for k, (prepared, vector) in enumerate(zip(self.to_embed, vectors if vectors is not None else [])):
                decoded = prepared.decoded
                store.put_embedding(prepared.content_hash, self.space.id, vector)
                if upright is not None:
                    spaces = self.descriptors.spaces
                    store.put_embedding(prepared.content_hash, spaces["upright"].id, upright[k])
                    store.put_embedding(prepared.content_hash, spaces["rot90"].id, rotated[k])
                store.put_thumbnail(prepared.content_hash, decoded.thumbnail)
                duplicate_facts.put_provenance(store, prepared.content_hash, decoded.provenance)
                # b"": OpenCV could not describe it; it is compared unverified, not retried.
                duplicate_facts.put_local_features(store, prepared.content_hash,
                                                   prepared.local_features or b"")
                self._write_photo(prepared, decoded.width, decoded.height, decoded.capture_time)
                self.report.embedded += 1
        self.to_embed.clear()
        self.others.clear()

    def _write_other(self, prepared: Prepared) -> None:
        file = prepared.item.file
        if prepared.retry_later:
            self.report.retry_later.append(Skipped(file.path, prepared.retry_later))
        elif prepared.error:
            self.store.record_error(file.path, prepared.size or file.size,
                                    prepared.mtime_ns or file.mtime_ns, prepared.error)
            self.report.failed.append(Skipped(file.path, prepared.error))
        else:  # same bytes as a photo we already embedded: reuse its vector and thumbnail
            details = self.store.copy_photo_details(prepared.content_hash) or (None, None, None)
            self._write_photo(prepared, *details)
            self.report.reused += 1

    def _write_photo(self, prepared: Prepared, width, height, capture_time) -> None:
        self.store.upsert_photo(
            prepared.item.file.path,
            folder_id=prepared.item.folder_id,
            size=prepared.size,
            mtime_ns=prepared.mtime_ns,
            content_hash=prepared.content_hash,
            width=width,
            height=height,
            capture_time=capture_time,
        )


def index_folders(
    store: Store,
    space: EmbeddingSpace,
    embedder: Embedder,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    batch_size: int = 16,
    retry_failed: bool = False,
    descriptors: IndexingDescriptors | None = None,
    classes_as: str | None = None,
) -> IndexReport:
    """Bring the store up to date with the library folders on disk. Safe to interrupt and rerun.

    ``descriptors``: also store each new photo's duplicate descriptors, from the same pass (the
    ``embedder`` must return ``descriptors.extra_output`` among its ``extra_outputs``).
    ``classes_as``: also store each new photo's top classes for the map's captions under this
    model name, from the same pass (with ``descriptors``; the ``embedder`` must return the
    manifest's ``logits_output`` among its ``extra_outputs``).
    """
    started = time.monotonic()
    cancel = cancel or threading.Event()
    report = IndexReport()
    folders = store.folders()

    def on_scan(found_so_far: int, folder: str) -> None:
        if progress:
            progress(Progress("scanning", found_so_far, None, label=folder))

    offline = [root for root in folders if not os.path.isdir(root) and not os.path.isfile(root)]
    online = [root for root in folders if root not in offline]
    # Videos too: each is reported once as skipped (VIDEO_REASON), not silently passed over.
    scan = scan_folders(online, IMAGE_EXTENSIONS | VIDEO_EXTENSIONS, cancel=cancel, on_progress=on_scan)
    report.found = len(scan.files)
    report.scan_problems = scan.problems
    report.offline_folders = offline
    if scan.cancelled:
        report.cancelled = True
        report.seconds = time.monotonic() - started
        return report
    # Kept for `simdesk problems` and View > Problems, until the next complete scan.
    store.set_scan_problems((p.path, p.reason) for p in scan.problems)

    unreachable = offline + [p.path for p in scan.problems]
    plan = make_plan(store, space, scan.files, folders, unreachable, retry_failed)
    report.unchanged = plan.unchanged
    report.known_failures = plan.known_failures

    # Hashes whose vector, thumbnail and photo details we have: such files are not decoded.
    reusable = frozenset(store.hashes_reusable(space.id))
    meter = _ProgressMeter(progress, len(plan.work))
    meter.report(force=True)
    writer = _BatchWriter(store, space, embedder, report, descriptors, classes_as)
    workers = workers or max(1, os.cpu_count() or 1)
    # Enough decoded photos queued that the next batch is ready when inference finishes.
    max_in_flight = 2 * batch_size + workers
    queue = deque(plan.work)
    in_flight: set[Future] = set()
    size, mode = embedder.input_size, embedder.manifest.resize_mode
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simdesk-decode") as pool:
        while queue or in_flight:
            while queue and len(in_flight) < max_in_flight and not cancel.is_set():
                in_flight.add(pool.submit(_prepare_unless_cancelled, cancel, queue.popleft(),
                                          reusable, size, mode))
            if cancel.is_set() and not report.cancelled:
                # Stop promptly: drop what has not started; what is running finishes and is kept.
                report.cancelled = True
                queue.clear()
                in_flight = {f for f in in_flight if not f.cancel()}
            if not in_flight:
                break
            done, in_flight = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                prepared = future.result()
                if prepared is None:  # cancelled before it started
                    continue
                writer.add(prepared)
                meter.step(prepared.item.file.path)
                if len(writer.to_embed) >= batch_size or len(writer.others) >= 4 * batch_size:
                    writer.flush()
        writer.flush()

    if not report.cancelled:
        with store.transaction():
            report.removed = store.delete_photos(plan.removed_paths)
        if report.removed:
            store.prune_orphans()
    meter.report(force=True, phase="done")
    report.seconds = time.monotonic() - started
    return report
