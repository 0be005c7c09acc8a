"""Batches run for real: the MediaPipe model, PyAV decoding and encoding, worker processes, a local Ray."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

import rtseg
from rtseg.jobs.build import build
from rtseg.jobs.spec import JobSpec
from tests.batch.conftest import finish, partials, read_report, start_cli, statuses, wait_until
from tests.conftest import png_hashes as pngs
from tests.faults.conftest import rtseg as run_rtseg

pytestmark = pytest.mark.slow

SIX_STATUSES = {"dog.mp4": "ok", "coffee.mp4": "ok", "broken.mp4": "failed", "lucia": "ok", "dance-twirl": "ok",
                "photos": "ok"}


def test_local_and_ray_write_the_same_masks_as_one_job_per_item(six: Path, segment_job: Path, tmp_path: Path) -> None:
    local = run_rtseg("batch", six, "--job", segment_job, "--out", "local", "--workers", "2", "--report",
                      "local.jsonl", cwd=tmp_path, timeout=300)
    ray = run_rtseg("batch", six, "--job", segment_job, "--out", "ray", "--executor", "ray", "--workers", "2",
                    "--report", "ray.jsonl", cwd=tmp_path, timeout=300)
    assert local.code == ray.code == 1, local.stderr + ray.stderr  # the corrupt clip failed, alone
    rows_local, rows_ray = read_report(tmp_path / "local.jsonl"), read_report(tmp_path / "ray.jsonl")
    assert statuses(rows_local) == statuses(rows_ray) == SIX_STATUSES
    assert [r["frames"] for r in rows_local] == [r["frames"] for r in rows_ray]
    assert {r["worker"].split("-")[0] for r in rows_local if r["status"] == "ok"} == {"local"}
    assert {r["worker"].split("-")[0] for r in rows_ray if r["status"] == "ok"} == {"ray"}
    broken = next(r for r in rows_local if r["input"].endswith("broken.mp4"))
    assert broken["error"].startswith("not a readable video") and "\n" not in broken["error"]
    assert "failed: " in local.stderr and "batch: 5 ok, 1 failed, 0 skipped" in local.stderr
    masks = pngs(tmp_path / "local")
    assert masks == pngs(tmp_path / "ray")
    assert len(masks) == 24 + 24 + 8 + 8 + 1
    # The same masks as one fresh job per item (a worker's model, loaded once, forgets each video).
    for name, item in [("clips/dog", six / "clips" / "dog.mp4"), ("clips/coffee", six / "clips" / "coffee.mp4"),
                       ("davis/lucia", six / "davis" / "lucia"), ("photos", six / "photos")]:
        fresh = tmp_path / "fresh" / name
        fresh.parent.mkdir(parents=True, exist_ok=True)
        build(JobSpec.from_dict({"command": "segment", "input": str(item), "masks": str(fresh),
                                 "run": {"progress": False}}).check()).run()
        assert pngs(fresh) == pngs(tmp_path / "local" / name), name
    assert not partials(tmp_path / "local") and not partials(tmp_path / "ray")


def test_a_rerun_skips_what_is_done_and_redoes_what_failed_or_changed(six: Path, tmp_path: Path) -> None:
    job = tmp_path / "blur.toml"
    job.write_text('command = "blur"\n[effect]\nstrength = 20\n')
    first = rtseg.batch([six / "clips", six / "photos"], job, tmp_path / "out", workers=2)
    assert [(Path(r["input"]).name, r["status"]) for r in first] == [
        ("broken.mp4", "failed"), ("coffee.mp4", "ok"), ("dog.mp4", "ok"), ("photos", "ok")]
    done = {r["output"]: (Path(r["output"]).stat().st_mtime_ns) for r in first if r["status"] == "ok"}
    again = rtseg.batch([six / "clips", six / "photos"], job, tmp_path / "out", workers=2)
    assert [r["status"] for r in again] == ["failed", "skipped", "skipped", "skipped"]
    assert {o: Path(o).stat().st_mtime_ns for o in done} == done  # not written again
    assert [r["frames"] for r in again] == [0, 24, 24, 1]
    # A changed input is redone; so is every item when the job changes.
    (six / "photos" / "face.jpg").write_bytes((six / "photos" / "face.jpg").read_bytes())
    touched = rtseg.batch([six / "clips", six / "photos"], job, tmp_path / "out", workers=1)
    assert [r["status"] for r in touched] == ["failed", "skipped", "skipped", "ok"]
    job.write_text('command = "blur"\n[effect]\nstrength = 30\n')
    changed = rtseg.batch([six / "clips", six / "photos"], job, tmp_path / "out", workers=2)
    assert [r["status"] for r in changed] == ["failed", "ok", "ok", "ok"]
    forced = rtseg.batch([six / "clips" / "dog.mp4"], job, tmp_path / "out" / "clips", resume=False)
    assert [r["status"] for r in forced] == ["ok"]


def test_fail_fast_stops_at_the_first_failure(six: Path, segment_job: Path, tmp_path: Path) -> None:
    ended = run_rtseg("batch", six / "clips" / "broken.mp4", six / "clips" / "dog.mp4", six / "davis", "--job",
                      segment_job, "--out", "out", "--workers", "1", "--fail-fast", "--report", "r.jsonl", cwd=tmp_path)
    assert ended.code == 1, ended.stderr
    rows = read_report(tmp_path / "r.jsonl")
    assert rows[0]["status"] == "failed" and rows[0]["error"].startswith("not a readable video")
    assert {r["status"] for r in rows[1:]} <= {"not run", "failed"}
    assert all(r["error"].startswith(("not run", "aborted")) for r in rows[1:])
    assert all(r["status"] == "not run" for r in rows[1:] if r["error"].startswith("not run"))
    assert not partials(tmp_path / "out")


def visible_outputs_complete(out: Path, frames: int) -> bool:
    """Every visible mask folder under ``out`` holds all its frames: nothing half-written is ever in view."""
    for folder in out.rglob("*"):
        if folder.is_dir() and not any(part.startswith(".") for part in folder.relative_to(out).parts):
            names = list(folder.glob("*.png"))
            if names and len(names) != frames:
                return False
    return True


@pytest.fixture
def many(tmp_path: Path, clips: dict[str, Path]) -> Path:
    """Eight 90-frame clips (long enough to interrupt)."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(8):
        (folder / f"c{i}.mp4").write_bytes(clips["long"].read_bytes())
    return folder


