"""A batch writes only inside ``--out`` and only over what a batch wrote; how it ends is said plainly
(an unreachable Ray, a signal, items never started, a full disk)."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from tests.batch.conftest import finish, partials, read_report, start_cli, wait_until
from tests.faults.conftest import SAMPLE, assert_refused, rtseg, tree

pytestmark = pytest.mark.slow


@pytest.fixture
def job(tmp_path: Path) -> Path:
    path = tmp_path / "segment.toml"
    path.write_text('command = "segment"\n')
    return path


def manifest(folder: Path, rows: list[dict[str, object]]) -> Path:
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("output", ["{photos}", "../photos", ".", "sub/../..", ".rtseg-batch/x", "link/x"])
def test_a_manifest_output_outside_out_is_refused_at_planning(work: Path, job: Path, output: str) -> None:
    photos = work / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"the user's photo")
    out = work / "out"
    out.mkdir()
    (out / "earlier.mp4").write_bytes(b"an earlier result")
    (out / "link").symlink_to(photos)  # a link inside --out that leads out of it
    items = manifest(work, [{"input": "in.mp4", "output": output.format(photos=photos)},
                            {"input": "in.mp4", "output": "fine"}])
    before = {k: v for k, v in tree(work).items() if not k.startswith("out/fine")}
    ended = rtseg("batch", items, "--job", job, "--out", "out", "--workers", "1", "--report", "r.jsonl",
                  "--no-progress", cwd=work)
    assert ended.code == 1, ended.stderr
    rows = read_report(work / "r.jsonl")
    assert rows[0]["status"] == "failed" and f"{items}:1" in rows[0]["error"]
    assert "must be a path inside --out" in rows[0]["error"]
    assert rows[1]["status"] == "ok"  # the other item still runs
    after = tree(work)
    assert {k: v for k, v in after.items() if k in before} == before  # the photos and --out's files untouched
    assert not partials(work)


def test_an_existing_file_no_batch_wrote_is_not_replaced(work: Path, job: Path, tmp_path: Path) -> None:
    blur = tmp_path / "blur.toml"
    blur.write_text('command = "blur"\n')
    out = work / "out"
    out.mkdir()
    (out / "in.mp4").write_bytes(b"my own video, not rtseg's")
    (out / "seq").mkdir()
    (out / "seq" / "notes.txt").write_text("mine")
    before = tree(work)
    ended = rtseg("batch", "in.mp4", "--job", blur, "--out", "out", "--report", "r.jsonl", "--no-progress", cwd=work)
    assert ended.code == 1, ended.stderr
    [row] = read_report(work / "r.jsonl")
    assert row["status"] == "failed" and "was not written by an rtseg batch" in row["error"]
    assert {k: v for k, v in tree(work).items() if k != "r.jsonl"} == before
    # What a batch wrote, it may write again (resume off: the same outputs are replaced).
    (out / "in.mp4").unlink()
    assert rtseg("batch", "in.mp4", "--job", blur, "--out", "out", "--no-progress", cwd=work).code == 0
    again = rtseg("batch", "in.mp4", "--job", blur, "--out", "out", "--no-resume", "--no-progress", cwd=work)
    assert again.code == 0, again.stderr


def test_an_unreachable_ray_cluster_is_one_line_and_leaves_nothing(work: Path, job: Path) -> None:
    before = tree(work)
    ended = rtseg("batch", "in.mp4", "--job", job, "--out", "out", "--executor", "ray", "--ray-address",
                  "ray://127.0.0.1:1", "--no-progress", cwd=work, timeout=120)
    assert_refused(ended, 1, "cannot reach the Ray cluster at ray://127.0.0.1:1")
    assert len(ended.lines) == 1, ended.stderr
    assert tree(work) == before  # not even an empty --out


def test_sigterm_ends_with_143_and_items_never_started_are_not_run(work: Path, job: Path) -> None:
    many = work / "many"
    many.mkdir()
    for i in range(4):
        shutil.copyfile(work / "in.mp4", many / f"c{i}.mp4")
    out = work / "out"
    proc = start_cli("batch", many, "--job", job, "--out", out, "--workers", "1", "--report", "r.jsonl",
                     "--no-progress", cwd=work)
    # the first item running with most of its 96 frames to go: it will finish, the other three never start
    wait_until(lambda: [p for p in partials(out) if p.is_dir() and 1 <= len(list(p.glob("*.png"))) <= 40], proc)
    proc.send_signal(signal.SIGTERM)
    err = finish(proc, work)
    assert proc.returncode == 143, err
    rows = read_report(work / "r.jsonl")
    assert [r["status"] for r in rows] == ["ok", "not run", "not run", "not run"], rows
    assert all(r["frames"] == 0 for r in rows[1:])
    assert "1 ok, 0 failed, 0 skipped, 3 not run" in err
    assert not partials(out)


def test_an_item_that_failed_on_a_full_disk_reports_no_frames(small_disk: Path, job: Path, tmp_path: Path) -> None:
    (tmp_path / "in.mp4").write_bytes(SAMPLE.read_bytes())
    ended = rtseg("batch", tmp_path / "in.mp4", "--job", job, "--out", small_disk / "out", "--report",
                  tmp_path / "r.jsonl", "--no-progress", cwd=tmp_path)
    assert ended.code == 1, ended.stderr
    [row] = read_report(tmp_path / "r.jsonl")
    assert row["status"] == "failed" and "the disk is full" in row["error"]
    assert row["frames"] == 0  # nothing was written: no frames to its name
    assert "0 frames" in ended.stderr
    assert list(small_disk.iterdir()) == []  # no partial output, no empty --out left behind
