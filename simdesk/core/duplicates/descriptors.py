"""Descriptors for the near-duplicate scan: mid-level CNN features, upright and turned a quarter.

The library's own vectors (the last feature map, average-pooled) are tuned for "photos of the same
kind of thing": two different cats score higher than a cat photo and its heavily edited copy. A copy
detector needs features that still describe *this* photo: textures and parts rather than classes.
The near-duplicate benchmark (``tests/benchmarks/near_dup_benchmark.py``) measured, with
EfficientNet-Lite0 on edited copies of real photos among photos of the same subjects, that a
mid-level map (``_blocks.11._expand_relu6``, 672 channels at 14 x 14) GeM-pooled and PCA-whitened
on the library finds far more copies at 99% precision than any pooling of the last map, and that
embedding each photo a second time turned 90 degrees finds copies whose pixels were rotated.

So each photo gets two extra vectors, keyed by its content hash like every embedding:

* ``dup1/<layer>/gem``: GeM (p = 3) of the mid-level map of the upright photo;
* ``dup1-rot90/<layer>/gem``: the same for the photo turned 90 degrees counter-clockwise.

They live in the ordinary ``embeddings`` table under their own embedding spaces (no schema change),
are computed once per photo (``update_descriptors``, resumable, like indexing) and are dropped with
the photo by ``Store.prune_orphans``. The network is cut after the chosen layer, so this pass costs
about one indexing pass of the library (one decode, two partial forward passes).

Models without a known mid-level layer (imported ONNX files, the test model) use their feature
output instead, GeM-pooled.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from simdesk.core.decode import DecodeError, decode_image
from simdesk.core.duplicates import facts
from simdesk.core.embedder import Embedder, strict_provider, choose_providers
from simdesk.core.providers import open_session
from simdesk.core.paths import ChangedWhileReading, content_hash, read_file_stable
from simdesk.core.models.catalog import ModelError, ModelManifest
from simdesk.core.progress import Progress, ProgressCallback
from simdesk.core.pooling import gem_pool
from simdesk.core.store import EmbeddingSpace, Store

DESCRIPTOR_VERSION = "dup1"
# Mid-level layers by the value names simdesk's own converters give them (an imported model that
# happens to reuse a name gets the same treatment, which is what its graph asks for anyway).
MID_LEVEL_LAYERS = (
    "_blocks.11._expand_relu6",  # EfficientNet-Lite0: 672 x 14 x 14, after ReLU6 (>= 0)
    "layer3.5.relu",  # ResNet-50: 1024 x 14 x 14, after ReLU (not benchmarked: no offline weights)
)
VIEWS = ("upright", "rot90")


@dataclass(frozen=True)
class DescriptorSpec:
    """Which layer of which model gives the duplicate descriptors, and their spaces' names."""

    model_name: str
    onnx_sha256: str
    layer: str
    dim: int
    preprocess: str  # the decoder's resize mode and normalisation (ModelManifest.space_key)

    def pooling_name(self, view: str) -> str:
        prefix = DESCRIPTOR_VERSION if view == "upright" else f"{DESCRIPTOR_VERSION}-{view}"
        return f"{prefix}/{self.layer}/gem"

    def space(self, store: Store, view: str) -> EmbeddingSpace:
        return store.ensure_space(self.model_name, self.onnx_sha256, self.pooling_name(view), self.dim,
                                  self.preprocess)


@dataclass
class DescriptorReport:
    """A cancelled run returns this partial report (``cancelled`` True): what it computed is kept."""

    computed: int = 0  # photos (distinct contents) given descriptors in this run
    already: int = 0  # had them before
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why): left to `index`
    cancelled: bool = False
    seconds: float = 0.0