def early_partials(out: Path) -> list[Path]:
    """Partial mask folders of items with most of their 90 frames still to go (so they are still running
    a moment later, however busy the machine)."""
    return [p for p in partials(out) if p.is_dir() and 1 <= len(list(p.glob("*.png"))) <= 20]


def records(out: Path) -> int:
    return len(list((out / ".rtseg-batch").glob("*.json"))) if (out / ".rtseg-batch").is_dir() else 0


def test_ctrl_c_lets_running_items_finish_and_a_rerun_does_the_rest(many: Path, segment_job: Path,
                                                                    tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start_cli("batch", many, "--job", segment_job, "--out", out, "--workers", "2", "--report", "r1.jsonl",
                     cwd=tmp_path)
    wait_until(lambda: records(out) >= 1 and visible_outputs_complete(out, 90), proc)
    proc.send_signal(signal.SIGINT)
    err = finish(proc, tmp_path)
    assert proc.returncode == 130, err
    assert "stopping: no new items; running items will finish" in err
    first = read_report(tmp_path / "r1.jsonl")
    done = {r["input"] for r in first if r["status"] == "ok"}
    assert 1 <= len(done) < 8
    assert all(r["error"].startswith("not run") for r in first if r["status"] != "ok")
    assert not partials(out) and visible_outputs_complete(out, 90)
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {Path(i).stem for i in done}
    again = run_rtseg("batch", many, "--job", segment_job, "--out", out, "--workers", "2", "--report", "r2.jsonl",
                      cwd=tmp_path, timeout=300)
    assert again.code == 0, again.stderr
    second = read_report(tmp_path / "r2.jsonl")
    assert {r["input"] for r in second if r["status"] == "skipped"} == done  # nothing done twice
    assert {r["input"] for r in second if r["status"] == "ok"} == {str(p) for p in many.iterdir()} - done
    assert len(list(out.glob("*/*.png"))) == 8 * 90  # nothing missing


def test_a_second_ctrl_c_aborts_running_items_and_removes_their_partial_outputs(many: Path, segment_job: Path,
                                                                                tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start_cli("batch", many, "--job", segment_job, "--out", out, "--workers", "2", "--report", "r.jsonl",
                     cwd=tmp_path)
    wait_until(lambda: early_partials(out), proc)
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping: no new items" in (tmp_path / "stderr.txt").read_text(), proc)
    proc.send_signal(signal.SIGINT)
    err = finish(proc, tmp_path)
    assert proc.returncode == 130, err
    assert "aborting running items" in err
    rows = read_report(tmp_path / "r.jsonl")
    assert any(r["error"] and r["error"].startswith("aborted") for r in rows), rows
    assert not partials(out) and visible_outputs_complete(out, 90)


def test_a_killed_local_worker_has_its_item_run_again(many: Path, segment_job: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start_cli("batch", many, "--job", segment_job, "--out", out, "--workers", "2", "--report", "r.jsonl",
                     cwd=tmp_path)
    partial = wait_until(lambda: early_partials(out), proc)
    assert isinstance(partial, list)
    pid = int(partial[0].name.split(".rtseg-partial-")[1].split("-")[0])
    os.kill(pid, signal.SIGKILL)  # a worker process, mid-item
    err = finish(proc, tmp_path)
    assert proc.returncode == 0, err
    assert "running it again" in err
    rows = read_report(tmp_path / "r.jsonl")
    assert {r["status"] for r in rows} == {"ok"} and all(r["frames"] == 90 for r in rows)
    assert not partials(out) and len(list(out.glob("*/*.png"))) == 8 * 90
    again = run_rtseg("batch", many, "--job", segment_job, "--out", out, "--report", "r2.jsonl", cwd=tmp_path)
    assert again.code == 0 and {r["status"] for r in read_report(tmp_path / "r2.jsonl")} == {"skipped"}


def test_ray_runs_an_item_again_when_its_worker_is_killed(many: Path, segment_job: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start_cli("batch", many, "--job", segment_job, "--out", out, "--executor", "ray", "--workers", "2",
                     "--report", "r.jsonl", cwd=tmp_path)
    partial = wait_until(lambda: early_partials(out), proc)
    assert isinstance(partial, list)
    pid = int(partial[0].name.split(".rtseg-partial-")[1].split("-")[0])
    os.kill(pid, signal.SIGKILL)  # a Ray actor's process, mid-item
    err = finish(proc, tmp_path)
    assert proc.returncode == 0, err
    rows = read_report(tmp_path / "r.jsonl")
    assert {r["status"] for r in rows} == {"ok"} and all(r["frames"] == 90 for r in rows)
    assert not any(str(pid) in r["worker"] for r in rows)  # the killed process finished nothing
    assert not partials(out) and len(list(out.glob("*/*.png"))) == 8 * 90


def test_a_track_batch_takes_each_videos_prompts_from_the_manifest(sam2_model_dir: Path, tmp_path: Path) -> None:
    from tests.sam2_conftest import SAM2_DATA

    for name, first in (("a", 0), ("b", 20)):
        (tmp_path / name).mkdir()
        for i in range(3):
            (tmp_path / name / f"{i:05d}.jpg").symlink_to(SAM2_DATA / f"{first + i:05d}.jpg")
    manifest = tmp_path / "items.jsonl"
    manifest.write_text('{"input": "a", "points": [[210, 350]]}\n'
                        '{"input": "b", "points": {"1": [[600, 300]], "2": [[300, 200, 1], [320, 220, 0]]}}\n')
    job = tmp_path / "track.toml"
    job.write_text(f'command = "track"\n[model]\ndir = "{sam2_model_dir}"\n')
    rows = rtseg.batch(manifest, job, tmp_path / "out", workers=1)  # one worker: the second video reuses the model
    assert [(r["status"], r["frames"]) for r in rows] == [("ok", 3), ("ok", 3)], rows
    for name, prompts in (("a", [{"object": 1, "points": [[210, 350]]}]),
                          ("b", [{"object": 1, "points": [[600, 300]]},
                                 {"object": 2, "points": [[300, 200], [320, 220]], "labels": [1, 0]}])):
        fresh = tmp_path / f"fresh-{name}"
        build(JobSpec.from_dict({"command": "track", "input": str(tmp_path / name), "masks": str(fresh),
                                 "model": {"dir": str(sam2_model_dir), "prompts": prompts},
                                 "run": {"progress": False}}).check()).run()
        assert pngs(fresh) == pngs(tmp_path / "out" / name), name
    assert len(pngs(tmp_path / "out")) == 6


def test_after_the_batch_is_killed_outright_a_rerun_completes_it(many: Path, segment_job: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = start_cli("batch", many, "--job", segment_job, "--out", out, "--workers", "2", cwd=tmp_path)
    wait_until(lambda: records(out) >= 1 and partials(out), proc)
    workers = {int(p.name.split(".rtseg-partial-")[1].split("-")[0]) for p in partials(out)}
    proc.send_signal(signal.SIGKILL)  # the driver: no handler runs, no report is written
    proc.wait(timeout=60)
    again = run_rtseg("batch", many, "--job", segment_job, "--out", out, "--workers", "2", "--report", "r.jsonl",
                      cwd=tmp_path, timeout=300)
    assert again.code == 0, again.stderr
    rows = read_report(tmp_path / "r.jsonl")
    assert {r["status"] for r in rows} <= {"ok", "skipped"} and "skipped" in {r["status"] for r in rows}

    def gone(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(lambda: all(gone(pid) for pid in workers))  # the orphaned workers end at their next item
    assert len(list(out.glob("*/*.png"))) == 8 * 90 and visible_outputs_complete(out, 90)
    final = run_rtseg("batch", many, "--job", segment_job, "--out", out, "--report", "r2.jsonl", cwd=tmp_path)
    assert final.code == 0 and {r["status"] for r in read_report(tmp_path / "r2.jsonl")} == {"skipped"}
    assert not partials(out)
