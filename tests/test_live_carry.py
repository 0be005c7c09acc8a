"""Carry-forward on the live path: the newest (late) mask moved to each camera frame by optical flow.

Synthetic moving content with known ground truth; the "segmenter" really segments it (a colour
test) but is slow: it returns each mask only once the camera has moved on by a fixed number of
frames, so its masks arrive several frames late. The lateness is counted in frames, not seconds,
so the result does not depend on how busy the machine is. The carried mask must follow the motion
better than the stale one, and a fresh mask must fade in rather than jump.
"""

from __future__ import annotations

import itertools
import threading
import time

import cv2
import numpy as np
import pytest

from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.graph.stage import WorkerThreads
from rtseg.metrics import region_iou
from rtseg.segment.base import NewestFrame
from rtseg.segment.stage import SegmentStage
from rtseg.temporal.carry import Carrier
from rtseg.temporal.stage import CARRY_AGE, CarryStage

H, W = 240, 320
SPEED = 3  # pixels per frame, to the right


def _texture(seed: int, shape: tuple[int, int]) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 6.0)  # blobs the flow can follow


BACKGROUND = _texture(1, (H, W))
OBJECT = _texture(2, (H, W + 400))


def scene(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame ``i``: a textured reddish disc moving right over a grey texture, and its true mask."""
    yy, xx = np.mgrid[0:H, 0:W]
    cx, cy, r = 80 + SPEED * i, H // 2, 50
    truth = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    grey = (60 + 150 * BACKGROUND).astype(np.uint8)
    img = np.dstack([grey, grey, grey])
    obj_tex = OBJECT[:, 400 - SPEED * i: 400 - SPEED * i + W] if SPEED * i <= 400 else OBJECT[:, :W]
    obj = (80 + 150 * obj_tex).astype(np.uint8)
    img[truth] = np.dstack([np.minimum(obj + 60, 255), obj, obj // 3])[truth]
    return img, truth


class LateColourSegmenter:
    """Segments the reddish object by colour, and answers for frame i only once frame i + ``lag`` has
    gone through the segment stage (a stand-in for a model ``lag`` camera frames slower than real time)."""

    name = "late-colour"

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.calls = 0
        self.seen = -1
        self.released = False
        self._cond = threading.Condition()

    def saw(self, index: int) -> None:
        with self._cond:
            self.seen = index
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self.released = True
            self._cond.notify_all()

    def open(self, info: StreamInfo | None = None) -> None:
        pass

    def segment(self, frame: Frame) -> MaskResult | None:
        self.calls += 1
        with self._cond:
            while self.seen < frame.index + self.lag and not self.released:
                self._cond.wait(0.05)
        image = frame.image
        return MaskResult(frame.index, ((image[..., 0].astype(np.int16) - image[..., 2]) > 40).astype(np.float32))

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass



def run_live(carry: bool, frames: int = 45, lag: int = 5) -> tuple[list[float], list[int]]:
    """Frames through the live segment → carry stages; IoU of each frame's mask with its truth, and its age.

    The segmenter answers for frame i once frame i + ``lag`` has been seen, and the next frame waits
    for that answer to be published, so a mask arrives exactly ``lag`` + 1 frames after its own frame.
    """
    model = LateColourSegmenter(lag)
    stage = CarryStage(live=True, enabled=carry, mask_width=W, blend_frames=2)
    seg = SegmentStage(model, NewestFrame(max_wait_s=0.0, warmup=False), prepare=stage.prepare)
    info = StreamInfo(W, H, live=True)
    seg.open(info)
    stage.open(info)
    workers = WorkerThreads(seg)
    workers.start()
    ious, ages = [], []
    pending: int | None = None  # the frame in inference
    try:
        for i in range(frames):
            img, truth = scene(i)
            admitted = seg.limiter.offered - seg.limiter.dropped
            out = stage.process(seg.process(Frame(img, index=i)))
            if seg.limiter.offered - seg.limiter.dropped > admitted:
                pending = i
            model.saw(i)
            if pending is not None and pending + lag <= i:  # its answer is due: wait until it is published
                deadline = time.monotonic() + 30
                while seg.limiter.in_flight and time.monotonic() < deadline:
                    time.sleep(0.001)
                assert seg.latest_mask is not None and seg.latest_mask.index == pending
                pending = None
            if out.alpha is not None:
                ious.append(region_iou(out.alpha > 0.5, truth))
                ages.append(out.extras[CARRY_AGE])
    finally:
        model.release()
        workers.stop()
        seg.close()
        stage.close()
    return ious, ages


def test_the_carried_mask_follows_the_motion_better_than_the_stale_mask() -> None:
    flow_ious, flow_ages = run_live(carry=True)
    stale_ious, stale_ages = run_live(carry=False)
    assert flow_ages == stale_ages, "the lateness is counted in frames: both runs see the same ages"
    assert min(flow_ages) >= 6 and max(flow_ages) >= 10, "the slow segmenter leaves masks several frames old"
    # Stale masks lag 3 px per frame of age; moved masks stay on the object.
    assert np.mean(flow_ious) > 0.9
    assert np.mean(flow_ious) > np.mean(stale_ious) + 0.05
    # On the frames where the mask is oldest, the difference is largest.
    old = [v for v, a in zip(flow_ious, flow_ages, strict=True) if a >= 9]
    old_stale = [v for v, a in zip(stale_ious, stale_ages, strict=True) if a >= 9]
    assert np.mean(old) > np.mean(old_stale) + 0.08


def _pushed(carrier: Carrier, upto: int, start: int = 0) -> None:
    for i in range(start, upto + 1):
        carrier.push(scene(i)[0], i)


def test_a_late_mask_catches_up_over_the_frames_seen_since_its_own() -> None:
    carrier = Carrier(mask_size=(W, H))
    _pushed(carrier, 10)
    carrier.set_key(2, scene(2)[1].astype(np.float32))  # 8 frames late: 24 px behind
    moved = carrier.current() > 0.5
    assert carrier.age == 8
    assert region_iou(moved, scene(10)[1]) > 0.9
    assert region_iou(scene(2)[1], scene(10)[1]) < 0.65


def test_catch_up_prepared_in_another_thread_equals_the_one_done_in_place() -> None:
    a, b = Carrier(mask_size=(W, H)), Carrier(mask_size=(W, H))
    _pushed(a, 8)
    _pushed(b, 8)
    mask = scene(1)[1].astype(np.float32)
    box: list = []
    t = threading.Thread(target=lambda: box.append(b.prepare_key(1, mask)))
    t.start()
    t.join()
    for c in (a, b):
        c.push(scene(9)[0], 9)  # a frame arrives after the preparation
    a.set_key(1, mask)
    b.set_key(1, box[0])
    np.testing.assert_allclose(a.current(), b.current(), atol=1e-4)


def test_a_fresh_mask_fades_in_over_the_blend_frames() -> None:
    carrier = Carrier(mask_size=(W, H), blend_frames=2)
    _pushed(carrier, 6)
    old = np.zeros((H, W), np.float32)
    new = np.ones((H, W), np.float32)  # disagrees everywhere with the carried one
    carrier.set_key(0, old)
    assert float(carrier.current().mean()) == pytest.approx(0.0, abs=1e-6)
    carrier.set_key(6, new)  # the carried mask was 6 frames old: blend
    seen = [float(carrier.current().mean())]
    for i in (7, 8, 9):
        carrier.push(scene(i)[0], i)
        seen.append(float(carrier.current().mean()))
    assert seen == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0], abs=1e-5)


def test_a_mask_stream_that_keeps_up_is_used_untouched() -> None:
    carrier = Carrier(blend_frames=2)
    for i in range(4):
        img, truth = scene(i)
        carrier.push(img, i)
        mask = truth.astype(np.float32)
        carrier.set_key(i, mask)
        assert carrier.current() is mask and not carrier.blending


def test_a_mask_older_than_the_history_is_used_unmoved_and_counted() -> None:
    carrier = Carrier(mask_size=(W, H), history=3)
    _pushed(carrier, 8)
    mask = scene(1)[1].astype(np.float32)
    assert carrier.set_key(1, mask) is False
    assert carrier.too_old == 1
    np.testing.assert_array_equal(carrier.current(), mask)


def test_the_carry_stage_fills_every_frame_after_the_first_mask_and_records_the_age() -> None:
    ious, ages = run_live(carry=True, frames=20, lag=2)
    assert len(ages) >= 15  # only the frames before the first mask have no alpha
    assert max(ages) >= 2 and any(b < a for a, b in itertools.pairwise(ages))  # new keys reset it
    assert min(ious) > 0.85
