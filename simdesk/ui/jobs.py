"""The app's long jobs: indexing the library, installing a model, laying out and exporting the map."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import Signal

from simdesk.core.library import Library
from simdesk.core.map.labels import region_labels
from simdesk.core.progress import Progress
from simdesk.ui.tasks import Job


class IndexJob(Job):
    """``Library.index`` on its own thread. Progress: :class:`simdesk.core.progress.Progress`;
    result: :class:`simdesk.core.indexer.IndexReport`."""

    def __init__(self, library: Library, workers: int | None = None, retry_failed: bool = False,
                 parent=None):
        super().__init__(parent)
        self.library = library
        self.workers = workers
        self.retry_failed = retry_failed

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]):
        return self.library.index(progress=progress, cancel=cancel, workers=self.workers,
                                  retry_failed=self.retry_failed)

    def thread_exit(self) -> None:
        self.library.close()  # this thread's database connection


class InstallModelJob(Job):
    """Install a built-in model. Progress: ``Progress("downloading", bytes done, total)``, then
    ``Progress("converting", 0, None)``; result: the :class:`simdesk.core.models.catalog.ModelManifest`."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.name = name

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]):
        from simdesk.core.models import catalog as models

        try:  # installed and intact already: nothing to do
            return models.load_model(self.name)
        except models.ModelError:
            pass
        if self.name == models.OFFLINE_MODEL:
            progress(Progress("converting", 0, None))
            return models.install_efficientnet_lite0()
        if self.name != models.DEFAULT_MODEL:
            raise models.ModelError(f"{self.name} is not a built-in model")
        last = [0.0]

        def on_bytes(p: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.05 or (p.total and p.done >= p.total):
                last[0] = now
                progress(p)
            if p.total and p.done >= p.total:
                progress(Progress("converting", 0, None))

        return models.install_resnet50(progress=on_bytes, cancel=cancel)


@dataclasses.dataclass
class MapData:
    """One map as the map page shows it: the layout of ``scope`` (a ``layout_cache.MapScope``),
    its photos' paths, folders and dates (``MapPhotos``), and their average colours once read."""

    scope: Any
    layout: Any  # MapLayout
    photos: Any  # MapPhotos
    colours: np.ndarray | None = None  # (N, 3) uint8
    gridded: bool = False  # the tidy grid is computed already (layout.grid())
    seconds: float = 0.0  # how long the layout took
    classes: np.ndarray | None = None  # (N,) top ImageNet class per photo; None: no classifier
    labels: dict | None = None  # mode -> [labels.RegionLabel], the region captions
    no_labels: str = ""  # why there are none (a model without a classifier head)


class MapLayoutJob(Job):
    """``Library.map_layout`` of one scope on its own thread, then the photos' average colours.

    Progress: :class:`simdesk.core.progress.Progress` (the layout's phases, then "colours").
    ``layout_ready(MapData)`` comes as soon as the layout is known, so the map can be shown while
    the colours are read; the result is a :class:`MapData` with its colours. A cancelled job fails
    with :class:`simdesk.core.progress.Cancelled` (after ``layout_ready`` if it was cancelled
    while reading colours). ``grid``: also compute the tidy grid before ``layout_ready``.
    """

    layout_ready = Signal(object)

    def __init__(self, library: Library, scope, *, params=None, recompute: bool = False,
                 grid: bool = False, parent=None):
        super().__init__(parent)
        self.library = library
        self.scope = scope
        self.params = params
        self.recompute = recompute
        self.grid = grid

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]) -> MapData:
        library = self.library
        start = time.monotonic()
        layout = library.map_layout(self.scope, params=self.params, recompute=self.recompute,
                                    progress=progress, cancel=cancel)
        gridded = False
        if self.grid and len(layout):
            layout.grid()
            gridded = True
        data = MapData(self.scope, layout, library.map_photos(layout.photo_ids), gridded=gridded,
                       seconds=time.monotonic() - start)
        try:
            self.layout_ready.emit(data)
        except RuntimeError:  # the Qt object is gone: the app is closing
            pass
        colours = library.map_colours(layout.photo_ids, progress=progress, cancel=cancel)
        classes = library.map_classes(layout.photo_ids, progress=progress, cancel=cancel)
        labels, no_labels = None, ""
        if classes is None:
            no_labels = f"no region labels: {library.model_name} has no classifier head"
        else:
            labels = {"tsne": region_labels(layout.positions("tsne"), classes)}
            if gridded or self.grid:
                layout.grid()
                labels["grid"] = region_labels(layout.positions("grid"), classes)
        return dataclasses.replace(data, colours=colours, classes=classes, labels=labels,
                                   no_labels=no_labels)

    def thread_exit(self) -> None:
        self.library.close()  # this thread's database connection


class ExportMapJob(Job):
    """``Library.export_map``: the whole map drawn into a PNG, on its own thread. Progress:
    ``Progress`` ("colours", "rendering"); result: ``map_render.RenderResult``; cancelled:
    ``failed`` with ``Cancelled``."""

    def __init__(self, library: Library, path: str, layout, *, mode: str = "tsne",
                 colour_by: str | None = None, size: int = 2400, title: str | None = None,
                 parent=None):
        super().__init__(parent)
        self.library = library
        self.path = path
        self.layout = layout
        self.mode = mode
        self.colour_by = colour_by
        self.size = size
        self.title = title

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]):
        return self.library.export_map(self.path, self.layout, mode=self.mode, size=self.size,
                                       colour_by=self.colour_by, title=self.title,
                                       progress=progress, cancel=cancel)

    def thread_exit(self) -> None:
        self.library.close()
