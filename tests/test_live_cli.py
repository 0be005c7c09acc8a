"""``rtseg webcam``: options → job spec (in process), and end to end (real subprocess, real clip
replayed in real time, shortened durations; marked slow). Frame counts of real-time runs are
asserted as totals that add up (delivered + dropped), which a busy machine cannot change."""

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

from rtseg.cli.live import SinkName, cli_data, expand_optional_values, webcam_spec
from rtseg.errors import ConfigError, SinkError
from rtseg.frame import Frame, StreamInfo
from rtseg.jobs import JobSpec, OutputKind, build
from rtseg.jobs.segmenters import prompts_of
from rtseg.jobs.spec import EffectKind
from rtseg.sinks.preview import PreviewSink, display_problem, draw_overlay
from rtseg.sources.realtime import RealtimeSource
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


def test_blur_and_background_options_make_the_effect() -> None:
    src = {"source": str(CLIP), "realtime": True, "sink": [SinkName.NULL]}
    spec = webcam_spec(cli_data(**src))
    assert (spec.effective_effect.value, spec.effect.strength) == ("blur", 25.0)
    spec = webcam_spec(cli_data(**src, blur=12))
    assert (spec.effective_effect.value, spec.effect.strength) == ("blur", 12.0)
    spec = webcam_spec(cli_data(**src, background=["#00ff00", "#0000ff"]))
    assert spec.effective_effect.value == "replace" and spec.effect.backgrounds == ["#00ff00", "#0000ff"]
    spec = webcam_spec(cli_data(**src, effect=EffectKind.NONE))
    assert spec.effective_effect.value == "none"
    assert [o.kind for o in spec.outputs] == [OutputKind.NULL] and spec.live


def test_a_virtual_camera_is_the_default_output_and_no_file_means_camera_0() -> None:
    spec = webcam_spec(cli_data(vcam_device="/dev/video10"))
    assert spec.live and spec.source.camera is None and spec.source.path is None
    assert [(o.kind, o.vcam_device) for o in spec.outputs] == [(OutputKind.VCAM, "/dev/video10")]
    source = build(spec).source
    assert source.options.camera == 0  # type: ignore[attr-defined]
    spec = webcam_spec(cli_data(camera="/dev/video2", preview=True, record=Path("r.mp4")))
    assert spec.source.camera == "/dev/video2"
    assert [o.kind for o in spec.outputs] == [OutputKind.PREVIEW, OutputKind.RECORD]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flag", "strength"), [([], 25.0), (["--blur"], 25.0), (["--blur", "12"], 12.0), (["--blur=40"], 40.0)]
)
def test_blur_option_reaches_the_effect(tmp_path: Path, flag: list[str], strength: float) -> None:
    stats = tmp_path / "s.json"
    r = run_cli(*replay(*flag, "--sink", "null", "--duration", "0.5", "--stats-json", str(stats), "--no-status"))
    assert r.returncode == 0, r.stderr
    effect = json.loads(stats.read_text())["live"]["effect"]
    assert effect == {"mode": "blur", "strength": strength, "backgrounds": 0, "fail_closed_ms": None}


