"""The cluster map part of ``Library`` (see simdesk.core.library): its layout, photo details,
colours and classes, and the PNG export.
"""

from __future__ import annotations

import threading

import numpy as np

from simdesk.core.models.catalog import load_model
from simdesk.core.store import EmbeddingSpace


class MapFacade:
    """Mixed into ``Library``: uses its ``store``, ``_current_manifest``, ``_space_for``, ``embedder``,
    ``_map_colour_cache``, ``model_name`` and ``pooling``."""

    # -- map --

    def map_space(self) -> EmbeddingSpace:
        """The current model's embedding space, without starting the model (the map only reads)."""
        return self._space_for(self._current_manifest(verify=False), self.pooling)

    def map_layout(self, scope=None, *, params=None, recompute: bool = False, progress=None,
                   cancel: threading.Event | None = None):
        """The cluster map of ``scope`` (a ``layout_cache.MapScope``; default: every photo).

        Cached in the library: a second open reuses it, photos added since are placed near their
        neighbours, removed ones dropped; ``recompute`` lays everything out afresh. Runs in the
        calling thread (a GUI calls it from a worker); ``progress`` gets ``Progress``
        reports, setting ``cancel`` raises ``progress.Cancelled``.
        """
        from simdesk.core.map.layout import LayoutParams
        from simdesk.core.map.cache import MapScope, load_or_compute

        return load_or_compute(self.store, self.map_space(), scope or MapScope.all(),
                               params or LayoutParams(), recompute=recompute, progress=progress,
                               cancel=cancel)

    def map_photos(self, photo_ids):
        """Paths, folders, dates and content hashes of photos, for hover text and colouring."""
        from simdesk.core.map.cache import photo_details

        return photo_details(self.store, photo_ids)

    def map_colours(self, photo_ids, *, progress=None, cancel: threading.Event | None = None) -> np.ndarray:
        """(N, 3) uint8 average colour of each photo (from its thumbnail), for far-out dots."""
        from simdesk.core.map.cache import average_colours

        cache = self._map_colour_cache
        photos = self.map_photos(photo_ids)
        return average_colours(self.store, photos.content_hashes, progress=progress,
                               cancel=cancel, cache=cache)

    def map_classes(self, photo_ids, *, progress=None, cancel: threading.Event | None = None):
        """(N,) top ImageNet class of each photo (-1 unknown) for the map's region captions, or
        None when the model has no classifier head. Classified from the thumbnails when first
        needed, then kept in the library."""
        from simdesk.core.map.cache import photo_classes

        manifest = load_model(self.model_name, verify=False)
        if not manifest.logits_output:
            return None
        photos = self.map_photos(photo_ids)
        return photo_classes(self.store, manifest, self.embedder, photos.content_hashes,
                             progress=progress, cancel=cancel)

    def export_map(self, out, layout=None, *, mode: str = "tsne", size: int = 2400,
                   colour_by: str | None = None, style: str = "auto", tile: int | None = None,
                   title: str | None = None, progress=None, cancel: threading.Event | None = None):
        """Draw the whole map (``layout``, default the library's) into a PNG; a ``RenderResult``."""
        from simdesk.core.library import LibraryError  # not at the top: library.py imports this module
        from simdesk.core.map.render import render_map

        if layout is None:
            layout = self.map_layout(progress=progress, cancel=cancel)
        if len(layout) == 0:
            raise LibraryError(
                f"no photos are indexed with {self.model_name} ({self.pooling}) yet: run `simdesk index`"
            )
        cache = self._map_colour_cache
        _, result = render_map(self.store, layout, out, mode=mode, size=size, colour_by=colour_by,
                               style=style, tile=tile, title=title, colour_cache=cache,
                               progress=progress, cancel=cancel)
        return result
