"""Indexing throughput, end to end, against baselines measured in the same run.

    python tests/benchmarks/bench_indexing.py [--model efficientnet-lite0|resnet50-random|NAME]
                                               [--photos DIR ...]

Prints photos per second for:
  * raw: the model alone in ONNX Runtime on pre-decoded tensors (the ceiling);
  * simdesk: `Library.index` end to end (scan, read, hash, decode, embed, write) on each DIR
    (default ../shared/data/imagenette-val, 224-px photos, and ../shared/data/animals, about
    500x375), and on freshly made 12-megapixel JPEGs;
  * seed-style loop on the 12 MP JPEGs: full decode, resize, one photo per inference call.
Ratios are what to read: the machine is shared and absolute figures drift. Each figure is the
best of --rounds runs, the rounds interleaved so that a busy spell hits both sides alike.

``--model resnet50-random``: the default model's architecture (ResNet-50) with random weights,
built here into a temporary models folder. Its weights cannot be downloaded on an offline machine,
and throughput does not depend on the weights' values, only on the graph.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from simdesk.core.models import catalog as models
from simdesk.core.embedder import Embedder
from simdesk.core.library import Library

REPO = Path(__file__).resolve().parents[2]
RANDOM_RESNET50 = "resnet50-random"


def install_random_resnet50(workdir: Path) -> str:
    """A ResNet-50 with random weights, imported as a model into a models folder of its own."""
    sys.path.insert(0, str(REPO / "tests"))
    from test_convert_resnet50 import random_resnet50_state_dict  # weights with sane activations

    from simdesk.core.models.convert_resnet50 import convert_resnet50

    os.environ["SIMDESK_MODELS_DIR"] = str(workdir / "models")  # the user's models stay untouched
    onnx_path = workdir / f"{RANDOM_RESNET50}.onnx"
    convert_resnet50(random_resnet50_state_dict(), onnx_path)
    return models.import_model(onnx_path, name=RANDOM_RESNET50).name


def cpu_seconds() -> float:
    """CPU time of this process, all threads, user and system."""
    times = os.times()
    return times.user + times.system


def raw_throughput(embedder: Embedder, batch: int = 16, seconds: float = 8.0) -> tuple[float, float]:
    """(photos/s, CPU ms a photo) of the model alone on pre-decoded batches."""
    rng = np.random.default_rng(0)
    size = embedder.input_size
    pixels = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    embedder.embed(pixels)  # warm up
    done, start, cpu = 0, time.perf_counter(), cpu_seconds()
    while time.perf_counter() - start < seconds:
        embedder.embed(pixels)
        done += batch
    return done / (time.perf_counter() - start), (cpu_seconds() - cpu) * 1000 / done


def index_throughput(model: str, folder: Path, workdir: Path, round_: int = 0) -> tuple[float, int, float]:
    """(photos/s, photos, CPU ms a photo) of `Library.index` on ``folder``."""
    library = Library(workdir / f"lib-{folder.name}-{round_}")
    library.set_model(model, "gem")
    library.add_folder(folder)
    start, cpu = time.perf_counter(), cpu_seconds()
    report = library.index()
    elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    library.close()
    return report.embedded / elapsed, report.embedded, cpu * 1000 / max(report.embedded, 1)


def seed_style_throughput(embedder: Embedder, files: list[Path]) -> float:
    size = embedder.input_size
    start = time.perf_counter()
    for path in files:
        img = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
        embedder.embed(np.asarray(img)[np.newaxis])
    return len(files) / (time.perf_counter() - start)


def make_12mp_jpegs(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    files = []
    for i in range(count):
        # Smooth content plus noise: compresses like a photo, not like flat colour.
        small = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((4000, 3000), Image.BICUBIC)
        noise = rng.integers(-12, 12, (3000, 4000, 3))
        img = Image.fromarray(np.clip(np.asarray(img, dtype=np.int16) + noise, 0, 255).astype(np.uint8))
        path = folder / f"big_{i:02d}.jpg"
        img.save(path, quality=90)
        files.append(path)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=models.OFFLINE_MODEL)
    shared = REPO.parent / "shared" / "data"
    parser.add_argument("--photos", type=Path, nargs="*", default=[shared / "imagenette-val", shared / "animals"])
    parser.add_argument("--big", type=int, default=24,
                        help="how many 12 MP JPEGs to make (enough that loading the model is not the figure)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="simdesk-bench-"))
    try:
        if args.model == RANDOM_RESNET50:
            args.model = install_random_resnet50(workdir)
        elif args.model == models.OFFLINE_MODEL and not (models.models_dir() / args.model).is_dir():
            models.install_efficientnet_lite0()
        manifest = models.load_model(args.model)
        embedder = Embedder(manifest, pooling="gem")
        print(f"model {args.model} on {embedder.provider}, {os.cpu_count()} CPUs")
        big = make_12mp_jpegs(workdir / "big", args.big)
        folders = [folder for folder in args.photos if folder.is_dir()]
        raw = big_rate = seed = 0.0
        raw_cpu = float("inf")
        real = dict.fromkeys(folders, 0.0)
        real_cpu = dict.fromkeys(folders, float("inf"))
        counts = dict.fromkeys(folders, 0)
        big_count = 0
        for round_ in range(args.rounds):
            rate, cpu = raw_throughput(embedder, seconds=4.0)
            raw, raw_cpu = max(raw, rate), min(raw_cpu, cpu)
            for folder in folders:
                rate, counts[folder], cpu = index_throughput(args.model, folder, workdir, round_)
                real[folder], real_cpu[folder] = max(real[folder], rate), min(real_cpu[folder], cpu)
            rate, big_count, _ = index_throughput(args.model, workdir / "big", workdir, round_)
            big_rate = max(big_rate, rate)
            seed = max(seed, seed_style_throughput(embedder, big))
        print(f"raw ONNX Runtime, pre-decoded batches of 16: {raw:7.1f} photos/s, {raw_cpu:.1f} ms CPU a photo")
        for folder in folders:
            # CPU per photo says where a ratio below 1 goes when the cores are all busy: the
            # decoding, hashing and writing added to the model's own work.
            print(f"simdesk index, {counts[folder]} photos in {folder.name}: {real[folder]:7.1f} photos/s"
                  f"  = {real[folder] / raw:.2f} x raw; {real_cpu[folder]:.1f} ms CPU a photo"
                  f" (+{real_cpu[folder] / raw_cpu - 1:.0%})")
        for folder in set(args.photos) - set(folders):
            print(f"({folder} not present: skipped)")
        print(f"simdesk index, {big_count} x 12 MP JPEG: {big_rate:7.2f} photos/s"
              f"  = {big_rate / seed:.1f} x the seed-style loop ({seed:.2f} photos/s)")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
