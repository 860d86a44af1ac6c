"""Make the cluster-map pictures shown in the README from real photos and the real offline model.

    python tools/map_screenshot.py                      # ../shared/data/animals -> docs/map/
    python tools/map_screenshot.py --data ../shared/data/imagenette-val --name imagenette

Indexes the photo folder with EfficientNet-Lite0 into a library (a temporary one unless
--library is given; pass one to reuse the index between runs), lays out the map, and writes the
free t-SNE map and the tidy grid, both framed by folder colour. It prints how well the folders
separate: the share of each photo's 10 nearest neighbours on the map that come from its folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "animals"))
    parser.add_argument("--name", default="animals")
    parser.add_argument("--out-dir", default=str(REPO / "docs" / "map"))
    parser.add_argument("--library", default=None, help="library folder to (re)use")
    parser.add_argument("--size", type=int, default=1400)
    parser.add_argument("--compare-sample", type=int, default=0, metavar="N",
                        help="also time and score a layout that runs t-SNE on N photos only and "
                             "places the rest (what happens above LayoutParams.sample_size)")
    parser.add_argument("--no-pictures", action="store_true", help="only print the figures")
    parser.add_argument("--canvas", action="store_true",
                        help="also capture the desktop map canvas (offscreen), zoomed in, hovering")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="simdesk-map-")
    os.environ.setdefault("SIMDESK_MODELS_DIR", os.path.join(tmp.name, "models"))
    import numpy as np
    from scipy.spatial import cKDTree

    from simdesk.core.models import catalog as models
    from simdesk.core.library import Library

    if not Path(args.data).is_dir():
        print(f"{args.data} is not a folder", file=sys.stderr)
        return 1
    try:
        models.load_model(models.OFFLINE_MODEL)
    except models.ModelError:
        models.install_efficientnet_lite0()
    library = Library(args.library or os.path.join(tmp.name, "library"))
    library.set_model(models.OFFLINE_MODEL, "avg")
    library.add_folder(args.data)
    t0 = time.monotonic()
    report = library.index()
    print(f"indexed {report.found} photos ({report.embedded} embedded) in {time.monotonic() - t0:.1f} s")

    t0 = time.monotonic()
    layout = library.map_layout()
    print(f"layout of {len(layout)} photos: {layout.source}, {time.monotonic() - t0:.1f} s")
    photos = library.map_photos(layout.photo_ids)
    labels = np.array([os.path.basename(f) for f in photos.folders])

    def agreement(pos) -> float:
        _, nn = cKDTree(pos).query(pos, k=11)
        return float((labels[nn[:, 1:]] == labels[:, None]).mean())

    for mode in ("tsne", "grid"):
        print(f"{mode}: {agreement(layout.positions(mode)):.1%} of each photo's 10 nearest map "
              "neighbours share its folder")
    if args.compare_sample:
        from simdesk.core.map.layout import LayoutParams, compute_layout
        from simdesk.core.pooling import l2_normalize

        ids, vectors = library.store.load_embeddings(library.map_space())
        assert np.array_equal(ids, layout.photo_ids)
        x = l2_normalize(vectors)
        nn = np.argsort(-(x @ x.T), axis=1)[:, 1:11]
        print(f"embedding space: {float((labels[nn] == labels[:, None]).mean()):.1%} (cosine 10-NN)")
        t0 = time.monotonic()
        coords = compute_layout(vectors, LayoutParams(sample_size=args.compare_sample))
        print(f"t-SNE of a {args.compare_sample}-photo sample + placing the other "
              f"{len(ids) - args.compare_sample}: {agreement(coords):.1%} in "
              f"{time.monotonic() - t0:.1f} s")
    if args.no_pictures:
        return 0

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"{Path(args.data).name}: {len(layout)} photos, EfficientNet-Lite0 + PCA 50 + t-SNE"
    for mode, suffix in (("tsne", "map"), ("grid", "grid")):
        t0 = time.monotonic()
        out = out_dir / f"{args.name}-{suffix}.png"
        result = library.export_map(out, layout, mode=mode, size=args.size, colour_by="folder",
                                    title=f"{title}{' (grid)' if mode == 'grid' else ''}")
        print(f"wrote {out} ({result.width}x{result.height}, {result.drawn}/{result.total} drawn, "
              f"{time.monotonic() - t0:.1f} s)")
    if args.canvas:
        capture_canvas(library, layout, out_dir / f"{args.name}-canvas.png")
    library.close()
    tmp.cleanup()
    return 0


def loading(view) -> bool:
    """Whether the canvas's thumbnail loader still has requests queued, a batch running, or
    decoded images not yet turned into pixmaps."""
    thumbs = view._thumbs
    return thumbs is not None and bool(thumbs._queued or thumbs._loading or thumbs._inbox)


def capture_canvas(library, layout, out: Path) -> None:
    """The map canvas at 1400x900, zoomed in between two clusters, the pointer on a photo."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import numpy as np
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from simdesk.ui.map_view import MapView

    app = QApplication.instance() or QApplication([])
    view = MapView(library)
    view.resize(1400, 900)
    view.set_layout(layout, colours=library.map_colours(layout.photo_ids))
    view.set_colour_by("folder")
    view.show()
    app.processEvents()
    # Zoom in on the point half-way between the two nearest cluster centres (by folder).
    photos = library.map_photos(layout.photo_ids)
    pos = view.screen_positions()
    folders = sorted(set(photos.folders))
    centres = [pos[[f == g for g in photos.folders]].mean(axis=0) for f in folders]
    pairs = [(np.linalg.norm(a - b), i, j) for i, a in enumerate(centres)
             for j, b in enumerate(centres) if i < j]
    _, i, j = min(pairs)
    middle = (centres[i] + centres[j]) / 2
    view.pan_by(*(np.array([700, 450]) - middle))
    view.zoom_by(3.2)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # let the loader thread bring the thumbnails
        view.repaint()
        app.processEvents()
        time.sleep(0.05)
        if not loading(view):
            view.repaint()
            app.processEvents()
            if not loading(view):
                break
    screen = view.screen_positions()
    inside = np.flatnonzero((np.abs(screen - [700, 450]) < [250, 200]).all(axis=1))
    hover = screen[inside[0]] if len(inside) else np.array([700, 450])
    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(*hover), QPointF(*hover),
                       Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    view.mouseMoveEvent(move)
    for _ in range(40):  # the hover preview's 256-pixel thumbnail
        view.repaint()
        app.processEvents()
        time.sleep(0.05)
    view.export_view(out)
    print(f"wrote {out} (canvas, {view.last_frame})")
    view.shutdown()
    view.close()


if __name__ == "__main__":
    raise SystemExit(main())
