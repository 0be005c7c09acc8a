"""``rtseg devices``: virtual cameras are reported from a (fake) sysfs tree, not just from backends."""

from __future__ import annotations

from pathlib import Path

from rtseg.devices import (
    LoopbackDevice,
    describe_virtual_cameras,
    loopback_devices,
    report,
)
from rtseg.sinks.vcam import MODPROBE_COMMAND


def _video(parent: Path, name: str, label: str | None) -> None:
    d = parent / name
    d.mkdir(parents=True)
    if label is not None:
        (d / "name").write_text(label + "\n")


def _fake_sysfs(root: Path) -> Path:
    # a real USB camera hangs below its bus; loopback devices are virtual
    _video(root / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / "1-1" / "video4linux", "video0", "USB Cam")
    virtual = root / "devices" / "virtual" / "video4linux"
    _video(virtual, "video10", "rtseg")
    _video(virtual, "video2", "OBS Virtual Camera")
    _video(virtual, "video11", None)  # no readable label
    (virtual / "video3").write_text("")  # not a directory: ignored
    return root


def test_loopback_devices_come_from_the_virtual_tree(tmp_path: Path) -> None:
    found = loopback_devices(_fake_sysfs(tmp_path))
    assert found == [
        LoopbackDevice("/dev/video2", "OBS Virtual Camera"),
        LoopbackDevice("/dev/video10", "rtseg"),
        LoopbackDevice("/dev/video11", ""),
    ]
    assert [str(d) for d in found] == ["/dev/video2 (OBS Virtual Camera)", "/dev/video10 (rtseg)", "/dev/video11"]


def test_no_loopback_devices(tmp_path: Path) -> None:
    assert loopback_devices(tmp_path / "absent") == []
    assert loopback_devices(tmp_path) == []
    # only real cameras
    _video(tmp_path / "devices" / "pci0000:00" / "video4linux", "video0", "USB Cam")
    (tmp_path / "devices" / "virtual" / "video4linux").mkdir(parents=True)
    assert loopback_devices(tmp_path) == []


def test_describe_virtual_cameras(tmp_path: Path) -> None:
    line = describe_virtual_cameras(["v4l2loopback"], tmp_path, platform="linux")
    assert line == f"none (v4l2loopback backend present, no loopback device: {MODPROBE_COMMAND})"
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=rtseg" in line
    line = describe_virtual_cameras(["v4l2loopback"], _fake_sysfs(tmp_path), platform="linux")
    assert line == (
        "/dev/video2 (OBS Virtual Camera) [v4l2loopback], /dev/video10 (rtseg) [v4l2loopback], "
        "/dev/video11 [v4l2loopback]"
    )
    assert describe_virtual_cameras([], tmp_path, platform="linux").startswith("none")
    other = describe_virtual_cameras(["obs", "unitycapture"], tmp_path, platform="win32")
    assert other.startswith("obs, unitycapture: not checked")


def test_report_has_a_virtual_cameras_line() -> None:
    lines = report()
    backends = [line for line in lines if line.startswith("virtual camera backends: ")]
    assert len(backends) == 1
    if "pyvirtualcam not importable" not in backends[0]:
        assert sum(line.startswith("virtual cameras: ") for line in lines) == 1
