"""rtseg deletes only what it wrote: a folder output replaces a folder that is new, empty or an earlier
rtseg output (its ``.rtseg-output.json`` lists what rtseg wrote there), and refuses any other folder
before anything runs, whatever the command or option."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import rtseg
from rtseg.errors import ConfigError
from rtseg.sinks.atomic import OUTPUT_MARKER, AtomicDir
from tests.faults.conftest import assert_refused, tree
from tests.faults.conftest import rtseg as run_rtseg


def users_folder(path: Path) -> Path:
    """A folder of the user's that rtseg did not write: a thesis and a private key, which must survive."""
    path.mkdir()
    (path / "thesis.docx").write_text("four years of work")
    (path / ".ssh").mkdir()
    (path / ".ssh" / "id_rsa").write_text("secret")
    return path


@pytest.mark.slow
@pytest.mark.parametrize(("command", "option"), [
    (["segment", "in.mp4"], "--masks"),
    (["cutout", "in.mp4"], "-o"),          # RGBA PNG folder
    (["blur", "in.mp4", "-o", "b.mp4"], "--masks"),
    (["overlay", "in.mp4"], "-o"),         # RGB PNG folder
])
def test_a_folder_of_the_users_is_refused_before_anything_runs(work: Path, command: list[str], option: str) -> None:
    users_folder(work / "d")
    before = tree(work)
    ended = run_rtseg(*command, option, "d", "--no-progress", cwd=work)
    assert_refused(ended, 2, "refusing to replace the folder d: it holds files rtseg did not write")
    assert "thesis.docx" in ended.stderr and "give a new or empty folder" in ended.stderr
    assert tree(work) == before  # nothing written, nothing deleted, no partial folder beside it


@pytest.mark.slow
def test_an_earlier_rtseg_output_is_replaced_whole_and_marked(work: Path) -> None:
    first = run_rtseg("segment", "synthetic:64x48@120", "--masks", "m", "--no-progress", cwd=work)
    assert first.code == 0, first.stderr
    marker = json.loads((work / "m" / OUTPUT_MARKER).read_text())
    assert len(marker["files"]) == 120 and marker["written_by"].startswith("rtseg ")
    again = run_rtseg("segment", "in.mp4", "--masks", "m", "--no-progress", cwd=work)
    assert again.code == 0, again.stderr
    names = sorted(p.name for p in (work / "m").iterdir())
    assert names == [OUTPUT_MARKER] + [f"{i:05d}.png" for i in range(96)]  # no stale masks 96..119
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_a_file_the_user_added_to_an_rtseg_output_keeps_the_folder_from_being_replaced(work: Path) -> None:
    assert run_rtseg("segment", "in.mp4", "--masks", "m", "--no-progress", cwd=work).code == 0
    (work / "m" / "notes.txt").write_text("mine")
    before = tree(work)
    assert_refused(run_rtseg("segment", "in.mp4", "--masks", "m", "--no-progress", cwd=work), 2,
                   "it holds files rtseg did not write (notes.txt)")
    assert tree(work) == before


@pytest.mark.slow
def test_a_mask_the_user_edited_keeps_the_folder_from_being_replaced(work: Path) -> None:
    """A hand-corrected mask is the user's work now: the folder is refused, the edit kept."""
    assert run_rtseg("segment", "in.mp4", "--masks", "m", "--no-progress", cwd=work).code == 0
    (work / "m" / "00005.png").write_bytes(b"corrected by hand")
    before = tree(work)
    assert_refused(run_rtseg("segment", "in.mp4", "--masks", "m", "--no-progress", cwd=work), 2,
                   "00005.png (changed since rtseg wrote it)")
    assert tree(work) == before


def test_an_empty_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    stats = rtseg.cutout("synthetic:32x24@3", tmp_path / "empty")
    assert stats.frames_out == 3
    assert sorted(p.name for p in (tmp_path / "empty").glob("*.png")) == ["00000.png", "00001.png", "00002.png"]


def test_the_python_api_refuses_a_users_folder_too(tmp_path: Path) -> None:
    users_folder(tmp_path / "d")
    before = tree(tmp_path)
    with pytest.raises(ConfigError, match="refusing to replace the folder"):
        rtseg.cutout("synthetic:32x24@3", tmp_path / "d")
    assert tree(tmp_path) == before


