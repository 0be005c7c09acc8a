"""Effects against float reference formulas and visible properties (sharp person, blurred background)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from rtseg.effects import BlurEffect, CompositeStage, CutoutEffect, MissingMask, OverlayEffect, ReplaceEffect, blend
from rtseg.effects.composite import cover_resize, parse_colour
from rtseg.errors import PipelineError, SourceError
from rtseg.frame import Frame, StreamInfo
from tests.conftest import DATA, JUGGLE, require

RNG = np.random.default_rng(7)


def test_blend_matches_the_float_formula_within_rounding() -> None:
    fg = RNG.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    bg = RNG.integers(0, 256, (72, 128, 3), dtype=np.uint8)
    a = RNG.random((72, 128), dtype=np.float32)
    ref = fg * a[..., None] + bg * (1 - a[..., None])
    assert np.abs(blend(fg, bg, a).astype(np.float32) - ref).max() <= 1.0


@pytest.mark.parametrize("size", [(720, 1280), (481, 853), (37, 53)])
@pytest.mark.parametrize("channels", [3, 4])
def test_blend_of_the_edge_band_only_equals_blending_every_pixel(size: tuple[int, int], channels: int) -> None:
    # A person-like soft alpha: inside 1, outside 0, a soft band between, on frames whose sides are
    # not multiples of the 16-px tiles (the right and bottom strips are blended on their own).
    h, w = size
    fg = RNG.integers(0, 256, (h, w, channels), dtype=np.uint8)
    bg = RNG.integers(0, 256, (h, w, channels), dtype=np.uint8)
    hard = np.zeros((h, w), np.float32)
    cv2.ellipse(hard, (w // 2, h // 2), (w // 5, h // 3), 0, 0, 360, 1.0, -1)
    soft = np.clip((cv2.GaussianBlur(hard, (0, 0), 3) - 0.1) / 0.8, 0, 1).astype(np.float32)
    for alpha in (soft, np.zeros_like(soft), np.ones_like(soft), hard):
        expected = cv2.blendLinear(fg, bg, alpha, 1.0 - alpha)
        before = bg.copy()
        assert np.array_equal(blend(fg, bg, alpha), expected)
        assert np.array_equal(bg, before)  # the inputs are left alone
        assert np.array_equal(blend(fg, bg.copy(), alpha, into_bg=True), expected)


def _person_frame() -> tuple[np.ndarray, np.ndarray]:
    img = RNG.integers(0, 256, (180, 320, 3), dtype=np.uint8)
    alpha = np.zeros((180, 320), np.float32)
    alpha[40:140, 120:200] = 1.0
    return img, alpha


def test_blur_keeps_the_person_and_blurs_the_background() -> None:
    img, alpha = _person_frame()
    out = BlurEffect(strength=15).apply(img, alpha)
    assert np.array_equal(out[alpha == 1], img[alpha == 1])
    bg = alpha == 0
    assert out[bg].std() < 0.5 * img[bg].std()


def test_halo_free_blur_keeps_the_person_colour_out_of_the_background() -> None:
    img = np.full((180, 320, 3), 20, np.uint8)
    alpha = np.zeros((180, 320), np.float32)
    alpha[40:140, 120:200] = 1.0
    img[alpha == 1] = 250  # a bright person on a dark background
    ring = (cv2.dilate(alpha, np.ones((15, 15), np.uint8)) > 0) & (alpha == 0)
    plain = BlurEffect(strength=20, halo_free=False).apply(img, alpha)
    clean = BlurEffect(strength=20, halo_free=True).apply(img, alpha)
    assert plain[ring].mean() > 60, "the plain blur smears the person outward (the halo)"
    assert clean[ring].mean() < 25, "the halo-free blur must not"


def test_replace_with_colour_image_and_looped_video(tmp_path: Path) -> None:
    img, alpha = _person_frame()
    fx = ReplaceEffect("#102030")
    with_colour = (fx.open(), fx.apply(img, alpha))[1]
    assert with_colour[0, 0].tolist() == [16, 32, 48]
    assert np.array_equal(with_colour[alpha == 1], img[alpha == 1])

    portrait = require(DATA / "webcam" / "portraits")
    image = sorted(portrait.glob("*.jpg"))[0]
    fx = ReplaceEffect(str(image))
    fx.open()
    out = fx.apply(img, alpha)
    expected = cover_resize(cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB), 320, 180)
    assert np.array_equal(out[alpha == 0], expected[alpha == 0])

    fx = ReplaceEffect(str(require(JUGGLE)))
    fx.open()
    first = fx.background_for(320, 180).copy()
    for _ in range(246):
        fx.background_for(320, 180)
    assert np.array_equal(fx.background_for(320, 180), first), "the video background loops"
    fx.close()


def test_replace_rejects_a_background_that_does_not_load(tmp_path: Path) -> None:
    broken = tmp_path / "bg.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(SourceError, match="cannot load background image"):
        ReplaceEffect(str(broken)).open()
    with pytest.raises(SourceError, match="not found"):
        ReplaceEffect(str(tmp_path / "missing.png")).open()
    with pytest.raises(SourceError, match="#RRGGBB"):
        ReplaceEffect("#12345").open()


def test_cutout_puts_alpha_in_the_fourth_channel() -> None:
    img, alpha = _person_frame()
    alpha[0, 0] = 0.5
    out = CutoutEffect().apply(img, alpha)
    assert out.shape == (180, 320, 4)
    assert np.array_equal(out[..., :3], img)
    assert out[0, 0, 3] == 128 and out[100, 150, 3] == 255 and out[170, 10, 3] == 0


def test_overlay_tints_only_the_foreground() -> None:
    img, alpha = _person_frame()
    out = OverlayEffect((0, 255, 0), 0.5).apply(img, alpha)
    assert np.array_equal(out[alpha == 0], img[alpha == 0])
    assert out[alpha == 1][:, 1].mean() > img[alpha == 1][:, 1].mean() + 40


def test_parse_colour() -> None:
    assert parse_colour("#fff") == (255, 255, 255)
    assert parse_colour("#zzzzzz") is None


def test_composite_stage_applies_the_effect_to_the_background_or_the_object() -> None:
    img, alpha = _person_frame()
    stage = CompositeStage(BlurEffect(strength=15))
    stage.open(StreamInfo(320, 180))
    out = stage.process(Frame(img, 0, alpha=alpha)).output
    assert out is not None and np.array_equal(out[alpha == 1], img[alpha == 1])
    assert out[alpha == 0].std() < 0.5 * img[alpha == 0].std()
    with pytest.raises(PipelineError, match="without alpha"):
        stage.process(Frame(img, 1))
    stage.close()

    inverted = CompositeStage(BlurEffect(strength=15), invert_alpha=True)  # blur the object instead
    inverted.open(StreamInfo(320, 180))
    out = inverted.process(Frame(img, 0, alpha=alpha)).output
    assert out is not None and np.array_equal(out[alpha == 0], img[alpha == 0])
    assert out[alpha == 1].std() < 0.5 * img[alpha == 1].std()
    inverted.close()


def test_live_composite_blurs_the_whole_frame_until_a_mask_exists() -> None:
    img, alpha = _person_frame()
    stage = CompositeStage(BlurEffect(strength=15), missing=MissingMask.PRIVACY)
    stage.open(StreamInfo(320, 180, live=True))
    out = stage.process(Frame(img, 0)).output
    assert out is not None and out.std() < 0.5 * img.std(), "no mask yet: nothing of the room is shown sharp"
    assert stage.fail_closed_frames == 1
    out = stage.process(Frame(img, 1, alpha=alpha)).output
    assert out is not None and np.array_equal(out[alpha == 1], img[alpha == 1])
    assert stage.fail_closed_frames == 1
    stage.close()
