"""``rtseg devices``: what this machine offers (and why not)."""

from __future__ import annotations

import glob
import sys
from importlib.metadata import PackageNotFoundError, version


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def onnx_providers() -> list[str]:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - a dependency
        return [f"onnxruntime not importable: {exc}"]
    return list(ort.get_available_providers())


def cameras() -> list[str]:
    if sys.platform.startswith("linux"):
        nodes = sorted(glob.glob("/dev/video*"))
        return nodes
    return []


def virtual_camera_backends() -> list[str]:
    lines = []
    try:
        import pyvirtualcam
        from pyvirtualcam.camera import BACKENDS
    except ImportError as exc:
        return [f"pyvirtualcam not importable: {exc}"]
    for name in BACKENDS:
        lines.append(name)
    lines.append(f"(pyvirtualcam {pyvirtualcam.__version__})")
    return lines


def report() -> list[str]:
    from rtseg import __version__

    lines = [f"rtseg {__version__}", f"python {sys.version.split()[0]}",
             f"mediapipe {_pkg('mediapipe')}", f"opencv-contrib-python {_pkg('opencv-contrib-python')}",
             f"av {_pkg('av')}", f"onnxruntime {_pkg('onnxruntime')}"]
    lines.append("onnxruntime providers: " + ", ".join(onnx_providers()))
    from rtseg.segment.providers import describe_providers

    lines.append("execution providers for SAM 2: " + describe_providers())
    cams = cameras()
    lines.append("cameras: " + (", ".join(cams) if cams else "none found (no /dev/video* devices)"))
    lines.append("virtual camera backends: " + ", ".join(virtual_camera_backends()))
    return lines