def test_a_symlink_to_a_folder_writes_the_folder_it_names(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    rtseg.cutout("synthetic:32x24@2", tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and len(list(real.glob("*.png"))) == 2
    users_folder(tmp_path / "other")
    (tmp_path / "link2").symlink_to(tmp_path / "other")
    with pytest.raises(ConfigError, match="did not write"):
        rtseg.cutout("synthetic:32x24@2", tmp_path / "link2")
    assert (tmp_path / "other" / "thesis.docx").exists()


def rtseg_output_being_replaced(target: Path) -> AtomicDir:
    """An rtseg folder holding ``a.png``, and a second write of it opened (``b.png``), not yet committed."""
    first = AtomicDir(target)
    (first.open() / "a.png").write_bytes(b"1")
    first.commit()
    second = AtomicDir(target)
    (second.open() / "b.png").write_bytes(b"2")
    return second


def test_files_that_appear_while_rtseg_writes_are_never_deleted(tmp_path: Path) -> None:
    target = tmp_path / "out"
    second = rtseg_output_being_replaced(target)
    (target / "arrived.txt").write_text("the user's, written during the run")  # after open(), before commit()
    with pytest.raises(ConfigError, match=r"arrived\.txt"):
        second.commit()
    second.discard()
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARKER, "a.png", "arrived.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # the staging folder went with discard()


def test_only_listed_files_go_when_an_rtseg_folder_is_replaced(tmp_path: Path) -> None:
    """The moment between the last check and the swap: what rtseg did not write is moved aside, kept."""
    from rtseg.sinks import atomic

    target = tmp_path / "out"
    second = rtseg_output_being_replaced(target)
    real_check = atomic.check_replaceable

    def late_arrival(folder: Path, what: str | None = None) -> None:
        real_check(folder, what)
        (folder / "late.txt").write_text("arrived after the check")

    atomic.check_replaceable = late_arrival  # type: ignore[assignment]
    try:
        second.commit()
    finally:
        atomic.check_replaceable = real_check  # type: ignore[assignment]
    assert sorted(p.name for p in target.iterdir()) == [OUTPUT_MARKER, "b.png"]
    [kept] = [p for p in tmp_path.iterdir() if p.name.startswith("out.rtseg-kept-")]
    assert [p.name for p in kept.iterdir()] == ["late.txt"]  # a.png (rtseg's) is gone, late.txt kept


@pytest.mark.slow
def test_export_sam2_and_import_rvm_refuse_a_users_folder(tmp_path: Path) -> None:
    users_folder(tmp_path / "models")
    before = tree(tmp_path)
    ended = run_rtseg("export-sam2", "--random-weights", "0", "--image-size", "512", "--out", "models", cwd=tmp_path,
                      timeout=300)
    assert_refused(ended, 2, "--out: refusing to replace the folder")
    ended = run_rtseg("import-rvm", "--out", "models", cwd=tmp_path, timeout=300)
    assert_refused(ended, 2, "refusing to replace the folder")
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_logits_into_a_users_folder_are_refused(sam2_model_dir: Path, bedroom_dir: Path, tmp_path: Path) -> None:
    users_folder(tmp_path / "logits")
    before = tree(tmp_path)
    ended = run_rtseg("track", str(bedroom_dir), "--model-dir", str(sam2_model_dir), "--point", "210,350",
                      "--logits", "logits", "--no-progress", cwd=tmp_path)
    assert_refused(ended, 2, "--logits logits: refusing to replace the folder")
    assert tree(tmp_path) == before


def test_a_mask_folder_written_by_hand_with_davis_names_is_still_the_users(tmp_path: Path) -> None:
    """Looking like rtseg's output (00000.png, …) is not enough: only the manifest says rtseg wrote it."""
    import cv2

    gt = tmp_path / "Annotations"
    gt.mkdir()
    for i in range(3):
        cv2.imwrite(str(gt / f"{i:05d}.png"), np.zeros((24, 32), np.uint8))
    before = tree(tmp_path)
    with pytest.raises(ConfigError, match="Annotations"):
        rtseg.run({"command": "segment", "source": {"path": "synthetic:32x24@3"},
                   "outputs": [{"kind": "masks", "path": os.fspath(gt)}], "run": {"progress": False}})
    assert tree(tmp_path) == before
