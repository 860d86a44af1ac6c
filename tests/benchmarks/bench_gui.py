"""Desktop app figures: start-up to the first painted grid, memory, scroll frame times, and the
worst GUI-thread stall while indexing.

    python tests/benchmarks/bench_gui.py [--photos 100000] [--stall-photos 300] [--keep DIR]

* start-up: a fresh process opens a synthetic library of N photos (rows and small JPEG
  thumbnails inserted straight through ``Store``; the files do not exist, so the start-up rescan
  is switched off) and shows the main window. Measured from the process start (before Qt is
  imported) to the first paint of the grid with rows in it, and on until every visible cell has
  its thumbnail; resident memory (VmRSS, and the peak VmHWM) then.
* scrolling: in the same process, the grid is scrolled by a small step (smooth scrolling) and by
  a whole page (a fling) per frame; each frame is painted synchronously and timed, thumbnails
  streaming in from the worker as they would. Frame times: median, 95th percentile, worst.
* stall: a GUI-thread timer ticks every 10 ms while the app indexes ``--stall-photos`` real
  photos from ../shared/data/animals (drawn ones when absent) with the offline model; the worst
  gap between ticks is the longest the GUI thread was kept from its event loop.

Runs offscreen (QT_QPA_PLATFORM=offscreen) unless a display is set.
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()  # before anything heavy is imported

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ANIMALS = REPO.parent / "shared" / "data" / "animals"


def vm_status() -> dict[str, float]:
    """VmRSS and VmHWM in MB (Linux); empty elsewhere."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        import resource

        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# -- building the synthetic library -------------------------------------------------------------