@pytest.mark.slow
def test_stats_json_has_the_documented_keys_and_consistent_numbers(tmp_path: Path) -> None:
    stats = tmp_path / "s.json"
    # 3 s: the status line comes every 2 s.
    r = run_cli(*replay("--blur", "--sink", "null", "--duration", "3", "--stats-json", str(stats), "--status"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(stats.read_text())
    assert set(doc) >= KEYS
    assert set(doc["latency_ms"]) == {"p50", "p95", "p99", "max"}
    for name in ("source", "segment", "carry", "composite", "null", "infer"):
        assert {"p50_ms", "p95_ms", "p99_ms"} <= set(doc["stages"][name])
    # Inference rate and carry-forward age.
    live = doc["live"]
    assert live["inference"]["results"] >= 1 and live["inference"]["rate_hz"] > 0
    assert set(live["carry"]["age_frames"]) == {"p50", "p99", "max", "mean"} and live["carry"]["enabled"]
    # 3 s of the 29.97 fps clip: every frame was delivered or dropped (late or in a queue), and counted.
    late = live["replay"]["late_dropped"]
    assert doc["frames_out"] + doc["dropped"] == 90 and doc["frames_in"] + late == 90
    assert doc["dropped"] == sum(doc["drops_by_queue"].values())
    assert doc["duration_s"] >= 89 / 29.97 - 0.01  # the replay clock ran to the last frame's due time
    assert 0 < doc["latency_ms"]["p50"] <= doc["latency_ms"]["p99"] <= doc["latency_ms"]["max"]
    assert doc["cpu_percent"] > 0 and doc["max_rss_mb"] > 50
    assert doc["command"] == "webcam" and doc["source"] == str(CLIP) and doc["model"] == "selfie"
    # The periodic status line, then the summary.
    assert "live 0:0" in r.stderr and "fps" in r.stderr and "dropped" in r.stderr
    assert "webcam: " in r.stderr and " frames in " in r.stderr


@pytest.mark.slow
def test_record_with_several_sinks_and_replace(tmp_path: Path) -> None:
    out, stats = tmp_path / "rec.mp4", tmp_path / "s.json"
    r = run_cli(*replay("--background", "#00ff00", "--record", str(out), "--sink", "null", "--duration", "1",
                        "--stats-json", str(stats), "--no-status"))
    assert r.returncode == 0, r.stderr
    doc = json.loads(stats.read_text())
    with av.open(str(out)) as c:
        decoded = list(c.decode(video=0))
        frames = [f.to_ndarray(format="rgb24") for f in decoded]
        rate = c.streams.video[0].base_rate
    # Every frame that left the graph was recorded (30 in 1 s, less any a busy machine dropped).
    assert len(frames) == doc["frames_out"] and doc["frames_out"] + doc["dropped"] == 30
    # At the camera's rate and timing: a dropped frame leaves a gap, it does not shift later frames.
    assert rate is not None and abs(float(rate) - 29.97) < 0.1
    ticks = [float(f.pts * f.time_base) * 30000 / 1001 for f in decoded]
    assert all(abs(t - round(t)) < 1e-3 for t in ticks) and ticks == sorted(ticks) and round(ticks[-1]) <= 29
    assert doc["live"]["outputs"] == ["record", "null"]
    # Green-screen background: the top corners (no person there) are green.
    corner = frames[-1][:40, :40].reshape(-1, 3).mean(axis=0)
    assert corner[1] > 200 and corner[0] < 60 and corner[2] < 60


@pytest.mark.slow
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


def test_sam2_options_reach_the_spec() -> None:
    data = cli_data(model="sam2", model_dir=Path("/models/t"), point=["640,360", "10,20,0"], box="1,2,30,40",
                    threads=2, carry=False, target_fps=24, cpu_budget=150, source=str(CLIP), realtime=True)
    spec = webcam_spec(data)
    assert spec.model.tracks_objects and spec.model.dir == "/models/t" and spec.model.threads == 2
    [prompt] = prompts_of(spec.model)
    assert prompt.points == ((640.0, 360.0), (10.0, 20.0)) and prompt.labels == (1, 0)
    assert prompt.box == (1.0, 2.0, 30.0, 40.0) and (prompt.frame, prompt.obj_id) == (0, 1)
    assert not spec.mask.carry.enabled
    assert spec.schedule.target_fps == 24 and spec.schedule.cpu_budget == 150
    pipeline = build(spec)  # nothing is opened: no model is loaded
    assert pipeline.segment.schedule.max_wait_s == 0.0  # type: ignore[union-attr]
    assert pipeline.carry is not None and not pipeline.carry.enabled
    assert pipeline.adaptive is not None and pipeline.adaptive.target.scales == (1.0,)  # SAM 2 cannot scale


def test_shipped_sam2_config_is_valid() -> None:
    spec = webcam_spec(cli_data(model_dir=Path("/models/t")), ROOT / "configs" / "webcam-sam2.toml")
    assert spec.model.tracks_objects and spec.model.threads == 1 and spec.model.dir == "/models/t"
    assert [p.labels for p in prompts_of(spec.model)] == [(1,)]
    assert spec.source.path == "sample" and spec.source.realtime and spec.live


@pytest.mark.parametrize("name", ["webcam-blur.toml", "webcam-replace.toml"])
def test_shipped_configs_are_valid(name: str) -> None:
    spec = webcam_spec(cli_data(), ROOT / "configs" / name)
    assert spec.source.camera == 0 and spec.source.fourcc == "MJPG" and spec.live
    assert [o.kind for o in spec.outputs] == [OutputKind.VCAM]
    for bg in spec.effect.backgrounds:
        assert bg.startswith("#") or Path(bg).is_file()  # relative to the config file
    assert JobSpec.from_toml(ROOT / "configs" / name) == spec


def test_the_shipped_replay_config_runs_without_a_camera() -> None:
    spec = JobSpec.from_toml(ROOT / "configs" / "webcam-replay.toml")
    assert spec.live and spec.source.path == "sample" and spec.source.realtime
    assert isinstance(build(spec).source, RealtimeSource)


@pytest.mark.parametrize(
    ("options", "msg"),
    [
        ({"source": str(CLIP)}, "must be replayed in real time: add --realtime"),
        ({"source": str(CLIP), "realtime": True, "camera": "0"}, "not both"),
        ({"source": str(CLIP), "realtime": True, "blur": -3}, "effect.strength"),
        ({"source": str(CLIP), "realtime": True, "model": "sam2"}, "needs --model-dir"),
        ({"source": str(CLIP), "realtime": True, "point": ["3"]}, "--point expects X,Y"),
        ({"source": str(CLIP), "realtime": True, "point": ["3,4"]}, "need --model sam2"),
        ({"source": str(CLIP), "realtime": True, "sink": [SinkName.NULL], "effect": EffectKind.CUTOUT,
          "vcam": True}, "a virtual camera cannot carry alpha"),
    ],
)
def test_bad_options_are_config_errors_in_the_spec(options: dict, msg: str) -> None:
    with pytest.raises(ConfigError) as info:
        webcam_spec(cli_data(**{"sink": [SinkName.NULL], **options}))
    assert msg in " ".join(str(info.value).split())


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--camera", "--device"])
def test_no_camera_is_a_one_line_error(flag: str) -> None:
    r = run_cli("webcam", flag, "5", "--sink", "null", "--duration", "1")
    assert r.returncode == 1
    assert "error: no camera: tried /dev/video5 with OpenCV V4L2" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_no_virtual_camera_device_says_how_to_get_one() -> None:
    r = run_cli(*replay("--vcam", "--duration", "1"))
    assert r.returncode == 1
    assert "no virtual camera" in " ".join(r.stderr.split())
    assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=rtseg" in " ".join(r.stderr.split())


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["webcam", "--source", str(CLIP), "--sink", "null"], "must be replayed in real time: add --realtime"),
        (["webcam", "--source", str(CLIP), "--realtime", "--camera", "0", "--sink", "null"], "not both"),
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


@pytest.mark.slow
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
    line = ""
    while not line.startswith("live "):  # the first status line: frames are flowing (other lines: model logs)
        line = proc.stderr.readline()
        assert line, "rtseg ended before its first status line"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, rest
    doc = json.loads(stats.read_text())
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n == doc["frames_out"] >= 1  # every frame that left the graph before Ctrl-C was recorded
    assert doc["frames_out"] + doc["dropped"] == doc["frames_in"] + doc["live"]["replay"]["late_dropped"]
    assert f"wrote {out}" in " ".join(rest.split())


# -- preview pieces that need no window ---------------------------------------------------------------


def test_preview_refuses_to_open_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert display_problem() is not None
    with pytest.raises(SinkError, match="no display: DISPLAY and WAYLAND_DISPLAY are unset"):
        PreviewSink().open(StreamInfo(64, 48))
    monkeypatch.setenv("DISPLAY", ":0")
    assert display_problem() is None


def test_stats_overlay_darkens_a_band_and_leaves_the_frame_untouched() -> None:
    img = np.full((180, 320, 3), 200, np.uint8)
    frame = Frame(img, index=0)
    out = draw_overlay(frame.image, ["30.0 fps   latency p50 12 ms", "dropped 0"])
    assert np.array_equal(img, np.full((180, 320, 3), 200, np.uint8))  # a copy was drawn on
    assert out[5, 5].max() < 120 and out[-5, -5].tolist() == [200, 200, 200]
    assert (out[:60, :200] == 255).any()  # white text


def test_rtseg_run_runs_a_webcam_job_file_in_the_earlier_key_layout(tmp_path: Path) -> None:
    # `rtseg run FILE` runs any job; a webcam config written for an earlier rtseg still works.
    from rtseg.cli import run

    cfg, stats = tmp_path / "live.toml", tmp_path / "s.json"
    cfg.write_text(f'command = "webcam"\n[source]\nfile = "{require(CLIP)}"\nrealtime = true\n'
                   '[output]\nnull = true\n[run]\nduration = 0.5\nstatus = false\n')
    run(cfg, stats_json=stats)
    doc = json.loads(stats.read_text())
    assert doc["command"] == "webcam" and doc["live"]["outputs"] == ["null"]
    assert doc["frames_out"] + doc["dropped"] == 15  # 0.5 s at 29.97 fps, each delivered or counted
