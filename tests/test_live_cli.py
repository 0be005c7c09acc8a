"""``rtseg webcam`` end to end (real subprocess, real clip replayed in real time, shortened durations)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from rtseg.errors import SinkError
from rtseg.frame import Frame
from rtseg.live.cli import cli_data, combine, expand_optional_values
from rtseg.live.config import build_live_config
from rtseg.live.hotkeys import LiveControls
from rtseg.sinks.preview import PreviewSink, display_problem, draw_overlay
from tests.conftest import DATA, ROOT, require, run_cli

CLIP = DATA / "webcam" / "thoughtful-640x360.mp4"
KEYS = {"frames_in", "frames_out", "dropped", "fps", "duration_s", "latency_ms", "stages", "cpu_percent", "max_rss_mb"}


def replay(*extra: str) -> list[str]:
    return ["webcam", "--source", str(require(CLIP)), "--realtime", *extra]


# -- --blur [N] --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (["--blur"], ["--blur", "25"]),
        (["--blur", "--sink", "null"], ["--blur", "25", "--sink", "null"]),
        (["--blur", "12"], ["--blur", "12"]),
        (["--blur", "7.5", "--vcam"], ["--blur", "7.5", "--vcam"]),
        (["--blur=9"], ["--blur=9"]),
        (["--vcam"], ["--vcam"]),
        (["--", "--blur"], ["--", "--blur"]),
    ],
)
def test_blur_takes_an_optional_value(args: list[str], want: list[str]) -> None:
    assert expand_optional_values(args, {"--blur": "25"}) == want


@pytest.mark.parametrize(
    ("flag", "strength"), [([], 25.0), (["--blur"], 25.0), (["--blur", "12"], 12.0), (["--blur=40"], 40.0)]
)
def test_blur_option_reaches_the_effect(tmp_path: Path, flag: list[str], strength: float) -> None:
    stats = tmp_path / "s.json"
    r = run_cli(*replay(*flag, "--sink", "null", "--duration", "0.5", "--stats-json", str(stats), "--no-status"))
    assert r.returncode == 0, r.stderr
    effect = json.loads(stats.read_text())["live"]["effect"]
    assert effect == {"mode": "blur", "strength": strength, "backgrounds": 0, "fail_closed_ms": None}


def test_stats_json_has_the_documented_keys_and_consistent_numbers(tmp_path: Path) -> None:
    stats = tmp_path / "s.json"
    r = run_cli(*replay("--blur", "--sink", "null", "--duration", "2", "--stats-json", str(stats), "--status"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(stats.read_text())
    assert set(doc) >= KEYS
    assert set(doc["latency_ms"]) == {"p50", "p95", "p99", "max"}
    for name in ("source", "segment", "carry", "composite", "null", "infer"):
        assert {"p50_ms", "p95_ms", "p99_ms"} <= set(doc["stages"][name])
    # Inference rate and carry-forward age (issue 7); the selfie model keeps up here, so ages are small.
    live = doc["live"]
    assert live["inference"]["results"] >= 1 and live["inference"]["rate_hz"] > 0
    assert set(live["carry"]["age_frames"]) == {"p50", "p99", "max", "mean"} and live["carry"]["enabled"]
    assert doc["frames_in"] == doc["frames_out"] + doc["dropped"] == 60
    assert doc["duration_s"] == pytest.approx(2.0, abs=0.5)
    assert 0 < doc["latency_ms"]["p50"] <= doc["latency_ms"]["p99"] <= doc["latency_ms"]["max"]
    assert 0 < doc["cpu_percent"] < 200 and doc["max_rss_mb"] > 50
    # The periodic status line, then the summary.
    assert "live 0:0" in r.stderr and "fps" in r.stderr and "dropped" in r.stderr
    assert "webcam: " in r.stderr and " frames in " in r.stderr


def test_record_with_several_sinks_and_replace(tmp_path: Path) -> None:
    out = tmp_path / "rec.mp4"
    r = run_cli(
        *replay("--background", "#00ff00", "--record", str(out), "--sink", "null", "--duration", "1", "--no-status")
    )
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        rate = c.streams.video[0].average_rate
    assert len(frames) == 30 and abs(float(rate) - 29.97) < 0.1
    # Green-screen background: the top corners (no person there) are green.
    corner = frames[15][:40, :40].reshape(-1, 3).mean(axis=0)
    assert corner[1] > 200 and corner[0] < 60 and corner[2] < 60


def test_config_file_runs_with_command_line_overrides(tmp_path: Path) -> None:
    stats = tmp_path / "s.json"
    r = run_cli(
        *replay(
            "--config",
            "configs/webcam-replace.toml",
            "--sink",
            "null",
            "--duration",
            "0.5",
            "--stats-json",
            str(stats),
            "--no-status",
        )
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(stats.read_text())
    assert doc["live"]["effect"]["mode"] == "replace" and doc["live"]["effect"]["backgrounds"] == 2
    assert doc["live"]["outputs"] == ["null"]  # --sink null replaced the config's vcam
    assert doc["source"] == str(CLIP)  # --source replaced the config's camera


def test_sam2_options_reach_the_config() -> None:
    data = cli_data(model="sam2", model_dir="/models/t", point=["640,360", "10,20,0"], box="1,2,30,40",
                    threads=2, carry=False, target_fps=24, cpu_budget=150)
    cfg = build_live_config(combine({}, data))
    assert cfg.model.is_sam2 and cfg.model.dir == "/models/t" and cfg.model.threads == 2
    assert cfg.prompt.points == [(640.0, 360.0), (10.0, 20.0)] and cfg.prompt.point_labels == [1, 0]
    assert cfg.prompt.box == (1.0, 2.0, 30.0, 40.0)
    assert not cfg.carry.enabled and cfg.adaptive.target_fps == 24 and cfg.adaptive.cpu_budget == 150
    assert cfg.max_wait_s == 0.0


def test_shipped_sam2_config_is_valid() -> None:
    from rtseg.config import load_toml

    data = combine(load_toml(ROOT / "configs" / "webcam-sam2.toml"), cli_data(model_dir="/models/t"))
    cfg = build_live_config(data, "webcam-sam2.toml")
    assert cfg.model.is_sam2 and cfg.model.threads == 1 and cfg.prompt.point_labels == [1]


@pytest.mark.parametrize("name", ["webcam-blur.toml", "webcam-replace.toml"])
def test_shipped_configs_are_valid(name: str) -> None:
    from rtseg.config import load_toml

    cfg = build_live_config(combine(load_toml(ROOT / "configs" / name), cli_data()), name)
    assert cfg.source.device == 0 and cfg.output.vcam and cfg.source.fourcc == "MJPG"
    for bg in cfg.effect.backgrounds:
        assert bg.startswith("#") or (ROOT / bg).is_file()


def test_no_camera_is_a_one_line_error() -> None:
    r = run_cli("webcam", "--device", "5", "--sink", "null", "--duration", "1")
    assert r.returncode == 1
    assert "error: no camera: tried /dev/video5 with OpenCV V4L2" in r.stderr
    assert "Traceback" not in r.stderr


def test_no_virtual_camera_device_says_how_to_get_one() -> None:
    r = run_cli(*replay("--vcam", "--duration", "1"))
    assert r.returncode == 1
    assert "no virtual camera" in " ".join(r.stderr.split())
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=rtseg" in " ".join(r.stderr.split())


def test_preview_without_a_display_is_a_clear_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    r = subprocess.run(
        [sys.executable, "-m", "rtseg", *replay("--preview", "--duration", "1")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200"},
        timeout=120,
    )
    assert r.returncode == 1
    assert "cannot open the preview window: no display" in r.stderr


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["webcam", "--source", str(CLIP), "--sink", "null"], "must be replayed in real time: add --realtime"),
        (["webcam", "--source", str(CLIP), "--realtime", "--device", "0", "--sink", "null"], "not both"),
        (["webcam", "--source", str(CLIP), "--realtime", "--sink", "null", "--blur", "-3"], "effect.strength"),
        (["webcam", "--source", str(CLIP), "--realtime", "--sink", "null", "--model", "sam2"], "needs --model-dir"),
        (["webcam", "--source", str(CLIP), "--realtime", "--sink", "null", "--point", "3"], "--point expects X,Y"),
        (["webcam", "--source", str(CLIP), "--realtime", "--sink", "null", "--point", "3,4"], "need --model sam2"),
    ],
)
def test_bad_options_are_config_errors(args: list[str], msg: str) -> None:
    r = run_cli(*args)
    assert r.returncode == 2, r.stderr
    assert msg in " ".join(r.stderr.split())


def test_ctrl_c_ends_cleanly_and_keeps_the_recording(tmp_path: Path) -> None:
    out, stats = tmp_path / "rec.mp4", tmp_path / "s.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rtseg",
            *replay("--blur", "--record", str(out), "--sink", "null", "--stats-json", str(stats), "--status"),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # the first status line: frames are flowing
    assert line.startswith("live "), line
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, rest
    doc = json.loads(stats.read_text())
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == doc["frames_out"] >= 30
    assert f"wrote {out}" in " ".join(rest.split())


# -- preview pieces that need no window ---------------------------------------------------------------


def test_preview_refuses_to_open_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert display_problem() is not None
    with pytest.raises(SinkError, match="no display: DISPLAY and WAYLAND_DISPLAY are unset"):
        PreviewSink(LiveControls()).open()
    monkeypatch.setenv("DISPLAY", ":0")
    assert display_problem() is None


def test_stats_overlay_darkens_a_band_and_leaves_the_frame_untouched() -> None:
    img = np.full((180, 320, 3), 200, np.uint8)
    frame = Frame(img, index=0)
    out = draw_overlay(frame.image, ["30.0 fps   latency p50 12 ms", "dropped 0"])
    assert np.array_equal(img, np.full((180, 320, 3), 200, np.uint8))  # a copy was drawn on
    assert out[5, 5].max() < 120 and out[-5, -5].tolist() == [200, 200, 200]
    assert (out[:60, :200] == 255).any()  # white text


def test_run_config_file_is_the_hook_for_rtseg_run(tmp_path: Path) -> None:
    # `rtseg run FILE` hands a command = "webcam" file to rtseg.live.cli.run_config_file.
    from rtseg.live.cli import run_config_file

    cfg, stats = tmp_path / "live.toml", tmp_path / "s.json"
    cfg.write_text(f'command = "webcam"\n[source]\nfile = "{require(CLIP)}"\nrealtime = true\n'
                   '[output]\nnull = true\n[run]\nduration = 0.5\nstatus = false\n')
    run_config_file(cfg, stats_json=stats)
    doc = json.loads(stats.read_text())
    assert doc["command"] == "webcam" and doc["frames_out"] == 15
