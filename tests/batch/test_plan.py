"""What a batch will do, before it runs: which items, where each output goes, what makes an item done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtseg.batching.items import discover, fingerprint, load_job, plan
from rtseg.errors import ConfigError
from rtseg.jobs.spec import JobSpec
from tests.faults.conftest import assert_refused, rtseg


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree_in(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    touch(root / "a.mp4")
    touch(root / "sub" / "b.mov")
    touch(root / "sub" / "seq" / "00000.jpg")
    touch(root / "sub" / "seq" / "00001.jpg")
    touch(root / "notes.txt")
    touch(root / ".hidden" / "c.mp4")
    touch(root / "photos" / "p1.jpg")
    touch(root / "photos" / "p2.png")
    return root


def outputs(job: dict[str, object], inputs: list[str], out: Path, stills: bool = False) -> dict[str, list[str]]:
    tasks, errors = plan(discover(inputs, stills=stills), JobSpec.from_dict(job), out)
    assert not errors, errors
    return {Path(t.input).name: [str(Path(p).relative_to(out)) for p in t.outputs] for t in tasks}


def test_a_folder_gives_its_videos_and_image_folders_with_their_relative_paths(tree_in: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert outputs({"command": "blur"}, [str(tree_in)], out) == {
        "a.mp4": ["a.mp4"], "b.mov": ["sub/b.mov"], "seq": ["sub/seq"], "photos": ["photos"]}
    assert outputs({"command": "segment"}, [str(tree_in)], out) == {
        "a.mp4": ["a"], "b.mov": ["sub/b"], "seq": ["sub/seq"], "photos": ["photos"]}


def test_with_stills_every_image_is_its_own_item_written_as_one_png(tree_in: Path, tmp_path: Path) -> None:
    got = outputs({"command": "cutout"}, [str(tree_in / "photos")], tmp_path / "out", stills=True)
    assert got == {"p1.jpg": ["p1.png"], "p2.png": ["p2.png"]}


def test_cutout_videos_get_an_alpha_container_and_extra_outputs_their_kind(tree_in: Path, tmp_path: Path) -> None:
    got = outputs({"command": "cutout"}, [str(tree_in / "a.mp4"), str(tree_in / "sub" / "b.mov")], tmp_path / "o")
    assert got == {"a.mp4": ["a.webm"], "b.mov": ["b.mov"]}
    job = {"command": "blur", "outputs": [{"kind": "video", "path": "x.mkv"}, {"kind": "masks", "path": "m"}]}
    assert outputs(job, [str(tree_in / "a.mp4")], tmp_path / "o") == {"a.mp4": ["a.mkv", "a.masks"]}


def test_a_glob_keeps_paths_relative_to_its_fixed_part(tree_in: Path, tmp_path: Path) -> None:
    got = outputs({"command": "segment"}, [str(tree_in) + "/**/*.mov"], tmp_path / "out")
    assert got == {"b.mov": ["sub/b"]}


def test_a_jsonl_manifest_gives_outputs_prompts_and_job_keys_per_item(tree_in: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in [
        {"input": "in/a.mp4", "output": "first.mp4", "job": {"effect": {"strength": 40}}},
        {"input": "in/sub/b.mov", "points": [[10, 20], [30, 40, 0]], "boxes": {"2": [1, 2, 3, 4]}},
    ]) + "\n")
    found = discover([str(manifest)])
    assert [str(f.rel) for f in found] == ["in/a.mp4", "in/sub/b.mov"]
    job = JobSpec.from_dict({"command": "blur"})
    tasks, errors = plan(found, job, tmp_path / "out")
    assert tasks[0].output == str(tmp_path / "out" / "first.mp4")
    assert tasks[0].spec["effect"]["strength"] == 40
    assert [(Path(e.input).name, "need --model sam2" in e.error) for e in errors] == [("b.mov", True)]
    track = JobSpec.from_dict({"command": "track", "model": {"dir": str(tmp_path)}})
    tasks, errors = plan(found, track, tmp_path / "out")
    assert [e.input for e in errors] == [str(tmp_path / "in" / "a.mp4")]  # no prompt for it: it fails alone
    assert "give a prompt" in errors[0].error
    prompts = tasks[0].spec["model"]["prompts"]
    assert [(p["object"], p["points"], p["labels"], p["box"]) for p in prompts] == [
        (1, [[10.0, 20.0], [30.0, 40.0]], [1, 0], None), (2, [], [], [1.0, 2.0, 3.0, 4.0])]


def test_a_csv_manifest_reads_points_and_boxes(tree_in: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "list.csv"
    manifest.write_text("input,points,boxes,frame\nin/a.mp4,\"5,6;7,8,0\",\"1,2,3,4\",2\n")
    [item] = discover([str(manifest)])
    assert item.overrides["model"]["prompts"] == [
        {"frame": 2, "object": 1, "points": [[5.0, 6.0], [7.0, 8.0]], "labels": [1, 0], "box": [1.0, 2.0, 3.0, 4.0]}]


@pytest.mark.parametrize(("line", "message"), [
    ('{"output": "x"}', "needs an 'input'"),
    ('{"input": "a.mp4", "colour": 1}', "unknown key 'colour'"),
    ("[1, 2]", "expected a JSON object"),
    ('{"input": "a.mp4", "job": {"outputs": []}}', "cannot change 'outputs'"),
    ('{"input": "a.mp4", "points": [[1]]}', "points must be"),
])
def test_a_bad_manifest_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"input": "a.mp4"}\n' + line + "\n")
    with pytest.raises(ConfigError, match=f"m.jsonl:2: .*{message}"):
        discover([str(manifest)])


def test_the_fingerprint_is_the_job_not_the_files(tmp_path: Path) -> None:
    def spec(strength: float, path: str) -> JobSpec:
        return JobSpec.from_dict({"command": "blur", "input": path, "output": path + ".out.mp4",
                                  "effect": {"strength": strength}, "run": {"progress": False}})

    assert fingerprint(spec(25, "a.mp4")) == fingerprint(spec(25, "b.mp4"))
    assert fingerprint(spec(25, "a.mp4")) != fingerprint(spec(30, "a.mp4"))


def test_a_job_file_without_input_or_outputs_is_a_batch_job(tmp_path: Path) -> None:
    job = tmp_path / "j.toml"
    job.write_text('command = "replace"\n[effect]\nbackgrounds = ["#00ff00"]\n')
    assert load_job(job).effect.backgrounds == ["#00ff00"]
    job.write_text('command = "webcam"\n')
    with pytest.raises(ConfigError, match="live"):
        plan(discover(["synthetic:32x32@1"]), load_job(job), tmp_path / "o")


def test_two_inputs_writing_one_output_are_refused_before_anything_runs(tree_in: Path, tmp_path: Path) -> None:
    touch(tree_in / "a.mov")
    (tmp_path / "j.toml").write_text('command = "segment"\n')
    ended = rtseg("batch", tree_in / "a.mp4", tree_in / "a.mov", "--job", "j.toml", "--out", "out", cwd=tmp_path)
    assert_refused(ended, 2, "would both write")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["nothing-here.mp4"], "input not found: nothing-here.mp4"),
    (["in", "--executor", "spark"], "--executor must be one of local, ray"),
    (["in", "--workers", "0"], "--workers must be 1..1024"),
    (["in", "--ray-address", "auto"], "--ray-address goes with --executor ray"),
    (["in", "--report", "in"], "--report in: expected a file name"),
])
def test_bad_batch_arguments_are_one_line_errors(tree_in: Path, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "j.toml").write_text('command = "blur"\n')
    ended = rtseg("batch", *args, "--job", "j.toml", "--out", "out", cwd=tmp_path)
    assert_refused(ended, 2, message)


def test_an_image_folder_given_as_dot_keeps_its_own_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seq = tmp_path / "frames"
    touch(seq / "00000.jpg")
    monkeypatch.chdir(seq)
    got = outputs({"command": "segment"}, ["."], tmp_path / "out")
    assert list(got.values()) == [["frames"]]  # not the output folder itself
