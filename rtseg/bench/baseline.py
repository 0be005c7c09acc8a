"""The baseline: the loop a tutorial teaches, measured in the same run as rtseg.

OpenCV reads a frame, MediaPipe's selfie segmenter (the same bundled model file rtseg uses) returns
a mask at frame size, the background is a full-resolution ``cv2.GaussianBlur`` whose kernel reaches
``strength`` pixels (see :class:`BaselineBlur`), the blend is the float numpy formula
``frame·m + blurred·(1-m)``, and the result goes to ``cv2.VideoWriter``. One thread, no queues.

This is a faithful version of what the MediaPipe and OpenCV tutorials show, not a strawman: OpenCV's
FFmpeg reader decodes with threads, GaussianBlur and MediaPipe use their own thread pools, and the
writer uses MPEG-4 Part 2 (``mp4v``, the tutorials' choice and the only encoder OpenCV's pip wheels
ship), which is cheaper than the H.264 rtseg writes, so the comparison favours the baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from rtseg.bench.measure import Meter, RunRecord
from rtseg.errors import SinkError, SourceError
from rtseg.segment.models import bundled_model
from rtseg.segment.selfie import MODEL_FILES, choose_variant, quiet_native_stderr


class BaselineBlur(StrEnum):
    """How the tutorial loop turns rtseg's blur strength into its full-resolution Gaussian kernel."""

    KERNEL = "kernel"
    """``GaussianBlur(frame, (k, k), 0)`` with ``k = 2·strength + 1``: the tutorials' form (a fixed odd
    kernel such as 55x55, sigma derived by OpenCV). At strength 25 that is 51x51, sigma ≈ 8: a weaker
    blur than rtseg's sigma 25, so this default favours the baseline."""
    SIGMA = "sigma"
    """``GaussianBlur(frame, (0, 0), strength)``: the same sigma as rtseg (151x151 taps at 25), the
    visually equal blur; several times slower at full resolution."""

    def kernel(self, strength: float) -> tuple[tuple[int, int], float]:
        """``(ksize, sigma)`` arguments for ``cv2.GaussianBlur``.

        >>> BaselineBlur.KERNEL.kernel(25), BaselineBlur.SIGMA.kernel(25)
        (((51, 51), 0.0), ((0, 0), 25.0))
        """
        if self is BaselineBlur.SIGMA:
            return (0, 0), float(strength)
        k = 2 * max(1, round(strength)) + 1
        return (k, k), 0.0


class BaselineMode(StrEnum):
    BLUR = "blur"
    """Read, segment, blur, blend, write (the tutorial's background blur)."""
    SEGMENT = "segment"
    """Read and segment only (compare with rtseg's file-segment workload)."""


@dataclass
class TutorialLoop:
    """One run of the tutorial loop over ``input`` (writing ``output`` in ``BLUR`` mode); the benchmark's
    options (:class:`~rtseg.bench.options.BenchOptions`) give the blur strength and kernel."""

    input: str
    output: Path | None
    strength: float
    mode: BaselineMode
    blur: BaselineBlur

    def _segmenter(self, width: int, height: int):  # type: ignore[no-untyped-def]
        from mediapipe.tasks.python import BaseOptions, vision

        filename, _ = MODEL_FILES[choose_variant(width, height)]
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_path=str(bundled_model(filename))),
            running_mode=vision.RunningMode.IMAGE, output_confidence_masks=True, output_category_mask=False)
        with quiet_native_stderr():
            return vision.ImageSegmenter.create_from_options(options)

    def run(self, rep: int = 0) -> RunRecord:
        """Process every frame once; per-step times are recorded like rtseg's stages."""
        import mediapipe as mp

        cap = cv2.VideoCapture(self.input)
        if not cap.isOpened():
            raise SourceError(f"OpenCV cannot open {self.input}")
        width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        writer = None
        if self.mode is BaselineMode.BLUR:
            assert self.output is not None
            writer = cv2.VideoWriter(str(self.output), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
            if not writer.isOpened():
                cap.release()
                raise SinkError(f"OpenCV cannot write {self.output}")
        segmenter = self._segmenter(width, height)
        ksize, sigma = self.blur.kernel(self.strength)
        steps: dict[str, list[float]] = {"read": [], "segment": []}
        if writer is not None:
            steps.update({"blur+blend": [], "write": []})
        latencies: list[float] = []
        times: list[float] = []
        frames = 0
        try:
            with Meter() as meter:
                while True:
                    t0 = time.perf_counter()
                    ok, frame = cap.read()
                    if not ok:
                        break
                    t1 = time.perf_counter()
                    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                    result = segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
                    mask = result.confidence_masks[0].numpy_view()
                    t2 = time.perf_counter()
                    steps["read"].append(t1 - t0)
                    steps["segment"].append(t2 - t1)
                    if writer is not None:
                        condition = np.stack((mask.reshape(height, width),) * 3, axis=-1)
                        blurred = cv2.GaussianBlur(frame, ksize, sigma)
                        output = (frame * condition + blurred * (1.0 - condition)).astype(np.uint8)
                        t3 = time.perf_counter()
                        writer.write(output)
                        t4 = time.perf_counter()
                        steps["blur+blend"].append(t3 - t2)
                        steps["write"].append(t4 - t3)
                        t2 = t4
                    frames += 1
                    latencies.append(t2 - t0)
                    times.append(t2 - meter.t0)
                if writer is not None:
                    writer.release()  # flushes the encoder: part of the measured time, as rtseg's finish()
        finally:
            cap.release()
            if writer is not None:
                writer.release()
            segmenter.close()
        return RunRecord("baseline", rep, frames, frames, 0, meter.wall_s, meter.cpu_percent, meter.peak_rss_mb,
                         meter.load_before, meter.load_after, steps, latencies, times)
