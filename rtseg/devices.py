"""``rtseg devices``: what this machine offers (and why not)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from rtseg.segment.providers import available_providers
from rtseg.sinks.vcam import MODPROBE_COMMAND
from rtseg.sources.camera import list_cameras


def _pkg(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def onnx_providers() -> list[str]:
    try:
        return available_providers()
    except ImportError as exc:  # pragma: no cover - a dependency
        return [f"onnxruntime not importable: {exc}"]


@dataclass(frozen=True, slots=True)
class LoopbackDevice:
    """A v4l2loopback device found in sysfs."""

    node: str
    """Device node, e.g. ``/dev/video10``."""
    label: str
    """Its card label (``card_label=`` at modprobe time), empty when unreadable."""

    def __str__(self) -> str:
        return f"{self.node} ({self.label})" if self.label else self.node


def _video_index(path: Path) -> tuple[int, str]:
    digits = path.name[len("video") :]
    return (int(digits), path.name) if digits.isdigit() else (sys.maxsize, path.name)


def loopback_devices(sysfs_root: str | Path = "/sys") -> list[LoopbackDevice]:
    """v4l2loopback devices under ``sysfs_root`` (a real or fake sysfs tree), by device number.

    Real cameras hang below their bus (``/sys/devices/pci.../video4linux/videoN``); v4l2loopback
    devices have no hardware behind them and sit in ``devices/virtual/video4linux/videoN``.
    """
    base = Path(sysfs_root) / "devices" / "virtual" / "video4linux"
    try:
        entries = [p for p in base.iterdir() if p.name.startswith("video") and p.is_dir()]
    except OSError:  # no such directory: no video4linux module loaded, or not Linux
        return []
    found = []
    for entry in sorted(entries, key=_video_index):
        try:
            label = (entry / "name").read_text(errors="replace").strip()
        except OSError:
            label = ""
        found.append(LoopbackDevice(node=f"/dev/{entry.name}", label=label))
    return found


def virtual_camera_backends() -> tuple[list[str], str]:
    """pyvirtualcam's backends on this platform and a note (its version, or why it cannot be imported)."""
    try:
        import pyvirtualcam
        from pyvirtualcam.camera import BACKENDS
    except ImportError as exc:
        return [], f"pyvirtualcam not importable: {exc}"
    return list(BACKENDS), f"pyvirtualcam {pyvirtualcam.__version__}"


def describe_virtual_cameras(
    backends: list[str], sysfs_root: str | Path = "/sys", platform: str = sys.platform
) -> str:
    """The ``virtual cameras:`` line: usable devices, or what is missing and how to get it.

    A v4l2loopback backend is only a driver binding; without a loopback device there is nothing for
    it to write to. Other backends (OBS, Unity Capture) cannot be checked without opening them.
    """
    if not backends:
        return "none (no pyvirtualcam backend on this platform)"
    parts = []
    others = list(backends)
    if "v4l2loopback" in backends and platform.startswith("linux"):
        others.remove("v4l2loopback")
        devices = loopback_devices(sysfs_root)
        if devices:
            parts.append(", ".join(f"{d} [v4l2loopback]" for d in devices))
        else:
            parts.append(f"none (v4l2loopback backend present, no loopback device: {MODPROBE_COMMAND})")
    if others:
        parts.append(f"{', '.join(others)}: not checked (the backend's own virtual camera must be installed)")
    return "; ".join(parts)


def rvm_status() -> str:
    """Whether ``--quality high`` can run here: the imported RVM model's folder, or how to make it."""
    from rtseg.errors import ModelError
    from rtseg.segment.rvm import check_model_dir, default_dir

    folder = default_dir()
    try:
        check_model_dir(folder, verify=False)
    except ModelError as exc:
        if folder.exists() and not folder.is_dir():
            return f"not usable: {exc}"
        return f"not imported ({folder} has no model; `rtseg import-rvm` makes it)"
    return f"ready ({folder})"


def report() -> list[str]:
    from rtseg.version import __version__

    lines = [f"rtseg {__version__}", f"python {sys.version.split()[0]}",
             f"mediapipe {_pkg('mediapipe')}", f"opencv-contrib-python {_pkg('opencv-contrib-python')}",
             f"av {_pkg('av')}", f"onnxruntime {_pkg('onnxruntime')}"]
    from rtseg.segment.registry import MODELS

    lines.append("models: " + "; ".join(f"{e.name} ({e.summary})" for e in MODELS.values()))
    lines.append("onnxruntime providers: " + ", ".join(onnx_providers()))
    from rtseg.segment.providers import describe_gpu_path, describe_providers

    lines.append("execution providers for SAM 2: " + describe_providers())
    lines.append("SAM 2 here: " + describe_gpu_path())
    from rtseg.segment.selfie import litert_available

    lines.append("selfie model runtime: " + ("LiteRT (ai-edge-litert " + _pkg("ai-edge-litert") + ")"
                                             if litert_available() else "MediaPipe Tasks (LiteRT not installed)"))
    lines.append("--quality high (rvm): " + rvm_status())
    cams = list_cameras()
    lines.append("cameras: " + (", ".join(cams) if cams else "none found (no /dev/video* devices)"))
    backends, note = virtual_camera_backends()
    lines.append(f"virtual camera backends: {', '.join(backends) or 'none'} ({note})")
    if backends:
        lines.append("virtual cameras: " + describe_virtual_cameras(backends))
    return lines
