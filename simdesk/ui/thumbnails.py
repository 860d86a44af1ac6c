"""Thumbnails on demand, for the grids and the map: fetched from the cache and decoded off the GUI
thread, kept in a bounded LRU.

A view asks for a thumbnail when it paints it (:meth:`ThumbnailLoader.get`); a miss queues a
request and the view paints a placeholder. A one-thread :class:`~simdesk.ui.tasks.TaskPool` takes
the newest requests first (what is on screen now), a batch at a time: it reads their JPEGs from
SQLite in one query, decodes them (with Pillow, which releases the GIL, see
:mod:`simdesk.ui.images`) into ``QImage`` scaled down to the size the view shows
(``display_side``, or a larger ``side`` asked for one thumbnail: the map's hover preview) and
hands them back; the GUI thread turns them into ``QPixmap`` in small time-limited batches and
announces the hashes with :attr:`ThumbnailLoader.loaded`. Keeping them at display size makes small
zoom levels cheap: more of them fit the memory budget, and painting is a plain copy rather than a
smooth scale. One loaded for a smaller zoom is drawn scaled up while a sharper one is fetched.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from simdesk.ui.images import decode_thumbnail
from simdesk.ui.tasks import TaskPool

Fetch = Callable[[list[bytes]], dict[bytes, bytes]]
Decode = Callable[[bytes, int], "QImage | None"]

BATCH = 32  # thumbnails read from the database per query
MAX_QUEUED = 600  # older requests are dropped: the user has scrolled past them
GUI_BATCH_SECONDS = 0.008  # QImage -> QPixmap work per event-loop turn


class PixmapLRU:
    """Pixmaps by key, least recently used dropped first once over ``budget_bytes``."""

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self.bytes = 0
        self._items: OrderedDict[bytes, QPixmap] = OrderedDict()

    @staticmethod
    def cost(pixmap: QPixmap) -> int:
        return max(1, pixmap.width() * pixmap.height() * 4)

    def get(self, key: bytes) -> QPixmap | None:
        pixmap = self._items.get(key)
        if pixmap is not None:
            self._items.move_to_end(key)
        return pixmap

    def put(self, key: bytes, pixmap: QPixmap) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= self.cost(old)
        self._items[key] = pixmap
        self.bytes += self.cost(pixmap)
        while self.bytes > self.budget and len(self._items) > 1:
            _, dropped = self._items.popitem(last=False)
            self.bytes -= self.cost(dropped)

    def __contains__(self, key: bytes) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0


class ThumbnailLoader(QObject):
    """Loads thumbnails by content hash. ``fetch(hashes) -> {hash: jpeg}`` and
    ``decode(jpeg, side) -> QImage | None`` run on the worker."""

    loaded = Signal(list)  # content hashes now available from get() (or known to be missing)

    def __init__(
        self,
        fetch: Fetch,
        *,
        budget_bytes: int = 96 * 1024 * 1024,
        decode: Decode = decode_thumbnail,
        on_thread_exit: Callable[[], None] | None = None,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._fetch = fetch
        self._decode = decode
        # One worker: batches run one after the other, each queueing the next while requests wait.
        self._pool = TaskPool("thumbnails", 1, on_thread_exit=on_thread_exit, parent=self)
        self.cache = PixmapLRU(budget_bytes)
        self.missing: set[bytes] = set()  # no thumbnail in the cache: the delegate paints a glyph
        self.display_side = 256  # device pixels; read by the worker when it decodes
        self._native: set[bytes] = set()  # cached at their stored size (nothing sharper to get)
        self._stack: deque[bytes] = deque()  # newest request at the right
        self._queued: set[bytes] = set()
        self._sides: dict[bytes, int] = {}  # queued requests for more than display_side
        self._lock = threading.Lock()
        self._closed = False
        self._loading = False  # a batch is queued on the pool or running
        self._inbox: deque[tuple[bytes, QImage | None, bool]] = deque()
        self._draining = False

    # -- GUI thread ------------------------------------------------------------------------------

    def get(self, content_hash: bytes, side: int | None = None) -> QPixmap | None:
        """The thumbnail if loaded; else None, and it is requested. One loaded for a smaller zoom
        is returned (drawn scaled up) while a sharper one is requested. ``side``: wanted bigger
        than ``display_side``."""
        pixmap = self.cache.get(content_hash)
        if self.wants(content_hash, pixmap, side):
            self.request(content_hash, side)
        return pixmap

    def wants(self, content_hash: bytes, pixmap: QPixmap | None, side: int | None = None) -> bool:
        """Whether a request would bring something better than ``pixmap`` (what the cache has)."""
        if pixmap is None:
            return content_hash not in self.missing
        return (max(pixmap.width(), pixmap.height()) < max(side or 0, self.display_side)
                and content_hash not in self._native)

    def pending(self, content_hash: bytes) -> bool:
        """Queued or being fetched (a repaint will follow through ``loaded``)."""
        return content_hash in self._queued

    def set_display_side(self, side: int) -> None:
        """The longest side, in device pixels, the view draws thumbnails at now."""
        self.display_side = max(16, int(side))

    def request(self, content_hash: bytes, side: int | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            if content_hash in self._queued:
                try:  # already queued: move it to the front (seen again now)
                    self._stack.remove(content_hash)
                except ValueError:  # being fetched right now (asked again if still wanted)
                    return
            if side is not None and side > self._sides.get(content_hash, 0):
                self._sides[content_hash] = side
            self._stack.append(content_hash)
            self._queued.add(content_hash)
            while len(self._stack) > MAX_QUEUED:
                dropped = self._stack.popleft()
                self._queued.discard(dropped)
                self._sides.pop(dropped, None)
            self._schedule()

    def forget_queue(self) -> None:
        """Drop every queued request (the grid now shows something else)."""
        with self._lock:
            self._stack.clear()
            self._queued.clear()
            self._sides.clear()

    def _receive(self, items: list) -> None:
        self._inbox.extend(items)
        if not self._draining:
            self._drain()

    def _drain(self) -> None:
        """Turn decoded images into pixmaps for at most GUI_BATCH_SECONDS, then yield."""
        if self._closed:
            return
        deadline = time.perf_counter() + GUI_BATCH_SECONDS
        ready: list[bytes] = []
        while self._inbox and time.perf_counter() < deadline:
            content_hash, image, native = self._inbox.popleft()
            if image is None:
                self.missing.add(content_hash)
            else:
                self.cache.put(content_hash, QPixmap.fromImage(image))
                if native:
                    self._native.add(content_hash)
                else:
                    self._native.discard(content_hash)
            ready.append(content_hash)
        self._draining = bool(self._inbox)
        if self._draining:
            QTimer.singleShot(0, self._drain)
        if ready:
            self.loaded.emit(ready)

    def clear(self) -> None:
        self.cache.clear()
        self.missing.clear()
        self._native.clear()

    def _loaded_batch(self, result) -> None:
        hashes, items = result
        with self._lock:  # "pending" stays true until the result is here
            self._queued.difference_update(hashes)
        if items:
            self._receive(items)

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._closed = True
            self._stack.clear()
            self._queued.clear()
        self._pool.shutdown(timeout)

    # -- the worker -----------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Queue a batch on the pool unless one is queued or running (called with the lock held)."""
        if not self._loading and self._stack and not self._closed:
            self._loading = True
            self._pool.run(self._load_batch, on_result=self._loaded_batch)

    def _load_batch(self) -> tuple[list[bytes], list[tuple[bytes, QImage | None, bool]]]:
        """On the pool's thread: the newest requests (up to BATCH) read in one query and decoded,
        as [(hash, QImage | None, stored size?)]; the next batch is queued before this returns."""
        with self._lock:
            batch = []
            while self._stack and len(batch) < BATCH:
                content_hash = self._stack.pop()
                batch.append((content_hash, max(self._sides.pop(content_hash, 0), self.display_side)))
        hashes = [content_hash for content_hash, _ in batch]
        items: list[tuple[bytes, QImage | None, bool]] = []
        try:
            found = self._fetch(hashes) if hashes else {}
        except Exception:  # database busy or gone: leave them as placeholders for now
            found = None
        if found is not None:
            for content_hash, side in batch:
                data = found.get(content_hash)
                image = self._decode(data, side) if data else None
                # At its stored size: nothing sharper to fetch for a bigger zoom.
                native = image is not None and max(image.width(), image.height()) < side
                items.append((content_hash, image, native))
        with self._lock:
            self._loading = False
            self._schedule()
        return hashes, items
