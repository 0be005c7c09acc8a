"""SAM 2 masklet propagation on ONNX Runtime: the memory bank in numpy, the networks as ONNX graphs.

:class:`Sam2Tracker` reproduces ``sam2.SAM2VideoPredictor`` (the settings recorded in the model's
manifest, i.e. SAM 2's own defaults) one frame at a time, so it can sit in a streaming pipeline:

* a frame where an object gets its first prompt is a *conditioning frame*: segmented from the prompt
  alone (the no-memory embedding is added to the features), kept in memory for the whole video;
* every later frame attends to all conditioning frames, the 6 most recent other frames
  (``num_maskmem = 7``, each with its temporal encoding) and the object pointers of up to 16 frames;
* a prompt on a frame where the object is already tracked is a *correction*, as in SAM 2's
  interactive use: the frame is tracked first, then the decoder reruns with the new points and the
  tracked logits as mask input; the corrected result replaces the frame's memory;
* an object judged absent (object score <= 0) gets -1024 logits and the no-object pointer;
* one click gives three candidate masks and the one with the best predicted IoU wins; tracking
  frames do the same, and single-mask outputs fall back to the best candidate when unstable.

Memory is bounded: conditioning frames plus the memories of the last ``num_maskmem - 1`` frames and
the pointers of the last ``max_obj_ptrs_in_encoder - 1`` frames; older entries are dropped.

Deliberate difference: SAM 2's offline ``propagate_in_video`` knows every prompt before it starts,
so an object first prompted on frame K is also "tracked" on frames before K using memory from the
future frame K. A stream cannot look ahead: here an object's masks start at its first prompt and
earlier frames report it absent (logits -1024).

Only numpy, Pillow and onnxruntime are used (no torch).

>>> with Sam2Tracker("models/sam2-tiny", num_frames=100) as tracker:  # doctest: +SKIP
...     tracker.add_points(0, obj_id=1, points=[(420, 270)], labels=[1])
...     result = tracker.track(first_rgb_frame, 0)
...     result.masks.shape          # (objects, H, W) bool at the frame's resolution
(1, 540, 960)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from rtseg.errors import ConfigError, ModelError
from rtseg.frame import ObjectMasks
from rtseg.segment.providers import Device, GpuOptions, ProviderChoice, create_session
from rtseg.segment.sam2.manifest import GRAPH_FILES, Sam2Model, warn_random_weights

NO_OBJ_SCORE = -1024.0
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


# --- preprocessing and resampling (exactly as SAM 2's loader / torch.nn.functional) --------------


def _normalising_tables() -> np.ndarray:
    """(3, 256) float32: each channel's uint8 value -> normalised float, as SAM 2 computes it.

    SAM 2 divides by 255 in float64, stores float32, then subtracts the mean and divides by the std
    in float32. Each step depends only on the byte value and the channel, so a lookup table built
    with the same steps gives bit-identical tensors at a fraction of the cost.
    """
    lut = (np.arange(256) / 255.0).astype(np.float32)
    return ((lut[None] - IMAGENET_MEAN.reshape(3, 1)) / IMAGENET_STD.reshape(3, 1)).astype(np.float32)


_NORMALISE = _normalising_tables()


def preprocess_image(rgb: np.ndarray, image_size: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> normalised float32 (1, 3, S, S), as SAM 2's JPEG-folder loader does.

    SAM 2 resizes with PIL's default filter (bicubic) to a square and normalises each byte with
    ImageNet's mean and std (see :func:`_normalising_tables`); the tensors are bit-identical.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ConfigError(f"expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}")
    resized = np.asarray(Image.fromarray(rgb).resize((image_size, image_size)))
    out = np.empty((1, 3, image_size, image_size), np.float32)
    for c in range(3):
        np.take(_NORMALISE[c], resized[..., c], out=out[0, c])
    return out


def bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) weights of ``F.interpolate(mode="bilinear", align_corners=False)`` along one axis.

    Source positions and weights are computed in float32 like ATen's CPU kernel, so the two agree
    to a few ulp rather than to float32-vs-float64 rounding.
    """
    scale = np.float32(in_size) / np.float32(out_size)
    src = scale * (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    src = np.maximum(src, np.float32(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    frac = np.clip(src - i0.astype(np.float32), np.float32(0.0), np.float32(1.0))
    m = np.zeros((out_size, in_size), dtype=np.float32)
    rows = np.arange(out_size)
    np.add.at(m, (rows, i0), np.float32(1.0) - frac)
    np.add.at(m, (rows, i1), frac)
    return m


def antialias_bilinear_matrix(out_size: int, in_size: int) -> np.ndarray:
    """(out, in) weights of ``F.interpolate(mode="bilinear", antialias=True)`` along one axis.

    Follows ATen's ``_compute_indices_min_size_weights_aa``: a triangle filter widened by the
    downscale factor, truncated to the input and normalised per output sample.
    """
    scale = in_size / out_size
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    m = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        center = scale * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        j = np.arange(xmin, xmax)
        w = np.maximum(0.0, 1.0 - np.abs((j - center + 0.5) * invscale))
        total = w.sum()
        if total > 0:
            m[i, xmin:xmax] = w / total
    return m


def resize2d(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Separable resize of (..., H, W) by row/column weight matrices, float32 out."""
    r = rows.astype(np.float32)
    c = cols.astype(np.float32)
    return np.matmul(np.matmul(r, x.astype(np.float32)), c.T)


def round_bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 precision (nearest, ties to even) and back.

    SAM2VideoPredictor stores memory features as bfloat16; the tracker keeps the same rounding so
    its memory matches the reference bit for bit.
    """
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return rounded.view(np.float32)


def sine_pe_1d(pos: np.ndarray, dim: int, temperature: float = 10000.0) -> np.ndarray:
    """SAM 2's ``get_1d_sine_pe`` in float32: (N,) positions -> (N, dim)."""
    pe_dim = dim // 2
    dim_t = np.arange(pe_dim, dtype=np.float32)
    dim_t = np.float32(temperature) ** (2 * (dim_t // 2) / np.float32(pe_dim))
    emb = pos.astype(np.float32)[:, None] / dim_t.astype(np.float32)
    return np.concatenate([np.sin(emb), np.cos(emb)], axis=-1).astype(np.float32)


# --- prompts and per-object state -----------------------------------------------------------------


@dataclass(slots=True)
class _Action:
    """One prompt call, applied when its frame is tracked (in the order the calls were made)."""

    points: np.ndarray | None = None  # (N, 2) video pixels
    labels: np.ndarray | None = None  # (N,) int32: 1 include, 0 exclude, 2/3 box corners
    clear_old: bool = True
    mask: np.ndarray | None = None  # (H, W) bool at video resolution


@dataclass(slots=True)
class _Memory:
    """What SAM 2 keeps per object and frame ("compact_current_out")."""

    maskmem: np.ndarray | None  # (1, mem, e, e) bf16-rounded features, None until encoded
    obj_ptr: np.ndarray  # (1, C)
    pred_masks: np.ndarray  # (1, 1, S/4, S/4) low-res logits
    object_score: np.ndarray  # (1, 1)


@dataclass(slots=True)
class _Object:
    obj_id: int
    cond: dict[int, _Memory] = field(default_factory=dict)
    non_cond: dict[int, _Memory] = field(default_factory=dict)
    point_inputs: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


@dataclass(slots=True)
class TrackResult:
    """One frame's output for every object, in ``obj_ids`` order."""

    frame_idx: int
    obj_ids: list[int]
    low_res_logits: np.ndarray
    """(objects, 1, S/4, S/4) float32, the model's mask logits (SAM 2's ``pred_masks``)."""
    video_logits: np.ndarray
    """(objects, H, W) float32, logits upsampled to the frame (what ``propagate_in_video`` yields)."""
    object_scores: np.ndarray
    """(objects,) float32 object-presence logits (> 0: present)."""

    @property
    def masks(self) -> np.ndarray:
        """(objects, H, W) bool: logits > 0."""
        return self.video_logits > 0

    def id_map(self) -> np.ndarray:
        """(H, W) uint8 with each pixel's object id (0 background); the last object wins overlaps."""
        return ObjectMasks(list(self.obj_ids), self.video_logits, self.object_scores).id_map()


@dataclass(slots=True)
class _Features:
    """Image-encoder outputs of one frame, shared by all objects. With IO binding ``feat0`` and
    ``feat1`` are ONNX Runtime values left on the session's device (only the decoder reads them)."""

    vision: np.ndarray  # (1, C, e, e)
    feat0: Any  # (1, C/8, 4e, 4e): np.ndarray, or an OrtValue on the device
    feat1: Any  # (1, C/4, 2e, 2e)


def tensor_nbytes(x: Any) -> int:
    """Bytes of a numpy array or an ONNX Runtime value (float32)."""
    if isinstance(x, np.ndarray):
        return int(x.nbytes)
    return 4 * int(np.prod(x.shape()))


DEVICE_OUTPUTS = {"image_encoder": ("high_res_feat_0", "high_res_feat_1"),
                  "memory_attention": ("conditioned_features",)}
"""With IO binding, these graph outputs stay on the device: they are only ever the next graph's input
(the decoder's high-resolution features and its memory-conditioned image embedding)."""


class Sam2Tracker:
    """Track objects through a video with exported SAM 2 graphs (see the module docstring).

    Frames must be given in increasing order (gaps are allowed). Prompts are given for a frame index
    before that frame is tracked, in video pixel coordinates. ``num_frames`` is the video's length
    when known: SAM 2 normalises pointer distances by ``min(num_frames, 16) - 1``, so it changes
    results on videos shorter than 16 frames; ``None`` means "long video".

    ``spinning`` (off by default) lets ONNX Runtime's idle threads busy-wait between ops. The four
    graphs run one after another, each session with its own thread pool, so spinning threads of
    the graph that just finished would compete with the next one for the cores (see
    :func:`rtseg.segment.providers.session_options`).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        device: str | Device = Device.AUTO,
        intra_op_threads: int | None = None,
        num_frames: int | None = None,
        verify_checksums: bool = True,
        spinning: bool = False,
        io_binding: bool | None = None,
        gpu: GpuOptions | None = None,
    ) -> None:
        self.gpu = gpu
        """TensorRT engine cache, fp16 engines, GPU id (:class:`~rtseg.segment.providers.GpuOptions`)."""
        self.model_dir = Path(model_dir)
        self.spinning = spinning
        self.io_binding = io_binding
        """Pass tensors between the graphs with ONNX Runtime IO binding (large features stay on the
        device between calls: :data:`DEVICE_OUTPUTS`). None: on for CUDA/TensorRT, off on CPU, where
        there is no copy to save (it is tested equal on CPU)."""
        self._device_type = "cpu"
        self.device = Device.parse(device)
        self.intra_op_threads = intra_op_threads
        self.num_frames = num_frames
        self.verify_checksums = verify_checksums
        self.provider_choice: ProviderChoice | None = None
        self._sessions: dict[str, Any] = {}
        self._model: Sam2Model | None = None
        self._objects: dict[int, _Object] = {}
        self._pending: dict[int, dict[int, list[_Action]]] = {}
        self._last_frame: int | None = None
        self._video_hw: tuple[int, int] | None = None
        self._resize_cache: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.timings: dict[str, float] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> Sam2Tracker:
        """Check the model directory and create the four ONNX Runtime sessions."""
        if self._sessions:
            return self
        model = Sam2Model.from_dir(self.model_dir, verify=self.verify_checksums)
        try:
            for name in GRAPH_FILES:
                session, choice = create_session(
                    model.graph_path(name), self.device, self.intra_op_threads, spinning=self.spinning,
                    gpu=self.gpu,
                )
                self._sessions[name] = session
                if self.provider_choice is None:
                    self.provider_choice = choice
        except BaseException:
            self._sessions.clear()
            raise
        try:
            model.check_sessions({name: [(i.name, list(i.shape)) for i in session.get_inputs()]
                                  for name, session in self._sessions.items()})
        except BaseException:
            self._sessions.clear()
            raise
        self._model = model
        primary = self.provider_choice.primary if self.provider_choice is not None else "CPUExecutionProvider"
        self._device_type = "cuda" if primary in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else "cpu"
        if self.io_binding is None:
            self.io_binding = self._device_type == "cuda"
        if model.random_weights:
            warn_random_weights(model)
        s = model.settings
        c = model.constants
        self.image_size = model.image_size
        self._s = s
        self._e = model.image_size // s["backbone_stride"]
        self._vision_pos = c["vision_pos_enc"].reshape(1, s["hidden_dim"], -1).transpose(2, 0, 1).copy()
        self._maskmem_pos = c["maskmem_pos_enc"].reshape(1, s["mem_dim"], -1).transpose(2, 0, 1).copy()
        return self

    @property
    def settings(self) -> dict[str, Any]:
        """The model's SAM 2 settings from its manifest (``num_maskmem``, ...); needs :meth:`open`."""
        self._require_open()
        return dict(self._s)

    def reset(self) -> None:
        """Forget the video: every prompt, object and memory, the last tracked frame and the frame size.

        The ONNX Runtime sessions and the loaded model stay, so starting the next video costs no
        checksum pass and no session creation; afterwards the tracker behaves exactly like a freshly
        opened one (``timings`` start from zero too). Harmless on a tracker that is not open.
        """
        self._forget_video()
        self.timings.clear()

    def _forget_video(self) -> None:
        self._objects.clear()
        self._pending.clear()
        self._last_frame = None
        self._video_hw = None

    def close(self) -> None:
        """Release the sessions and all memory (``timings`` stay readable). Idempotent."""
        self._sessions.clear()
        self._forget_video()

    def __enter__(self) -> Sam2Tracker:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _require_open(self) -> None:
        if not self._sessions:
            raise RuntimeError("Sam2Tracker is not open; use `with Sam2Tracker(...)` or call open()")

    # -- prompts -----------------------------------------------------------------------------------

    @property
    def obj_ids(self) -> list[int]:
        """Object ids in the order they were first prompted."""
        return list(self._objects)

    def _check_frame(self, frame_idx: int) -> None:
        if frame_idx < 0:
            raise ConfigError(f"frame index must be >= 0, got {frame_idx}")
        if self.num_frames is not None and frame_idx >= self.num_frames:
            raise ConfigError(f"frame {frame_idx} is outside the video (frames 0..{self.num_frames - 1})")
        if self._last_frame is not None and frame_idx <= self._last_frame:
            raise ConfigError(
                f"frame {frame_idx} was already tracked (last tracked frame: {self._last_frame}); "
                "prompts must be for a frame that has not been tracked yet"
            )

    def _queue(self, frame_idx: int, obj_id: int, action: _Action) -> None:
        self._check_frame(frame_idx)
        if not isinstance(obj_id, int | np.integer) or not 0 < int(obj_id) < 256:
            raise ConfigError(f"object id must be an integer in 1..255, got {obj_id!r}")
        self._pending.setdefault(frame_idx, {}).setdefault(int(obj_id), []).append(action)

    def add_points(
        self,
        frame_idx: int,
        obj_id: int,
        points: Sequence[Sequence[float]] | np.ndarray,
        labels: Sequence[int] | np.ndarray,
        *,
        box: Sequence[float] | None = None,
        clear_old_points: bool = True,
    ) -> None:
        """Add clicks (label 1 include, 0 exclude) and/or a box (x0, y0, x1, y1) for one object.

        Like ``add_new_points_or_box``: a box goes first as two corner points; ``clear_old_points``
        False appends to the points already given on this frame (not allowed with a box).
        """
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
        lbl = np.asarray(labels, dtype=np.int32).reshape(-1)
        if len(pts) != len(lbl):
            raise ConfigError(f"got {len(pts)} points but {len(lbl)} labels")
        if np.any((lbl != 0) & (lbl != 1)):
            raise ConfigError(f"point labels must be 0 (exclude) or 1 (include), got {lbl.tolist()}")
        if box is not None:
            if not clear_old_points:
                raise ConfigError("a box must come first: it cannot be added to earlier points")
            b = np.asarray(box, dtype=np.float32).reshape(-1)
            if b.size != 4 or b[2] < b[0] or b[3] < b[1]:
                raise ConfigError(f"box must be x0,y0,x1,y1 with x0<=x1 and y0<=y1, got {b.tolist()}")
            pts = np.concatenate([b.reshape(2, 2), pts], axis=0)
            lbl = np.concatenate([np.array([2, 3], np.int32), lbl])
        if len(pts) == 0:
            raise ConfigError("give at least one point or a box")
        self._queue(frame_idx, obj_id, _Action(points=pts, labels=lbl, clear_old=clear_old_points))

    def add_box(self, frame_idx: int, obj_id: int, box: Sequence[float]) -> None:
        """Add a box prompt (x0, y0, x1, y1 in video pixels)."""
        self.add_points(frame_idx, obj_id, np.zeros((0, 2)), np.zeros((0,)), box=box)

    def add_mask(self, frame_idx: int, obj_id: int, mask: np.ndarray) -> None:
        """Add a mask prompt (bool/0-1 array at the video's resolution)."""
        m = np.asarray(mask)
        if m.ndim != 2:
            raise ConfigError(f"mask prompt must be 2-D (H, W), got shape {m.shape}")
        self._queue(frame_idx, obj_id, _Action(mask=m > 0))

    def _validate_prompts(self, actions: list[_Action], h: int, w: int, frame_idx: int) -> None:
        for a in actions:
            if a.points is not None:
                p = a.points
                bad = (p[:, 0] < 0) | (p[:, 0] > w) | (p[:, 1] < 0) | (p[:, 1] > h)
                if np.any(bad):
                    raise ConfigError(
                        f"prompt {p[bad][0].tolist()} on frame {frame_idx} is outside the frame "
                        f"(expected 0<=x<={w}, 0<=y<={h})"
                    )
            if a.mask is not None and a.mask.shape != (h, w):
                raise ConfigError(f"mask prompt on frame {frame_idx} has shape {a.mask.shape}, expected {(h, w)}")

    # -- graph calls -------------------------------------------------------------------------------

    def _run(self, name: str, feeds: dict[str, Any]) -> list[Any]:
        import time

        t0 = time.perf_counter()
        session = self._sessions[name]
        if not self.io_binding:
            out = session.run(None, feeds)
        else:
            binding = session.io_binding()
            for key, value in feeds.items():
                if isinstance(value, np.ndarray):
                    binding.bind_cpu_input(key, value)
                else:
                    binding.bind_ortvalue_input(key, value)
            names = [o.name for o in session.get_outputs()]
            for n in names:
                binding.bind_output(n, self._device_type)
            session.run_with_iobinding(binding)
            keep = DEVICE_OUTPUTS.get(name, ())
            out = [v if n in keep else v.numpy() for n, v in zip(names, binding.get_outputs(), strict=True)]
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        return out

    def encode_image(self, rgb: np.ndarray) -> _Features:
        """Run the image encoder on one RGB frame."""
        x = preprocess_image(rgb, self.image_size)
        vision, f0, f1 = self._run("image_encoder", {"image": x})
        return _Features(vision, f0, f1)

    def _decode(
        self,
        pix_feat: np.ndarray,
        feats: _Features,
        points: np.ndarray | None,
        labels: np.ndarray | None,
        mask_input: np.ndarray | None,
        multimask: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SAM head as ``SAM2Base._forward_sam_heads``: returns (low-res logits, obj_ptr, score)."""
        s = self._s
        if points is None or labels is None:
            coords = np.zeros((1, 1, 2), np.float32)
            lbls = -np.ones((1, 1), np.int32)
        else:
            coords, lbls = points[None].astype(np.float32), labels[None].astype(np.int32)
        # SAM's prompt encoder appends one padding point when no box tensor is given
        coords = np.concatenate([coords, np.zeros((1, 1, 2), np.float32)], axis=1)
        lbls = np.concatenate([lbls, -np.ones((1, 1), np.int32)], axis=1)
        side = 4 * self._e
        has_mask = mask_input is not None
        masks, ious, ptrs, score = self._run(
            "mask_decoder",
            {
                "image_embed": pix_feat,
                "high_res_feat_0": feats.feat0,
                "high_res_feat_1": feats.feat1,
                "point_coords": coords,
                "point_labels": lbls,
                "mask_input": mask_input if mask_input is not None else np.zeros((1, 1, side, side), np.float32),
                "has_mask_input": np.array([1.0 if has_mask else 0.0], np.float32),
            },
        )
        if multimask:
            best = 1 + int(np.argmax(ious[0, 1:]))
            low = masks[:, best : best + 1]
            ptr = ptrs[:, best] if s["use_multimask_token_for_obj_ptr"] else ptrs[:, 0]
        else:
            low = masks[:, 0:1]
            if s["dynamic_multimask_via_stability"]:
                single = masks[0, 0]
                delta = s["dynamic_multimask_stability_delta"]
                area_i = float(np.count_nonzero(single > delta))
                area_u = float(np.count_nonzero(single > -delta))
                stability = area_i / area_u if area_u > 0 else 1.0
                if stability < s["dynamic_multimask_stability_thresh"]:
                    best = 1 + int(np.argmax(ious[0, 1:]))
                    low = masks[:, best : best + 1]
            ptr = ptrs[:, 0]
        low = low.astype(np.float32)
        if s["pred_obj_scores"]:
            appearing = score[0, 0] > 0
            if not appearing:
                low = np.full_like(low, NO_OBJ_SCORE)
            ptr = self._gate_ptr(ptr, score, appearing)
        return low, ptr.astype(np.float32), score.astype(np.float32)

    def _gate_ptr(self, ptr: np.ndarray, score: np.ndarray, appearing: bool) -> np.ndarray:
        s = self._s
        if not s["pred_obj_scores"]:
            return ptr
        no_obj = self._model.constants["no_obj_ptr"]  # type: ignore[union-attr]
        if s["soft_no_obj_ptr"]:
            lam = (1.0 / (1.0 + np.exp(-score))).astype(np.float32)
        else:
            lam = np.float32(1.0 if appearing else 0.0)
        if s["fixed_no_obj_ptr"]:
            ptr = lam * ptr
        return (ptr + (1 - lam) * no_obj).astype(np.float32)

    def _mask_as_output(self, feats: _Features, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``SAM2Base._use_mask_as_output``: a mask prompt becomes the output (mask: (S, S) 0/1)."""
        c = self._model.constants  # type: ignore[union-attr]
        size = self.image_size
        high = mask.astype(np.float32)[None, None] * np.float32(20.0) + np.float32(-10.0)
        aa = antialias_bilinear_matrix(size // 4, size)
        low = resize2d(high, aa, aa)
        # mask_downsample: Conv2d(1, 1, kernel 4, stride 4) on the 0/1 mask
        blocks = mask.astype(np.float32).reshape(size // 4, 4, size // 4, 4)
        w = c["mask_downsample_weight"].reshape(4, 4)
        mask_in = np.einsum("ajbk,jk->ab", blocks, w).astype(np.float32) + c["mask_downsample_bias"][0]
        pix_feat = feats.vision  # SAM2 uses the raw image features here (no memory)
        _, ptr, _ = self._decode(pix_feat, feats, None, None, mask_in[None, None], multimask=False)
        appearing = bool(np.any(mask > 0))
        score = np.array([[10.0 if appearing else -10.0]], np.float32)
        ptr = self._gate_ptr(ptr, score, appearing) if self._s["pred_obj_scores"] else ptr
        return low.astype(np.float32), ptr, score

    def _encode_memory(self, feats: _Features, low: np.ndarray, score: np.ndarray, binarize: bool) -> np.ndarray:
        (mem,) = self._run(
            "memory_encoder",
            {
                "vision_features": feats.vision,
                "mask_logits": low.astype(np.float32),
                "binarize": np.array([1.0 if binarize else 0.0], np.float32),
                "object_score_logits": score.astype(np.float32),
            },
        )
        return round_bf16(mem)

    # -- memory bank -------------------------------------------------------------------------------

    def _conditioned(self, obj: _Object, frame_idx: int, feats: _Features) -> np.ndarray:
        """``_prepare_memory_conditioned_features`` for a non-initial frame (forward tracking)."""
        s = self._s
        c = self._model.constants  # type: ignore[union-attr]
        num_maskmem = s["num_maskmem"]
        selected, unselected = _select_closest_cond_frames(frame_idx, obj.cond, s["max_cond_frames_in_attn"])
        t_pos_and_prevs: list[tuple[int, _Memory | None]] = [(0, m) for m in selected.values()]
        stride = s["memory_temporal_stride_for_eval"]
        for t_pos in range(1, num_maskmem):
            t_rel = num_maskmem - t_pos
            prev = frame_idx - t_rel if t_rel == 1 else (frame_idx - 2) // stride * stride - (t_rel - 2) * stride
            out = obj.non_cond.get(prev)
            if out is None:
                out = unselected.get(prev)
            t_pos_and_prevs.append((t_pos, out))

        mems, poses = [], []
        for t_pos, prev in t_pos_and_prevs:
            if prev is None or prev.maskmem is None:
                continue
            mems.append(prev.maskmem.reshape(1, s["mem_dim"], -1).transpose(2, 0, 1))
            poses.append(self._maskmem_pos + c["maskmem_tpos_enc"][num_maskmem - t_pos - 1])

        num_ptr_tokens = 0
        if s["use_obj_ptrs_in_encoder"]:
            max_ptrs = (
                min(self.num_frames, s["max_obj_ptrs_in_encoder"]) if self.num_frames else s["max_obj_ptrs_in_encoder"]
            )
            if s["only_obj_ptrs_in_the_past_for_eval"]:
                ptr_cond = {t: m for t, m in selected.items() if t <= frame_idx}
            else:
                ptr_cond = selected
            pos_and_ptrs = [
                ((frame_idx - t) if s["use_signed_tpos_enc_to_obj_ptrs"] else abs(frame_idx - t), m.obj_ptr)
                for t, m in ptr_cond.items()
            ]
            for t_diff in range(1, max_ptrs):
                t = frame_idx - t_diff
                if t < 0 or (self.num_frames is not None and t >= self.num_frames):
                    break
                m = obj.non_cond.get(t, unselected.get(t))
                if m is not None:
                    pos_and_ptrs.append((t_diff, m.obj_ptr))
            if pos_and_ptrs:
                hidden, mem_dim = s["hidden_dim"], s["mem_dim"]
                pos_list = np.array([p for p, _ in pos_and_ptrs], np.float32)
                ptrs = np.stack([p for _, p in pos_and_ptrs], axis=0)  # (P, 1, C)
                if s["add_tpos_enc_to_obj_ptrs"]:
                    t_diff_max = np.float32(max(max_ptrs - 1, 1))
                    tpos_dim = hidden if s["proj_tpos_enc_in_obj_ptrs"] else mem_dim
                    obj_pos = sine_pe_1d(pos_list / t_diff_max, tpos_dim)
                    if s["proj_tpos_enc_in_obj_ptrs"]:
                        obj_pos = obj_pos @ c["obj_ptr_tpos_proj_weight"].T + c["obj_ptr_tpos_proj_bias"]
                    obj_pos = obj_pos[:, None, :].astype(np.float32)
                else:
                    obj_pos = np.zeros((len(pos_list), 1, mem_dim), np.float32)
                if mem_dim < hidden:
                    split = hidden // mem_dim
                    ptrs = ptrs.reshape(-1, 1, split, mem_dim).transpose(0, 2, 1, 3).reshape(-1, 1, mem_dim)
                    obj_pos = np.repeat(obj_pos, split, axis=0)
                mems.append(ptrs.astype(np.float32))
                poses.append(obj_pos)
                num_ptr_tokens = ptrs.shape[0]

        memory = np.ascontiguousarray(np.concatenate(mems, axis=0), dtype=np.float32)
        memory_pos = np.ascontiguousarray(np.concatenate(poses, axis=0), dtype=np.float32)
        current = feats.vision.reshape(1, s["hidden_dim"], -1).transpose(2, 0, 1)
        (pix_feat,) = self._run(
            "memory_attention",
            {
                "current_features": np.ascontiguousarray(current),
                "current_pos": self._vision_pos,
                "memory": memory,
                "memory_pos": memory_pos,
                "num_obj_ptr_tokens": np.array(num_ptr_tokens, np.int64),
            },
        )
        return pix_feat

    def _no_memory(self, feats: _Features) -> np.ndarray:
        """Initial conditioning frame: features + no-memory embedding (``directly_add_no_mem_embed``)."""
        if not self._s["directly_add_no_mem_embed"]:  # pragma: no cover - all released configs set it
            raise ModelError("this tracker needs a model with directly_add_no_mem_embed")
        no_mem = self._model.constants["no_mem_embed"].reshape(1, -1, 1, 1)  # type: ignore[union-attr]
        return (feats.vision + no_mem).astype(np.float32)

    def _use_multimask(self, is_init_cond: bool, num_pts: int) -> bool:
        s = self._s
        return bool(
            s["multimask_output_in_sam"]
            and (is_init_cond or s["multimask_output_for_tracking"])
            and s["multimask_min_pt_num"] <= num_pts <= s["multimask_max_pt_num"]
        )

    def _prune(self, obj: _Object, frame_idx: int) -> None:
        """Drop what no later frame can attend to: spatial memories beyond the last
        ``num_maskmem - 1`` frames (times the stride) and pointers beyond ``max_obj_ptrs - 1``."""
        s = self._s
        keep_mem = (s["num_maskmem"] - 1) * s["memory_temporal_stride_for_eval"] + 1
        keep_ptr = s["max_obj_ptrs_in_encoder"]
        for t in list(obj.non_cond):
            age = frame_idx - t
            m = obj.non_cond[t]
            if age >= max(keep_mem, keep_ptr):
                del obj.non_cond[t]
            else:
                if age >= keep_mem:
                    m.maskmem = None
                if age >= 1:
                    m.pred_masks = m.pred_masks[:, :, :0, :0]  # only the current frame's logits are reused
        obj.point_inputs = {t: v for t, v in obj.point_inputs.items() if t == frame_idx}

    # -- the per-frame step ------------------------------------------------------------------------

    def track(self, rgb: np.ndarray, frame_idx: int | None = None) -> TrackResult:
        """Apply the prompts queued for this frame and track every object on it.

        ``rgb`` is the frame (H, W, 3) uint8; ``frame_idx`` defaults to the next index.
        """
        self._require_open()
        if frame_idx is None:
            frame_idx = 0 if self._last_frame is None else self._last_frame + 1
        if self._last_frame is not None and frame_idx <= self._last_frame:
            raise ConfigError(f"frames must be tracked in increasing order: got {frame_idx} after {self._last_frame}")
        if self.num_frames is not None and frame_idx >= self.num_frames:
            raise ConfigError(f"frame {frame_idx} is outside the video (frames 0..{self.num_frames - 1})")
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ConfigError(f"expected an RGB frame (H, W, 3), got shape {rgb.shape}")
        h, w = int(rgb.shape[0]), int(rgb.shape[1])
        if self._video_hw is None:
            self._video_hw = (h, w)
        elif self._video_hw != (h, w):
            raise ConfigError(f"frame size changed: {(h, w)} != {self._video_hw}")

        pending = self._pending.pop(frame_idx, {})
        for actions in pending.values():
            self._validate_prompts(actions, h, w, frame_idx)
        for obj_id in pending:
            if obj_id not in self._objects:
                self._objects[obj_id] = _Object(obj_id)

        feats = self.encode_image(rgb)
        side = 4 * self._e
        lows, scores = [], []
        for obj in self._objects.values():
            actions = pending.get(obj.obj_id, [])
            started = bool(obj.cond) or bool(obj.non_cond)
            if not started and not actions:
                lows.append(np.full((1, 1, side, side), NO_OBJ_SCORE, np.float32))
                scores.append(np.float32(NO_OBJ_SCORE))
                continue
            mem = self._step(obj, frame_idx, feats, actions, (h, w), started)
            lows.append(mem.pred_masks)
            scores.append(mem.object_score.reshape(-1)[0])
            self._prune(obj, frame_idx)
        self._last_frame = frame_idx
        low_all = np.concatenate(lows, axis=0) if lows else np.zeros((0, 1, side, side), np.float32)
        return TrackResult(
            frame_idx=frame_idx,
            obj_ids=self.obj_ids,
            low_res_logits=low_all,
            video_logits=self.to_video_resolution(low_all),
            object_scores=np.asarray(scores, np.float32).reshape(-1),
        )

    def _step(
        self,
        obj: _Object,
        frame_idx: int,
        feats: _Features,
        actions: list[_Action],
        hw: tuple[int, int],
        started: bool,
    ) -> _Memory:
        """Track one object on one frame, then apply its prompts, then encode its memory."""
        s = self._s
        current: _Memory | None = None
        is_init_cond = not started
        pix_feat: np.ndarray | None = None
        from_prompt = False
        if started:
            # a tracked frame (and the starting point of any correction on it)
            pix_feat = self._conditioned(obj, frame_idx, feats)
            low, ptr, score = self._decode(pix_feat, feats, None, None, None, self._use_multimask(False, 0))
            current = _Memory(None, ptr, low, score)
        for action in actions:
            from_prompt = True
            if action.mask is not None:
                mask = self._prompt_mask(action.mask, hw)
                low, ptr, score = self._mask_as_output(feats, mask)
                obj.point_inputs.pop(frame_idx, None)
            else:
                pts = action.points.astype(np.float32) / np.array([hw[1], hw[0]], np.float32)  # type: ignore[union-attr]
                pts = pts * np.float32(self.image_size)
                lbl = action.labels
                old = obj.point_inputs.get(frame_idx) if not action.clear_old else None
                if old is not None:
                    pts = np.concatenate([old[0], pts], axis=0)
                    lbl = np.concatenate([old[1], lbl])
                obj.point_inputs[frame_idx] = (pts, lbl)  # type: ignore[assignment]
                prev = None
                if current is not None and current.pred_masks.size:
                    prev = np.clip(current.pred_masks, -32.0, 32.0).astype(np.float32)
                if pix_feat is None:
                    pix_feat = self._no_memory(feats) if is_init_cond else self._conditioned(obj, frame_idx, feats)
                multimask = self._use_multimask(is_init_cond, len(lbl))  # type: ignore[arg-type]
                low, ptr, score = self._decode(pix_feat, feats, pts, lbl, prev, multimask)
            current = _Memory(None, ptr, low, score)
        assert current is not None
        binarize = from_prompt and s["binarize_mask_from_pts_for_mem_enc"]
        current.maskmem = self._encode_memory(feats, current.pred_masks, current.object_score, binarize)
        if is_init_cond or (from_prompt and s["add_all_frames_to_correct_as_cond"]):
            obj.cond[frame_idx] = current
            obj.non_cond.pop(frame_idx, None)
        else:
            obj.non_cond[frame_idx] = current
        return current

    def _prompt_mask(self, mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """``add_new_mask``: resize to S x S with antialiased bilinear, then threshold at 0.5."""
        size = self.image_size
        m = mask.astype(np.float32)
        if hw != (size, size):
            m = resize2d(m, antialias_bilinear_matrix(size, hw[0]), antialias_bilinear_matrix(size, hw[1]))
            m = (m >= 0.5).astype(np.float32)
        return m

    def to_video_resolution(self, low: np.ndarray) -> np.ndarray:
        """(N, 1, s, s) logits -> (N, H, W), bilinear as ``_get_orig_video_res_output``."""
        assert self._video_hw is not None
        h, w = self._video_hw
        key = (h, w)
        if key not in self._resize_cache:
            side = low.shape[-1]
            self._resize_cache[key] = (bilinear_matrix(h, side), bilinear_matrix(w, side))
        rows, cols = self._resize_cache[key]
        return resize2d(low[:, 0], rows, cols)

    def memory_size(self) -> int:
        """Bytes held in the memory bank (for checking that it stays bounded)."""
        total = 0
        for obj in self._objects.values():
            for m in list(obj.cond.values()) + list(obj.non_cond.values()):
                total += m.obj_ptr.nbytes + m.pred_masks.nbytes + m.object_score.nbytes
                total += 0 if m.maskmem is None else m.maskmem.nbytes
        return total


def _select_closest_cond_frames(
    frame_idx: int, cond: dict[int, _Memory], max_num: int
) -> tuple[dict[int, _Memory], dict[int, _Memory]]:
    """SAM 2's ``select_closest_cond_frames``: which conditioning frames to attend to."""
    if max_num == -1 or len(cond) <= max_num:
        return dict(cond), {}
    selected: dict[int, _Memory] = {}
    before = max((t for t in cond if t < frame_idx), default=None)
    if before is not None:
        selected[before] = cond[before]
    after = min((t for t in cond if t >= frame_idx), default=None)
    if after is not None:
        selected[after] = cond[after]
    remain = max_num - len(selected)
    rest = sorted((t for t in cond if t not in selected), key=lambda t: abs(t - frame_idx))[:remain]
    selected.update((t, cond[t]) for t in rest)
    return selected, {t: m for t, m in cond.items() if t not in selected}


def load_frame(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 the way SAM 2's loader does (PIL, converted to RGB)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


__all__ = [
    "NO_OBJ_SCORE",
    "Sam2Tracker",
    "TrackResult",
    "antialias_bilinear_matrix",
    "bilinear_matrix",
    "iou",
    "load_frame",
    "preprocess_image",
    "round_bf16",
]
