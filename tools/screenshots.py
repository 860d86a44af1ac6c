"""Make the desktop-app screenshots shown in the README.

    python tools/screenshots.py            # -> docs/screenshots/*.png

Builds a library in a temporary folder from real photos (../shared/data/animals when present,
drawn pictures otherwise), indexes it with the offline EfficientNet-Lite0 model (converted locally,
no download), then renders, offscreen, with the real app:

- main-window.png: the grid of all photos after indexing, the folders on the left;
- similar-view.png: the photos most similar to a dog photo, ranked, with their similarity;
- first-run.png: the welcome screen of a new library (folders, model choice);
- first-run-download.png: the same while ResNet-50 downloads (progress and Cancel);
- duplicates.png: Tools > Find Duplicates on a library with copies (`--only duplicates`: just it and
  the two below);
- duplicates-compare.png: the compare view of an edited copy beside its original (double-click);
- duplicates-difference.png: the same pair, where they differ after alignment (D).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ANIMALS = REPO.parent / "shared" / "data" / "animals"
SIZE = (1280, 800)


def make_photos(target: Path, per_class: int) -> tuple[str, dict[str, str]]:
    """Two library folders of camera-roll-like files (IMG_0001.jpg...), the animals interleaved
    and dated one hour apart; drawn pictures if the real photos are absent."""
    import random

    pets, zoo = target / "Pets", target / "Zoo"
    pets.mkdir(parents=True, exist_ok=True)
    zoo.mkdir(parents=True, exist_ok=True)
    if ANIMALS.is_dir():
        sources = [(ANIMALS / kind / name, zoo if kind == "panda" else pets, kind)
                   for kind in ("cats", "dogs", "panda")
                   for name in sorted(os.listdir(ANIMALS / kind))[:per_class]]
        about = f"{len(sources)} photos from {ANIMALS}"
    else:
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import draw_photo  # the tests' drawing helper

        drawn = target / "drawn"
        sources = [(draw_photo(drawn / f"{i}.jpg", seed=i, size=(480, 360), quality=90),
                    pets if i % 3 else zoo, "drawing") for i in range(3 * per_class)]
        about = f"{len(sources)} drawn pictures (../shared/data/animals is absent)"
    random.Random(7).shuffle(sources)
    start = time.time() - len(sources) * 3600
    kinds = {}
    for number, (source, folder, kind) in enumerate(sources, 1):
        dest = folder / f"IMG_{number:04d}.jpg"
        shutil.copyfile(source, dest)
        stamp = start + number * 3600
        os.utime(dest, (stamp, stamp))
        kinds[str(dest)] = kind
    shutil.rmtree(target / "drawn", ignore_errors=True)
    return about, kinds


def pump(app, seconds: float, until=None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if until is not None and until():
            return
        time.sleep(0.005)
    if until is not None and not until():
        raise SystemExit("timed out waiting for the app")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--per-class", type=int, default=40, help="photos per animal class")
    parser.add_argument("--only", choices=("duplicates",), help="make only this screenshot")
    args = parser.parse_args()

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="simdesk-shots-"))
    os.environ["SIMDESK_MODELS_DIR"] = str(tmp / "models")
    try:
        return shoot(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def shoot(args, tmp: Path) -> int:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from simdesk.core.models import catalog as models
    from simdesk.core.library import Library
    from simdesk.core.progress import Cancelled, Progress
    from simdesk.ui.app import build

    app = QApplication([sys.argv[0]])
    app.setApplicationName("simdesk")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    source, kinds = make_photos(tmp / "Pictures", args.per_class)
    print(f"photos: {source}")
    models.install_efficientnet_lite0()

    def settings(name: str) -> QSettings:
        return QSettings(str(tmp / f"{name}.ini"), QSettings.Format.IniFormat)

    def save(widget, name: str) -> None:
        path = args.out_dir / name
        widget.grab().save(str(path))
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")

    if args.only == "duplicates":
        return shoot_duplicates(app, tmp, settings, save)

    # Main window and similar view, on an indexed library.
    library = Library(tmp / "library")
    library.set_model(models.OFFLINE_MODEL)
    for folder in ("Pets", "Zoo"):
        library.add_folder(tmp / "Pictures" / folder)
    controller, window = build(library, settings("main"), start=False)
    window.resize(*SIZE)
    window.show()
    window.start()
    pump(app, 300, lambda: not controller.indexing and controller.last_report is not None)
    browse = window.browse
    pump(app, 30, lambda: browse.model.rowCount() == controller.last_report.found)
    grid = browse.grid
    grid.setCurrentIndex(browse.model.index(0, 0))
    grid.scrollToTop()

    def thumbnails_loaded(view_grid):
        model = view_grid.model()
        rect = view_grid.viewport().rect()
        rows = [r for r in range(min(model.rowCount(), 200))
                if view_grid.visualRect(model.index(r, 0)).intersects(rect)]
        return rows and all(model.listing.hashes[r] in controller.thumbnails.cache for r in rows)

    pump(app, 30, lambda: thumbnails_loaded(grid))
    pump(app, 0.3)
    save(window, "main-window.png")

    query = min((path for path, kind in kinds.items() if kind == "dogs"), default=min(kinds))
    window.similar.k_spin.setValue(24)
    window.show_similar(str(query))
    similar = window.similar
    pump(app, 60, lambda: similar.outcome is not None or similar.error is not None)
    pump(app, 30, lambda: thumbnails_loaded(similar.grid) and not similar.query_image.pixmap().isNull())
    pump(app, 0.3)
    save(window, "similar-view.png")
    controller.shutdown()
    window.close()
    library.close()

    # First run: a new library. The ResNet-50 download is simulated (no network needed): the
    # real welcome page runs the real install job, whose download reports 40 % and waits.
    def fake_download(progress=None, cancel=None, **kwargs):
        total = models.RESNET50_APPROX_BYTES
        progress(Progress("downloading", int(total * 0.4), total, unit="bytes"))
        cancel.wait(60)
        raise Cancelled()

    models.install_resnet50 = fake_download
    fresh = Library(tmp / "new-library")
    controller, window = build(fresh, settings("first"), start=True)
    window.resize(*SIZE)
    window.show()
    welcome = window.welcome
    welcome.add_folders([str(tmp / "Pictures")])
    pump(app, 5, lambda: models.OFFLINE_MODEL in welcome.installed)
    pump(app, 0.3)
    save(window, "first-run.png")
    welcome.start()
    pump(app, 10, lambda: welcome.progress.value() > 0)
    pump(app, 0.3)
    save(window, "first-run-download.png")
    welcome.cancel_install()
    pump(app, 10, lambda: welcome.install_job is None)
    controller.shutdown()
    window.close()
    fresh.close()
    return shoot_duplicates(app, tmp, settings, save)


def make_copies(target: Path) -> None:
    """A camera folder with edited copies of some photos, and a backup (a reference folder) holding
    byte-identical copies of others; drawn pictures if the real photos are absent."""
    from PIL import Image, ImageEnhance

    camera, backup = target / "Camera", target / "Backup"
    camera.mkdir(parents=True, exist_ok=True)
    backup.mkdir(parents=True, exist_ok=True)
    if ANIMALS.is_dir():
        sources = [ANIMALS / kind / name for kind in ("cats", "dogs", "panda")
                   for name in sorted(os.listdir(ANIMALS / kind))[100:110]]
    else:
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import draw_photo  # the tests' drawing helper

        sources = [draw_photo(target / "drawn" / f"{i}.jpg", seed=200 + i, size=(480, 360), quality=90)
                   for i in range(30)]
    names = []
    for number, source in enumerate(sources, 1):
        name = camera / f"IMG_{2000 + number}.jpg"
        shutil.copyfile(source, name)
        names.append(name)
    shutil.rmtree(target / "drawn", ignore_errors=True)
    with Image.open(names[0]) as img:  # a smaller, recompressed copy sent by a messenger
        img.convert("RGB").resize((img.width // 2, img.height // 2)).save(
            camera / "IMG_2001-small.jpg", quality=60)
    with Image.open(names[11]) as img:  # an edited copy: cropped and brightened
        w, h = img.size
        ImageEnhance.Brightness(img.convert("RGB").crop((w // 12, h // 12, w - w // 12, h - h // 12))
                                ).enhance(1.2).save(camera / "IMG_2012-edit.jpg", quality=85)
    shutil.copyfile(names[21], backup / names[21].name)  # a byte-identical copy in the backup


def shoot_duplicates(app, tmp: Path, settings, save) -> int:
    """duplicates.png: the review screen after Tools > Find Duplicates."""
    from simdesk.core.models import catalog as models
    from simdesk.core.library import Library
    from simdesk.ui.app import build

    make_copies(tmp / "Copies")
    library = Library(tmp / "dup-library")
    library.set_model(models.OFFLINE_MODEL)
    for folder in ("Camera", "Backup"):
        library.add_folder(tmp / "Copies" / folder)
    library.add_reference_folder(tmp / "Copies" / "Backup")
    controller, window = build(library, settings("duplicates"), start=False)
    window.resize(*SIZE)
    window.show()
    window.start()
    pump(app, 300, lambda: not controller.indexing and controller.last_report is not None)
    page = window.duplicates
    window.show_duplicates()
    pump(app, 300, lambda: page.scan is not None and not page.scanning and page.cards)

    def thumbnails_loaded():
        cache = controller.thumbnails.cache
        return all(c.member.content_hash in cache for card in page.cards for c in card.cards)

    pump(app, 30, thumbnails_loaded)
    pump(app, 0.3)
    save(window, "duplicates.png")

    # The compare view: the cropped and brightened copy beside its original.
    edited = next(c for card in page.cards for c in card.cards if c.member.path.endswith("IMG_2012-edit.jpg"))
    page._compare_clicked(next(card.group for card in page.cards if edited in card.cards), edited.member.path)
    dialog = page.compare_dialog
    dialog.resize(*SIZE)
    pump(app, 60, lambda: dialog.diff is not None)
    dialog.fit()
    pump(app, 0.3)
    save(dialog, "duplicates-compare.png")
    dialog.set_mode("difference")
    dialog.fit()
    pump(app, 0.3)
    save(dialog, "duplicates-difference.png")
    dialog.close()
    controller.shutdown()
    window.close()
    library.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
