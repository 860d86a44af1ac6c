"""Drawing the cluster map into a PNG with Pillow (``simdesk map --out map.png``, "Export map").

Thumbnails come from the library cache (``store.thumbnail``), so no photo is decoded again. In
the free t-SNE mode thumbnails are drawn at their photos' positions, and where several would land
on the same spot of a tile-sized lattice only the one nearest that spot is drawn (a dense cluster
does not turn into a pile); the grid mode draws every photo in its cell. Once tiles would be
smaller than ``MIN_THUMB`` pixels, every photo is drawn as a dot in its average colour instead.
"""

from __future__ import annotations

import colorsys
import io
import os
import threading
import time
from dataclasses import dataclass

import numpy as np

from simdesk.core.map.cache import MapLayout, MapPhotos, average_colours, photo_details
from simdesk.core.map.layout import Reporter
from simdesk.core.progress import ProgressCallback
from simdesk.core.store import Store

MIN_THUMB = 10  # pixels: below this a thumbnail shows nothing a dot would not
BACKGROUND = (22, 22, 26)
TEXT = (220, 220, 225)
COLOUR_BY = ("folder", "date")


@dataclass
class RenderResult:
    path: str | None
    width: int
    height: int
    mode: str
    style: str  # "thumbnails" or "dots"
    tile: int  # pixels
    drawn: int  # photos drawn (hidden ones in a crowded t-SNE spot are not counted)
    total: int
    seconds: float


def folder_palette(count: int) -> list[tuple[int, int, int]]:
    """``count`` distinct, bright colours (golden-angle hues)."""
    colours = []
    for i in range(count):
        hue = (i * 0.381966 + 0.58) % 1.0
        light = 0.58 if i % 2 == 0 else 0.68
        r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
        colours.append((int(r * 255), int(g * 255), int(b * 255)))
    return colours


