"""The app's long jobs: indexing the library, installing a model."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from simdesk.core.library import Library
from simdesk.ui.tasks import Job


class IndexJob(Job):
    """``Library.index`` on its own thread. Progress: :class:`simdesk.core.indexer.IndexProgress`;
    result: :class:`simdesk.core.indexer.IndexReport`."""

    def __init__(self, library: Library, workers: int | None = None, parent=None):
        super().__init__(parent)
        self.library = library
        self.workers = workers

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]):
        return self.library.index(progress=progress, cancel=cancel, workers=self.workers)

    def thread_exit(self) -> None:
        self.library.close()  # this thread's database connection


class InstallModelJob(Job):
    """Install a built-in model. Progress: ``("download", done, total)`` while downloading, then
    ``("convert", 0, 0)``; result: the :class:`simdesk.core.models.ModelManifest`."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.name = name

    def work(self, cancel: threading.Event, progress: Callable[[Any], None]):
        from simdesk.core import models

        try:  # installed and intact already: nothing to do
            return models.load_model(self.name)
        except models.ModelError:
            pass
        if self.name == models.OFFLINE_MODEL:
            progress(("convert", 0, 0))
            return models.install_efficientnet_lite0()
        if self.name != models.DEFAULT_MODEL:
            raise models.ModelError(f"{self.name} is not a built-in model")
        last = [0.0]

        def on_bytes(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.05 or (total and done >= total):
                last[0] = now
                progress(("download", done, total or 0))
            if total and done >= total:
                progress(("convert", 0, 0))

        return models.install_resnet50(progress=on_bytes, cancel=cancel)
