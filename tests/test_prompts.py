"""One prompt type: every surface that takes a SAM 2 prompt reads its own shape into
:class:`rtseg.segment.prompts.Prompt`, and only ``Prompt`` checks it.

The surfaces: ``rtseg track --point/--box/--frame/--object`` (and ``--prompts``), a ``--prompts`` JSON file,
a CSV and a JSONL batch manifest (at planning, before anything runs), a job (TOML file or dict), and the
Python API (``rtseg.track``, ``rtseg.run``). A bad prompt given through any of them is refused with the
message ``Prompt`` gives (after a prefix naming where it came from); a good one becomes equal ``Prompt`` s.
No model runs: the job each surface builds is caught where it would be built into a pipeline.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rtseg
import rtseg.api
from rtseg.batching.items import discover, plan
from rtseg.cli import main as rtseg_main
from rtseg.errors import ConfigError
from rtseg.jobs.segmenters import prompts_of
from rtseg.jobs.spec import JobSpec
from rtseg.segment.prompts import Prompt, load_prompts_file, parse_point, prompt_from_dict, prompt_to_dict

NAN = math.nan

# -- the validator ---------------------------------------------------------------------------------------

BAD: dict[str, dict[str, Any]] = {
    "label 2": {"points": [(3, 4)], "labels": [2]},
    "reversed box": {"box": (50, 50, 10, 10)},
    "object 0": {"obj_id": 0, "points": [(3, 4)]},
    "NaN coordinate": {"points": [(NAN, 4)]},
    "no points, box or mask": {},
}
"""Bad prompts, as ``Prompt`` keywords (object 1 on frame 0 unless said)."""


def refusal(kwargs: dict[str, Any]) -> str:
    """The validator's message for a bad prompt: what every surface must show."""
    with pytest.raises(ConfigError) as caught:
        Prompt(**kwargs)
    return str(caught.value)


def test_the_validator_says_what_is_wrong_with_each_bad_prompt() -> None:
    assert {name: refusal(kw) for name, kw in BAD.items()} == {
        "label 2": "prompt for object 1 on frame 0: point labels must be 0 (exclude) or 1 (include), got [2]",
        "reversed box": "prompt for object 1 on frame 0: box must be x0,y0,x1,y1 with x0<=x1 and y0<=y1, "
                        "got [50.0, 50.0, 10.0, 10.0]",
        "object 0": "object id must be in 1..255, got 0",
        "NaN coordinate": "a point's x must be a finite number, got nan",
        "no points, box or mask": "prompt for object 1 on frame 0: a prompt needs points, a box or a mask",
    }


@pytest.mark.parametrize("point", [{"x": 1, "y": 2}, {1, 2}, "12", [1, 2, 3]])
def test_a_point_that_is_not_x_y_is_refused_not_a_key_error(point: Any) -> None:
    with pytest.raises(ConfigError, match=r"^prompt for object 1 on frame 0: a point must be \[x, y\], got "):
        prompt_from_dict({"points": [point]})


def test_a_prompt_is_normalised_and_its_keys_read_back_equal() -> None:
    given: dict[str, Any] = {"points": [[10, 20], (30.5, 40)], "labels": [1, 0], "box": [1, 2, 30, 40]}
    p = Prompt(frame=3, obj_id=2, **given)
    assert (p.points, p.labels, p.box) == (((10.0, 20.0), (30.5, 40.0)), (1, 0), (1.0, 2.0, 30.0, 40.0))
    assert Prompt(points=((1, 2),)).labels == (1,)
    assert prompt_from_dict(prompt_to_dict(p)) == p
    assert parse_point("3,4") == (3.0, 4.0, 1) and parse_point(" 3 , 4 , 0 ") == (3.0, 4.0, 0)


# -- each surface, given a prompt as Prompt keywords ---------------------------------------------------------


def _labels(kw: dict[str, Any]) -> list[Any]:
    return list(kw.get("labels") or [1] * len(kw.get("points", [])))


def _keys(kw: dict[str, Any]) -> dict[str, Any]:
    """The prompt as data keys (JSON file, manifest ``prompts``, ``[model] prompts``)."""
    out: dict[str, Any] = {}
    if "frame" in kw:
        out["frame"] = kw["frame"]
    if "obj_id" in kw:
        out["object"] = kw["obj_id"]
    if kw.get("points"):
        out.update(points=[list(p) for p in kw["points"]], labels=_labels(kw))
    if kw.get("box") is not None:
        out["box"] = list(kw["box"])
    return out