class DescriptorModel:
    """The library's model cut after the mid-level layer; runs both views in one batch."""

    def __init__(self, manifest: ModelManifest, providers: list[str] | None = None,
                 threads: int | None = None):
        import onnx

        self.manifest = manifest
        self._embedder = Embedder(manifest)  # for its input normalisation only
        try:
            model = onnx.load(str(manifest.onnx_path))
        except Exception as exc:  # a damaged file: the same message the embedder gives
            raise ModelError(f"cannot load the model file {manifest.onnx_path} ({exc})") from exc
        layer = mid_level_layer(model, manifest)
        self.layer = layer
        model = _truncate(model, layer)
        self._session = self._open(model.SerializeToString(), providers, threads)
        probe = self.run(np.zeros((1, manifest.input_size, manifest.input_size, 3), np.uint8),
                         rotations=False)[0]
        self.spec = DescriptorSpec(manifest.name, manifest.onnx_sha256, layer, probe.shape[1],
                                   manifest.space_key)

    @staticmethod
    def _open(model_bytes: bytes, providers, threads):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return strict_provider(open_session(model_bytes, options, providers or choose_providers())).session

    def run(self, pixels: np.ndarray, rotations: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, H, W, 3) uint8 -> (upright (N, D), rot90 (N, D) or None), float32, not normalised."""
        views = [pixels]
        if rotations:
            views.append(turned(pixels))
        batch = np.ascontiguousarray(np.concatenate(views)) if rotations else pixels
        pooled = self._pooled(batch)
        n = len(pixels)
        return pooled[:n], (pooled[n:] if rotations else None)

    def run_turned(self, pixels: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 upright -> (N, D) descriptors of the photos turned 90 degrees."""
        return self._pooled(np.ascontiguousarray(turned(pixels)))

    def _pooled(self, batch: np.ndarray) -> np.ndarray:
        (maps,) = self._session.run([self.layer], {self.manifest.input_name: self._embedder.preprocess(batch)})
        return descriptor_pool(maps)


def turned(pixels: np.ndarray) -> np.ndarray:
    """A batch of (N, H, W, 3) photos turned 90 degrees counter-clockwise (a view, not a copy)."""
    return np.rot90(pixels, k=1, axes=(1, 2))


def mid_level_layer(model, manifest: ModelManifest) -> str:
    """The value whose map gives the descriptors: a known mid-level layer, else the feature output."""
    produced = {out for node in model.graph.node for out in node.output}
    return next((name for name in MID_LEVEL_LAYERS if name in produced), manifest.feature_output)


