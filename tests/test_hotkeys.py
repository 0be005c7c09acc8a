"""Preview hotkeys: a pure function of (state, key) → state, the controls that share it, and the live composite
that reads them."""

from __future__ import annotations

import numpy as np

from rtseg.controls.hotkeys import BLUR_MAX, BLUR_MIN, BLUR_STEP, LiveControls, LiveState, handle_key
from rtseg.effects.blur import DEFAULT_STRENGTH, PRIVACY_STRENGTH, BlurEffect
from rtseg.jobs import JobPipeline, JobSpec, build
from rtseg.sinks.preview import PreviewSink
from tests.conftest import DATA, require


def press(state: LiveState, keys: str) -> LiveState:
    for ch in keys:
        state = handle_key(state, ord(ch))
    return state


def test_effect_toggles_on_e_and_space() -> None:
    s = LiveState()
    assert press(s, "e").effect_on is False
    assert press(s, "ee").effect_on is True
    assert press(s, " ").effect_on is False


def test_blur_strength_steps_up_and_down_and_is_clamped() -> None:
    s = LiveState(blur_strength=20.0)
    assert press(s, "+").blur_strength == 25.0
    assert press(s, "=").blur_strength == 25.0  # '+' without shift
    assert press(s, "-").blur_strength == 16.0
    assert press(s, "+-").blur_strength == 20.0
    assert press(s, "+" * 50).blur_strength == BLUR_MAX
    assert press(s, "-" * 50).blur_strength == BLUR_MIN


def test_next_background_cycles_blur_then_each_background_and_turns_the_effect_on() -> None:
    s = LiveState(backgrounds=2, effect_on=False)
    seq = []
    for _ in range(4):
        s = handle_key(s, ord("b"))
        seq.append(s.background)
    assert seq == [1, 2, 0, 1]
    assert s.effect_on is True
    assert press(LiveState(backgrounds=0), "b").background == 0  # only blur configured


def test_stats_mirror_and_quit() -> None:
    s = LiveState()
    assert press(s, "s").show_stats is True and press(s, "ss").show_stats is False
    assert press(s, "m").mirror is True and press(s, "M").mirror is True
    assert press(s, "q").quit is True
    assert handle_key(s, 27).quit is True  # Esc


def test_no_key_and_unknown_keys_change_nothing_and_state_is_immutable() -> None:
    s = LiveState(blur_strength=30.0, background=1, backgrounds=3)
    assert handle_key(s, -1) is s
    assert press(s, "xyz!") == s
    t = press(s, "+")
    assert s.blur_strength == 30.0 and t is not s  # the old state is untouched


def test_key_codes_with_modifier_bits_are_masked() -> None:
    # waitKeyEx-style codes carry extra high bits; the low byte is the character.
    assert handle_key(LiveState(), 0x100000 | ord("q")).quit is True


def test_controls_notify_listeners_only_on_change() -> None:
    seen: list[LiveState] = []
    controls = LiveControls(LiveState())
    controls.subscribe(seen.append)
    controls.press(ord("m"))
    controls.press(ord("x"))  # no change, no notification
    controls.press(ord("q"))
    assert [(s.mirror, s.quit) for s in seen] == [(True, False), (True, True)]
    assert controls.state.quit is True


def _live_job(*, hotkeys: bool) -> tuple[JobPipeline, PreviewSink]:
    """A live job with a preview window and one red background, built (nothing opened)."""
    clip = DATA / "webcam" / "thoughtful-640x360.mp4"
    spec = JobSpec.from_dict({"command": "webcam", "source": {"path": str(require(clip)), "realtime": True},
                              "effect": {"hotkeys": hotkeys, "backgrounds": ["#ff0000"]},
                              "outputs": [{"kind": "preview"}], "run": {"status": False}}).check()
    pipeline = build(spec)
    sink = pipeline.sinks[0]
    assert isinstance(sink, PreviewSink)
    return pipeline, sink


IMAGE = np.random.default_rng(0).integers(0, 255, (36, 64, 3), dtype=np.uint8)
ALPHA = np.zeros((36, 64), np.float32)


def test_the_live_composite_reads_effect_background_and_blur_strength_from_the_hotkeys() -> None:
    pipeline, sink = _live_job(hotkeys=True)
    composite = pipeline.composite
    assert composite is not None and sink.on_key is not None and callable(composite.privacy_strength)
    fx = composite.effect
    fx.open()
    try:
        assert np.array_equal(fx.apply(IMAGE, ALPHA), BlurEffect().apply(IMAGE, ALPHA))
        assert composite.privacy_strength() == PRIVACY_STRENGTH
        for _ in range(3):
            sink.on_key(ord("+"))
        stronger = round(round(round(DEFAULT_STRENGTH * BLUR_STEP, 3) * BLUR_STEP, 3) * BLUR_STEP, 3)
        assert np.array_equal(fx.apply(IMAGE, ALPHA), BlurEffect(strength=stronger).apply(IMAGE, ALPHA))
        assert composite.privacy_strength() == stronger > PRIVACY_STRENGTH  # the fail-closed blur follows
        sink.on_key(ord("b"))
        assert fx.apply(IMAGE, ALPHA)[0, 0].tolist() == [255, 0, 0]
        sink.on_key(ord("e"))
        assert fx.apply(IMAGE, ALPHA) is IMAGE
    finally:
        fx.close()


def test_without_hotkeys_the_keys_leave_the_composite_as_the_job_set_it() -> None:
    pipeline, sink = _live_job(hotkeys=False)
    composite = pipeline.composite
    assert composite is not None and sink.on_key is not None
    fx = composite.effect
    fx.open()
    try:
        for key in "++be":
            sink.on_key(ord(key))
        assert np.array_equal(fx.apply(IMAGE, ALPHA), BlurEffect().apply(IMAGE, ALPHA))
        assert composite.privacy_strength == PRIVACY_STRENGTH
    finally:
        fx.close()
