"""Indexing throughput, end to end, against baselines measured in the same run.

    python tests/benchmarks/bench_indexing.py [--model efficientnet-lite0|resnet50-random|NAME]
                                               [--photos DIR ...] [--rounds R] [--big N]

Prints photos per second, and CPU milliseconds a photo, for:
  * raw: the model alone in ONNX Runtime on pre-decoded batches of 16 (the ceiling): the fp32
    model, the library's int8 copy, and the int8 copy doing all of the one pass's model work
    (the search vector with the mid-level map as an extra output, plus the partial pass on the
    turned pixels that gives the turned duplicate descriptor);
  * local features alone (SIFT on the 256-px grey copy, on one thread), since the one pass does
    that too;
  * before: `Library.index(one_pass=False, int8=False)` on each DIR: fp32, search vector and
    thumbnail only (the duplicate descriptors and local features came later, in a second decode
    and forward pass), as indexing was before issue 17;
  * now: `Library.index()` with its int8 decision already made (the decision is a one-off per
    library, timed on its own), on each DIR (default ../shared/data/imagenette-val, 224-px photos,
    and ../shared/data/animals, about 500x375) and on freshly made 12-megapixel JPEGs;
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


def rate_of(work, photos: int, seconds: float = 4.0) -> tuple[float, float]:
    """(photos/s, CPU ms a photo) of calling ``work()`` (which handles ``photos``) for ``seconds``."""
    work()  # warm up
    done, start, cpu = 0, time.perf_counter(), cpu_seconds()
    while time.perf_counter() - start < seconds:
        work()
        done += photos
    return done / (time.perf_counter() - start), (cpu_seconds() - cpu) * 1000 / done


def random_pixels(size: int, batch: int = 16) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def raw_forward(manifest, extra_output: str | None = None):
    """The model alone on one pre-decoded batch (with ``extra_output`` returned too, if given)."""
    embedder = Embedder(manifest, pooling="gem", extra_outputs=(extra_output,) if extra_output else ())
    pixels = random_pixels(embedder.input_size)
    return lambda: embedder.embed(pixels), len(pixels)


def raw_one_pass(manifest):
    """All the model work the one pass does for a batch: forward + extra output + turned view."""
    from simdesk.core.duplicates.descriptors import IndexingDescriptors

    descriptors = IndexingDescriptors(manifest)
    forward, photos = raw_forward(manifest, descriptors.extra_output)
    pixels = random_pixels(manifest.input_size)

    def work():
        forward()
        descriptors.model.run_turned(pixels)
    return work, photos


def local_features_rate(folder: Path, count: int = 48) -> tuple[float, float]:
    """(photos/s, CPU ms a photo) of the local-feature extraction alone, one thread, decoded photos."""
    from simdesk.core.decode import IMAGE_EXTENSIONS, decode_image
    from simdesk.core.duplicates.verify import extract_features

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)[:count]
    images = [decode_image(f.read_bytes(), input_size=224, resize_mode="center_crop",
                           thumb_size=256, keep_image=True).image for f in files]
    return rate_of(lambda: [extract_features(image) for image in images], len(images), seconds=3.0)


def new_library(model: str, folder: Path, libdir: Path) -> Library:
    library = Library(libdir)
    library.set_model(model, "gem")
    library.add_folder(folder)
    return library


def int8_model(model: str, folder: Path, workdir: Path):
    """(the library's chosen model after its int8 decision, seconds the decision took, what it said)."""
    library = new_library(model, folder, workdir / "lib-decision")
    start = time.perf_counter()
    library.settle_precision()
    seconds = time.perf_counter() - start
    manifest, said = library.embedder().manifest, library.precision()
    library.close()
    return manifest, seconds, said


def index_throughput(model: str, folder: Path, libdir: Path, before: bool,
                     chosen=None) -> tuple[float, int, float]:
    """(photos/s, photos, CPU ms a photo) of `Library.index` on ``folder``: the path before issue 17
    (``before``), or today's default with the int8 decision already taken (``chosen`` model)."""
    library = new_library(model, folder, libdir)
    if not before:
        library.settle_precision()  # the one-off decision, not what this figure measures
    start, cpu = time.perf_counter(), cpu_seconds()
    report = library.index(one_pass=False, int8=False) if before else library.index()
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


class Best:
    """Best photos/s and lowest CPU a photo seen over the rounds, per row."""

    def __init__(self) -> None:
        self.rate: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.photos: dict[str, int] = {}

    def add(self, row: str, rate: float, cpu: float, photos: int = 0) -> None:
        self.rate[row] = max(self.rate.get(row, 0.0), rate)
        self.cpu[row] = min(self.cpu.get(row, float("inf")), cpu)
        self.photos[row] = photos

    def line(self, row: str, label: str, *against: tuple[str, str]) -> str:
        text = f"  {label:<52} {self.rate[row]:7.1f} photos/s  {self.cpu[row]:6.1f} ms CPU a photo"
        for other, name in against:
            text += f"\n  {'':<52} = {self.rate[row] / self.rate[other]:.2f} x {name}"
        return text


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
        fp32 = models.load_model(args.model)
        folders = [folder for folder in args.photos if folder.is_dir()]
        for folder in set(args.photos) - set(folders):
            print(f"({folder} not present: skipped)")
        if not folders:
            return 1
        chosen, decision_s, said = int8_model(args.model, folders[0], workdir)
        embedder = Embedder(chosen, pooling="gem")
        print(f"model {args.model} on {embedder.provider}, {os.cpu_count()} CPUs; the int8 decision "
              f"on {folders[0].name} took {decision_s:.1f} s once: {said}")
        big = make_12mp_jpegs(workdir / "big", args.big)
        targets = folders + [workdir / "big"]
        best = Best()
        for round_ in range(args.rounds):
            best.add("raw fp32", *rate_of(*raw_forward(fp32)))
            best.add("raw chosen", *rate_of(*raw_forward(chosen)))
            best.add("raw one pass", *rate_of(*raw_one_pass(chosen)))
            best.add("local features", *local_features_rate(folders[-1]))
            for folder in targets:
                for before in (True, False):
                    rate, photos, cpu = index_throughput(args.model, folder,
                                                         workdir / f"lib-{folder.name}-{before}-{round_}",
                                                         before)
                    best.add(f"{folder.name} {before}", rate, cpu, photos)
            best.add("seed", seed_style_throughput(Embedder(fp32, pooling="gem"), big), 0.0)
        print("model alone, pre-decoded batches of 16:")
        print(best.line("raw fp32", "fp32 forward pass"))
        print(best.line("raw chosen", f"{chosen.name} forward pass", ("raw fp32", "fp32")))
        print(best.line("raw one pass", f"{chosen.name}: all the one pass's model work"))
        print(best.line("local features", f"local features alone ({folders[-1].name}, one thread)"))
        for folder in targets:
            name = folder.name if folder in folders else f"{args.big} x 12 MP JPEG"
            print(f"indexing {best.photos[f'{folder.name} True']} photos of {name}:")
            print(best.line(f"{folder.name} True", "before: fp32, search vector and thumbnail only"))
            print(best.line(f"{folder.name} False", "now: int8 decided, one pass (all three jobs' work)",
                            (f"{folder.name} True", "before"), ("raw chosen", "raw forward pass"),
                            ("raw one pass", "raw one-pass model work")))
        print(f"seed-style loop on the 12 MP JPEGs, fp32: {best.rate['seed']:.2f} photos/s; now "
              f"= {best.rate['big False'] / best.rate['seed']:.1f} x that")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
