"""int8 by default, guarded: a library created on a CPU gets an int8 copy of its model, kept only
if it agrees with the fp32 model on the library's own photos.

When a library is indexed for the first time (none of its photos has a vector yet), on a CPU:

1. the first ``SAMPLE_PHOTOS`` photos of its folders (in path order) are decoded once;
2. the model is quantised (ONNX Runtime static QDQ: u8 activations, s8 per-channel weights),
   calibrated on the first ``CALIBRATION_PHOTOS`` of them; the copy lives in the library's own
   folder (``models/``), so no other library's calibration can ever replace it;
3. both models embed the whole sample plus edited copies of its held-out photos (search vectors
   and both duplicate descriptors), and the check compares them: the mean cosine of the search
   vectors, the overlap of each photo's top-10 similar list, the mean cosine of the duplicate
   descriptors, the edited copies the duplicate scan would look at (whitened descriptors above
   its floor) and the other pairs that cross that floor must agree;
4. int8 is kept only if every figure passes; either way the decision and its figures are kept in
   the library's settings and shown by ``simdesk status``.

Every photo of a library is then embedded with the one model file the decision chose (embedding
spaces are keyed by the ONNX file's SHA-256, so nothing can mix). On a GPU (CUDA) the library keeps
fp32. A library that already has vectors (indexed before) keeps its model. A library with fewer
than ``MIN_PHOTOS`` photos is indexed in fp32 and decided on a later run, once it has enough; its
few photos are then embedded again (at most ``REEMBED_LIMIT``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simdesk.core.pooling import l2_normalize

CALIBRATION_PHOTOS = 64
SAMPLE_PHOTOS = 128  # calibration photos plus as many held out; the check runs on all of them
MIN_PHOTOS = 100  # below this the library is indexed in fp32 and decided later
REEMBED_LIMIT = 256  # a library with more fp32 vectors than this keeps fp32 (indexed before)

# What "agree" means. The top-10 overlap and the pair agreement are the quality bars; the
# cosines catch a model whose vectors drift without reordering a small sample.
MIN_MEAN_COSINE = 0.95
MIN_TOP10_OVERLAP = 0.90
MIN_DESCRIPTOR_COSINE = 0.95
# Duplicate decisions: the verification (local features) does not use the model, so the model
# changes a decision only by changing the candidate pairs. Every edited copy fp32 makes a
# candidate must stay one, and few other pairs may cross the floor by more than the margin (pairs
# just at the floor cross it either way on any small change: they are not decisions).
FLIP_MARGIN = 0.05
MAX_CLEAR_FLIP_SHARE = 0.02
COPIES = 24


@dataclass
class Int8Check:
    photos: int
    mean_cosine: float
    top10_overlap: float
    descriptor_cosine: float
    copies: int  # edited copies made of sample photos (a crop, a colour change, a rotation)
    copies_fp32: int  # of them, candidates of their original with fp32
    copies_int8: int  # ... with int8
    clear_flips: int  # other pairs on opposite sides of the scan's floor by more than FLIP_MARGIN
    pairs_fp32: int  # candidate pairs (whitened similarity above the floor) with fp32

    @property
    def passed(self) -> bool:
        return (self.mean_cosine >= MIN_MEAN_COSINE and self.top10_overlap >= MIN_TOP10_OVERLAP
                and self.descriptor_cosine >= MIN_DESCRIPTOR_COSINE
                and self.copies_int8 >= self.copies_fp32
                and self.clear_flips <= MAX_CLEAR_FLIP_SHARE * max(self.pairs_fp32, 1))

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}

    def describe(self) -> str:
        return (f"{self.photos} photos: vectors cosine {self.mean_cosine:.4f}, top-10 overlap "
                f"{self.top10_overlap:.3f}, descriptors cosine {self.descriptor_cosine:.4f}, "
                f"edited copies found {self.copies_int8}/{self.copies} (fp32 {self.copies_fp32}), "
                f"{self.clear_flips} of {self.pairs_fp32} candidate pairs clearly changed")


def disabled_by_environment() -> bool:
    return os.environ.get("SIMDESK_INT8", "").strip().lower() in ("0", "off", "no", "false")


def outputs(manifest, pooling: str, pixels: np.ndarray, batch: int = 16):
    """(search vectors, upright descriptors, turned descriptors) of ``pixels`` with one model."""
    from simdesk.core.duplicates.descriptors import IndexingDescriptors
    from simdesk.core.embedder import Embedder

    descriptors = IndexingDescriptors(manifest)
    embedder = Embedder(manifest, pooling=pooling,
                        extra_outputs=(descriptors.extra_output,) if descriptors.extra_output else ())
    vectors, upright, turned = [], [], []
    for start in range(0, len(pixels), batch):
        part = pixels[start:start + batch]
        v, maps = embedder.embed_with_maps(part)
        u, t = descriptors.compute(part, maps)
        vectors.append(v), upright.append(u), turned.append(t)
    return np.concatenate(vectors), np.concatenate(upright), np.concatenate(turned)


def _top10(vectors: np.ndarray) -> list[set[int]]:
    from simdesk.core.search import EmbeddingIndex

    ids = np.arange(len(vectors))
    index = EmbeddingIndex(ids, vectors, center=True)  # compared as the library compares them
    k = min(10, len(vectors) - 1)
    return [set(index.query(index.vector_of(i), k, exclude_ids=(i,), transformed=True)[0].tolist())
            for i in ids]


def edited_copies(pixels: np.ndarray, count: int = COPIES) -> tuple[np.ndarray, np.ndarray]:
    """(copies, index of each copy's original): crops, colour changes and quarter turns of the
    last photos of ``pixels`` (held out from the calibration), made in memory."""
    from PIL import Image, ImageEnhance

    size = pixels.shape[1]
    originals = np.arange(max(0, len(pixels) - count), len(pixels))
    out = []
    for k, i in enumerate(originals):
        img = Image.fromarray(pixels[i])
        if k % 3 == 0:  # an 80 % crop, scaled back up
            m = size // 10
            img = img.crop((m, m, size - m, size - m)).resize((size, size), Image.BILINEAR)
        elif k % 3 == 1:  # brighter and more saturated
            img = ImageEnhance.Color(ImageEnhance.Brightness(img).enhance(1.25)).enhance(1.4)
        else:  # turned a quarter (clockwise: the turned view of the copy matches the original)
            img = img.transpose(Image.ROTATE_270)
        out.append(np.asarray(img.convert("RGB")))
    return np.stack(out), originals


def _whitened_sims(whitening, upright: np.ndarray, turned: np.ndarray) -> np.ndarray:
    """Pair similarities as the scan ranks them: the best of upright/upright and upright/turned."""
    up, tu = whitening.apply(upright), whitening.apply(turned)
    return np.maximum(up @ up.T, np.maximum(up @ tu.T, tu @ up.T))


def compare(fp32, int8, photos: int | None = None,
            originals: np.ndarray | None = None) -> Int8Check:
    """How well the int8 outputs agree with the fp32 ones on the same photos: the first
    ``photos`` rows are library photos, the rest edited copies of rows ``originals``."""
    from simdesk.core.duplicates.candidates import Whitening
    from simdesk.core.duplicates.grouping import CANDIDATE_FLOOR

    def cosine(a, b):
        return float(np.mean(np.sum(l2_normalize(a) * l2_normalize(b), axis=1)))

    (v32, u32, t32), (v8, u8, t8) = fp32, int8
    n = len(v32) if photos is None else photos
    originals = np.zeros(0, dtype=int) if originals is None else originals
    lists32, lists8 = _top10(v32[:n]), _top10(v8[:n])
    overlap = float(np.mean([len(a & b) / max(len(a), 1) for a, b in zip(lists32, lists8)]))
    whitening = Whitening.fit(u32[:n])  # one whitening for both: the same library, the same yardstick
    s32, s8 = _whitened_sims(whitening, u32, t32), _whitened_sims(whitening, u8, t8)
    copies = np.arange(n, len(v32))
    found32 = int((s32[originals, copies] >= CANDIDATE_FLOOR).sum())
    found8 = int((s8[originals, copies] >= CANDIDATE_FLOOR).sum())
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    a, b = s32[:n, :n][upper], s8[:n, :n][upper]
    flips = int((((a >= CANDIDATE_FLOOR + FLIP_MARGIN) & (b < CANDIDATE_FLOOR))
                 | ((b >= CANDIDATE_FLOOR + FLIP_MARGIN) & (a < CANDIDATE_FLOOR))).sum())
    return Int8Check(n, cosine(v32[:n], v8[:n]), overlap, min(cosine(u32, u8), cosine(t32, t8)),
                     len(copies), found32, found8, flips, int((a >= CANDIDATE_FLOOR).sum()))


def build_and_check(source, pooling: str, pixels: np.ndarray, directory: Path,
                    name: str) -> tuple[object, Int8Check]:
    """Quantise ``source`` on the first photos of ``pixels``, then check it on all of them."""
    from simdesk.core.models.quantize import quantize_on_pixels

    quantized = quantize_on_pixels(source, pixels[:CALIBRATION_PHOTOS], directory, name)
    copies, originals = edited_copies(pixels[CALIBRATION_PHOTOS:] if len(pixels) > CALIBRATION_PHOTOS
                                      else pixels)
    originals = originals + (CALIBRATION_PHOTOS if len(pixels) > CALIBRATION_PHOTOS else 0)
    both = np.concatenate([pixels, copies])
    check = compare(outputs(source, pooling, both), outputs(quantized, pooling, both),
                    photos=len(pixels), originals=originals)
    return quantized, check


def settle_precision(library, *, progress=None, cancel=None) -> str:
    """Decide once, before the first photos are embedded, whether ``library`` uses int8."""
    from simdesk.core.decode import IMAGE_EXTENSIONS
    from simdesk.core.embedder import CUDA
    from simdesk.core.progress import Progress
    from simdesk.core.scan import scan_folders

    if library._precision():
        return library.precision()
    base = library.embedder().manifest  # undecided: the fp32 model as installed
    if disabled_by_environment():
        library._record_precision("fp32", "int8 turned off by SIMDESK_INT8=0")
    elif base.source.startswith("int8"):
        library._record_precision("as installed", "the chosen model is itself an int8 copy")
    elif library.embedder().provider == CUDA:
        library._record_precision("fp32", "GPU (CUDA): fp32 is kept")
    elif library.store.count_embedded(library._space_for(base, library.pooling).id) > REEMBED_LIMIT:
        library._record_precision("fp32", "indexed in fp32 before int8 was the default")
    else:
        online = [f for f in library.folders if os.path.isdir(f)]
        found = sorted(f.path for f in scan_folders(online, IMAGE_EXTENSIONS, cancel=cancel).files)
        if len(found) < MIN_PHOTOS:
            return ""  # too few photos to calibrate on: fp32 for now, decided on a later run
        pixels = sample_pixels(base, found, SAMPLE_PHOTOS)
        if len(pixels) < CALIBRATION_PHOTOS:
            return ""
        if progress:
            progress(Progress("checking int8", 0, 1, label=f"{len(pixels)} photos"))
        name = f"{library.model_name}-int8"
        quantized, check = build_and_check(base, library.pooling, pixels,
                                           library.directory / "models", name)
        if progress:
            progress(Progress("checking int8", 1, 1, label=f"{len(pixels)} photos"))
        if check.passed:
            library._record_precision("int8", f"checked against fp32 on {check.describe()}",
                                      model=name, sha256=quantized.onnx_sha256, check=check.to_dict())
        else:
            import shutil

            shutil.rmtree(library.directory / "models" / name, ignore_errors=True)
            library._record_precision("fp32", f"int8 disagreed with fp32 on {check.describe()}",
                                      check=check.to_dict())
    return library.precision()


def sample_pixels(manifest, paths: list[str], count: int) -> np.ndarray:
    """The model input of the first ``count`` decodable photos among ``paths``."""
    from concurrent.futures import ThreadPoolExecutor

    from simdesk.core.decode import DecodeError, decode_image
    from simdesk.core.paths import ChangedWhileReading, read_file_stable

    def load(path):
        try:
            data, _ = read_file_stable(path)
            return decode_image(data, input_size=manifest.input_size,
                                resize_mode=manifest.resize_mode).pixels
        except (OSError, DecodeError, ChangedWhileReading, MemoryError):
            return None

    got = []
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        for start in range(0, len(paths), count):
            got += [p for p in pool.map(load, paths[start:start + count]) if p is not None]
            if len(got) >= count or start + count >= len(paths):
                break
    size = manifest.input_size
    return np.stack(got[:count]) if got else np.zeros((0, size, size, 3), np.uint8)