def _text(values: Any) -> str:
    return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def cli_args(kw: dict[str, Any]) -> list[str]:
    """``--point X,Y,L`` per point, ``--box``, ``--frame``, ``--object`` (``--object 1`` alone when empty)."""
    args: list[str] = []
    for (x, y), label in zip(kw.get("points", []), _labels(kw), strict=True):
        args += ["--point", _text((x, y, label))]
    if kw.get("box") is not None:
        args += ["--box", _text(kw["box"])]
    if "frame" in kw:
        args += ["--frame", str(kw["frame"])]
    if "obj_id" in kw or not args:
        args += ["--object", str(kw.get("obj_id", 1))]
    return args


def manifest_row(kw: dict[str, Any]) -> dict[str, Any]:
    """A JSONL manifest row: the per-object fields ``frame``, ``points`` ([x, y, label]), ``boxes``."""
    obj = str(kw.get("obj_id", 1))
    row: dict[str, Any] = {"input": "a.mp4", "frame": kw.get("frame", 0),
                           "points": {obj: [[x, y, label] for (x, y), label in zip(kw.get("points", []), _labels(kw),
                                                                                   strict=True)]}}
    if kw.get("box") is not None:
        row["boxes"] = {obj: list(kw["box"])}
    return row


def csv_line(kw: dict[str, Any]) -> str:
    """A CSV manifest line: ``points`` / ``boxes`` cells for object 1, else a ``prompts`` cell of JSON."""
    if kw.get("obj_id", 1) == 1 and (kw.get("points") or kw.get("box") is not None):
        points = ";".join(_text((x, y, label)) for (x, y), label in zip(kw.get("points", []), _labels(kw),
                                                                           strict=True))
        box = _text(kw["box"]) if kw.get("box") is not None else ""
        return f'a.mp4,"{points}","{box}",{kw.get("frame", 0)},'
    prompts = json.dumps([_keys(kw)]).replace('"', '""')
    return f'a.mp4,,,,"{prompts}"'


def toml_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "nan" if isinstance(v, float) and math.isnan(v) else repr(v)


def job_toml(kw: dict[str, Any], folder: Path) -> Path:
    path = folder / "job.toml"
    keys = "".join(f"{k} = {toml_value(v)}\n" for k, v in _keys(kw).items())
    path.write_text('command = "track"\n[source]\npath = "a.mp4"\n[model]\nname = "sam2"\ndir = "m"\n'
                    f"[[model.prompts]]\n{keys}[[outputs]]\nkind = \"masks\"\npath = \"out\"\n")
    return path


def job_dict(prompts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"command": "track", "source": {"path": "a.mp4"}, "outputs": [{"kind": "masks", "path": "out"}],
            "model": {"name": "sam2", "dir": "m", "prompts": prompts}}


def api_keywords(kw: dict[str, Any]) -> dict[str, Any]:
    """``rtseg.track`` keywords: ``points={obj: [(x, y, label)]}``, ``boxes={obj: box}``, ``frame``."""
    obj = kw.get("obj_id", 1)
    out: dict[str, Any] = {"points": {obj: [(x, y, label) for (x, y), label in zip(kw.get("points", []), _labels(kw),
                                                                                  strict=True)]}}
    if kw.get("box") is not None:
        out["boxes"] = {obj: tuple(kw["box"])}
    if "frame" in kw:
        out["frame"] = kw["frame"]
    return out


# -- a bad prompt is refused on every surface with the validator's message ------------------------------------