def build_synthetic(directory: Path, photos: int) -> Path:
    """A library of ``photos`` rows with thumbnails, in ``directory`` (reused if complete)."""
    import numpy as np
    from PIL import Image, ImageDraw

    from simdesk.core.store import Store

    lib = directory / "library"
    marker = lib / f"synthetic-{photos}.done"
    if marker.exists():
        return lib
    shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True)
    root = directory / "photos"
    root.mkdir(exist_ok=True)
    (lib / "settings.json").write_text(json.dumps(
        {"folders": [str(root)], "model": "efficientnet-lite0", "pooling": "avg"}))
    rng = np.random.default_rng(0)
    variants = []
    for i in range(64):  # distinct small thumbnails, shared between rows (content keys differ)
        img = Image.new("RGB", (160, 120), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(5):
            x0, y0 = int(rng.integers(0, 140)), int(rng.integers(0, 100))
            draw.ellipse([x0, y0, x0 + int(rng.integers(10, 60)), y0 + int(rng.integers(10, 60))],
                         fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        from io import BytesIO

        buf = BytesIO()
        img.save(buf, "JPEG", quality=80)
        variants.append(buf.getvalue())
    store = Store(lib / "library.db")
    folder_id = store.add_folder(str(root))
    start = time.time() - photos * 3600
    with store.transaction():
        for i in range(photos):
            chash = i.to_bytes(16, "little")
            store.upsert_photo(
                str(root / f"{i // 1000:03d}" / f"IMG_{i:06d}.jpg"), folder_id=folder_id,
                size=100_000 + i, mtime_ns=int((start + i * 3600) * 1e9), content_hash=chash,
                width=4000, height=3000, capture_time=start + i * 3600)
            store.put_thumbnail(chash, variants[i % len(variants)])
    store.close()
    marker.touch()
    return lib


# -- start-up and scrolling (a fresh process) ---------------------------------------------------


def run_startup(lib: Path, settings_path: Path) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QEvent, QObject, QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication([sys.argv[0]])
    from simdesk.core.library import Library
    from simdesk.ui.app import build, configure_interpreter

    configure_interpreter()  # as simdesk.ui.app.main does

    settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
    settings.setValue("library/rescan_on_start", False)  # the synthetic files do not exist
    library = Library(lib)
    controller, window = build(library, settings)
    grid = window.browse.grid
    marks: dict[str, float] = {}

    class PaintWatch(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint and "first_grid" not in marks:
                if grid.model().rowCount() > 0:
                    marks["first_grid"] = time.perf_counter() - PROCESS_START
            return False

    watch = PaintWatch()
    grid.viewport().installEventFilter(watch)
    window.resize(1280, 800)
    window.show()
    deadline = time.perf_counter() + 120
    while "first_grid" not in marks and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    rows = grid.model().rowCount()

    def visible_rows():
        first = grid.indexAt(grid.viewport().rect().topLeft() + grid.rect().topLeft())
        out = []
        rect = grid.viewport().rect()
        for row in range(max(0, first.row()), min(rows, max(0, first.row()) + 400)):
            if grid.visualRect(grid.model().index(row, 0)).intersects(rect):
                out.append(row)
            elif out:
                break
        return out

    def all_visible_loaded():
        model = grid.model()
        return all(model.listing.hashes[r] in controller.thumbnails.cache for r in visible_rows())

    while not all_visible_loaded() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)
    grid.viewport().repaint()
    marks["thumbnails"] = time.perf_counter() - PROCESS_START
    memory = vm_status()

    # Scrolling: synchronous repaint per frame, thumbnails arriving in between like in real life.
    bar = grid.verticalScrollBar()
    timer = QElapsedTimer()

    def scroll(step: int, frames: int) -> list[float]:
        times = []
        for _ in range(frames):
            app.processEvents()  # deliver thumbnails that arrived (part of the frame's work)
            timer.start()
            bar.setValue(min(bar.maximum(), bar.value() + step))
            app.processEvents()
            grid.viewport().repaint()
            times.append(timer.nsecsElapsed() / 1e6)
            time.sleep(1 / 120)  # the worker gets the time a display refresh would give it
        return times

    cell = grid.gridSize().height()
    smooth = scroll(max(1, cell // 8), 240)
    fling = scroll(grid.viewport().height(), 120)
    bar.setValue(bar.maximum())
    app.processEvents()
    last_page = scroll(-grid.viewport().height(), 30)
    scroll_memory = vm_status()
    controller.shutdown()
    window.close()
    return {
        "rows": rows, "first_grid_s": marks.get("first_grid"), "thumbnails_s": marks["thumbnails"],
        "memory_mb": memory, "memory_after_scroll_mb": scroll_memory,
        "smooth": smooth, "fling": fling, "back": last_page,
        "grid_cell": [grid.gridSize().width(), grid.gridSize().height()],
        "viewport": [grid.viewport().width(), grid.viewport().height()],
    }


# -- the stall while indexing ------------------------------------------------------------------


def run_stall(workdir: Path, count: int, settings_path: Path, index_workers: int | None) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["SIMDESK_MODELS_DIR"] = str(workdir / "models")
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from simdesk.core.models import catalog as models
    from simdesk.core.library import Library
    from simdesk.ui.app import build, configure_interpreter

    app = QApplication([sys.argv[0]])
    configure_interpreter()  # as simdesk.ui.app.main does
    models.install_efficientnet_lite0()
    photos = workdir / "stall-photos"
    shutil.rmtree(photos, ignore_errors=True)
    photos.mkdir(parents=True)
    if ANIMALS.is_dir():
        files = sorted(p for p in ANIMALS.rglob("*.jpg"))
        step = max(1, len(files) // count)
        for i, src in enumerate(files[::step][:count]):
            shutil.copy(src, photos / f"{i:04d}_{src.name}")
        source = f"{ANIMALS} ({count} photos, about 500x375)"
    else:
        from PIL import Image
        import numpy as np

        rng = np.random.default_rng(0)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(photos / f"{i}.jpg")
        source = f"{count} drawn noise photos 500x375"
    lib = workdir / "stall-library"
    shutil.rmtree(lib, ignore_errors=True)
    library = Library(lib)
    library.set_model(models.OFFLINE_MODEL)
    library.add_folder(photos)
    settings = QSettings(str(settings_path), QSettings.Format.IniFormat)
    controller, window = build(library, settings, start=False, index_workers=index_workers)
    window.resize(1280, 800)
    window.show()
    gaps: list[float] = []
    ends: list[float] = []  # when each gap ended, seconds after the start
    events: list[tuple[float, str]] = []
    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setInterval(10)

    def tick() -> None:
        gaps.append(clock.nsecsElapsed() / 1e6)
        ends.append(time.perf_counter() - started)
        clock.restart()

    def mark(what: str) -> None:
        events.append((time.perf_counter() - started, what))

    ticker.timeout.connect(tick)
    controller.index_started.connect(lambda: mark("indexing started"))
    controller.index_progress.connect(
        lambda p: mark(f"{p.phase} {p.done}/{p.total}") if p.done in (0, 1) or p.phase == "done" else None)
    window.browse.listing_loaded.connect(lambda: mark(f"grid reloaded ({window.browse.model.rowCount()})"))
    clock.start()
    ticker.start()
    started = time.perf_counter()
    window.start()
    while (controller.indexing or controller.last_report is None) and time.perf_counter() - started < 600:
        app.processEvents()
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    # Keep ticking while the grid loads the new listing and its thumbnails.
    settle = time.perf_counter()
    while time.perf_counter() - settle < 1.5:
        app.processEvents()
        time.sleep(0.002)
    ticker.stop()
    report = controller.last_report
    controller.shutdown()
    window.close()
    gaps, ends = gaps[1:], ends[1:]
    worst = sorted(range(len(gaps)), key=lambda i: -gaps[i])[:3]
    context = []
    for i in worst:
        near = [f"{t:.2f}s {what}" for t, what in events if ends[i] - gaps[i] / 1000 - 0.3 <= t <= ends[i]]
        context.append(f"{gaps[i]:.0f} ms ending at {ends[i]:.2f}s (near: {'; '.join(near[-3:]) or '-'})")
    return {
        "worst_context": context,
        "source": source, "embedded": report.embedded, "seconds": elapsed,
        "rate": report.rate, "ticks": len(gaps), "worst_gap_ms": max(gaps),
        "p99_gap_ms": sorted(gaps)[int(len(gaps) * 0.99)], "median_gap_ms": statistics.median(gaps),
        "over_50ms": sum(g > 50 for g in gaps), "over_100ms": sum(g > 100 for g in gaps),
    }


# -- driver ------------------------------------------------------------------------------------


def summarize(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(len(ordered) * 0.95)]
    return (f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, worst {ordered[-1]:.1f} ms"
            f" ({len(ordered)} frames)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=100_000)
    parser.add_argument("--stall-photos", type=int, default=300)
    parser.add_argument("--index-workers", type=int, default=None,
                        help="decoding threads while indexing (default: the app's own choice)")
    parser.add_argument("--skip-startup", action="store_true", help="only the stall measurement")
    parser.add_argument("--keep", type=Path, help="work folder to keep (reuses the synthetic library)")
    parser.add_argument("--child", choices=("startup", "stall"), help=argparse.SUPPRESS)
    parser.add_argument("--lib", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "startup":
        args.out.write_text(json.dumps(run_startup(args.lib, args.out.with_suffix(".ini"))))
        return
    if args.child == "stall":
        args.out.write_text(json.dumps(run_stall(args.lib, args.stall_photos, args.out.with_suffix(".ini"),
                                                 args.index_workers)))
        return

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="simdesk-bench-gui-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_startup:
            t = time.perf_counter()
            lib = build_synthetic(workdir, args.photos)
            db_mb = (lib / "library.db").stat().st_size / 1e6
            print(f"synthetic library: {args.photos:,} photos, {db_mb:.0f} MB database "
                  f"(built in {time.perf_counter() - t:.1f} s)")

            out = workdir / "startup.json"
            out.unlink(missing_ok=True)
            (workdir / "startup.ini").unlink(missing_ok=True)
            subprocess.run([sys.executable, __file__, "--child", "startup", "--lib", str(lib),
                            "--out", str(out)], check=True)
            r = json.loads(out.read_text())
            print(f"start-up to first painted grid: {r['first_grid_s']:.2f} s ({r['rows']:,} rows); "
                  f"every visible thumbnail painted: {r['thumbnails_s']:.2f} s "
                  f"(cell {r['grid_cell'][0]}x{r['grid_cell'][1]}, viewport {r['viewport'][0]}x{r['viewport'][1]})")
            m, m2 = r["memory_mb"], r["memory_after_scroll_mb"]
            print(f"memory: RSS {m.get('VmRSS', 0):.0f} MB at first full paint (peak {m.get('VmHWM', 0):.0f} MB); "
                  f"RSS {m2.get('VmRSS', 0):.0f} MB after scrolling (peak {m2.get('VmHWM', 0):.0f} MB)")
            print(f"scroll, 1/8 row per frame: {summarize(r['smooth'])}")
            print(f"scroll, a page per frame:  {summarize(r['fling'])}")
            print(f"scroll, back up from the end: {summarize(r['back'])}")

        out = workdir / "stall.json"
        out.unlink(missing_ok=True)
        (workdir / "stall.ini").unlink(missing_ok=True)
        command = [sys.executable, __file__, "--child", "stall", "--lib", str(workdir),
                   "--out", str(out), "--stall-photos", str(args.stall_photos)]
        if args.index_workers:
            command += ["--index-workers", str(args.index_workers)]
        subprocess.run(command, check=True)
        s = json.loads(out.read_text())
        print(f"indexing {s['embedded']} photos from {s['source']} with efficientnet-lite0: "
              f"{s['seconds']:.1f} s ({s['rate']:.1f} photos/s)")
        print(f"GUI-thread timer (10 ms) while indexing: worst gap {s['worst_gap_ms']:.1f} ms, "
              f"p99 {s['p99_gap_ms']:.1f} ms, median {s['median_gap_ms']:.1f} ms; "
              f"{s['over_50ms']} gaps > 50 ms, {s['over_100ms']} > 100 ms of {s['ticks']}")
        for line in s["worst_context"]:
            print(f"  gap {line}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
