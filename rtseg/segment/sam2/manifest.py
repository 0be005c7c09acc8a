"""The exported model directory: ``manifest.json``, four ONNX graphs and ``constants.npz``.

:class:`Sam2Model` reads and checks a directory written by :func:`rtseg.tools.sam2.export.export_sam2`
(every file present, every sha256 matching) before any session is created, so a truncated download or
a hand-edited graph fails with a message naming the file instead of an ONNX Runtime stack trace.
Needs numpy only.
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtseg.errors import ChecksumError, ModelError
from rtseg.segment.models import sha256_file

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "rtseg-sam2/1"
CONSTANTS_FILE = "constants.npz"
GRAPH_FILES = {
    "image_encoder": "image_encoder.onnx",
    "mask_decoder": "mask_decoder.onnx",
    "memory_encoder": "memory_encoder.onnx",
    "memory_attention": "memory_attention.onnx",
}
VARIANTS = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l"}
"""rtseg's SAM 2 variant name -> the letter in SAM 2's config and checkpoint names."""
ARCHITECTURES = {"sam2": tuple(VARIANTS), "edgetam": ("edgetam",)}
"""Manifest ``architecture`` -> its ``variant`` values. The graphs of every architecture keep one
contract (see :mod:`rtseg.tools.sam2.edgetam`): only the export differs, the tracker does not. A
manifest without the key (written before EdgeTAM) is ``"sam2"``."""
DEFAULT_ARCHITECTURE = "sam2"


class RandomWeightsWarning(UserWarning):
    """The model was exported with ``--random-weights``: it runs, but its masks mean nothing."""


_warned_random_dirs: set[Path] = set()
_warned_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Sam2Model:
    """A checked model directory.

    >>> model = Sam2Model.from_dir("models/sam2-tiny")  # doctest: +SKIP
    >>> model.image_size, model.graph_path("image_encoder").name  # doctest: +SKIP
    (512, 'image_encoder.onnx')
    """

    root: Path
    manifest: dict[str, Any]
    constants: dict[str, np.ndarray]

    @classmethod
    def from_dir(cls, root: str | Path, verify: bool = True) -> Sam2Model:
        """Load ``root/manifest.json`` and the constants; with ``verify`` check every sha256.

        Raises :class:`ModelError` for a missing directory, manifest or file and
        :class:`ChecksumError` when a file's sha256 differs from the manifest's.
        """
        root = Path(root)
        if not root.is_dir():
            raise ModelError(f"SAM 2 model directory not found: {root}")
        mpath = root / MANIFEST_FILE
        if not mpath.is_file():
            raise ModelError(f"{root} has no {MANIFEST_FILE}; expected a directory written by `rtseg export-sam2`")
        try:
            manifest = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {mpath}: {exc}") from exc
        if manifest.get("format") != MANIFEST_FORMAT:
            raise ModelError(f"{mpath} has format {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
        entries = [(name, manifest.get("graphs", {}).get(name)) for name in GRAPH_FILES]
        entries.append(("constants", manifest.get("constants")))
        for name, entry in entries:
            if not entry:
                raise ModelError(f"{mpath} lists no {name!r} entry")
            path = root / entry["file"]
            if not path.is_file():
                raise ModelError(f"model directory {root} is missing {entry['file']} ({name})")
            if verify:
                actual = sha256_file(path)
                if actual != entry["sha256"]:
                    raise ChecksumError(
                        f"checksum mismatch for {path}: sha256 {actual} != {entry['sha256']} "
                        "in manifest.json (file corrupt or modified; re-run `rtseg export-sam2`)"
                    )
        cpath = root / manifest["constants"]["file"]
        try:
            with np.load(cpath) as npz:
                constants = {k: np.ascontiguousarray(npz[k], dtype=np.float32) for k in npz.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read {cpath}: {exc}") from exc
        model = cls(root=root, manifest=manifest, constants=constants)
        model.check_settings()
        return model

    def check_settings(self) -> None:
        """The manifest's numbers must agree with the constants the export wrote (a hand-edited or
        mixed-up manifest fails here with one line, not deep inside ONNX Runtime)."""
        m, c, mpath = self.manifest, self.constants, self.root / MANIFEST_FILE
        arch = m.get("architecture", DEFAULT_ARCHITECTURE)
        if arch not in ARCHITECTURES:
            raise ModelError(f"{mpath}: architecture {arch!r} is not one of {', '.join(ARCHITECTURES)}")
        variants = ARCHITECTURES[arch]
        if m.get("variant") not in variants:
            raise ModelError(f"{mpath}: variant {m.get('variant')!r} is not one of {', '.join(variants)} ({arch})")
        s = m.get("settings", {})
        try:
            size, stride = int(m["image_size"]), int(s["backbone_stride"])
            hidden, mem, num_maskmem = int(s["hidden_dim"]), int(s["mem_dim"]), int(s["num_maskmem"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{mpath}: missing or non-integer setting ({exc})") from None
        needed = ("vision_pos_enc", "maskmem_pos_enc", "maskmem_tpos_enc")
        missing = [k for k in needed if k not in c]
        if missing:
            raise ModelError(f"{self.root / CONSTANTS_FILE} lacks {', '.join(missing)}; re-run `rtseg export-sam2`")
        vision, maskmem, tpos = c["vision_pos_enc"].shape, c["maskmem_pos_enc"].shape, c["maskmem_tpos_enc"].shape
        checks = [
            ("image_size", size, vision[-1] * stride, "the image features"),
            ("hidden_dim", hidden, vision[1], "the image features' channels"),
            ("mem_dim", mem, maskmem[1], "the memory features' channels"),
            ("num_maskmem", num_maskmem, tpos[0], "the memory's temporal encodings"),
        ]
        for key, value, graphs, what in checks:
            if value != graphs:
                raise ModelError(f"{mpath}: {key} = {value} does not match the exported graphs ({what} give "
                                 f"{graphs}); use the manifest.json written by `rtseg export-sam2`")
        if num_maskmem < 1:
            raise ModelError(f"{mpath}: num_maskmem must be >= 1, got {num_maskmem}")

    def check_sessions(self, inputs: dict[str, list[tuple[str, list[Any]]]]) -> None:
        """The graphs' real input shapes (from their sessions) against ``image_size`` and ``hidden_dim``."""
        mpath = self.root / MANIFEST_FILE
        shape = dict(inputs.get("image_encoder", [])).get("image")
        if shape is not None and len(shape) == 4 and shape[2:] != [self.image_size, self.image_size]:
            raise ModelError(f"{mpath}: image_size = {self.image_size} but image_encoder.onnx takes "
                             f"{shape[2]}x{shape[3]} images; use the manifest.json written with the graphs")

    @property
    def image_size(self) -> int:
        return int(self.manifest["image_size"])

    @property
    def architecture(self) -> str:
        """``"sam2"`` or ``"edgetam"`` (manifest key ``architecture``; missing means SAM 2)."""
        return str(self.manifest.get("architecture", DEFAULT_ARCHITECTURE))

    @property
    def random_weights(self) -> bool:
        """True when exported with seeded random weights instead of a checkpoint (manifest key
        ``random_weights``; manifests written before the key existed count as False)."""
        return bool(self.manifest.get("random_weights", False))

    @property
    def settings(self) -> dict[str, Any]:
        """SAM2VideoPredictor settings recorded at export (memory size, multimask rules, ...)."""
        return dict(self.manifest["settings"])

    def graph_path(self, name: str) -> Path:
        return self.root / self.manifest["graphs"][name]["file"]


def warn_random_weights(model: Sam2Model) -> None:
    """Emit one :class:`RandomWeightsWarning` per model directory per process if ``model`` has random
    weights (no-op otherwise).

    The once-per-directory rule is kept here (by resolved path), not left to the warnings registry,
    so it holds under ``simplefilter("always")`` and for several trackers on the same directory.
    """
    if not model.random_weights:
        return
    key = model.root.resolve()
    with _warned_lock:
        if key in _warned_random_dirs:
            return
        _warned_random_dirs.add(key)
    warnings.warn(
        f"SAM 2 model {model.root} has random weights (exported with --random-weights): its masks are "
        "meaningless; export a real checkpoint with `rtseg export-sam2 --checkpoint`",
        RandomWeightsWarning,
        stacklevel=3,
    )


def _forget_random_weight_warnings() -> None:
    """Forget which directories were warned about (for tests)."""
    with _warned_lock:
        _warned_random_dirs.clear()
