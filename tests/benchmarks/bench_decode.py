"""Benchmark: JPEG draft (DCT-scaled) decoding vs full decoding, in one run.

Not a pytest test (the file name does not start with ``test_``). Run it with

    python tests/benchmarks/bench_decode.py [--count 4] [--repeat 5] [--width 4000 --height 3000]

It writes a few photo-like 12 MP JPEGs to a temporary directory, then times

* ``decode_image`` as shipped (draft mode),
* the same ``decode_image`` pipeline with draft mode switched off (full-size
  decode, then our reduce + resize),
* a naive baseline: ``Image.open`` + full decode + ``resize`` straight to 224
  and to the thumbnail size,

and prints the per-image medians and the speed-up ratios.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from simdesk.core import decode  # noqa: E402


def make_photo(width: int, height: int, seed: int) -> Image.Image:
    """Smooth gradients, shapes and sensor-like noise: JPEG-compresses like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack(
        [
            (np.sin(x / (200 + 50 * seed)) + 1) * 90 + (y / height) * 60,
            (np.cos(y / 170) + 1) * 100,
            (x / width) * 200 + 20,
        ],
        axis=-1,
    )
    base += rng.normal(0, 5, base.shape).astype(np.float32)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(250):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(10, 300))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse((x0, y0, x0 + r, y0 + r), fill=colour)
    return img


def naive(data: bytes, input_size: int = 224, thumb_size: int = 256) -> None:
    with Image.open(io.BytesIO(data)) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        np.asarray(img.resize((input_size, input_size), Image.Resampling.BICUBIC))
        thumb = img.copy()
        thumb.thumbnail((thumb_size, thumb_size), Image.Resampling.LANCZOS, reducing_gap=None)
        thumb.save(io.BytesIO(), format="JPEG", quality=85)


def time_each(fn, payloads: list[bytes], repeat: int) -> float:
    """Median seconds per image over ``repeat`` passes over all payloads."""
    fn(payloads[0])  # warm-up (plugin imports, allocator)
    per_image = []
    for _ in range(repeat):
        for data in payloads:
            start = time.perf_counter()
            fn(data)
            per_image.append(time.perf_counter() - start)
    return statistics.median(per_image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--quality", type=int, default=90)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.count):
            path = Path(tmp) / f"photo_{i}.jpg"
            make_photo(args.width, args.height, seed=i).save(path, quality=args.quality)
            paths.append(path)
        payloads = [p.read_bytes() for p in paths]
        mb = sum(len(p) for p in payloads) / len(payloads) / 1e6
        print(f"{args.count} JPEGs, {args.width}x{args.height} "
              f"({args.width * args.height / 1e6:.1f} MP), {mb:.1f} MB each, "
              f"{args.repeat} passes")

        t_draft = time_each(decode.decode_image, payloads, args.repeat)

        saved = decode._DRAFT_FORMATS
        decode._DRAFT_FORMATS = frozenset()  # same pipeline, full-size decode
        try:
            t_full = time_each(decode.decode_image, payloads, args.repeat)
        finally:
            decode._DRAFT_FORMATS = saved

        t_naive = time_each(naive, payloads, args.repeat)

    print(f"decode_image, draft mode        : {t_draft * 1000:7.1f} ms/image")
    print(f"decode_image, draft disabled    : {t_full * 1000:7.1f} ms/image "
          f"(draft speed-up x{t_full / t_draft:.2f})")
    print(f"naive full decode + resize      : {t_naive * 1000:7.1f} ms/image "
          f"(draft speed-up x{t_naive / t_draft:.2f})")


if __name__ == "__main__":
    main()
