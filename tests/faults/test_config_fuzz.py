"""Property-based fuzzing of the job model: an invalid config is one line (ConfigError, exit 2), never a
traceback; a valid one always builds a pipeline."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtseg.errors import ConfigError
from rtseg.jobs import JobSpec, build
from rtseg.jobs.spec import JobKind

SECTIONS = ["source", "model", "mask", "schedule", "effect", "encoder", "run", "outputs", "prompt", "output",
            "flow", "carry", "adaptive"]
KEYS = ["path", "camera", "realtime", "name", "dir", "roi", "smoothing", "infer_every", "strength", "kind",
        "backgrounds", "crf", "preset", "queue_size", "duration", "points", "box", "labels", "prompts", "mode",
        "vcam", "record", "null", "enabled", "flow_width", "target_fps", "progress", "nosuch"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(string.printable, max_size=12), st.sampled_from(["blur", "sam2", "sample", "#00ff00",
                                                                               "video", "masks", "motion"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                      max_leaves=12)
configs = st.dictionaries(st.sampled_from(["command", "input", "output", "masks", *SECTIONS]),
                          st.one_of(values, st.dictionaries(st.sampled_from(KEYS), values, max_size=5)), max_size=6)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_any_config_is_either_a_job_or_one_line_config_error(data: dict[str, Any]) -> None:
    try:
        JobSpec.from_dict(data, "fuzz.toml").check()
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and "Traceback" not in message


# -- valid jobs always build ---------------------------------------------------------------------------

file_kinds = st.sampled_from([JobKind.BLUR, JobKind.REPLACE, JobKind.CUTOUT, JobKind.SEGMENT, JobKind.OVERLAY])


@st.composite
def valid_file_jobs(draw: st.DrawFn, out: Path) -> dict[str, Any]:
    kind = draw(file_kinds)
    suffix = ".webm" if kind is JobKind.CUTOUT else draw(st.sampled_from([".mp4", ".mkv", ".mov", ".webm"]))
    outputs = [{"kind": "masks", "path": str(out / "m")}]
    if kind is not JobKind.SEGMENT or draw(st.booleans()):
        outputs.append({"kind": draw(st.sampled_from(["video", "images"])) if kind is not JobKind.SEGMENT
                        else "images", "path": str(out / f"o{suffix}")})
        if outputs[-1]["kind"] == "images":
            outputs[-1]["path"] = str(out / "frames")
    mask = {"roi": draw(st.booleans()), "smoothing": draw(st.sampled_from(["none", "ema", "uncertainty", "motion"])),
            "refine": draw(st.sampled_from(["none", "feather", "guided", "edge"])),
            "infer_every": draw(st.integers(1, 8)),
            "roi_margin": draw(st.floats(0, 1)), "low": draw(st.floats(0, 0.4)), "high": draw(st.floats(0.6, 1))}
    effect: dict[str, Any] = {"strength": draw(st.floats(0, 200)), "halo_free": draw(st.booleans())}
    if kind is JobKind.REPLACE:
        effect["backgrounds"] = [draw(st.sampled_from(["#00b140", "#000", "#ffffff"]))]
    return {"command": kind.value, "source": {"path": draw(st.sampled_from(["sample", "synthetic:64x48@3"]))},
            "model": {"name": draw(st.sampled_from(["selfie", "selfie-square", "selfie-landscape"]))},
            "mask": mask, "effect": effect, "outputs": outputs,
            "encoder": {"crf": draw(st.integers(0, 51)),
                        "preset": draw(st.sampled_from(["ultrafast", "veryfast", "medium"]))},
            "run": {"queue_size": draw(st.integers(1, 64)), "progress": draw(st.booleans())}}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-out")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_valid_file_job_builds(data: st.DataObject, out: Path) -> None:
    job = data.draw(valid_file_jobs(out))
    pipeline = build(JobSpec.from_dict(job, "fuzz").check())
    assert pipeline.stages[0].name == "segment" and pipeline.sinks