_DATE_RAMP = np.array([  # viridis, sampled: old photos dark blue, new ones yellow
    (68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], dtype=np.float64)


def date_colours(times: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(N,3) uint8 colours along a ramp from the oldest to the newest time; NaN -> grey."""
    t = np.asarray(times, dtype=np.float64)
    out = np.full((len(t), 3), 128, dtype=np.uint8)
    ok = np.isfinite(t)
    if not ok.any():
        return out, float("nan"), float("nan")
    lo, hi = float(t[ok].min()), float(t[ok].max())
    u = (t[ok] - lo) / (hi - lo) if hi > lo else np.full(ok.sum(), 0.5)
    pos = u * (len(_DATE_RAMP) - 1)
    i0 = np.clip(np.floor(pos).astype(int), 0, len(_DATE_RAMP) - 2)
    frac = (pos - i0)[:, None]
    out[ok] = (_DATE_RAMP[i0] * (1 - frac) + _DATE_RAMP[i0 + 1] * frac).round().astype(np.uint8)
    return out, lo, hi


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one small bitmap font
        return ImageFont.load_default()


def _thumb(store: Store, chash: bytes | None, tile: int):
    from PIL import Image, ImageOps

    if chash is None:
        return None
    jpeg = store.thumbnail(chash)
    if jpeg is None:
        return None
    try:
        img = Image.open(io.BytesIO(jpeg))
        img.draft("RGB", (tile, tile))
        return ImageOps.fit(img.convert("RGB"), (tile, tile), Image.Resampling.LANCZOS)
    except (OSError, ValueError):
        return None


def render_map(
    store: Store,
    layout: MapLayout,
    out: str | os.PathLike | None = None,
    *,
    mode: str = "tsne",
    size: int = 2400,
    tile: int | None = None,
    style: str = "auto",
    colour_by: str | None = None,
    title: str | None = None,
    photos: MapPhotos | None = None,
    colours: np.ndarray | None = None,
    colour_cache: dict | None = None,
    background: tuple[int, int, int] = BACKGROUND,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
):
    """Draw the whole map; save a PNG to ``out`` if given. Returns (PIL image, RenderResult).

    ``size`` is the longer side of the map area in pixels; a title line and a legend (for
    ``colour_by``) are added around it. ``style`` is "thumbnails", "dots" or "auto" (thumbnails
    when tiles are at least ``MIN_THUMB`` pixels).
    """
    from PIL import Image, ImageDraw

    start = time.monotonic()
    if style not in ("auto", "thumbnails", "dots"):
        raise ValueError(f"unknown style {style!r}")
    if colour_by not in (None, *COLOUR_BY):
        raise ValueError(f"unknown colour_by {colour_by!r}; choose one of {', '.join(COLOUR_BY)}")
    report = Reporter(progress, cancel, {"colours": (0.0, 0.3), "rendering": (0.3, 1.0)})
    n = len(layout)
    pos = layout.positions(mode)
    ew, eh = layout.extent(mode)
    pad = max(16, size // 60)
    map_w, map_h = max(1, int(round(ew * size))), max(1, int(round(eh * size)))
    if tile is None:
        if mode == "grid":
            tile = int(np.floor(layout.cell_size(mode) * size))
        else:
            tile = auto_tile(pos * size)
    tile = max(1, int(tile))
    if style == "auto":
        style = "thumbnails" if tile >= MIN_THUMB else "dots"

    if photos is None and (colour_by or style == "thumbnails" or colours is None):
        photos = photo_details(store, layout.photo_ids)
    tags, legend = None, []
    if colour_by == "folder":
        folders = photos.folders
        order = sorted(set(folders), key=lambda f: (-folders.count(f), f))
        palette = dict(zip(order, folder_palette(len(order))))
        tags = np.array([palette[f] for f in folders], dtype=np.uint8).reshape(-1, 3)
        common = os.path.commonpath([f for f in order if f]) if len(order) > 1 and all(order) else ""
        for f in order[:12]:
            name = os.path.relpath(f, common) if common and f != common else os.path.basename(f) or f
            legend.append((palette[f], f"{name} ({folders.count(f)})"))
        if len(order) > 12:
            legend.append(((128, 128, 128), f"… {len(order) - 12} more folders"))
    elif colour_by == "date":
        tags, lo, hi = date_colours(photos.times)
        if np.isfinite(lo):
            legend.append((tuple(int(c) for c in _DATE_RAMP[0]), f"oldest {time.strftime('%Y-%m-%d', time.localtime(lo))}"))
            legend.append((tuple(int(c) for c in _DATE_RAMP[-1]), f"newest {time.strftime('%Y-%m-%d', time.localtime(hi))}"))
    if style == "dots" and colours is None:
        colours = tags if tags is not None else average_colours(
            store, photos.content_hashes, cache=colour_cache,
            progress=lambda p: report("colours", p.done, p.total), cancel=cancel)

    font = _font(max(12, size // 90))
    title_h = (font.size if hasattr(font, "size") else 12) + pad if title else 0
    legend_h = ((font.size if hasattr(font, "size") else 12) + 8) * ((len(legend) + 3) // 4) + pad if legend else 0
    width, height = map_w + 2 * pad, map_h + 2 * pad + title_h + legend_h
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    ox, oy = pad, pad + title_h
    if title:
        draw.text((pad, pad // 2), title, fill=TEXT, font=font)

    centres = pos * size  # pixel centres inside the map area
    if mode == "tsne" and style == "thumbnails":
        drawn_rows = _uncrowded(centres, tile)
    else:  # grid cells never overlap; dots may
        drawn_rows = np.arange(n)
    border = max(1, tile // 14) if tags is not None else 0
    drawn = 0
    for count, i in enumerate(drawn_rows):
        if count % 200 == 0:
            report("rendering", count, len(drawn_rows))
        cx, cy = centres[i]
        x0, y0 = int(round(ox + cx - tile / 2)), int(round(oy + cy - tile / 2))
        if style == "dots":
            colour = tuple(int(c) for c in colours[i])
            if tile <= 3:
                draw.rectangle([x0, y0, x0 + tile - 1, y0 + tile - 1], fill=colour)
            else:
                draw.ellipse([x0, y0, x0 + tile - 1, y0 + tile - 1], fill=colour)
            drawn += 1
            continue
        inner = tile - 2 * border - (1 if mode == "grid" and tile > 16 else 0)
        thumb = _thumb(store, photos.content_hashes[i], max(1, inner))
        if tags is not None:
            draw.rectangle([x0, y0, x0 + inner + 2 * border - 1, y0 + inner + 2 * border - 1],
                           fill=tuple(int(c) for c in tags[i]))
        if thumb is not None:
            image.paste(thumb, (x0 + border, y0 + border))
            drawn += 1
        else:
            draw.rectangle([x0 + border, y0 + border, x0 + border + inner - 1, y0 + border + inner - 1],
                           fill=(70, 70, 76))
    if legend:
        ly = oy + map_h + pad // 2
        lx, step = pad, max(1, (width - 2 * pad) // 4)
        sw = font.size if hasattr(font, "size") else 12
        for k, (colour, text) in enumerate(legend):
            x = lx + (k % 4) * step
            y = ly + (k // 4) * (sw + 8)
            draw.rectangle([x, y, x + sw, y + sw], fill=colour)
            draw.text((x + sw + 6, y), text, fill=TEXT, font=font)
    report("rendering", len(drawn_rows), len(drawn_rows))
    path = None
    if out is not None:
        path = os.fspath(out)
        image.save(path, format="PNG", optimize=False)
    return image, RenderResult(path, width, height, mode, style, tile, drawn, n,
                               time.monotonic() - start)


def _uncrowded(centres: np.ndarray, tile: int) -> np.ndarray:
    """Rows to draw so that at most one photo's centre falls in each tile-sized lattice cell:
    the one nearest the cell's centre. Returned in drawing order."""
    if len(centres) == 0:
        return np.zeros(0, dtype=np.int64)
    t = max(1, tile)
    cell = np.floor(centres / t).astype(np.int64)
    off = centres / t - (cell + 0.5)
    dist = (off * off).sum(axis=1)
    key = cell[:, 0] * 1_000_003 + cell[:, 1]
    order = np.lexsort((dist, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    return np.sort(order[first])


def auto_tile(centres: np.ndarray, shown: float = 0.5, largest: int = 160) -> int:
    """The largest tile (pixels) at which at least ``shown`` of the photos get a spot of their
    own on the free map: t-SNE packs photos into dense clusters, so the average spacing would
    hide most of them."""
    n = len(centres)
    if n <= 1:
        return largest
    lo, hi = 2, largest
    while lo < hi:  # the share drawn shrinks as tiles grow
        mid = (lo + hi + 1) // 2
        if len(_uncrowded(centres, mid)) >= shown * n:
            lo = mid
        else:
            hi = mid - 1
    return lo
