"""One open video in the studio: its frames, its model, the user's clicks, long work in a thread.

With a SAM 2 export, clicks go to an :class:`~rtseg.segment.sam2.interactive.InteractiveSession`
(the mask comes back at once), propagation runs in a worker thread that reports progress as events
and stops between frames when cancelled, and exports run the normal builder with the session's masks
as the model (:class:`StoredMasks`), so they are written by the CLI's sinks, atomically. Without one,
the selfie model shows each frame's person mask and exports are the CLI's own jobs.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rtseg.errors import ConfigError, RtsegError
from rtseg.frame import Frame, MaskResult, StreamInfo
from rtseg.jobs.build import Devices, build
from rtseg.jobs.spec import JobSpec
from rtseg.segment.sam2.interactive import InteractiveSession
from rtseg.segment.sam2.segmenter import to_mask_result
from rtseg.segment.sam2.tracker import Sam2Tracker
from rtseg.sinks.images import davis_palette
from rtseg.studio.media import FrameStore

STUDIO_FEATURE_BUDGET = 2 * 1024**3
"""Image features cached per open video (512 frames at 512 px; 128 at 1024)."""
EXPORT_KINDS = ("masks", "rle", "blur-background", "blur-object", "cutout", "overlay")
PALETTE = np.array(davis_palette(), np.uint8).reshape(256, 3)


@dataclass
class Click:
    frame: int
    object: int
    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None


class Events:
    """Progress and results of long work, for the page (Server-Sent Events); thread-safe."""

    def __init__(self, keep: int = 1000) -> None:
        self._items: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=keep)
        self._n = 0
        self._lock = threading.Lock()

    def put(self, **event: Any) -> None:
        with self._lock:
            self._n += 1
            self._items.append((self._n, event))

    def since(self, n: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            return [(i, e) for i, e in self._items if i > n]


class StoredMasks:
    """The session's masks as a segmenter, so an export is a normal job with normal sinks."""

    name = "sam2"

    def __init__(self, session: InteractiveSession) -> None:
        self.session = session

    def open(self, info: StreamInfo | None = None) -> None: ...

    def segment(self, frame: Frame) -> MaskResult | None:
        return to_mask_result(self.session.frame_masks(frame.index))

    def reset(self) -> None: ...

    def close(self) -> None: ...


