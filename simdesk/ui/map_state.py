"""What the map canvas shows and how it looks at it, without Qt: the photos' positions in the
current mode, their colours, the zoom and pan, the selection, and hit testing.

:class:`~simdesk.ui.map_view.MapView` paints this state and turns mouse and keys into calls on
it; everything here is NumPy over the positions, so it is tested without a window. Points are
``(x, y)`` in the view's pixels.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from simdesk.core.map.cache import MODES, MapLayout, MapPhotos
from simdesk.core.map.render import date_colours, folder_palette

MIN_ITEM_PX = 0.5  # zoom limits: a photo between half a pixel ...
MAX_ITEM_PX = 1200  # ... and this big
GREY = 110  # a photo's colour until its average colour is known


class MapState:
    """The map of one layout as a view sees it. ``viewport()`` gives the view's size in pixels
    (a widget passes its own; without one, :meth:`set_viewport` sets it)."""

    def __init__(self, mode: str = "tsne", viewport: Callable[[], tuple[int, int]] | None = None):
        self.mode = mode
        self.colour_by: str | None = None
        self.layout: MapLayout | None = None
        self.photos: MapPhotos | None = None
        self.pos = np.zeros((0, 2))  # layout coordinates of the current mode
        self.extent = (1.0, 1.0)
        self.cell = 1.0  # a photo's side, in layout units
        self.colours = np.zeros((0, 3), dtype=np.uint8)  # what each photo is drawn in
        self.colours32 = np.zeros(0, dtype=np.uint32)  # the same as 0xAARRGGBB
        self.avg_colours: np.ndarray | None = None
        self.scale = 1.0  # view pixels per layout unit
        self.offset = np.zeros(2)  # where the layout's origin is in the view
        self.fitted = False
        self.selected: set[int] = set()  # rows
        self._viewport = viewport
        self._size = (640, 480)

    # -- the view's size -----------------------------------------------------------------------

    def viewport(self) -> tuple[int, int]:
        return self._viewport() if self._viewport is not None else self._size

    def set_viewport(self, width: int, height: int) -> None:
        self._size = (int(width), int(height))

    def centre(self) -> np.ndarray:
        w, h = self.viewport()
        return np.array([w / 2, h / 2])

    # -- layout, mode, colours -----------------------------------------------------------------

    def set_layout(self, layout: MapLayout, photos: MapPhotos | None,
                   colours: np.ndarray | None = None) -> None:
        self.layout = layout
        self.photos = photos
        self.avg_colours = None if colours is None else np.asarray(colours, dtype=np.uint8)
        self.selected.clear()
        self.apply_mode(fit=True)

    def set_avg_colours(self, colours: np.ndarray) -> None:
        self.avg_colours = np.asarray(colours, dtype=np.uint8)
        self.update_colours()

    def set_mode(self, mode: str) -> None:
        """Switch mode keeping the photo that was in the middle in the middle."""
        if mode not in MODES:
            raise ValueError(f"unknown map mode {mode!r}")
        if mode == self.mode:
            return
        centre = self.centre_row()
        self.mode = mode
        self.apply_mode(fit=centre is None)
        if centre is not None:
            self.offset = self.centre() - self.pos[centre] * self.scale

    def set_colour_by(self, what: str | None) -> None:
        if what not in (None, "folder", "date"):
            raise ValueError(f"unknown colouring {what!r}")
        self.colour_by = what
        self.update_colours()

    def legend(self) -> list[tuple[tuple[int, int, int], str]]:
        """(colour, label) pairs for the current colouring."""
        if self.photos is None or self.colour_by is None:
            return []
        if self.colour_by == "folder":
            return [(c, f) for f, c in self.folder_colours().items()]
        _, lo, hi = date_colours(self.photos.times)
        if not np.isfinite(lo):
            return []
        fmt = "%Y-%m-%d"
        return [((68, 1, 84), time.strftime(fmt, time.localtime(lo))),
                ((253, 231, 37), time.strftime(fmt, time.localtime(hi)))]

    def folder_colours(self) -> dict[str, tuple[int, int, int]]:
        counts: dict[str, int] = {}
        for f in self.photos.folders:
            counts[f] = counts.get(f, 0) + 1
        order = sorted(counts, key=lambda f: (-counts[f], f))
        return dict(zip(order, folder_palette(len(order))))

    def update_colours(self) -> None:
        n = len(self.pos)
        tags = None
        if self.photos is not None and self.colour_by == "folder":
            palette = self.folder_colours()
            tags = np.array([palette[f] for f in self.photos.folders], dtype=np.uint8).reshape(-1, 3)
        elif self.photos is not None and self.colour_by == "date":
            tags, _, _ = date_colours(self.photos.times)
        if tags is not None:
            colours = tags
        elif self.avg_colours is not None and len(self.avg_colours) == n:
            colours = self.avg_colours
        else:
            colours = np.full((n, 3), GREY, dtype=np.uint8)
        self.colours = colours
        c = colours.astype(np.uint32)
        self.colours32 = (0xFF000000 | (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).astype(np.uint32)

    def apply_mode(self, fit: bool) -> None:
        layout = self.layout
        if layout is None or len(layout) == 0:
            self.pos = np.zeros((0, 2))
            self.update_colours()
            return
        self.pos = layout.positions(self.mode)
        self.extent = layout.extent(self.mode)
        # Grid cells touch: leave a hairline between photos. Free layout: a bit under the mean
        # spacing (clusters are denser than the mean, so photos still overlap when zoomed out).
        self.cell = layout.cell_size(self.mode) * (0.94 if self.mode == "grid" else 0.75)
        self.update_colours()
        if fit or not self.fitted:
            self.fit()

    # -- zoom and pan --------------------------------------------------------------------------

    def item_size_px(self) -> float:
        """How big one photo is on screen now, in pixels."""
        return self.cell * self.scale

    def screen_positions(self) -> np.ndarray:
        """(N, 2) view coordinates of every photo's centre."""
        return self.pos * self.scale + self.offset

    def fit_params(self, size: tuple[int, int] | None = None) -> tuple[float, np.ndarray]:
        """The scale and offset that show the whole map in a view of ``size`` (default: now)."""
        w, h = size if size is not None else self.viewport()
        w, h = max(w, 1), max(h, 1)
        ew, eh = self.extent
        scale = 0.95 * min(w / max(ew, 1e-9), h / max(eh, 1e-9))
        offset = np.array([w / 2, h / 2]) - np.array([ew / 2, eh / 2]) * scale
        return scale, offset

    def fit(self) -> None:
        self.scale, self.offset = self.fit_params()
        self.fitted = True

    def scale_limits(self) -> tuple[float, float]:
        fit, _ = self.fit_params()
        cell = max(self.cell, 1e-9)
        return min(fit * 0.5, MIN_ITEM_PX / cell), max(fit, MAX_ITEM_PX / cell)

    def zoom_by(self, factor: float, anchor: tuple[float, float] | None = None) -> None:
        """Zoom by ``factor`` keeping the point under ``anchor`` (default: the centre) in place."""
        a = self.centre() if anchor is None else np.array(anchor, dtype=float)
        lo, hi = self.scale_limits()
        new = float(np.clip(self.scale * factor, lo, hi))
        self.offset = a - (a - self.offset) * (new / self.scale)
        self.scale = new

    def pan_by(self, dx: float, dy: float) -> None:
        self.offset = self.offset + np.array([dx, dy])

    def view_of_row(self, row: int, item_px: float) -> tuple[float, np.ndarray]:
        """The scale and offset that centre ``row`` at about ``item_px`` pixels."""
        scale = item_px / max(self.cell, 1e-9)
        return scale, self.centre() - self.pos[row] * scale

    def between(self, start: tuple[float, np.ndarray], end: tuple[float, np.ndarray],
                e: float) -> tuple[float, np.ndarray]:
        """The view a fraction ``e`` of the way from ``start`` to ``end`` (scale, offset):
        geometric in scale, and the view's centre glides straight."""
        (s0, o0), (s1, o1) = start, end
        scale = s0 * (s1 / s0) ** e
        c = self.centre()
        w0, w1 = (c - o0) / s0, (c - o1) / s1  # map point at the centre, before and after
        return scale, c - (w0 + (w1 - w0) * e) * scale

    def centre_row(self) -> int | None:
        """The photo nearest the middle of the view (None before the first fit)."""
        if len(self.pos) == 0 or not self.fitted:
            return None
        d = ((self.screen_positions() - self.centre()) ** 2).sum(axis=1)
        return int(np.argmin(d))

    def was_fitted_for(self, size: tuple[int, int]) -> bool:
        """Whether the view shows the whole map as fitted to a view of ``size``."""
        return self.fitted and bool(np.isclose(self.scale, self.fit_params(size)[0]))

    # -- hit testing and selection -------------------------------------------------------------

    def row_at(self, x: float, y: float) -> int | None:
        """The row under a view point: among the photos there, the nearest, ties to the last
        drawn (photos drawn later are on top)."""
        if len(self.pos) == 0:
            return None
        half = max(self.item_size_px() / 2, 3.0)
        d = np.abs(self.screen_positions() - np.array([x, y]))
        hits = np.flatnonzero((d[:, 0] <= half) & (d[:, 1] <= half))
        if len(hits) == 0:
            return None
        dist = (d[hits] ** 2).sum(axis=1)
        best = hits[dist <= dist.min() + 1e-9]
        return int(best.max())

    def rows_in_rect(self, left: float, top: float, right: float, bottom: float) -> set[int]:
        """The rows whose centres lie in a view rectangle."""
        if len(self.pos) == 0:
            return set()
        s = self.screen_positions()
        inside = (s[:, 0] >= left) & (s[:, 0] <= right) & (s[:, 1] >= top) & (s[:, 1] <= bottom)
        return set(np.flatnonzero(inside).tolist())

    def rows_in_polygon(self, points) -> set[int]:
        """The rows whose centres lie inside a view polygon (a lasso: (x, y) pairs, closed
        implicitly), by the even-odd rule."""
        poly = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(self.pos) == 0 or len(poly) < 3:
            return set()
        s = self.screen_positions()
        lo, hi = poly.min(axis=0), poly.max(axis=0)
        cand = np.flatnonzero((s[:, 0] >= lo[0]) & (s[:, 0] <= hi[0])
                              & (s[:, 1] >= lo[1]) & (s[:, 1] <= hi[1]))
        x, y = s[cand, 0], s[cand, 1]
        inside = np.zeros(len(cand), dtype=bool)
        x1, y1 = poly[:, 0], poly[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        for ax, ay, bx, by in zip(x1, y1, x2, y2):
            crosses = (ay > y) != (by > y)
            if not crosses.any():
                continue
            at = ax + (y - ay) * (bx - ax) / np.where(by != ay, by - ay, 1e-12)
            inside ^= crosses & (x < at)
        return set(cand[inside].tolist())

    def visible_rows(self, margin: float) -> np.ndarray:
        """The rows whose centres are in the view or within ``margin`` pixels of it."""
        screen = self.screen_positions()
        w, h = self.viewport()
        return np.flatnonzero((screen[:, 0] > -margin) & (screen[:, 0] < w + margin)
                              & (screen[:, 1] > -margin) & (screen[:, 1] < h + margin))

    def selected_ids(self) -> list[int]:
        if self.layout is None:
            return []
        return [int(self.layout.photo_ids[r]) for r in sorted(self.selected)]

    def rows_of(self, photo_ids) -> set[int]:
        rows = {self.layout.row_of(p) for p in photo_ids} if self.layout is not None else set()
        return {r for r in rows if r is not None}

    def paths(self, rows) -> list[str]:
        if self.photos is None:
            return []
        return [self.photos.paths[r] for r in rows if self.photos.paths[r]]