class IndexingDescriptors:
    """Both descriptors from the indexing pass itself (no second decode, no second upright pass).

    The upright view is the mid-level map the indexing session returns as an extra output of the
    forward pass that makes the search vector (``extra_output``); the turned view is one partial
    forward pass (the graph cut at that layer) on the same decoded pixels turned 90 degrees.
    The vectors land in the same embedding spaces ``update_descriptors`` fills, so a library
    indexed this way has nothing left to prepare, and one indexed before is filled in by it.
    """

    def __init__(self, manifest: ModelManifest):
        self.model = descriptor_model(manifest)
        self.spec = self.model.spec
        self.layer = self.spec.layer
        self.spaces: dict[str, EmbeddingSpace] | None = None

    @property
    def extra_output(self) -> str | None:
        """The mid-level value the indexing session must also return (None: the feature map)."""
        return None if self.layer == self.model.manifest.feature_output else self.layer

    def bind(self, store: Store) -> "IndexingDescriptors":
        self.spaces = descriptor_spaces(store, self.spec)
        return self

    def compute(self, pixels: np.ndarray, maps: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(upright, turned) descriptors of a batch, given the indexing pass's maps by name."""
        return descriptor_pool(maps[self.layer]), self.model.run_turned(pixels)


def descriptor_pool(maps: np.ndarray) -> np.ndarray:
    """GeM pooling of a (N, C, H, W) map; (N, D) outputs pass through."""
    if maps.ndim == 2:
        return maps.astype(np.float32, copy=False)
    return gem_pool(maps.astype(np.float32, copy=False))


def _truncate(model, output: str):
    """The part of the graph that computes ``output`` (the rest would be computed for nothing)."""
    from onnx import helper

    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    needed: set[int] = set()
    stack = [output]
    while stack:
        node = producers.get(stack.pop())
        if node is None or id(node) in needed:
            continue
        needed.add(id(node))
        stack.extend(node.input)
    nodes = [node for node in graph.node if id(node) in needed]
    used = {name for node in nodes for name in node.input}
    initializers = [t for t in graph.initializer if t.name in used]
    inputs = [i for i in graph.input if i.name in used]
    cut = helper.make_graph(nodes, f"{graph.name}-to-{output}", inputs,
                            [helper.make_empty_tensor_value_info(output)], initializers)
    result = helper.make_model(cut, opset_imports=list(model.opset_import))
    result.ir_version = model.ir_version
    return result


_MODELS: dict[tuple[str, str], DescriptorModel] = {}
_MODELS_LOCK = threading.Lock()


def descriptor_model(manifest: ModelManifest) -> DescriptorModel:
    """One DescriptorModel per model file in this process (building one loads the ONNX file)."""
    key = (manifest.name, manifest.onnx_sha256)
    with _MODELS_LOCK:
        if key not in _MODELS:
            _MODELS[key] = DescriptorModel(manifest)
        return _MODELS[key]


def descriptor_spaces(store: Store, spec: DescriptorSpec) -> dict[str, EmbeddingSpace]:
    return {view: spec.space(store, view) for view in VIEWS}


def update_descriptors(
    store: Store,
    model: DescriptorModel,
    *,
    rotations: bool = True,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    batch_size: int = 16,
) -> DescriptorReport:
    """Give every indexed photo its duplicate descriptors (only those it lacks). Safe to interrupt.

    A file whose bytes no longer match the index is skipped (``simdesk index`` sees it first).
    """
    started = time.monotonic()
    cancel = cancel or threading.Event()
    report = DescriptorReport()
    spaces = descriptor_spaces(store, model.spec)
    have_up = store.hashes_with_embedding(spaces["upright"].id)
    have_rot = store.hashes_with_embedding(spaces["rot90"].id) if rotations else have_up
    have_facts = facts.hashes_with_facts(store)
    todo: dict[bytes, str] = {}
    for path, (_size, _mtime, chash) in sorted(store.photo_states().items()):
        if chash in have_up and chash in have_rot and chash in have_facts:
            report.already += 1
        elif chash not in todo:
            todo[chash] = path
    items = list(todo.items())
    size, mode = model.manifest.input_size, model.manifest.resize_mode

    def load(item: tuple[bytes, str]):
        chash, path = item
        if cancel.is_set():
            return item, None, "cancelled"
        try:
            data, _ = read_file_stable(path)
        except FileNotFoundError:
            return item, None, "file not found; run `simdesk index` to update the library"
        except ChangedWhileReading:
            return item, None, "file changed while being read"
        except OSError as exc:
            return item, None, f"cannot read the file: {exc.strerror or exc}"
        if content_hash(data) != chash:
            return item, None, "file changed since it was indexed; run `simdesk index`"
        try:
            decoded = decode_image(data, input_size=size, resize_mode=mode, thumb_size=16, keep_image=True)
        except DecodeError as exc:
            return item, None, exc.reason
        # Libraries indexed before schema 4 get their provenance and local features here too.
        return item, (decoded.pixels, decoded.provenance, facts.local_features_or_none(decoded.image)), None

    done = 0
    last_report = 0.0
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simdesk-dupdesc") as pool:
        for start in range(0, len(items), batch_size):
            if cancel.is_set():
                report.cancelled = True
                break
            loaded = list(pool.map(load, items[start:start + batch_size]))
            good = [(item, got) for item, got, why in loaded if got is not None]
            for (chash, path), _, why in loaded:
                if why is not None and why != "cancelled":
                    report.skipped.append((path, why))
            if good:
                upright, rotated = model.run(np.stack([got[0] for _, got in good]), rotations=rotations)
                with store.transaction():
                    for k, ((chash, _path), (_, provenance, features)) in enumerate(good):
                        store.put_embedding(chash, spaces["upright"].id, upright[k])
                        if rotated is not None:
                            store.put_embedding(chash, spaces["rot90"].id, rotated[k])
                        if chash not in have_facts:
                            facts.put_provenance(store, chash, provenance)
                            facts.put_local_features(store, chash, features or b"")
                report.computed += len(good)
            done += len(loaded)
            now = time.monotonic()
            if progress and (now - last_report >= 0.1 or done == len(items)):
                last_report = now
                rate = done / max(now - started, 1e-9)
                eta = (len(items) - done) / rate if rate > 0 else None
                progress(Progress("describing", done, len(items), rate, eta,
                                  items[min(done, len(items)) - 1][1]))
    report.cancelled = report.cancelled or cancel.is_set()
    report.seconds = time.monotonic() - started
    return report


def missing_descriptors(store: Store, spec: DescriptorSpec, rotations: bool = True) -> int:
    """How many distinct indexed photos lack a duplicate descriptor (0: the scan can start)."""
    spaces = descriptor_spaces(store, spec)
    hashes = {state[2] for state in store.photo_states().values()}
    missing = hashes - store.hashes_with_embedding(spaces["upright"].id)
    missing |= hashes - facts.hashes_with_facts(store)
    if rotations:
        missing |= hashes - store.hashes_with_embedding(spaces["rot90"].id)
    return len(missing)
