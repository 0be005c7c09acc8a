"""Models exported with ``--random-weights`` say so in their manifest, and the tracker warns once."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from rtseg.segment.sam2.manifest import (
    RandomWeightsWarning,
    Sam2Model,
    _forget_random_weight_warnings,
    warn_random_weights,
)
from rtseg.segment.sam2.tracker import Sam2Tracker
from tests.sam2_conftest import SAM2_SEED

pytestmark = pytest.mark.slow  # every test here needs the session's SAM 2 export


@pytest.fixture(autouse=True)
def _fresh_warning_state() -> Iterator[None]:
    _forget_random_weight_warnings()
    yield
    _forget_random_weight_warnings()


def _random_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, RandomWeightsWarning)]


def test_manifest_records_random_weights(sam2_model_dir: Path) -> None:
    manifest = json.loads((sam2_model_dir / "manifest.json").read_text())
    assert manifest["random_weights"] is True
    assert manifest["random_seed"] == SAM2_SEED
    assert Sam2Model.from_dir(sam2_model_dir, verify=False).random_weights is True


def test_warned_once_per_model_dir(sam2_model_dir: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(sam2_model_dir, target_is_directory=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Sam2Tracker(sam2_model_dir, verify_checksums=False):
            pass
        with Sam2Tracker(sam2_model_dir, verify_checksums=False):
            pass
        with Sam2Tracker(alias, verify_checksums=False):  # the same directory by another path
            pass
    found = _random_warnings(caught)
    assert len(found) == 1, [str(w.message) for w in caught]
    message = str(found[0].message)
    assert str(sam2_model_dir) in message and "random weights" in message
    assert "rtseg export-sam2 --checkpoint" in message
    assert issubclass(RandomWeightsWarning, UserWarning)
    # after forgetting, the next open warns again (the once-rule is ours, not the warnings registry's)
    _forget_random_weight_warnings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Sam2Tracker(sam2_model_dir, verify_checksums=False).open().close()
    assert len(_random_warnings(caught)) == 1


def test_manifest_without_the_key_loads_as_real_weights(sam2_model_dir: Path, tmp_path: Path) -> None:
    """Exports from before the key existed still load, and do not warn."""
    old = tmp_path / "old"
    old.mkdir()
    for f in sam2_model_dir.iterdir():
        if f.name != "manifest.json":
            (old / f.name).symlink_to(f)
    manifest = json.loads((sam2_model_dir / "manifest.json").read_text())
    del manifest["random_weights"], manifest["random_seed"]
    (old / "manifest.json").write_text(json.dumps(manifest))
    model = Sam2Model.from_dir(old, verify=False)
    assert model.random_weights is False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_random_weights(model)
        Sam2Tracker(old, verify_checksums=False).open().close()
    assert _random_warnings(caught) == []


def test_checkpoint_export_has_real_weights(sam2_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("sam2")
    pytest.importorskip("onnx")
    from rtseg.tools.sam2.export import export_sam2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = export_sam2(tmp_path / "ckpt", "tiny", 256, checkpoint=sam2_model_dir / "checkpoint.pt")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["random_weights"] is False and "random_seed" not in manifest
    assert Sam2Model.from_dir(out, verify=False).random_weights is False
