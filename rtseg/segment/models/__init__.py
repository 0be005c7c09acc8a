"""Model files shipped with rtseg, with their expected sha256 (checked before every load)."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from rtseg.errors import ChecksumError, ModelError

SHA256 = {
    "selfie_segmentation.tflite": "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    "selfie_segmentation_landscape.tflite": "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read ``chunk`` bytes at a time (the one file hash of rtseg: bundled models,
    SAM 2 manifests and their export, the RVM import)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str) -> Path:
    """Return ``path`` if its sha256 is ``expected``; raise ModelError/ChecksumError otherwise."""
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(f"model file {path} has sha256 {actual}, expected {expected} (corrupt or replaced?)")
    return path


def bundled_model(filename: str) -> Path:
    """Path of a bundled model file after checking its sha256."""
    if filename not in SHA256:
        raise ModelError(f"unknown bundled model {filename!r}; known: {', '.join(sorted(SHA256))}")
    path = Path(str(resources.files(__package__).joinpath(filename)))
    return verify_sha256(path, SHA256[filename])
