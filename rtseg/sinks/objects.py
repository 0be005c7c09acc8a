"""Per-object outputs of models that track objects (SAM 2): COCO RLE JSON and logits ``.npy`` folders.

The mask PNGs of object ids are written by :class:`~rtseg.sinks.images.MaskSink` (DAVIS palette).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from rtseg.errors import ConfigError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph.stage import SinkStage
from rtseg.sinks.atomic import AtomicDir, partial_file, write_error
from rtseg.sinks.images import frame_filename

# --- COCO run-length encoding -------------------------------------------------------------------------


def rle_encode(mask: np.ndarray) -> dict[str, object]:
    """COCO RLE of a bool mask (column-major runs, compressed counts string as pycocotools writes).

    >>> rle_encode(np.array([[0, 1], [1, 1]], bool))
    {'size': [2, 2], 'counts': '13'}
    """
    h, w = mask.shape
    flat = np.asarray(mask, bool).ravel(order="F")
    changes = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], changes, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(h), int(w)], "counts": _counts_to_string(counts)}


def _counts_to_string(counts: list[int]) -> str:
    out = []
    for i, value in enumerate(counts):
        x = int(value) - (int(counts[i - 2]) if i > 2 else 0)
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_decode(rle: dict[str, object]) -> np.ndarray:
    """Inverse of :func:`rle_encode`."""
    size = rle["size"]
    assert isinstance(size, list | tuple)
    h, w = int(size[0]), int(size[1])
    s = str(rle["counts"])
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    flat = np.zeros(h * w, dtype=np.bool_)
    pos, val = 0, False
    for n in counts:
        flat[pos : pos + n] = val
        pos += n
        val = not val
    return flat.reshape(h, w, order="F")


class ObjectFilesSink(SinkStage):
    """``--rle`` (one JSON file: COCO RLE per frame and object) and ``--logits`` (one float32 ``.npy``
    of shape (objects, H, W) per frame).

    The folder and the JSON file appear only after a clean end of stream (written beside the
    target, then renamed), like every other sink.
    """

    name = "objects"

    def __init__(self, *, rle: str | os.PathLike[str] | None = None,
                 logits: str | os.PathLike[str] | None = None) -> None:
        if rle is None and logits is None:
            raise ConfigError("ObjectFilesSink needs an rle file or a logits folder")
        self.rle = Path(rle) if rle is not None else None
        self.logits = Path(logits) if logits is not None else None
        self._logit_dir = AtomicDir(self.logits) if self.logits is not None else None
        self._logit_tmp: Path | None = None
        self._rle_frames: list[dict[str, object]] = []

    def open(self, info: StreamInfo) -> None:
        if self._logit_dir is not None:
            self._logit_tmp = self._logit_dir.open()
        if self.rle is not None:
            partial_file(self.rle)  # checks the directory is writable now, not after the whole video

    def process(self, frame: Frame) -> None:
        objects = frame.objects
        if objects is None:
            raise ConfigError(f"frame {frame.index} has no per-object masks: --rle and --logits need a model "
                              "that tracks objects (--model sam2)")
        if self._logit_tmp is not None:
            np.save(self._logit_tmp / frame_filename(frame, ".npy"), objects.logits.astype(np.float32))
        if self.rle is not None:
            masks = objects.masks
            rles = {str(obj_id): rle_encode(masks[k]) for k, obj_id in enumerate(objects.obj_ids)}
            self._rle_frames.append({"frame": frame.index, "name": frame.name, "objects": rles})

    def finish(self) -> None:
        if self._logit_dir is not None:
            self._logit_dir.commit()
            self._logit_tmp = None
        if self.rle is not None:
            tmp = partial_file(self.rle)
            try:
                tmp.write_text(json.dumps({"format": "coco-rle", "frames": self._rle_frames}) + "\n")
                os.replace(tmp, self.rle)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise write_error(self.rle, exc) from exc

    def close(self) -> None:
        if self._logit_dir is not None:
            self._logit_dir.discard()
        self._logit_tmp = None
