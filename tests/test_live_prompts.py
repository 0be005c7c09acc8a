"""Click-to-track: mouse events → prompt state (pure), and the preview window's callback path."""

from __future__ import annotations

import cv2
import numpy as np

from rtseg.controls.prompts import (
    EXCLUDE,
    INCLUDE,
    PreviewClick,
    PromptControls,
    PromptState,
    clear_prompts,
    draw_clicks,
    handle_mouse,
)
from rtseg.frame import Frame
from rtseg.jobs import JobSpec, build
from rtseg.sinks.preview import PreviewSink
from tests.conftest import DATA, require

CLIP = DATA / "webcam" / "thoughtful-640x360.mp4"


def preview_job(model: str = "sam2"):  # type: ignore[no-untyped-def]
    """A live SAM 2 job with a preview window, built (nothing opened: no model, no window)."""
    spec = JobSpec.from_dict({"command": "webcam", "source": {"path": str(require(CLIP)), "realtime": True},
                              "model": {"name": model, "dir": "/models/sam2-tiny" if model == "sam2" else None},
                              "outputs": [{"kind": "preview"}], "run": {"status": False}}).check()
    pipeline = build(spec)
    sink = pipeline.sinks[0]
    assert isinstance(sink, PreviewSink)
    return pipeline, sink


def test_left_click_includes_right_click_excludes_on_the_frame_shown() -> None:
    s = handle_mouse(PromptState(), cv2.EVENT_LBUTTONDOWN, 100, 50, frame=3)
    s = handle_mouse(s, cv2.EVENT_RBUTTONDOWN, 10, 20, frame=5)
    assert s.clicks == (PreviewClick(100.0, 50.0, INCLUDE, 3), PreviewClick(10.0, 20.0, EXCLUDE, 5))
    assert s.generation == 0


def test_moves_releases_and_other_buttons_change_nothing() -> None:
    s = PromptState(clicks=(PreviewClick(1, 1, INCLUDE, 0),))
    for event in (cv2.EVENT_MOUSEMOVE, cv2.EVENT_LBUTTONUP, cv2.EVENT_RBUTTONUP, cv2.EVENT_MBUTTONDOWN,
                  cv2.EVENT_LBUTTONDBLCLK, cv2.EVENT_MOUSEWHEEL):
        assert handle_mouse(s, event, 5, 5, frame=1) is s


def test_clear_forgets_the_clicks_and_starts_a_new_generation() -> None:
    s = handle_mouse(PromptState(), cv2.EVENT_LBUTTONDOWN, 1, 2, frame=0)
    c = clear_prompts(s)
    assert c == PromptState(clicks=(), generation=1)
    assert handle_mouse(c, cv2.EVENT_LBUTTONDOWN, 3, 4, frame=9).clicks == (PreviewClick(3.0, 4.0, INCLUDE, 9),)


def test_controls_remember_the_frame_of_the_newest_click_only() -> None:
    ctl = PromptControls()
    f1, f2 = object(), object()
    ctl.mouse(cv2.EVENT_LBUTTONDOWN, 1, 1, 4, f1)
    ctl.mouse(cv2.EVENT_MOUSEMOVE, 1, 1, 5, f2)  # not a click: nothing remembered
    assert ctl.shown(4) is f1 and ctl.shown(5) is None
    ctl.mouse(cv2.EVENT_RBUTTONDOWN, 2, 2, 6, f2)
    assert ctl.shown(4) is None and ctl.shown(6) is f2
    ctl.clear()
    assert ctl.shown(6) is None and ctl.state.generation == 1


def test_the_preview_callback_turns_a_click_into_a_prompt_on_the_frame_on_screen() -> None:
    pipeline, sink = preview_job()
    prompts = pipeline.prompts
    assert isinstance(prompts, PromptControls)
    # The SAM 2 segmenter reads its clicks from the same controls the window writes.
    assert pipeline.segment.segmenter.feed is prompts  # type: ignore[attr-defined]
    sink.mouse(cv2.EVENT_LBUTTONDOWN, 5, 5, 0)  # nothing shown yet: ignored
    assert prompts.state.clicks == ()
    shown = Frame(np.zeros((48, 64, 3), np.uint8), index=12)
    sink._shown = shown  # what process() records just before cv2.imshow
    sink.mouse(cv2.EVENT_LBUTTONDOWN, 30, 20, 0)
    sink.mouse(cv2.EVENT_RBUTTONDOWN, 40, 10, 0)
    assert prompts.state.clicks == (PreviewClick(30.0, 20.0, INCLUDE, 12), PreviewClick(40.0, 10.0, EXCLUDE, 12))
    assert prompts.shown(12) is shown
    # The clicks are drawn on what the window shows, not on the frame.
    drawn = sink.decorate(shown.image) if sink.decorate is not None else shown.image
    assert drawn[20, 30].tolist() == [0, 220, 0] and drawn[10, 40].tolist() == [230, 0, 0]
    assert shown.image.sum() == 0
    # c clears the clicks (a new generation: the segmenter forgets the object); other keys are hotkeys.
    assert sink.on_key is not None
    sink.on_key(ord("c"))
    assert prompts.state == PromptState(clicks=(), generation=1)
    sink.on_key(ord("m"))
    assert pipeline.live_controls is not None and pipeline.live_controls.state.mirror is True


def test_without_a_model_that_tracks_clicks_are_not_wired() -> None:
    pipeline, sink = preview_job("selfie")
    assert pipeline.prompts is None and sink.on_mouse is None
    sink._shown = Frame(np.zeros((48, 64, 3), np.uint8), index=3)
    sink.mouse(cv2.EVENT_LBUTTONDOWN, 30, 20, 0)  # no handler: nothing happens
    assert sink.on_key is not None
    sink.on_key(ord("c"))  # not a clear without prompts: an unknown hotkey, no change
    assert pipeline.live_controls is not None and pipeline.live_controls.state.effect_on is True


def test_clicks_are_drawn_green_for_include_and_red_for_exclude() -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    out = draw_clicks(image, (PreviewClick(10, 10, INCLUDE, 0), PreviewClick(50, 30, EXCLUDE, 0)))
    assert out[10, 10].tolist() == [0, 220, 0] and out[30, 50].tolist() == [230, 0, 0]
    assert image.sum() == 0  # the frame itself is not drawn on
    assert draw_clicks(image, ()) is image
