"""Tune and measure pair verification (simdesk.core.duplicates.verify) on real photos.

    python tests/benchmarks/verify_tuning.py tune     # imagenette-val copies + synthetic shots
    python tests/benchmarks/verify_tuning.py report   # held out: animals copies, bursts, rooms

Copies are made in memory: each original gets edited copies whose recipes cycle through every edit
family alone and in combinations of two and three. Negatives are pairs of different photos of the
same class. "tune" adds synthetic other shots (a perspective step to the side, an object moved, a
local warp) since imagenette has no real ones; "report" uses the real burst frames (every pair up to
three frames apart) and the within-group near-dup-rooms pairs, and must not be used for tuning.
"""

from __future__ import annotations

import io
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from simdesk.core.duplicates import verify as V  # noqa: E402
from simdesk.eval.edited_copies import EDITS, STRENGTHS  # noqa: E402

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
cv2.setNumThreads(1)


# -- extra edits (the ones edited_copies.py does not have) --------------------------------------

def _mirror(img, rng, state):
    return ImageOps.mirror(img)


def _blur(img, rng, state):
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 2.0) * max(img.size) / 400))


def _sharpen(img, rng, state):
    return img.filter(ImageFilter.UnsharpMask(radius=2, percent=rng.randint(120, 200), threshold=2))


def _border(img, rng, state):
    w, h = img.size
    b = max(2, int(max(w, h) * rng.uniform(0.03, 0.08)))
    colour = rng.choice([(255, 255, 255), (0, 0, 0), (120, 80, 40)])
    return ImageOps.expand(img, border=b, fill=colour)


