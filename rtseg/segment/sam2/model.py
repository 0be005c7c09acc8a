"""The model of a SAM 2-family tracker: the exported graphs in ONNX Runtime and the per-graph calls.

As Meta's sam2 keeps ``SAM2Base`` (the networks) apart from ``inference_state`` (one video's prompts
and memories), rtseg keeps :class:`TrackerModel` apart from the two state holders that use it:
:class:`~rtseg.segment.sam2.streaming.StreamingState` (forward tracking in a pipeline) and
:class:`~rtseg.segment.sam2.interactive.InteractiveSession` (any-frame clicks, corrections and
re-propagation). A model holds nothing about a video; its public calls are the graphs and the small
pieces of ``SAM2Base`` around them:

* :meth:`TrackerModel.encode_image`   image encoder → :class:`Features`
* :meth:`TrackerModel.decode`         prompt encoder + mask decoder, with SAM 2's multimask and
  occlusion rules → :class:`Decoded`
* :meth:`TrackerModel.attend`         memory attention over assembled memory tokens
  (:func:`~rtseg.segment.sam2.memory.condition` assembles them)
* :meth:`TrackerModel.encode_memory`  memory encoder → one frame's memory tokens

The architecture (SAM 2, EdgeTAM) is the export's business: its manifest says which, its graphs take
and return the same tensors, and nothing here branches on it. numpy, Pillow and ONNX Runtime only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np

from rtseg.errors import ModelError
from rtseg.frame import id_map
from rtseg.segment.providers import GpuOptions, Provider, ProviderChoice, create_session
from rtseg.segment.sam2.manifest import GRAPH_FILES, Sam2Model, warn_random_weights
from rtseg.segment.sam2.ops import (
    NO_OBJ_SCORE,
    antialias_bilinear_matrix,
    bilinear_matrix,
    preprocess_image,
    resize2d,
    round_bf16,
    tensor_nbytes,
)

DEVICE_OUTPUTS = {"image_encoder": ("high_res_feat_0", "high_res_feat_1"),
                  "memory_attention": ("conditioned_features",)}
"""With IO binding, these graph outputs stay on the device: they are only ever the next graph's input
(the decoder's high-resolution features and its memory-conditioned image embedding)."""


@dataclass(slots=True)
class Features:
    """Image-encoder outputs of one frame, shared by all objects. With IO binding ``feat0`` and
    ``feat1`` are ONNX Runtime values left on the session's device (only the decoder reads them)."""

    vision: np.ndarray  # (1, C, e, e)
    feat0: Any  # (1, C/8, 4e, 4e): np.ndarray, or an OrtValue on the device
    feat1: Any  # (1, C/4, 2e, 2e)

    @property
    def nbytes(self) -> int:
        return tensor_nbytes(self.vision) + tensor_nbytes(self.feat0) + tensor_nbytes(self.feat1)


class Decoded(NamedTuple):
    """One object's output on one frame before its memory is encoded."""

    low: np.ndarray
    """(1, 1, S/4, S/4) float32 mask logits (-1024 where the object is judged absent)."""
    ptr: np.ndarray
    """(1, C) object pointer."""
    score: np.ndarray
    """(1, 1) object-presence logit."""


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
        return id_map(zip(self.obj_ids, self.masks, strict=True), self.video_logits.shape[-2:])


class TrackerModel:
    """An exported SAM 2-family model (see the module docstring): four ONNX Runtime sessions, the
    learned constants and settings from its manifest, and the per-graph calls.

    ``spinning`` (off by default) lets ONNX Runtime's idle threads busy-wait between ops. The four
    graphs run one after another, each session with its own thread pool, so spinning threads of the
    graph that just finished would compete with the next one for the cores (see
    :func:`rtseg.segment.providers.session_options`). ``io_binding`` passes tensors between the graphs
    with ONNX Runtime IO binding (large features stay on the device between calls:
    :data:`DEVICE_OUTPUTS`); None: on for CUDA/TensorRT, off on CPU, where there is no copy to save
    (it is tested equal on CPU). ``timings`` add up the seconds spent in each graph.

    >>> with TrackerModel("models/sam2-tiny") as model:   # doctest: +SKIP
    ...     model.architecture, model.image_size
    ('sam2', 512)
    """

    def __init__(self, model_dir: str | Path, *, provider: str | Provider = Provider.AUTO,
                 intra_op_threads: int | None = None, verify_checksums: bool = True, spinning: bool = False,
                 io_binding: bool | None = None, gpu: GpuOptions | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.provider = Provider.parse(provider)
        self.intra_op_threads = intra_op_threads
        self.verify_checksums = verify_checksums
        self.spinning = spinning
        self.io_binding = io_binding
        self.gpu = gpu
        """TensorRT engine cache, fp16 engines, GPU id (:class:`~rtseg.segment.providers.GpuOptions`)."""
        self.provider_choice: ProviderChoice | None = None
        self.timings: dict[str, float] = {}
        self._device_type = "cpu"
        self._sessions: dict[str, Any] = {}
        self._manifest: Sam2Model | None = None
        self._resize_cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------

    def open(self) -> TrackerModel:
        """Check the model folder and create the four ONNX Runtime sessions (again: a no-op)."""
        if self._sessions:
            return self
        manifest = Sam2Model.from_dir(self.model_dir, verify=self.verify_checksums)
        sessions: dict[str, Any] = {}
        for name in GRAPH_FILES:
            session, choice = create_session(manifest.graph_path(name), self.provider, self.intra_op_threads,
                                             spinning=self.spinning, gpu=self.gpu)
            sessions[name] = session
            if self.provider_choice is None:
                self.provider_choice = choice
        manifest.check_sessions({name: [(i.name, list(i.shape)) for i in session.get_inputs()]
                                 for name, session in sessions.items()})
        primary = self.provider_choice.primary if self.provider_choice is not None else "CPUExecutionProvider"
        self._device_type = "cuda" if primary in ("CUDAExecutionProvider", "TensorrtExecutionProvider") else "cpu"
        if self.io_binding is None:
            self.io_binding = self._device_type == "cuda"
        if manifest.random_weights:
            warn_random_weights(manifest)
        s, c = manifest.settings, manifest.constants
        self._manifest = manifest
        self._sessions = sessions
        self._vision_pos = c["vision_pos_enc"].reshape(1, s["hidden_dim"], -1).transpose(2, 0, 1).copy()
        self._maskmem_pos = c["maskmem_pos_enc"].reshape(1, s["mem_dim"], -1).transpose(2, 0, 1).copy()
        return self

    def close(self) -> None:
        """Release the sessions (``timings`` stay readable). Idempotent."""
        self._sessions.clear()

    def __enter__(self) -> TrackerModel:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return bool(self._sessions)

    def require_open(self) -> None:
        if not self._sessions:
            raise RuntimeError("the tracker model is not open; use `with TrackerModel(...)` or call open()")

    @property
    def manifest(self) -> Sam2Model:
        self.require_open()
        assert self._manifest is not None
        return self._manifest

    # -- what the state holders read -----------------------------------------------------------------

    @property
    def architecture(self) -> str:
        """What the export says it is: ``sam2`` or ``edgetam``."""
        return str(self.manifest.manifest.get("architecture", "sam2"))

    @property
    def image_size(self) -> int:
        return self.manifest.image_size

    @property
    def settings(self) -> dict[str, Any]:
        """The reference's settings from the manifest (``num_maskmem``, ...); read-only by convention."""
        return self.manifest.settings

    @property
    def constants(self) -> dict[str, np.ndarray]:
        """Learned tensors from ``constants.npz`` (``maskmem_tpos_enc``, ``no_obj_ptr``, ...)."""
        return self.manifest.constants

    @property
    def embed_side(self) -> int:
        """Side of the image embedding: image size / backbone stride."""
        return self.image_size // int(self.settings["backbone_stride"])

    @property
    def low_res_side(self) -> int:
        """Side of the low-resolution mask logits (4x the embedding)."""
        return 4 * self.embed_side

    @property
    def maskmem_pos(self) -> np.ndarray:
        """(T, 1, mem_dim) spatial position encoding of one memory frame's T tokens."""
        self.require_open()
        return self._maskmem_pos

    @property
    def feature_bytes_per_frame(self) -> int:
        """Bytes one frame's :class:`Features` take (float32, from the model's shapes)."""
        c, e = int(self.settings["hidden_dim"]), self.embed_side
        return 4 * (c * e * e + (c // 8) * (4 * e) ** 2 + (c // 4) * (2 * e) ** 2)

    def absent(self) -> Decoded:
        """The output of an object that has no prompt yet (logits and score -1024)."""
        side = self.low_res_side
        return Decoded(np.full((1, 1, side, side), NO_OBJ_SCORE, np.float32),
                       np.zeros((1, int(self.settings["hidden_dim"])), np.float32),
                       np.full((1, 1), NO_OBJ_SCORE, np.float32))

    # -- graph calls -------------------------------------------------------------------------------

    def _run(self, name: str, feeds: dict[str, Any]) -> list[Any]:
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

    def encode_image(self, rgb: np.ndarray) -> Features:
        """Run the image encoder on one RGB uint8 frame (H, W, 3)."""
        self.require_open()
        vision, f0, f1 = self._run("image_encoder", {"image": preprocess_image(rgb, self.image_size)})
        return Features(vision, f0, f1)

    def decode(self, pix_feat: np.ndarray, feats: Features, points: np.ndarray | None, labels: np.ndarray | None,
               mask_input: np.ndarray | None, multimask: bool) -> Decoded:
        """SAM head as ``SAM2Base._forward_sam_heads``: ``points`` (N, 2) in model pixels (see
        :meth:`model_points`), ``labels`` (N,) int32 (1/0 clicks, 2/3 box corners), ``mask_input`` low-res
        logits or None; the best of the multimask candidates when ``multimask``."""
        s = self.settings
        if points is None or labels is None:
            coords = np.zeros((1, 1, 2), np.float32)
            lbls = -np.ones((1, 1), np.int32)
        else:
            coords, lbls = points[None].astype(np.float32), labels[None].astype(np.int32)
        # SAM's prompt encoder appends one padding point when no box tensor is given
        coords = np.concatenate([coords, np.zeros((1, 1, 2), np.float32)], axis=1)
        lbls = np.concatenate([lbls, -np.ones((1, 1), np.int32)], axis=1)
        side = self.low_res_side
        masks, ious, ptrs, score = self._run("mask_decoder", {
            "image_embed": pix_feat,
            "high_res_feat_0": feats.feat0,
            "high_res_feat_1": feats.feat1,
            "point_coords": coords,
            "point_labels": lbls,
            "mask_input": mask_input if mask_input is not None else np.zeros((1, 1, side, side), np.float32),
            "has_mask_input": np.array([1.0 if mask_input is not None else 0.0], np.float32),
        })
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
            appearing = bool(score[0, 0] > 0)
            if not appearing:
                low = np.full_like(low, NO_OBJ_SCORE)
            ptr = self._gate_ptr(ptr, score, appearing)
        return Decoded(low, ptr.astype(np.float32), score.astype(np.float32))

    def _gate_ptr(self, ptr: np.ndarray, score: np.ndarray, appearing: bool) -> np.ndarray:
        s = self.settings
        if not s["pred_obj_scores"]:
            return ptr
        no_obj = self.constants["no_obj_ptr"]
        lam = (1.0 / (1.0 + np.exp(-score))).astype(np.float32) if s["soft_no_obj_ptr"] else \
            np.float32(1.0 if appearing else 0.0)
        if s["fixed_no_obj_ptr"]:
            ptr = lam * ptr
        return (ptr + (1 - lam) * no_obj).astype(np.float32)

    def mask_as_output(self, feats: Features, mask: np.ndarray) -> Decoded:
        """``SAM2Base._use_mask_as_output``: a mask prompt (S x S, 0/1: see :meth:`model_mask`) becomes
        the output; the decoder runs on it only for the object pointer."""
        c = self.constants
        size = self.image_size
        high = mask.astype(np.float32)[None, None] * np.float32(20.0) + np.float32(-10.0)
        aa = antialias_bilinear_matrix(size // 4, size)
        low = resize2d(high, aa, aa)
        # mask_downsample: Conv2d(1, 1, kernel 4, stride 4) on the 0/1 mask
        blocks = mask.astype(np.float32).reshape(size // 4, 4, size // 4, 4)
        w = c["mask_downsample_weight"].reshape(4, 4)
        mask_in = np.einsum("ajbk,jk->ab", blocks, w).astype(np.float32) + c["mask_downsample_bias"][0]
        # SAM 2 uses the raw image features here (no memory)
        _, ptr, _ = self.decode(feats.vision, feats, None, None, mask_in[None, None], multimask=False)
        appearing = bool(np.any(mask > 0))
        score = np.array([[10.0 if appearing else -10.0]], np.float32)
        ptr = self._gate_ptr(ptr, score, appearing) if self.settings["pred_obj_scores"] else ptr
        return Decoded(low.astype(np.float32), ptr, score)

    def encode_memory(self, feats: Features, low: np.ndarray, score: np.ndarray, binarize: bool) -> np.ndarray:
        """One frame's memory: (1, mem_dim, ...) tokens, rounded to bfloat16 as the reference stores them."""
        (mem,) = self._run("memory_encoder", {
            "vision_features": feats.vision,
            "mask_logits": low.astype(np.float32),
            "binarize": np.array([1.0 if binarize else 0.0], np.float32),
            "object_score_logits": score.astype(np.float32),
        })
        return round_bf16(mem)

    def attend(self, feats: Features, memory: np.ndarray, memory_pos: np.ndarray, num_ptr_tokens: int) -> np.ndarray:
        """Memory attention: the frame's features attend to ``memory`` (tokens, 1, mem_dim) whose last
        ``num_ptr_tokens`` are object-pointer tokens; returns the conditioned image embedding."""
        current = feats.vision.reshape(1, int(self.settings["hidden_dim"]), -1).transpose(2, 0, 1)
        (pix_feat,) = self._run("memory_attention", {
            "current_features": np.ascontiguousarray(current),
            "current_pos": self._vision_pos,
            "memory": np.ascontiguousarray(memory, dtype=np.float32),
            "memory_pos": np.ascontiguousarray(memory_pos, dtype=np.float32),
            "num_obj_ptr_tokens": np.array(num_ptr_tokens, np.int64),
        })
        return pix_feat  # type: ignore[no-any-return]

    def no_memory(self, feats: Features) -> np.ndarray:
        """An initial conditioning frame's embedding: features + no-memory embedding."""
        if not self.settings["directly_add_no_mem_embed"]:  # pragma: no cover - all released configs set it
            raise ModelError("this tracker needs a model with directly_add_no_mem_embed")
        return (feats.vision + self.constants["no_mem_embed"].reshape(1, -1, 1, 1)).astype(np.float32)

    # -- the reference's small rules ---------------------------------------------------------------

    def use_multimask(self, is_init_cond: bool, num_points: int) -> bool:
        """SAM 2's ``_use_multimask``: three candidates for one click on an initial frame."""
        s = self.settings
        return bool(s["multimask_output_in_sam"] and (is_init_cond or s["multimask_output_for_tracking"])
                    and s["multimask_min_pt_num"] <= num_points <= s["multimask_max_pt_num"])

    def model_points(self, points: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """Video pixels (N, 2) → the model's input pixels, as the reference normalises coordinates."""
        return (points.astype(np.float32) / np.array([hw[1], hw[0]], np.float32)) * np.float32(self.image_size)

    def model_mask(self, mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """``add_new_mask``: a video-resolution mask resized to S x S (antialiased bilinear), then >= 0.5."""
        size = self.image_size
        m = mask.astype(np.float32)
        if hw != (size, size):
            m = resize2d(m, antialias_bilinear_matrix(size, hw[0]), antialias_bilinear_matrix(size, hw[1]))
            m = (m >= 0.5).astype(np.float32)
        return m

    def to_video_resolution(self, low: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
        """(N, 1, s, s) logits → (N, H, W), bilinear as ``_get_orig_video_res_output``."""
        h, w = hw
        side = int(low.shape[-1])
        key = (h, w, side)
        if key not in self._resize_cache:
            self._resize_cache[key] = (bilinear_matrix(h, side), bilinear_matrix(w, side))
        rows, cols = self._resize_cache[key]
        return resize2d(low[:, 0], rows, cols)

    def result(self, frame_idx: int, obj_ids: list[int], outputs: list[Decoded], hw: tuple[int, int]) -> TrackResult:
        """Every object's output on one frame as a :class:`TrackResult` at the video's resolution."""
        side = self.low_res_side
        low = np.concatenate([o.low for o in outputs], axis=0) if outputs else np.zeros((0, 1, side, side), np.float32)
        scores = np.asarray([o.score.reshape(-1)[0] for o in outputs], np.float32).reshape(-1)
        return TrackResult(frame_idx=frame_idx, obj_ids=list(obj_ids), low_res_logits=low,
                           video_logits=self.to_video_resolution(low, hw), object_scores=scores)