class StudioSession:
    """A video (or image folder) open in the studio, with SAM 2 (``model_dir``) or the selfie model."""

    def __init__(self, path: str, model_dir: Path | None, *, threads: int | None = None) -> None:
        """Open ``path`` (already checked against the studio's read roots, see :mod:`rtseg.studio.files`)."""
        if not path or not path.strip():
            raise ConfigError("give a video file or an image folder")
        if not Path(path).exists():
            raise ConfigError(f"not found: {path}")
        self.id = uuid.uuid4().hex[:12]
        self.path = path
        self.model_dir = model_dir
        self.frames = FrameStore(path)
        self.events = Events()
        self.clicks: list[Click] = []
        self.cancel = threading.Event()
        self.worker: threading.Thread | None = None
        self.task: str | None = None
        self._task_lock = threading.Lock()
        self.propagated: set[int] = set()
        self.last_used = time.monotonic()
        self._selfie: Any = None
        self._selfie_lock = threading.Lock()
        self.tracker: Sam2Tracker | None = None
        self.interactive: InteractiveSession | None = None
        if model_dir is not None:
            self.tracker = Sam2Tracker(model_dir, intra_op_threads=threads, num_frames=len(self.frames))
            try:
                self.tracker.open()
            except BaseException:
                self.frames.close()
                raise
            self.interactive = InteractiveSession(self.tracker, self.frames.get, len(self.frames),
                                                  feature_budget_bytes=STUDIO_FEATURE_BUDGET,
                                                  corrections_as_conditioning=True)

    # -- what the page shows ---------------------------------------------------------------------

    @property
    def model(self) -> str:
        return "sam2" if self.interactive is not None else "selfie"

    def info(self) -> dict[str, Any]:
        return {"session": self.id, "path": self.path, "frames": len(self.frames), "width": self.frames.width,
                "height": self.frames.height, "fps": float(self.frames.info.fps), "model": self.model,
                "objects": self.objects(), "busy": self.task, "propagated": len(self.propagated),
                "clicks": [{"frame": c.frame, "object": c.object, "points": c.points, "labels": c.labels,
                            "box": c.box} for c in self.clicks]}

    def objects(self) -> list[int]:
        return self.interactive.obj_ids if self.interactive is not None else [1]

    def check_frame(self, index: int) -> None:
        if not 0 <= index < len(self.frames):
            raise ConfigError(f"frame {index} is outside the video (frames 0..{len(self.frames) - 1})")

    def check_inside(self, what: str, points: list[tuple[float, float]]) -> None:
        """Prompt coordinates must lie on the frame (0..width, 0..height, video pixels)."""
        w, h = self.frames.width, self.frames.height
        for x, y in points:
            if not (0 <= x <= w and 0 <= y <= h):  # also false for NaN
                raise ConfigError(f"{what} ({x:g}, {y:g}) is outside the frame ({w}x{h}: expected 0<=x<={w}, "
                                  f"0<=y<={h})")

    def frame_jpeg(self, index: int, width: int | None = None) -> bytes:
        """Frame ``index`` as JPEG, scaled down to ``width`` pixels if it is wider."""
        if width is not None and width < 1:
            raise ConfigError(f"width must be at least 1 pixel, got {width}")
        rgb = self.frames.get(index)
        if width is not None and width < rgb.shape[1]:
            rgb = cv2.resize(rgb, (width, round(rgb.shape[0] * width / rgb.shape[1])), interpolation=cv2.INTER_AREA)
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        return data.tobytes()

    def id_map(self, index: int) -> np.ndarray | None:
        """(H, W) object ids on ``index`` (selfie: 1 where the person is), or None when nothing is known yet."""
        if self.interactive is None:
            from rtseg.imaging import upsample_alpha

            seg = self._selfie_model()
            with self._selfie_lock:
                result = seg.segment(Frame(self.frames.get(index), index))
            alpha = upsample_alpha(result.alpha, self.frames.width, self.frames.height)
            return (alpha >= 0.5).astype(np.uint8)
        if not self.interactive.has_result(index):
            return None
        return self.interactive.frame_masks(index).id_map()

    def overlay_png(self, index: int) -> bytes:
        """The masks on ``index`` as a transparent RGBA PNG (each object its DAVIS colour, 55 % opaque)."""
        self.check_frame(index)
        ids = self.id_map(index)
        h, w = self.frames.height, self.frames.width
        rgba = np.zeros((h, w, 4), np.uint8)
        if ids is not None:
            rgba[..., :3] = PALETTE[ids]
            rgba[..., 3] = np.where(ids > 0, 140, 0).astype(np.uint8)
        ok, data = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        assert ok
        return data.tobytes()

    def _selfie_model(self) -> Any:
        if self._selfie is None:
            from rtseg.segment.selfie import SelfieSegmenter

            self._selfie = SelfieSegmenter()
            self._selfie.open()
        return self._selfie

    # -- clicks ----------------------------------------------------------------------------------

    def _need_sam2(self) -> InteractiveSession:
        if self.interactive is None:
            raise ConfigError("clicks need SAM 2: start the studio with --model-dir DIR (an `rtseg export-sam2` "
                              "folder); the selfie model finds people without clicks")
        if self.task is not None:
            raise ConfigError(f"busy ({self.task}): cancel it or wait")
        return self.interactive

    def click(self, frame: int, obj: int, x: float, y: float, label: int) -> dict[str, Any]:
        """One click: the object's mask on that frame, at once (with how long it took)."""
        session = self._need_sam2()
        if label not in (0, 1):
            raise ConfigError(f"label must be 1 (include) or 0 (exclude), got {label}")
        self.check_frame(frame)
        self.check_inside("click", [(x, y)])
        previous = [c for c in self.clicks if c.frame == frame and c.object == obj]
        t0 = time.perf_counter()
        session.add_points(frame, obj, [(x, y)], [label], clear_old_points=not previous)
        ms = 1000 * (time.perf_counter() - t0)
        self.clicks.append(Click(frame, obj, [(x, y)], [label]))
        return {"frame": frame, "object": obj, "ms": round(ms, 1), "objects": self.objects()}

    def box(self, frame: int, obj: int, box: tuple[float, float, float, float]) -> dict[str, Any]:
        session = self._need_sam2()
        self.check_frame(frame)
        self.check_inside("box corner", [box[:2], box[2:]])
        t0 = time.perf_counter()
        session.add_box(frame, obj, box)
        ms = 1000 * (time.perf_counter() - t0)
        self.clicks = [c for c in self.clicks if not (c.frame == frame and c.object == obj)]
        self.clicks.append(Click(frame, obj, box=box))
        return {"frame": frame, "object": obj, "ms": round(ms, 1), "objects": self.objects()}

    def undo(self, obj: int) -> dict[str, Any]:
        """Take back the object's last click: its frame's clicks are replayed without it."""
        session = self._need_sam2()
        mine = [i for i, c in enumerate(self.clicks) if c.object == obj]
        if not mine:
            raise ConfigError(f"object {obj} has no click to undo")
        last = self.clicks.pop(mine[-1])
        keep = [c for c in self.clicks if c.object == obj and c.frame == last.frame]
        session.clear_prompts(last.frame, obj)
        for i, c in enumerate(keep):
            session.add_points(c.frame, obj, c.points or np.zeros((0, 2)), c.labels or np.zeros((0,)), box=c.box,
                               clear_old_points=i == 0)
        if not any(c.object == obj for c in self.clicks):
            session.remove_object(obj)
        return {"frame": last.frame, "object": obj, "objects": self.objects()}

    def clear_object(self, obj: int) -> dict[str, Any]:
        session = self._need_sam2()
        session.remove_object(obj)
        self.clicks = [c for c in self.clicks if c.object != obj]
        return {"objects": self.objects()}

    # -- long work -----------------------------------------------------------------------------------

    def _start(self, name: str, work: Any) -> None:
        with self._task_lock:  # one long task at a time, whichever request thread asks
            if self.task is not None:
                raise ConfigError(f"busy ({self.task}): cancel it or wait")
            self.task = name
        self.cancel.clear()

        def run() -> None:
            try:
                work()
            except RtsegError as exc:
                self.events.put(type="error", task=name, message=str(exc))
            except Exception as exc:  # shown on the page; the server goes on
                self.events.put(type="error", task=name, message=f"internal error: {type(exc).__name__}: {exc}")
            finally:
                self.task = None

        self.worker = threading.Thread(target=run, name=f"studio-{name}", daemon=True)
        self.worker.start()

    def propagate(self, start: int | None = None) -> None:
        """Track every object from ``start`` (default: the first clicked frame) to the end, in a thread."""
        session = self._need_sam2()
        total = len(self.frames)
        if start is not None:
            self.check_frame(start)  # now, as a 400, not later as an error event

        def work() -> None:
            done = 0
            first = None
            for r in session.propagate(start, cancel=self.cancel):
                first = r.frame_idx if first is None else first
                self.propagated.add(r.frame_idx)
                done += 1
                self.events.put(type="progress", task="propagate", frame=r.frame_idx, done=done,
                                total=total - (first or 0))
            if self.cancel.is_set():
                self.events.put(type="cancelled", task="propagate", done=done)
            else:
                self.events.put(type="done", task="propagate", done=done)

        self._start("propagate", work)

    def export(self, kind: str, out: str) -> None:
        """Write what the CLI writes (mask PNGs, COCO RLE JSON, an effect video), atomically, in a thread.

        ``out`` is trusted here: the app has already checked it against the export folder
        (:meth:`rtseg.studio.files.FileRules.export_target`)."""
        if kind not in EXPORT_KINDS:
            raise ConfigError(f"export kind must be one of {', '.join(EXPORT_KINDS)}, got {kind!r}")
        if not out or not out.strip():
            raise ConfigError("give an output path")
        spec = self.export_spec(kind, out)
        devices = Devices(segmenter=StoredMasks(self.interactive)) if self.interactive is not None else None
        total = len(self.frames)
        if self.interactive is not None and len(self.propagated) < total:
            raise ConfigError(f"propagate first: {len(self.propagated)} of {total} frames have masks")
        def on_output(frame: Frame, stats: Any) -> None:
            self.events.put(type="progress", task="export", done=frame.index + 1, total=total)

        pipeline = build(spec, devices=devices, on_output=on_output)

        def work() -> None:
            stats = pipeline.run()
            self.events.put(type="done", task="export", done=stats.frames_out, path=out)

        self._start("export", work)

    def export_spec(self, kind: str, out: str) -> JobSpec:
        """The job an export runs (SAM 2: the clicks are recorded as its prompts)."""
        outputs: list[dict[str, Any]]
        command = "segment"
        effect: dict[str, Any] = {}
        if kind == "masks":
            outputs = [{"kind": "masks", "path": out}]
        elif kind == "rle":
            outputs = [{"kind": "rle", "path": out}]
            command = "track"
            effect = {"kind": "none"}
        else:
            outputs = [{"kind": "video", "path": out}]
            command = {"blur-background": "blur", "blur-object": "blur", "cutout": "cutout",
                       "overlay": "overlay"}[kind]
            effect = {"invert": True} if kind == "blur-object" else {}
        model: dict[str, Any] = {"name": "selfie"}
        if self.interactive is not None:
            prompts = [{"frame": c.frame, "object": c.object, "points": c.points, "labels": c.labels,
                        **({"box": c.box} if c.box else {})} for c in self.clicks]
            model = {"name": "sam2", "dir": str(self.model_dir), "prompts": prompts or [{"points": [(0, 0)]}]}
        elif kind == "rle":
            raise ConfigError("COCO RLE export is per object: it needs SAM 2 (--model-dir)")
        data = {"command": command, "source": {"path": self.path}, "outputs": outputs, "effect": effect,
                "model": model, "run": {"progress": False}}
        return JobSpec.from_dict(data, "studio export").check()

    def stop(self) -> None:
        """Cancel running work and wait for it (propagation stops between frames)."""
        self.cancel.set()
        worker = self.worker
        if worker is not None and worker.is_alive():
            worker.join(timeout=30)

    def close(self) -> None:
        self.stop()
        if self.interactive is not None:
            self.interactive.close()
        if self.tracker is not None:
            self.tracker.close()
        if self._selfie is not None:
            self._selfie.close()
        self.frames.close()
