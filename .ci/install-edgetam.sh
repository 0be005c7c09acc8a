#!/usr/bin/env bash
# Build the EdgeTAM environment from scratch: what `rtseg export-sam2 --variant edgetam` and the EdgeTAM
# tests (tests/test_edgetam.py) need. Its own virtualenv, because EdgeTAM's code installs under the import
# name `sam2` and would replace Meta's SAM 2 in the export environment.
#
#   .ci/install-edgetam.sh            -> ${EDGETAM_VENV:-.venv-edgetam}/bin/python
#
# * EdgeTAM (Meta, CVPR 2025, Apache-2.0, github facebookresearch/EdgeTAM) is not on PyPI under Meta's
#   name; `edgetam-dimos` 1.0.1 is a third party's wheel of it. It is pinned by version *and* sha256
#   (`pip download`, then checked below before installing) and installed with --no-deps.
#   Provenance, compared file by file with facebookresearch/EdgeTAM at commit 9cc44bf (2025-04-30, the
#   newest there; its last change under sam2/ is 1c2ec21): the wheel's 41 files under sam2/ are
#   byte-identical to the repository's, except
#     - sam2/utils/misc.py: get_connected_components uses the CUDA kernel only for CUDA tensors and
#       falls back to OpenCV on CPU (hole filling; see below);
#     - sam2/sam2_hiera_{t,s,b+,l}.yaml: symlinks in git, regular copies (identical content) in the wheel.
#   The model code (modeling/, build_sam.py, sam2_video_predictor.py, configs/edgetam.yaml) is Meta's.
# * torch is pinned exactly (the CPU build; a plain `torch` requirement resolves to the CUDA build).
#   torchvision 0.28.0 is the release paired with torch 2.13; PyPI's wheel is built against CUDA torch
#   and its import fails beside the CPU torch until the `torchvision::nms`/`qnms` operator schemas
#   exist. timm imports torchvision, so the tests put tests/edgetam_harness/ (a sitecustomize that
#   defines the two schemas, and makes timm's pretrained=True a no-op: the checkpoint replaces every
#   weight) on PYTHONPATH. Nothing in rtseg's package depends on either workaround.
# * timm 1.0.15 is the version EdgeTAM's own extras (`coreml`, `gradio`) pin.
# * Hole filling: EdgeTAM's package fills small holes in masks with OpenCV on CPU (the wheel's one change,
#   above), and OpenCV is here (rtseg's base dependencies). rtseg does not fill holes (as Meta's SAM 2
#   without its compiled extension), so tests/edgetam_reference.py sets fill_hole_area = 0.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON="${PYTHON:-python}"
VENV="${EDGETAM_VENV:-.venv-edgetam}"
case "$VENV" in /*) ;; *) VENV=$ROOT/$VENV ;; esac
EDGETAM_VERSION=1.0.1
EDGETAM_SHA256=cddc8aef9c6842205f2092d50f8b1cefcc87ad82a2b17d74edb1add57d5f5030
export PIP_DISABLE_PIP_VERSION_CHECK=1
start=$SECONDS

rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
py=$VENV/bin/python
"$py" -m pip install --quiet "torch==2.13.0" "torchvision==0.28.0" "timm==1.0.15" "onnx==1.23.2" "onnxruntime==1.32.0" \
    "hydra-core==1.3.8" "iopath==0.1.10" tqdm pillow numpy
# rtseg itself (its base dependencies: the CLI runs `rtseg export-sam2`; the export imports onnxruntime)
"$py" -m pip install --quiet -e "$ROOT"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --no-deps --only-binary :all: "edgetam-dimos==${EDGETAM_VERSION}" -d "$tmp"
wheel="$tmp/edgetam_dimos-${EDGETAM_VERSION}-py3-none-any.whl"
echo "${EDGETAM_SHA256}  ${wheel}" | sha256sum --check --strict -
"$py" -m pip install --quiet --no-deps "$wheel"

PYTHONPATH="$ROOT/tests/edgetam_harness${PYTHONPATH:+:$PYTHONPATH}" "$py" - <<'PY'
import importlib.util

import onnx
import timm
import torch

import sam2.build_sam  # noqa: F401  (pulls hydra, iopath)

assert importlib.util.find_spec("sam2.modeling.perceiver") is not None, "sam2 here is not EdgeTAM's"
print(f"EdgeTAM environment ready: torch {torch.__version__}, timm {timm.__version__}, onnx {onnx.__version__}, "
      f"sam2 (edgetam-dimos) at {sam2.build_sam.__file__}")
PY
echo "install-edgetam.sh: $VENV built in $((SECONDS - start)) s"
