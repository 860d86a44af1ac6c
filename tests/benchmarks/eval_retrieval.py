"""Category-retrieval quality of each pooling, on a folder with one subfolder per class.

    python tests/benchmarks/eval_retrieval.py [DIR] [--model efficientnet-lite0]

DIR defaults to ../shared/data/imagenette-val. Photos are decoded and run through the model once
with simdesk's own decoder and embedder; each pooling is then applied to the same feature maps.
Prints precision@1, precision@10 and mAP ("relevant" = same class, the query excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from simdesk.core import models
from simdesk.core.decode import IMAGE_EXTENSIONS, decode_image
from simdesk.core.embedder import Embedder
from simdesk.core.evaluate import retrieval_scores
from simdesk.core.pooling import POOLINGS, pool

REPO = Path(__file__).resolve().parents[2]


def labelled_files(root: Path) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for label, sub in enumerate(sorted(p for p in root.iterdir() if p.is_dir())):
        for path in sorted(sub.iterdir()):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                files.append(path)
                labels.append(label)
    return files, np.array(labels)


def pooled_features(embedder: Embedder, files: list[Path], batch: int = 32,
                    resize_mode: str | None = None) -> dict[str, np.ndarray]:
    def decode(path: Path) -> np.ndarray:
        return decode_image(path.read_bytes(), input_size=embedder.input_size,
                            resize_mode=resize_mode or embedder.manifest.resize_mode).pixels

    pooled: dict[str, list[np.ndarray]] = {name: [] for name in POOLINGS}
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as workers:
        for start in range(0, len(files), batch):
            pixels = np.stack(list(workers.map(decode, files[start : start + batch])))
            (features,) = embedder.feature_maps(pixels)
            for name in POOLINGS:
                pooled[name].append(pool(features, name))
    return {name: np.concatenate(parts) for name, parts in pooled.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, default=REPO.parent / "shared" / "data" / "imagenette-val")
    parser.add_argument("--model", default=models.OFFLINE_MODEL)
    parser.add_argument("--resize", choices=("squash", "center_crop"), default=None,
                        help="override the model's resize mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.model == models.OFFLINE_MODEL and not (models.models_dir() / args.model).is_dir():
        models.install_efficientnet_lite0()
    embedder = Embedder(models.load_model(args.model))
    files, labels = labelled_files(args.folder)
    start = time.perf_counter()
    vectors = pooled_features(embedder, files, resize_mode=args.resize)
    seconds = time.perf_counter() - start
    results = {name: retrieval_scores(v, labels) for name, v in vectors.items()}
    if args.json:
        print(json.dumps({"model": args.model, "photos": len(files), "results": results}, indent=2))
        return
    print(f"{args.model}: {len(files)} photos, {labels.max() + 1} classes, embedded in {seconds:.0f} s")
    print(f"{'pooling':<8} {'P@1':>6} {'P@10':>6} {'mAP':>6}")
    for name, scores in results.items():
        print(f"{name:<8} {scores['P@1']:6.3f} {scores['P@10']:6.3f} {scores['mAP']:6.3f}")


if __name__ == "__main__":
    sys.exit(main())
