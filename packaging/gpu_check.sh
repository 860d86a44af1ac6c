#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (driver only; no system CUDA needed): install simdesk in a fresh
# venv, put the GPU build of ONNX Runtime in place (`simdesk gpu enable`), index the same photos
# once on CUDA and once on the CPU, and print photos/s for both and the cosine between the two
# runs' embeddings (>= 0.999 expected: the same model on two providers).
#
#   packaging/gpu_check.sh [PHOTOS]     (default: ../shared/data/imagenette-val)
#
# Uses the offline model (efficientnet-lite0; no download besides the pip packages). Writes only
# under a temporary folder, removed at the end.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(dirname "$HERE")
PHOTOS=$(cd "${1:-$SRC/../shared/data/imagenette-val}" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/simdesk-gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export SIMDESK_MODELS_DIR=$WORK/models

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$SRC"
SIMDESK=$WORK/venv/bin/simdesk
"$SIMDESK" gpu enable          # exits 1 unless a CUDA session really runs
"$SIMDESK" models install efficientnet-lite0

for provider in cuda cpu; do
    echo "== $provider"
    SIMDESK_PROVIDER=$provider "$SIMDESK" --library "$WORK/lib-$provider" index "$PHOTOS" \
        --model efficientnet-lite0 2>&1 | grep -E "^Model|photos/s|photos found|note:"
done

"$WORK/venv/bin/python" - "$WORK" <<'PY'
import sys
import numpy as np
from simdesk.core.library import Library

work = sys.argv[1]
runs = {}
for provider in ("cuda", "cpu"):
    library = Library(f"{work}/lib-{provider}")
    space = library.space()
    ids, vectors = library.store.load_embeddings(space)
    paths = {r.id: r.path for r in library.store.photos_by_ids(ids.tolist()).values()}
    runs[provider] = {paths[i]: v for i, v in zip(ids.tolist(), vectors.astype(np.float32))}
common = sorted(set(runs["cuda"]) & set(runs["cpu"]))
a = np.stack([runs["cuda"][p] for p in common])
b = np.stack([runs["cpu"][p] for p in common])
cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
print(f"cosine CUDA vs CPU over {len(common)} photos: min {cos.min():.5f}, mean {cos.mean():.5f}"
      f" ({'ok' if cos.min() >= 0.999 else 'BELOW 0.999'})")
PY
