#!/usr/bin/env bash
# Install the `export` extra (what `rtseg export-sam2` and the SAM 2 tests need) on a clean machine:
# CPU torch, onnx, and Meta's SAM 2 code from PyPI's `sam2` 1.1.0.
#
# * torch is pinned to an exact version: a plain `torch` requirement would resolve to the multi-GB
#   CUDA build.
# * PyPI's `sam2` 1.1.0 is a third party's upload, not Meta's; its `sam2/` code is byte-identical to
#   facebookresearch/sam2 commit 2b90b9f. It is a source archive, so it is pinned by version *and*
#   sha256 (checked below before installing) and built with SAM2_BUILD_CUDA=0 and
#   --no-build-isolation (otherwise pip builds it against a freshly downloaded CUDA torch).
#   --no-deps keeps pip from resolving its `torch>=...`/`torchvision` requirements; the runtime
#   dependencies the video predictor needs are installed explicitly (no torchvision: only SAM 2's
#   image predictor and automatic mask generator import it).
set -euo pipefail

PYTHON="${PYTHON:-python}"
SAM2_VERSION=1.1.0
SAM2_SHA256=7e0ea252d43c10d853e3acfce0b5770ac683c30481bd6de311300e9d44f45b74

"$PYTHON" -m pip install "torch==2.13.0" "onnx==1.23.2" "hydra-core==1.3.8" "iopath==0.1.10" tqdm pillow numpy

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m pip download --no-deps --no-build-isolation --no-binary sam2 "sam2==${SAM2_VERSION}" -d "$tmp"
archive="$tmp/sam2-${SAM2_VERSION}.tar.gz"
echo "${SAM2_SHA256}  ${archive}" | sha256sum --check --strict -
SAM2_BUILD_CUDA=0 "$PYTHON" -m pip install --no-deps --no-build-isolation "$archive"

"$PYTHON" - <<'PY'
import torch, onnx, sam2.build_sam  # noqa: F401  (sam2.build_sam pulls hydra, iopath)
print(f"export extra ready: torch {torch.__version__}, onnx {onnx.__version__}, sam2 at {sam2.build_sam.__file__}")
PY