def _watermark(img, rng, state):
    img = img.convert("RGBA")
    w, h = img.size
    over = Image.new("RGBA", img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    size = max(8, int(h * rng.uniform(0.06, 0.1)))
    font = ImageFont.load_default(size=size)
    text = rng.choice(["(c) simdesk", "SAMPLE", "photo.example.com"])
    x = int(w * rng.uniform(0.05, 0.5))
    y = int(h * rng.choice([rng.uniform(0.05, 0.2), rng.uniform(0.75, 0.88), 0.45]))
    d.text((x, y), text, font=font, fill=(255, 255, 255, rng.choice([110, 160, 220])))
    return Image.alpha_composite(img, over).convert("RGB")


def _grey(img, rng, state):
    return ImageOps.grayscale(img).convert("RGB")


def _brighten(img, rng, state):
    return ImageEnhance.Brightness(img).enhance(rng.uniform(1.25, 1.5))


def _darken(img, rng, state):
    return ImageEnhance.Brightness(img).enhance(rng.uniform(0.5, 0.7))


def _quarter(img, rng, state):
    w, h = img.size
    state["quality"] = 15
    return img.resize((max(16, w // 4), max(16, h // 4)), Image.Resampling.LANCZOS)


def _rotate180(img, rng, state):
    return img.transpose(Image.Transpose.ROTATE_180)


ALL_EDITS = dict(EDITS)
ALL_EDITS.update(mirror=_mirror, blur=_blur, sharpen=_sharpen, border=_border,
                 watermark=_watermark, grey=_grey, brighten=_brighten, darken=_darken,
                 quarter_q15=_quarter, rotate180=_rotate180)
FAMILIES = list(ALL_EDITS)
# Combinations of two and three (geometric + photometric + overlay, as they come together).
COMBOS = [
    ("crop", "resize", "recompress"), ("mirror", "recolour"), ("rotate90", "caption"),
    ("rotate", "blur"), ("crop", "grey", "watermark"), ("border", "resize"),
    ("mirror", "crop", "recompress"), ("darken", "sharpen"), ("rotate180", "border", "caption"),
    ("brighten", "crop"), ("quarter_q15", "grey"), ("rotate", "resize", "recompress"),
]
RECIPES = [(f,) for f in FAMILIES] + COMBOS


def make_copy(img: Image.Image, recipe, seed: int) -> Image.Image:
    rng = random.Random(seed)
    state = {"quality": rng.randint(85, 95), "strength": STRENGTHS["standard"]}
    if "recompress" in recipe:
        state["quality"] = rng.randint(15, 40)
    for e in recipe:
        if e == "recompress":
            continue
        img = ALL_EDITS[e](img, rng, state)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=state["quality"])
    buf.seek(0)
    return Image.open(buf).convert("RGB")


# -- synthetic other shots (tuning only) ---------------------------------------------------------

def shot_perspective(img, rng):
    a = np.asarray(img)
    h, w = a.shape[:2]
    d = rng.uniform(0.06, 0.12)
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    j = lambda: rng.uniform(-d, d)  # noqa: E731
    dst = np.float32([[w * (0.1 + j()), h * (0.1 + j())], [w * (0.9 + j()), h * (0.1 + j())],
                      [w * (0.9 + j()), h * (0.9 + j())], [w * (0.1 + j()), h * (0.9 + j())]])
    hm = cv2.getPerspectiveTransform(dst, src)
    return Image.fromarray(cv2.warpPerspective(a, hm, (w, h), borderMode=cv2.BORDER_REFLECT))


def shot_moved(img, rng):
    a = np.asarray(img).copy()
    h, w = a.shape[:2]
    pw, ph = int(w * rng.uniform(0.25, 0.4)), int(h * rng.uniform(0.25, 0.4))
    x0, y0 = rng.randint(0, w - pw), rng.randint(0, h - ph)
    x1, y1 = rng.randint(0, w - pw), rng.randint(0, h - ph)
    # The subject moves: it leaves its place (background from beside it shows) and appears elsewhere.
    patch = a[y0:y0 + ph, x0:x0 + pw].copy()
    fill = np.asarray(img)[::-1, ::-1][y0:y0 + ph, x0:x0 + pw]
    a[y0:y0 + ph, x0:x0 + pw] = cv2.GaussianBlur(fill, (0, 0), 3)
    a[y1:y1 + ph, x1:x1 + pw] = patch
    return Image.fromarray(a)


def shot_warp(img, rng):
    a = np.asarray(img)
    h, w = a.shape[:2]
    gx = np.random.default_rng(rng.randint(0, 10**6)).normal(0, 1, (4, 4, 2)).astype(np.float32)
    field = cv2.resize(gx, (w, h), interpolation=cv2.INTER_CUBIC) * max(w, h) * 0.02
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return Image.fromarray(cv2.remap(a, xx + field[..., 0], yy + field[..., 1], cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_REFLECT))


SHOTS = {"perspective": shot_perspective, "moved": shot_moved, "warp": shot_warp}


# -- measurement ---------------------------------------------------------------------------------

def load(p: Path) -> Image.Image:
    with Image.open(p) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


class Timer:
    def __init__(self):
        self.extract, self.n_extract, self.verify, self.n_verify = 0.0, 0, 0.0, 0

    def feats(self, img):
        t = time.thread_time()
        f = V.extract_features(img)
        self.extract += time.thread_time() - t
        self.n_extract += 1
        return f

    def pair(self, a, b):
        t = time.thread_time()
        v = V.verify_pair(a, b)
        self.verify += time.thread_time() - t
        self.n_verify += 1
        return v


def classes(root: Path) -> dict[str, list[Path]]:
    return {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            for d in sorted(root.iterdir()) if d.is_dir()}


def copies_and_lookalikes(root: Path, n_orig: int, per: int, n_neg: int, seed: int, timer: Timer,
                          shots: bool):
    rng = random.Random(seed)
    cls = classes(root)
    pool = [(c, p) for c, ps in cls.items() for p in ps]
    rng.shuffle(pool)
    originals = pool[:n_orig]
    pos, shot_pairs = [], []
    feats = {}
    k = 0
    for gi, (c, p) in enumerate(originals):
        img = load(p)
        fa = timer.feats(img)
        feats[p] = fa
        for j in range(per):
            recipe = RECIPES[k % len(RECIPES)]
            k += 1
            cp = make_copy(img, recipe, seed * 1000 + gi * 10 + j)
            pos.append(("+".join(recipe), fa, timer.feats(cp)))
        if shots:
            name = list(SHOTS)[gi % len(SHOTS)]
            shot_pairs.append((name, fa, timer.feats(SHOTS[name](img, rng))))
    neg = []
    by_cls = defaultdict(list)
    for c, p in pool[n_orig:]:
        by_cls[c].append(p)
    cache = {}
    for i in range(n_neg):
        c = list(by_cls)[i % len(by_cls)]
        p, q = rng.sample(by_cls[c], 2)
        for x in (p, q):
            if x not in cache:
                cache[x] = timer.feats(load(x))
        neg.append((c, cache[p], cache[q]))
    return pos, neg, shot_pairs


def summarise(title, pos, neg, others, timer: Timer):
    print(f"\n== {title}")
    fam_hits, fam_n = defaultdict(int), defaultdict(int)
    evid = defaultdict(list)
    misses = []
    tp = 0
    for recipe, a, b in pos:
        v = timer.pair(a, b)
        for fam in set(recipe.split("+")):
            fam_n[fam] += 1
            fam_hits[fam] += v.kind == "copy"
        tp += v.kind == "copy"
        evid["copy"].append(v)
        if v.kind != "copy":
            misses.append((recipe, v))
    fp = 0
    fps = []
    for c, a, b in neg:
        v = timer.pair(a, b)
        if v.kind == "copy":
            fp += 1
            fps.append((c, v))
    other_fp = defaultdict(lambda: [0, 0, 0])
    for name, a, b in others:
        v = timer.pair(a, b)
        evid[name].append(v)
        other_fp[name][0] += 1
        other_fp[name][1] += v.kind == "copy"
        other_fp[name][2] += v.kind == "similar_shot"
        if v.kind == "copy":
            fps.append((name, v))
    fp_all = fp + sum(x[1] for x in other_fp.values())
    print(f"copies: {len(pos)}  recall {tp / max(len(pos), 1):.3f}")
    for fam in sorted(fam_n):
        print(f"  {fam:12s} {fam_hits[fam]:4d}/{fam_n[fam]:<4d} {fam_hits[fam] / fam_n[fam]:.2f}")
    print(f"look-alike pairs (same class): {len(neg)}, accepted as copy: {fp}")
    for name, (n, c, s) in other_fp.items():
        print(f"{name}: {n} pairs, accepted as copy {c}, as similar_shot {s}")
    print(f"precision {tp / max(tp + fp_all, 1):.4f}  (copies accepted {tp}, non-copies accepted "
          f"{fp_all})")
    print(f"CPU time of this thread: extraction {1000 * timer.extract / max(timer.n_extract, 1):.1f} ms/photo over "
          f"{timer.n_extract}; verification {1000 * timer.verify / max(timer.n_verify, 1):.2f} "
          f"ms/pair over {timer.n_verify}")
    if "-v" in sys.argv:
        for name, vs in evid.items():
            for key in ("inlier_ratio", "residual_px", "unexplained_fraction", "ncc"):
                xs = [getattr(v, key) for v in vs if v.inliers >= 8]
                print(f"  {name:12s} {key:20s} pct 5/25/50/75/95:",
                      " ".join(f"{x:.3f}" for x in np.percentile(xs, [5, 25, 50, 75, 95])))
        for recipe, v in misses[:40]:
            print("  MISS", recipe, v.kind, v.to_json())
        for c, v in fps[:20]:
            print("  FP  ", c, v.to_json())
    return misses, fps


def storage(feats):
    sizes = [len(f.to_bytes()) for f in feats]
    print(f"storage: mean {np.mean(sizes) / 1024:.1f} KiB, max {np.max(sizes) / 1024:.1f} KiB "
          f"a photo over {len(sizes)}")


def burst_pairs(timer):
    files = sorted((DATA / "burst-frames").glob("*.png"))
    f = [timer.feats(load(p)) for p in files]
    return [("burst", f[i], f[j]) for i in range(len(f)) for j in range(i + 1, min(i + 4, len(f)))]


def room_pairs(timer):
    out = []
    for g in sorted((DATA / "near-dup-rooms").iterdir()):
        fs = [timer.feats(load(p)) for p in sorted(g.glob("*.jpg"))]
        out += [("rooms", fs[i], fs[j]) for i in range(len(fs)) for j in range(i + 1, len(fs))]
    return out


def main():
    import os
    if os.environ.get("VERIFY_WORK_SIDE"):  # for comparing working sizes
        V.WORK_SIDE = int(os.environ["VERIFY_WORK_SIDE"])
    mode = sys.argv[1] if len(sys.argv) > 1 else "tune"
    timer = Timer()
    if mode == "tune":
        # --cache: keep the extracted features between runs while tuning verification only.
        cache = Path("/tmp/simdesk_verify_tune.pkl")
        if "--cache" in sys.argv and cache.exists():
            import pickle
            pos, neg, shots = pickle.loads(cache.read_bytes())
        else:
            pos, neg, shots = copies_and_lookalikes(DATA / "imagenette-val", 150, 3, 600, 1, timer,
                                                    True)
            if "--cache" in sys.argv:
                import pickle
                cache.write_bytes(pickle.dumps((pos, neg, shots)))
        storage([p[2] for p in pos] + [p[1] for p in pos])
        summarise("tuning: imagenette-val copies, same-class pairs, synthetic other shots",
                  pos, neg, shots, timer)
    else:
        pos, neg, _ = copies_and_lookalikes(DATA / "animals", 150, 4, 600, 2, timer, False)
        others = burst_pairs(timer) + room_pairs(timer)
        storage([p[2] for p in pos] + [p[1] for p in pos])
        summarise("held out: animals copies, same-class pairs, burst frames, rooms",
                  pos, neg, others, timer)


if __name__ == "__main__":
    main()
