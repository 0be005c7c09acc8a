"""The one job model and the one builder: what a spec accepts, and what it builds."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from rtseg.errors import ConfigError, PipelineError, SourceError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph import Pipeline, ProcessStage, SourceStage, Worker
from rtseg.jobs import JobSpec, build
from rtseg.jobs.migrate import normalize
from rtseg.sinks import NullSink
from rtseg.sources import open_source
from rtseg.sources.synthetic import SyntheticSource

ROOT = Path(__file__).resolve().parents[1]


def spec(**data: object) -> JobSpec:
    return JobSpec.from_dict({"command": "blur", "input": "synthetic:64x48@3", "output": "out.mp4", **data}).check()


# -- the model ----------------------------------------------------------------------------------------

def test_unknown_keys_are_rejected_by_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'mask.roix'"):
        spec(mask={"roix": True})


@pytest.mark.parametrize(("data", "match"), [
    ({"mask": {"roi": "yes"}}, r"'mask.roi': Input should be a valid boolean"),
    ({"effect": {"strength": "30"}}, r"'effect.strength'"),
    ({"mask": {"infer_every": 2.5}}, r"'mask.infer_every'"),
    ({"run": 5}, r"'run'"),
    ({"model": {"name": "nosuch"}}, r"unknown model 'nosuch'; expected one of: selfie, selfie-square"),
    ({"effect": {"overlay_colour": "#GGGGGG"}}, r"must be #RRGGBB"),
])
def test_wrong_types_and_values_are_one_line_config_errors(data: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        spec(**data)
    assert "\n" not in str(info.value)


def test_cross_section_rules() -> None:
    with pytest.raises(ConfigError, match="replace needs a background"):
        JobSpec.from_dict({"command": "replace", "input": "a.mp4", "output": "b.mp4"}).check()
    with pytest.raises(ConfigError, match="prompts need --model sam2"):
        spec(model={"prompts": [{"points": [[1, 2]]}]})
    with pytest.raises(ConfigError, match="needs --model-dir"):
        spec(model={"name": "sam2", "prompts": [{"points": [[1, 2]]}]})
    with pytest.raises(ConfigError, match="give a prompt"):
        spec(model={"name": "sam2", "dir": "m"})
    with pytest.raises(ConfigError, match="cutout needs an alpha-capable output"):
        JobSpec.from_dict({"command": "cutout", "input": "a.mp4", "output": "b.mp4"}).check()
    with pytest.raises(ConfigError, match="virtual camera cannot carry alpha"):
        JobSpec.from_dict({"command": "webcam", "source": {"camera": 0}, "effect": {"kind": "cutout"},
                           "outputs": [{"kind": "vcam"}]}).check()
    with pytest.raises(ConfigError, match=r"--rle needs a model that tracks objects"):
        spec(rle="r.json")
    with pytest.raises(ConfigError, match=r"box must be x0,y0,x1,y1 with x0<=x1"):
        spec(model={"name": "sam2", "dir": "m", "prompts": [{"box": [5, 5, 1, 1]}]})


def test_paths_in_a_config_file_are_relative_to_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "job.toml").write_text('command = "replace"\n[source]\npath = "in.mp4"\n'
                                     '[effect]\nbackgrounds = ["bg.png", "#00ff00"]\n'
                                     '[[outputs]]\nkind = "video"\npath = "out/x.mp4"\n'
                                     '[run]\nstats_json = "s.json"\n')
    s = JobSpec.from_toml(folder / "job.toml")
    assert s.source.path == str(folder / "in.mp4")
    assert s.effect.backgrounds == [str(folder / "bg.png"), "#00ff00"]
    assert s.outputs[0].path == str(folder / "out" / "x.mp4")
    assert s.run.stats_json == str(folder / "s.json")


def test_special_inputs_and_urls_are_not_made_relative(tmp_path: Path) -> None:
    for name in ("sample", "synthetic:64x48@3", "rtsp://cam/stream"):
        (tmp_path / "j.toml").write_text(f'command = "blur"\ninput = "{name}"\noutput = "o.mp4"\n')
        assert JobSpec.from_toml(tmp_path / "j.toml").source.path == name


def test_earlier_key_layouts_mean_the_same_job() -> None:
    old = {"command": "webcam", "source": {"device": 1, "width": 640}, "prompt": {"points": [[5, 6]]},
           "model": {"name": "sam2", "dir": "m", "device": "cpu"}, "carry": {"enabled": False},
           "flow": {"queue_size": 3, "max_wait_ms": 5}, "adaptive": {"target_fps": 20, "period_s": 1},
           "effect": {"mode": "replace", "backgrounds": ["#000000"]},
           "output": {"vcam": True, "vcam_device": "/dev/video9", "record": "r.mp4"}}
    new = {"command": "webcam", "source": {"camera": 1, "width": 640},
           "model": {"name": "sam2", "dir": "m", "provider": "cpu", "prompts": [{"points": [[5, 6]]}]},
           "mask": {"carry": {"enabled": False}}, "run": {"queue_size": 3},
           "schedule": {"max_wait_ms": 5, "target_fps": 20, "adaptive_period_s": 1},
           "effect": {"kind": "replace", "backgrounds": ["#000000"]},
           "outputs": [{"kind": "vcam", "vcam_device": "/dev/video9"}, {"kind": "record", "path": "r.mp4"}]}
    assert JobSpec.from_dict(old).check() == JobSpec.from_dict(new).check()
    assert normalize({"command": "segment", "input": "x", "masks": "m"})["outputs"] == [{"kind": "masks", "path": "m"}]


def test_every_preset_in_configs_is_a_valid_job() -> None:
    presets = sorted((ROOT / "configs").glob("*.toml"))
    kinds = {JobSpec.from_toml(p).command.value for p in presets}
    assert kinds == {"blur", "replace", "cutout", "segment", "overlay", "webcam", "track"}


def test_blur_preset_is_the_cli_default_job() -> None:
    preset = JobSpec.from_toml(ROOT / "configs" / "blur.toml")
    cli = JobSpec.from_dict({"command": "blur", "source": {"path": "sample"},
                             "outputs": [{"kind": "video", "path": preset.outputs[0].path}]}).check()
    assert preset.encoder == cli.encoder and preset.effect == cli.effect and preset.mask == cli.mask
    assert preset.model == cli.model


# -- the builder --------------------------------------------------------------------------------------

def names(s: JobSpec) -> list[str]:
    return [st.name for st in build(s).stages]


def test_the_builder_picks_stages_from_the_spec() -> None:
    assert names(spec()) == ["segment", "mask", "composite"]
    assert names(spec(mask={"infer_every": 3})) == ["segment", "mask", "carry", "composite"]
    assert names(JobSpec.from_dict({"command": "segment", "input": "x", "masks": "m"}).check()) == ["segment", "mask"]
    live = JobSpec.from_dict({"command": "webcam", "source": {"path": "sample", "realtime": True},
                              "outputs": [{"kind": "null"}]}).check()
    assert names(live) == ["segment", "carry", "composite"]
    sam2 = spec(model={"name": "sam2", "dir": "m", "prompts": [{"points": [[1, 2]]}]})
    assert names(sam2) == ["segment", "composite"]


def test_building_opens_nothing_and_the_source_is_opened_once(tmp_path: Path) -> None:
    missing = JobSpec.from_dict({"command": "blur", "input": str(tmp_path / "nope.mp4"),
                                 "output": str(tmp_path / "o.mp4")}).check()
    pipeline = build(missing)  # no probing: nothing is read until run()
    with pytest.raises(SourceError, match="input not found"):
        pipeline.run()
    assert not list(tmp_path.iterdir())


def test_a_source_returns_its_stream_info_and_every_stage_receives_it() -> None:
    seen: list[StreamInfo] = []

    class Probe(ProcessStage):
        name = "probe"

        def open(self, info: StreamInfo) -> None:
            seen.append(info)

        def process(self, frame: Frame) -> Frame:
            return frame

    Pipeline(open_source("synthetic:64x48@4"), [Probe()], NullSink()).run()
    assert seen == [StreamInfo(64, 48, Fraction(30), Fraction(1, 30), 4, label="synthetic:64x48@4")]
    source = open_source("sample")
    try:
        sample = source.open()
    finally:
        source.close()
    assert (sample.width, sample.height, sample.frames, sample.fps, sample.label) == (640, 360, 96, Fraction(24),
                                                                                    "sample")


class Resizing(SyntheticSource):
    """Delivers frames of another size from frame 2 on (a camera that came back at another resolution)."""

    def read(self) -> Frame | None:
        frame = super().read()
        if frame is not None and frame.index >= 2:
            frame.image = np.ascontiguousarray(frame.image[: self.height // 2, : self.width // 2])
        return frame


def test_a_change_of_frame_size_is_handled_once_at_the_source() -> None:
    sizes: list[tuple[int, int]] = []
    pipeline = Pipeline(Resizing(64, 48, frames=5), [], NullSink())
    for frame in pipeline.frames():
        sizes.append((frame.width, frame.height))
    assert sizes == [(64, 48)] * 5
    assert pipeline.stats.size_changes == 3


# -- threads the runtime owns -------------------------------------------------------------------------

class WithWorker(ProcessStage):
    name = "busy"

    def __init__(self, fail: bool = False, stubborn: bool = False) -> None:
        self.fail, self.stubborn = fail, stubborn
        self.closed_while_running = False
        self.running = threading.Event()
        self.release = threading.Event()

    def workers(self) -> list[Worker]:
        return [Worker("helper", self.run)]

    def run(self, stop: threading.Event) -> None:
        self.running.set()
        if self.fail:
            raise ValueError("worker broke")
        if self.stubborn:
            self.release.wait(10)
            return
        stop.wait()

    def process(self, frame: Frame) -> Frame:
        return frame

    def close(self) -> None:
        self.closed_while_running = self.stubborn and not self.release.is_set()


def test_a_worker_is_started_stopped_and_joined_by_the_pipeline() -> None:
    stage = WithWorker()
    Pipeline(SyntheticSource(32, 24, frames=3), [stage], NullSink()).run()
    assert stage.running.is_set()
    assert rtseg_threads() == []


def test_a_failing_worker_fails_the_run_with_its_own_error() -> None:
    with pytest.raises(ValueError, match="worker broke") as info:
        Pipeline(SyntheticSource(32, 24, frames=10_000), [WithWorker(fail=True)], NullSink()).run()
    assert any("busy/helper" in note for note in info.value.__notes__)


def test_a_worker_that_does_not_stop_is_named_and_its_stage_is_not_closed_under_it() -> None:
    stage = WithWorker(stubborn=True)
    with pytest.raises(PipelineError, match="stage 'busy' did not stop its worker 'helper'"):
        Pipeline(SyntheticSource(32, 24, frames=2), [stage], NullSink(), stop_deadline_s=0.2).run()
    assert not stage.closed_while_running
    stage.release.set()
    deadline = time.monotonic() + 30
    while rtseg_threads() and time.monotonic() < deadline:  # the stuck worker ends once released
        time.sleep(0.01)


def test_frames_stops_the_pipeline_when_the_loop_is_left_early(tmp_path: Path) -> None:
    s = JobSpec.from_dict({"command": "segment", "input": "synthetic:64x48@500",
                           "masks": str(tmp_path / "m")}).check()
    for frame in build(s).frames():
        assert frame.alpha is not None
        if frame.index == 3:
            break
    assert rtseg_threads() == []
    assert not list(tmp_path.iterdir())  # the mask folder was never committed


class _Exploding(SourceStage):
    def open(self) -> StreamInfo:
        return StreamInfo(8, 8)

    def read(self) -> Frame | None:
        raise SourceError("decoder exploded")


def test_frames_raises_the_error_of_any_stage() -> None:
    with pytest.raises(SourceError, match="decoder exploded"):
        list(Pipeline(_Exploding(), []).frames())


# -- each sink its own thread and queue ---------------------------------------------------------------

class _Stalling(NullSink):
    """A sink that stops taking frames after the first few (a recording on a stalled disk)."""

    name = "stall"
    optional = True

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.release = threading.Event()

    def process(self, frame: Frame) -> None:
        if self.fail_at is not None and frame.index == self.fail_at:
            raise OSError("disk went away")
        if frame.index == 2 and self.fail_at is None:
            assert self.release.wait(30), "the other sink never got far enough"
        super().process(frame)


def test_a_failing_optional_sink_ends_alone_and_the_others_get_every_frame() -> None:
    main, broken = NullSink(), _Stalling(fail_at=3)
    stats = Pipeline(SyntheticSource(32, 24, frames=40), [], [main, broken]).run()
    assert main.count == 40 and stats.frames_out == 40
    assert broken.count == 3 and "disk went away" in stats.sink_errors["stall"]


def test_a_stalled_sink_does_not_hold_up_the_others_beyond_its_queue() -> None:
    """The first sink keeps getting frames while the second one is stuck, up to the second's queue."""
    main, stuck = NullSink(), _Stalling()
    seen: list[int] = []

    def on_output(frame: Frame, stats: object) -> None:
        seen.append(frame.index)
        if len(seen) == 8:
            stuck.release.set()

    Pipeline(SyntheticSource(32, 24, frames=20), [], [main, stuck], queue_size=8, on_output=on_output).run()
    assert seen == list(range(20)) and main.count == stuck.count == 20


def rtseg_threads() -> list[str]:
    """Threads the rtseg runtime started that are still running."""
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("rtseg-"))