def via_cli(kw: dict[str, Any], tmp: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as ended:
        rtseg_main(["track", str(tmp / "a.mp4"), "--model-dir", str(tmp), *cli_args(kw), "--masks", str(tmp / "o")])
    err = capsys.readouterr().err
    assert ended.value.code == 2 and len(err.strip().splitlines()) == 1, err
    return err


def via_json_file(kw: dict[str, Any], tmp: Path, capsys: Any) -> str:
    path = tmp / "prompts.json"
    path.write_text(json.dumps([_keys(kw)]))
    with pytest.raises(ConfigError) as caught:
        load_prompts_file(path)
    return str(caught.value)


def via_jsonl_manifest(kw: dict[str, Any], tmp: Path, capsys: Any) -> str:
    path = tmp / "items.jsonl"
    path.write_text(json.dumps(manifest_row(kw)) + "\n")
    with pytest.raises(ConfigError) as caught:
        discover([str(path)])
    return str(caught.value)


def via_csv_manifest(kw: dict[str, Any], tmp: Path, capsys: Any) -> str:
    path = tmp / "items.csv"
    path.write_text("input,points,boxes,frame,prompts\n" + csv_line(kw) + "\n")
    with pytest.raises(ConfigError) as caught:
        discover([str(path)])
    return str(caught.value)


def via_job_toml(kw: dict[str, Any], tmp: Path, capsys: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        JobSpec.from_toml(job_toml(kw, tmp))
    return str(caught.value)


def via_run_dict(kw: dict[str, Any], tmp: Path, capsys: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        rtseg.run(job_dict([_keys(kw)]))
    return str(caught.value)


def via_track_keywords(kw: dict[str, Any], tmp: Path, capsys: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        rtseg.track(tmp / "a.mp4", tmp, **api_keywords(kw))
    return str(caught.value)


SURFACES: dict[str, Callable[[dict[str, Any], Path, Any], str]] = {
    "rtseg track --point/--box/--frame/--object": via_cli,
    "--prompts JSON file": via_json_file,
    "JSONL manifest": via_jsonl_manifest,
    "CSV manifest": via_csv_manifest,
    "job TOML": via_job_toml,
    "rtseg.run(dict)": via_run_dict,
    "rtseg.track(points=, boxes=, frame=)": via_track_keywords,
}

WHERE = {  # how each surface names where the bad prompt came from, before the validator's message
    "rtseg track --point/--box/--frame/--object": "error: --",
    "--prompts JSON file": "prompts.json: prompt 0: ",
    "JSONL manifest": "items.jsonl:1: ",
    "CSV manifest": "items.csv:2: ",
    "job TOML": "job.toml: 'model.prompts.0': ",
    "rtseg.run(dict)": "rtseg.run(): 'model.prompts.0': ",
    "rtseg.track(points=, boxes=, frame=)": "points[",
}


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("bad", list(BAD))
def test_a_bad_prompt_is_refused_on_every_surface_with_the_validators_message(
        bad: str, surface: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = SURFACES[surface](BAD[bad], tmp_path, capsys)
    assert refusal(BAD[bad]) in message
    assert WHERE[surface] in message.split(refusal(BAD[bad]))[0]


def test_the_command_line_names_the_options_that_gave_the_prompt(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert via_cli(BAD["label 2"], tmp_path, capsys).strip() == (
        "error: --point 3,4,2: prompt for object 1 on frame 0: point labels must be 0 (exclude) or 1 (include), "
        "got [2]")
    assert via_cli({"points": [(3, 4)], "frame": -1}, tmp_path, capsys).strip() == (
        "error: --point 3,4,1 --frame -1: prompt frame must be >= 0, got -1")


@pytest.mark.parametrize(("args", "message"), [
    (["--point", "10"], "--point expects X,Y[,LABEL], got '10'"),
    (["--point", "a,b"], "--point expects X,Y[,LABEL], got 'a,b'"),
    (["--box", "1,2,3"], "--box expects X0,Y0,X1,Y1, got '1,2,3'"),
])
def test_text_that_is_not_numbers_is_refused_by_its_parser(args: list[str], message: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        rtseg_main(["track", str(tmp_path / "a.mp4"), "--model-dir", str(tmp_path), *args, "--masks", "o"])
    assert message in capsys.readouterr().err


# -- good prompts on every surface are equal Prompts --------------------------------------------------------

FIRST: dict[str, Any] = {"frame": 3, "obj_id": 1, "points": [(10, 20), (30.5, 40)], "labels": [1, 0],
                         "box": (1, 2, 30, 40)}
SECOND: dict[str, Any] = {"frame": 3, "obj_id": 2, "box": (100, 50, 200, 150)}
EXPECTED = [Prompt(**FIRST), Prompt(**SECOND)]


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[JobSpec]:
    """The jobs the surfaces made, caught where each would become a pipeline (no model runs)."""
    made: list[JobSpec] = []

    def catch(spec: JobSpec, *args: Any, **kwargs: Any) -> Any:
        made.append(spec)
        raise ConfigError("caught before building")

    monkeypatch.setattr(sys.modules["rtseg.jobs.build"], "build", catch)  # the package's `build` is the function
    monkeypatch.setattr(rtseg.api, "build", catch)
    return made


def built(call: Callable[[], Any], jobs: list[JobSpec]) -> list[Prompt]:
    with pytest.raises((ConfigError, SystemExit)):
        call()
    return prompts_of(jobs.pop().model)


def test_good_prompts_are_equal_prompts_on_every_surface(tmp_path: Path, jobs: list[JobSpec]) -> None:
    (tmp_path / "a.mp4").write_bytes(b"x")
    second = tmp_path / "second.json"
    second.write_text(json.dumps([_keys(SECOND)]))
    got: dict[str, list[Prompt]] = {}

    got["command line + --prompts"] = built(lambda: rtseg_main(
        ["track", str(tmp_path / "a.mp4"), "--model-dir", str(tmp_path), *cli_args(FIRST), "--prompts", str(second),
         "--masks", str(tmp_path / "o")]), jobs)

    both = tmp_path / "both.json"
    both.write_text(json.dumps([_keys(FIRST), _keys(SECOND)]))
    got["--prompts JSON file"] = load_prompts_file(both)

    jsonl = tmp_path / "items.jsonl"
    row = manifest_row(FIRST)
    row["boxes"]["2"] = list(SECOND["box"])  # one row, two objects on one frame
    jsonl.write_text(json.dumps(row) + "\n")
    csv = tmp_path / "items.csv"
    csv.write_text("input,points,boxes,frame,prompts\n" + csv_line(FIRST).removesuffix(",")
                   + ',"' + json.dumps([_keys(SECOND)]).replace('"', '""') + '"\n')
    track_job = JobSpec.from_dict({"command": "track", "model": {"dir": str(tmp_path)}})
    for name, manifest in (("JSONL manifest", jsonl), ("CSV manifest", csv)):
        tasks, errors = plan(discover([str(manifest)]), track_job, tmp_path / "out")
        assert not errors, errors
        got[name] = prompts_of(JobSpec.model_validate(tasks[0].spec).model)

    toml = job_toml(FIRST, tmp_path)
    toml.write_text(toml.read_text().replace("[[outputs]]", "[[model.prompts]]\nframe = 3\nobject = 2\n"
                                             "box = [100, 50, 200, 150]\n[[outputs]]"))
    got["job TOML"] = prompts_of(JobSpec.from_toml(toml).model)
    got["rtseg.run(dict)"] = built(lambda: rtseg.run(job_dict([_keys(FIRST), _keys(SECOND)])), jobs)

    keywords = api_keywords(FIRST)
    keywords["boxes"][2] = SECOND["box"]
    got["rtseg.track(points=, boxes=, frame=)"] = built(lambda: next(rtseg.track(tmp_path / "a.mp4", tmp_path,
                                                                                 **keywords)), jobs)
    assert got == dict.fromkeys(got, EXPECTED)


def test_mask_paths_are_relative_to_the_file_that_names_them(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "p.json").write_text('[{"object": 3, "mask": "m.png"}]')
    (folder / "items.jsonl").write_text('{"input": "a.mp4", "masks": {"3": "m.png"}}\n')
    [from_file] = load_prompts_file(folder / "p.json")
    [item] = discover([str(folder / "items.jsonl")])
    [from_manifest] = item.overrides["model"]["prompts"]
    assert from_file.mask == folder / "m.png" and Path(from_manifest["mask"]) == folder.resolve() / "m.png"


def test_clicks_added_one_after_another_are_kept_as_such_in_a_job() -> None:
    """``add`` (a click joining the frame's earlier clicks, as the studio records them) survives the round
    trip through a job's keys; anything but true/false is refused."""
    second = Prompt(frame=0, obj_id=1, points=[(300, 200)], labels=[0], add=True)
    assert prompt_to_dict(second)["add"] is True and "add" not in prompt_to_dict(Prompt(points=[(1, 2)]))
    assert prompt_from_dict(prompt_to_dict(second)) == second
    spec = JobSpec.from_dict({"command": "track", "source": {"path": "in.mp4"},
                              "model": {"name": "sam2", "dir": "m", "prompts": [{"points": [[1, 2]]},
                                                                               prompt_to_dict(second)]}})
    assert prompts_of(spec.model) == [Prompt(points=[(1, 2)]), second]
    with pytest.raises(ConfigError, match="add must be true or false, got 'yes'"):
        prompt_from_dict({"points": [[1, 2]], "add": "yes"})
