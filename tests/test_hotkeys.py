"""Preview hotkeys: a pure function of (state, key) → state, and the controls that share it."""

from __future__ import annotations

from rtseg.controls.hotkeys import BLUR_MAX, BLUR_MIN, LiveControls, LiveState, handle_key


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
