"""Video files through PyAV: H.264 by default, alpha-capable VP9/ProRes for cutouts, audio copied."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from rtseg.errors import SinkError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.queues import Policy
from rtseg.graph.stage import SinkStage
from rtseg.imaging import pad_to_even
from rtseg.sinks.atomic import disk_full, partial_file, write_error

SINGLE_THREAD_MAX_PIXELS = 1920 * 1080
"""Up to this frame size, ``threads = 0`` runs libx264 on one thread (see :class:`EncoderSettings`)."""


@dataclass
class EncoderSettings:
    """Encoder choice. Defaults: H.264 (libx264) yuv420p, CRF 23, preset ``superfast`` with
    ``mbtree=1:rc-lookahead=10``.

    That is x264's ``superfast`` motion search (diamond, subpel 1) with ``veryfast``'s rate control
    (macroblock-tree over a 10-frame lookahead), which ``superfast`` alone turns off. On the 720p
    juggle clip it costs ≈5.6 ms of CPU per frame against ≈8.4 ms for ``veryfast``, for a file 10 %
    larger and 0.1 dB lower luma PSNR (37.9 vs 38.0 dB at CRF 23); plain ``superfast`` would double
    the file size at the same CRF. The encoder is the largest single cost of ``rtseg blur``, so
    this is where speed is bought most cheaply. ``--preset``/``--crf`` override it.

    ``threads = 0`` (auto) gives libx264 one thread up to 1080p: the pipeline already runs decode,
    segmentation, compositing and encoding concurrently, and x264's frame threads on top cost ≈15 %
    more CPU for no throughput on a busy machine (one thread encodes 720p at ≈180 fps here). Larger
    frames and other codecs let FFmpeg choose.
    """

    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    options: dict[str, str] = field(default_factory=lambda: {
        "crf": "23", "preset": "superfast", "x264-params": "mbtree=1:rc-lookahead=10"})
    threads: int = 0

    @classmethod
    def for_path(cls, path: Path, *, alpha: bool = False) -> EncoderSettings:
        """Settings for an output name: ``.webm`` → VP9 (alpha: yuva420p), ``.mov`` with alpha → ProRes 4444."""
        suffix = path.suffix.lower()
        if suffix == ".webm":
            return cls("libvpx-vp9", "yuva420p" if alpha else "yuv420p",
                       {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"})
        if alpha:
            if suffix != ".mov":
                raise SinkError(f"alpha output needs .webm, .mov or a directory, got {path.name!r}")
            return cls("prores_ks", "yuva444p10le", {"profile": "4444", "qscale": "11"})
        return cls()


class VideoFileSink(SinkStage):
    """Encode frames to ``path``; the file appears only when complete.

    Frames keep their input pts and time base (so fps, frame count and duration match the input):
    both come from the stream info at ``open()`` unless given here. With ``audio`` (default), the
    input's first audio stream (``info.audio``) is copied packet for packet (no re-encode),
    interleaved with the video as it is written.
    """

    name = "encode"
    live_policy = Policy.BLOCK_THEN_DROP
    """Live (a recording): wait up to 2 s for room, then drop frames (counted) rather than stall the camera."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: Fraction | None = None,
        time_base: Fraction | None = None,
        audio: bool = True,
        settings: EncoderSettings | None = None,
        alpha: bool = False,
    ) -> None:
        self.path = Path(path)
        self.fps = Fraction(fps) if fps else Fraction(30)
        self.time_base = Fraction(time_base) if time_base else 1 / self.fps
        self._fixed = (fps is not None, time_base is not None)
        self.audio = audio
        self.audio_from: str | None = None
        self.alpha = alpha
        self.settings = settings or EncoderSettings.for_path(self.path, alpha=alpha)
        self._tmp: Path | None = None
        self._out: av.container.OutputContainer | None = None
        self._vstream: av.VideoStream | None = None
        self._ain: av.container.InputContainer | None = None
        self._astream: av.AudioStream | None = None
        self._apackets: Iterator[av.Packet] | None = None
        self._pending_audio: av.Packet | None = None
        self._last_pts: int | None = None
        self.frames_written = 0

    def open(self, info: StreamInfo) -> None:
        if not self._fixed[0]:
            self.fps = Fraction(info.fps)
        if not self._fixed[1]:
            self.time_base = Fraction(info.time_base) if info.time_base else 1 / self.fps
        self.audio_from = info.audio if self.audio else None
        self._tmp = partial_file(self.path)
        try:
            self._out = av.open(str(self._tmp), mode="w")
        except (av.error.FFmpegError, ValueError) as exc:
            self.close()
            raise SinkError(f"cannot create output {self.path}: {exc}") from exc
        except BaseException:  # e.g. Ctrl-C right now: close() will not be called, so clean up here
            self.close()
            raise

    def _start(self, width: int, height: int) -> None:
        assert self._out is not None
        s = self.settings
        try:
            stream = self._out.add_stream(s.codec, rate=self.fps, options=dict(s.options))
        except (av.error.FFmpegError, ValueError) as exc:
            raise SinkError(f"encoder {s.codec!r} is not available: {exc}") from exc
        if not isinstance(stream, av.VideoStream):
            raise SinkError(f"{s.codec!r} is not a video encoder")
        stream.width, stream.height, stream.pix_fmt = width, height, s.pix_fmt
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        stream.thread_type = "AUTO"
        threads = s.threads or (1 if s.codec == "libx264" and width * height <= SINGLE_THREAD_MAX_PIXELS else 0)
        if threads:
            stream.codec_context.thread_count = threads
        self._vstream = stream
        if self.audio_from:
            self._start_audio(self.audio_from)

    def _start_audio(self, source: str) -> None:
        assert self._out is not None
        try:
            ain = av.open(source)
        except av.error.FFmpegError:
            return  # the video source already reported real problems; no audio to copy
        if not ain.streams.audio:
            ain.close()
            return
        in_audio = ain.streams.audio[0]
        try:
            self._astream = self._out.add_stream_from_template(in_audio)
        except (av.error.FFmpegError, ValueError) as exc:
            ain.close()
            raise SinkError(f"cannot copy audio ({in_audio.codec_context.name}) into {self.path.name}: {exc}") from exc
        self._ain = ain
        self._apackets = ain.demux(in_audio)

    def _mux_audio_until(self, seconds: float | None) -> None:
        """Copy audio packets whose time is at or before ``seconds`` (all of them if None)."""
        if self._apackets is None or self._out is None or self._astream is None:
            return
        while True:
            pkt = self._pending_audio
            if pkt is None:
                try:
                    pkt = next(self._apackets)
                except StopIteration:
                    self._apackets = None
                    return
                if pkt.dts is None:
                    continue
            dts = pkt.dts
            if seconds is not None and dts is not None and pkt.time_base is not None \
                    and float(dts * pkt.time_base) > seconds:
                self._pending_audio = pkt
                return
            self._pending_audio = None
            pkt.stream = self._astream
            self._out.mux(pkt)

    @property
    def subsampled(self) -> bool:
        """The pixel format halves chroma in a direction (4:2:0, 4:2:2): the frame size must be even."""
        return "420" in self.settings.pix_fmt or "422" in self.settings.pix_fmt

    def process(self, frame: Frame) -> None:
        image = frame.result
        if self.subsampled:
            # H.264/VP9 4:2:0 cannot encode an odd width or height: repeat the last row/column.
            image = pad_to_even(image)
        if self._vstream is None:
            self._start(image.shape[1], image.shape[0])
        assert self._vstream is not None and self._out is not None
        if (image.shape[1], image.shape[0]) != (self._vstream.width, self._vstream.height):
            raise SinkError(f"unexpected frame size {image.shape[1]}x{image.shape[0]} != "
                            f"{self._vstream.width}x{self._vstream.height}")
        vf = self._to_video_frame(image)
        pts = frame.pts if frame.pts is not None and frame.time_base == self.time_base else None
        if pts is None:
            pts = round(frame.index / (self.fps * self.time_base))
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # keep pts strictly increasing whatever the source did
        self._last_pts = pts
        vf.pts = pts
        vf.time_base = self.time_base
        try:
            for packet in self._vstream.encode(vf):
                self._out.mux(packet)
        except av.error.FFmpegError as exc:
            if disk_full(self.path, exc):
                raise write_error(self.path, exc) from exc
            raise SinkError(f"encoding {self.path.name} failed at frame {frame.index}: {exc}") from exc
        self.frames_written += 1
        self._mux_audio_until(float(pts * self.time_base))

    def _to_video_frame(self, image: np.ndarray) -> av.VideoFrame:
        """The frame the encoder takes, converted once.

        For yuv420p output (H.264 default) the RGB image goes to I420 with one ``cv2.cvtColor``:
        OpenCV's RGB→I420 uses the same BT.601 limited-range matrix as FFmpeg's swscale (the path
        ``from_ndarray(rgb24)`` + encoder reformat would take), luma equal within 1 level, chroma
        averaged over 2x2 blocks (swscale filters a little wider; ≈0.5 levels mean difference). It
        costs ≈0.6 ms per 720p frame against ≈3 ms for the rgb24 copy plus swscale.
        """
        h, w = image.shape[:2]
        if (self.settings.pix_fmt == "yuv420p" and image.ndim == 3 and image.shape[2] == 3
                and image.dtype == np.uint8 and w % 2 == 0 and h % 2 == 0):
            i420: np.ndarray = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420)
            return av.VideoFrame.from_ndarray(i420, format="yuv420p")
        return av.VideoFrame.from_ndarray(image, format="rgba" if image.shape[2] == 4 else "rgb24")

    def finish(self) -> None:
        if self._out is None or self._tmp is None:
            return
        if self._vstream is None:
            raise SinkError(f"no frames to write to {self.path}")
        try:
            for packet in self._vstream.encode(None):
                self._out.mux(packet)
            self._mux_audio_until(None)
            self._out.close()
        except av.error.FFmpegError as exc:
            if disk_full(self.path, exc):
                raise write_error(self.path, exc) from exc
            raise SinkError(f"finishing {self.path.name} failed: {exc}") from exc
        self._out = None
        os.replace(self._tmp, self.path)
        self._tmp = None

    def close(self) -> None:
        if self._ain is not None:
            self._ain.close()
            self._ain = None
        if self._out is not None:
            with contextlib.suppress(av.error.FFmpegError):
                self._out.close()
            self._out = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
