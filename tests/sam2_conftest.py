"""Session fixtures for the SAM 2 tests: export the graphs once, build the PyTorch reference once.

Loaded by ``tests/conftest.py`` via ``pytest_plugins``. Everything here needs the ``export`` extra
(torch, sam2, onnx); without it the SAM 2 tests are skipped, not failed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SAM2_DATA = (Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sam2-bedroom").resolve()
SAM2_FRAMES = 8
SAM2_IMAGE_SIZE = 512
SAM2_SEED = 0


def _need_export_extra() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sam2")
    pytest.importorskip("onnx")


@pytest.fixture(scope="session")
def sam2_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny SAM 2.1 at 512 with seeded random weights, exported once per test session."""
    _need_export_extra()
    from rtseg.tools.sam2.export import export_sam2

    out = tmp_path_factory.mktemp("sam2-tiny-512")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_sam2(out, "tiny", SAM2_IMAGE_SIZE, random_seed=SAM2_SEED)


@pytest.fixture(scope="session")
def bedroom_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of symlinks to the first frames of the SAM 2 notebook video (read in place)."""
    if not SAM2_DATA.is_dir():
        pytest.fail(f"test media missing: {SAM2_DATA} (expected ../shared/data beside the repo)")
    folder = tmp_path_factory.mktemp("bedroom")
    for i in range(SAM2_FRAMES):
        (folder / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{i:05d}.jpg")
    return folder


@pytest.fixture(scope="session")
def bedroom_frames(bedroom_dir: Path) -> list[np.ndarray]:
    from rtseg.segment.sam2.ops import load_frame

    return [load_frame(bedroom_dir / f"{i:05d}.jpg") for i in range(SAM2_FRAMES)]


@pytest.fixture(scope="session")
def sam2_reference(sam2_model_dir: Path) -> Any:
    """Meta's ``SAM2VideoPredictor`` from SAM 2.1 tiny's own config on the CPU, only the image size set
    (512), with the exported checkpoint's weights: the reference the tracker must match."""
    _need_export_extra()
    from sam2.build_sam import build_sam2_video_predictor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_sam2_video_predictor(
            "configs/sam2.1/sam2.1_hiera_t.yaml",
            str(sam2_model_dir / "checkpoint.pt"),
            device="cpu",
            hydra_overrides_extra=[f"++model.image_size={SAM2_IMAGE_SIZE}"],
        )
