"""Two workarounds the EdgeTAM environment (``.ci/install-edgetam.sh``) needs; test harness only.

Python imports ``sitecustomize`` at start-up when it is on ``sys.path``: the EdgeTAM tests run the
EdgeTAM environment's python with this folder on ``PYTHONPATH`` (for ``rtseg export-sam2 --variant
edgetam`` and for the PyTorch reference). Nothing in rtseg's package needs or imports it. Both fixes are
applied lazily, when the module concerned is first imported, so a process that never imports it pays
nothing:

1. ``torchvision``: PyPI's torchvision 0.28.0 is built against the CUDA build of torch 2.13. Beside the
   CPU build its compiled ops library does not load, and its import then fails where it registers
   fake (meta) kernels for ``torchvision::nms`` and ``torchvision::qnms``, operators whose schemas
   only that library defines. Defining the two schemas first (``torch.library``, with torchvision's
   own signatures) lets the import finish. EdgeTAM never calls them: timm imports torchvision only for
   its image transforms.
2. ``timm.create_model(..., pretrained=True)``: EdgeTAM's ``TimmBackbone`` asks for RepViT's ImageNet
   weights, which would be downloaded from the Hugging Face hub (unreachable here). The EdgeTAM
   checkpoint (or rtseg's random-weight export) replaces every weight of the backbone anyway, so
   ``pretrained`` is forced to False: the same architecture, no download.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any

_TORCHVISION_SCHEMAS = {
    "torchvision::nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "torchvision::qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARIES: list[Any] = []  # keep the torch.library handles alive (the schemas go with them)


def _define_torchvision_schemas() -> None:
    import torch

    missing = [name for name in _TORCHVISION_SCHEMAS if not _schema_exists(name)]
    if not missing:
        return
    lib = torch.library.Library("torchvision", "DEF")
    for name in missing:
        lib.define(_TORCHVISION_SCHEMAS[name])
    _LIBRARIES.append(lib)


def _schema_exists(name: str) -> bool:
    import torch

    try:
        torch._C._get_schema(name, "")
    except RuntimeError:
        return False
    return True


def _patch_timm(timm: Any) -> None:
    import timm.models

    original = timm.models.create_model
    if getattr(original, "_edgetam_harness", False):
        return

    def create_model(*args: Any, **kwargs: Any) -> Any:
        kwargs["pretrained"] = False
        return original(*args, **kwargs)

    create_model._edgetam_harness = True  # type: ignore[attr-defined]
    timm.models.create_model = create_model
    timm.create_model = create_model


class _Hook(importlib.abc.MetaPathFinder):
    """Runs a fix before (torchvision) or after (timm) the top-level module executes."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in ("torchvision", "timm"):
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = loader.exec_module  # type: ignore[union-attr]

        def exec_module(module: Any) -> None:
            if fullname == "torchvision":
                _define_torchvision_schemas()
            original_exec(module)
            if fullname == "timm":
                _patch_timm(module)

        loader.exec_module = exec_module  # type: ignore[method-assign,union-attr]
        return spec


sys.meta_path.insert(0, _Hook())
