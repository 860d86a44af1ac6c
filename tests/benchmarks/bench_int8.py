"""int8 quantisation of the offline model: speed and retrieval-quality cost, in one run.

    python tests/benchmarks/bench_int8.py [--photos DIR] [--calibration 128] [--model resnet50-random]

Quantises EfficientNet-Lite0 with ONNX Runtime's static QDQ quantisation (u8 activations,
s8 per-channel weights) calibrated on photos of DIR (default ../shared/data/imagenette-val),
then prints raw throughput (batches of 16) and P@10 / mAP of avg pooling for fp32 and int8.

``--model resnet50-random``: the default model's architecture with random weights (see
bench_indexing.py), speed only: random weights say nothing about retrieval quality.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_indexing import RANDOM_RESNET50, install_random_resnet50  # beside this script
from simdesk.core.models import catalog as models
from simdesk.core.models.quantize import quantize_model
from simdesk.core.embedder import Embedder
from simdesk.eval.retrieval import embed_with_every_pooling, labelled_photos, retrieval_scores

REPO = Path(__file__).resolve().parents[2]


def throughput(embedder: Embedder, seconds: float = 6.0) -> float:
    pixels = np.random.default_rng(0).integers(0, 256, (16, 224, 224, 3), dtype=np.uint8)
    embedder.embed(pixels)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        embedder.embed(pixels)
        done += 16
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, default=REPO.parent / "shared" / "data" / "imagenette-val")
    parser.add_argument("--calibration", type=int, default=128)
    parser.add_argument("--model", choices=(models.OFFLINE_MODEL, RANDOM_RESNET50), default=models.OFFLINE_MODEL)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="simdesk-int8-"))
    try:
        if args.model == RANDOM_RESNET50:
            fp32 = models.load_model(install_random_resnet50(work))  # into work/models
            directory = None
        else:
            fp32 = models.install_efficientnet_lite0(work)
            directory = work
        paths, labels, _ = labelled_photos(args.photos)
        rng = np.random.default_rng(0)
        calibration = [paths[i] for i in rng.choice(len(paths), args.calibration, replace=False)]
        start = time.perf_counter()
        int8 = quantize_model(fp32.name, calibration, directory)
        print(f"{args.model}: quantised in {time.perf_counter() - start:.0f} s "
              f"({fp32.onnx_path.stat().st_size / 1e6:.1f} MB -> {int8.onnx_path.stat().st_size / 1e6:.1f} MB)")
        if directory is None:
            speeds = {"fp32": 0.0, "int8": 0.0}
            for _ in range(2):  # interleaved rounds: the machine is shared
                for name, manifest in (("fp32", fp32), ("int8", int8)):
                    speeds[name] = max(speeds[name], throughput(Embedder(manifest)))
            print(f"fp32 {speeds['fp32']:.1f} photos/s, int8 {speeds['int8']:.1f} photos/s: "
                  f"{speeds['int8'] / speeds['fp32']:.2f}x")
            return
        rows, avg = {}, {}
        for name, manifest in (("fp32", fp32), ("int8", int8)):
            embedder = Embedder(manifest, pooling="avg")
            speed = throughput(embedder)
            vectors, ok = embed_with_every_pooling(embedder, paths)
            avg[name] = vectors["avg"]
            rows[name] = (speed, retrieval_scores(vectors["avg"], labels[ok]))
        # Interleave a second speed round: the machine is shared.
        for name, manifest in (("fp32", fp32), ("int8", int8)):
            speed, scores = rows[name]
            rows[name] = (max(speed, throughput(Embedder(manifest))), scores)
        base = rows["fp32"][0]
        print(f"{'model':<6} {'photos/s':>9} {'speed-up':>9} {'P@10':>7} {'mAP':>7}")
        for name, (speed, scores) in rows.items():
            print(f"{name:<6} {speed:>9.1f} {speed / base:>8.2f}x {scores['P@10']:7.4f} {scores['mAP']:7.4f}")
        a, b = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (avg["fp32"], avg["int8"]))
        cosine = (a * b).sum(axis=1)
        print(f"cosine between a photo's fp32 and int8 vectors: mean {cosine.mean():.4f}, "
              f"min {cosine.min():.4f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
