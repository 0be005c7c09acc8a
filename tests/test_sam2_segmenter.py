"""SAM 2 as a Segmenter: the same alpha on files and live, reset keeps the sessions, prompts checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rtseg.errors import ConfigError
from rtseg.frame import Frame
from rtseg.segment.prompts import Prompt
from rtseg.segment.sam2.segmenter import Sam2Segmenter


@pytest.fixture(scope="module")
def frames(bedroom_frames: list[np.ndarray]) -> list[Frame]:
    return [Frame(img, i) for i, img in enumerate(bedroom_frames[:4])]


def alphas(seg: Sam2Segmenter, frames: list[Frame]) -> list[np.ndarray]:
    out = []
    for f in frames:
        result = seg.segment(f)
        assert result is not None and result.index == f.index
        out.append(result.alpha)
    return out


def test_file_and_live_sam2_give_identical_alpha(sam2_model_dir: Path, frames: list[Frame]) -> None:
    prompt = Prompt(points=[(210.0, 350.0)])
    with Sam2Segmenter(sam2_model_dir, [prompt], live=False) as files, \
            Sam2Segmenter(sam2_model_dir, [prompt], live=True) as live:
        a, b = alphas(files, frames), alphas(live, frames)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    assert a[0].shape == (540, 960) and 0.0 < float(a[0].mean()) < 1.0


def test_reset_forgets_prompts_and_memory_but_keeps_the_sessions(sam2_model_dir: Path, frames: list[Frame]) -> None:
    prompt = Prompt(points=[(210.0, 350.0)])
    with Sam2Segmenter(sam2_model_dir, [prompt]) as seg:
        sessions = dict(seg.model._sessions)
        first = alphas(seg, frames)
        seg.reset()
        assert seg.model._sessions == sessions and all(
            seg.model._sessions[k] is v for k, v in sessions.items())
        again = alphas(seg, frames)  # the job's prompts apply again after a reset
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))


def test_objects_ride_along_and_alpha_is_their_union(sam2_model_dir: Path, frames: list[Frame]) -> None:
    prompts = [Prompt(points=[(210.0, 350.0)]), Prompt(obj_id=2, box=(400.0, 100.0, 700.0, 400.0))]
    with Sam2Segmenter(sam2_model_dir, prompts) as seg:
        result = seg.segment(frames[0])
    assert result is not None and result.objects is not None
    assert result.objects.obj_ids == [1, 2]
    union = result.objects.masks.any(axis=0)
    assert np.array_equal(result.alpha > 0.5, union)


def test_a_live_prompt_outside_the_frame_is_a_config_error(sam2_model_dir: Path, frames: list[Frame]) -> None:
    with Sam2Segmenter(sam2_model_dir, [Prompt(points=[(1e9, 5.0)])], live=True) as seg, \
            pytest.raises(ConfigError, match=r"outside the frame \(960x540"):
        seg.segment(frames[0])
