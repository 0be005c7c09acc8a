"""What a batch runs: inputs found on disk or listed in a manifest, each turned into one job spec.

Inputs are files (videos, photos), folders (searched recursively: every video, and every folder that
holds images directly, which is one image sequence, or with ``stills`` each image on its own), glob
patterns, or a manifest (``.jsonl`` / ``.csv``, one item per line). Each item keeps its path relative
to what was given (the folder, the glob's fixed part, the manifest's folder) under the output folder,
with the name of the job's output kind::

    clips/a/x.mp4        → OUT/a/x.mp4          (blur, replace, overlay: a video)
    davis/lucia/JPEGImages → OUT/lucia/JPEGImages/ (an image sequence: a folder of PNGs)
    photos/p.jpg         → OUT/p.png            (a photo: one PNG)

A job with several outputs names the second and later ones ``x.masks/``, ``x.rle.json``,
``x.logits/``. Two inputs that would write the same output are an error before anything runs.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from rtseg.errors import ConfigError
from rtseg.jobs.loading import merge
from rtseg.jobs.outputs import ALPHA_VIDEO_SUFFIXES, VIDEO_SUFFIXES, OutputKind, output_kind
from rtseg.jobs.spec import EffectKind, JobKind, JobSpec
from rtseg.segment.prompts import Prompt, parse_box, parse_point, prompt_from_dict, prompt_to_dict
from rtseg.sources.images import IMAGE_SUFFIXES

MANIFEST_SUFFIXES = (".jsonl", ".csv")
INPUT_VIDEO_SUFFIXES = (*VIDEO_SUFFIXES, ".mpg", ".mpeg", ".ts", ".mts", ".wmv", ".flv", ".3gp")
"""Files a folder search takes as videos."""
STATE_DIR = ".rtseg-batch"
"""In the output folder: one record per finished item (its job fingerprint), for ``--resume``."""
ITEM_KEYS = {"input", "output", "points", "boxes", "masks", "frame", "prompts", "job"}


class InputKind:
    VIDEO = "video"
    SEQUENCE = "sequence"
    """A folder of images read in name order as one video."""
    STILL = "still"
    """One photo: a one-frame input."""


@dataclass(frozen=True)
class FoundInput:
    """One input as discovery found it: the path, where its output goes (relative), per-item job data."""

    path: Path
    rel: PurePath
    kind: str
    overrides: dict[str, Any] = field(default_factory=dict)
    output: Path | None = None
    origin: str = ""
    """Where it was named (the argument, or ``manifest.jsonl:3``), for messages."""


@dataclass(frozen=True)
class ItemTask:
    """One batch item, ready for a worker: its job (as plain data) and where its record goes."""

    index: int
    input: str
    output: str
    """The first output (the report's ``output``)."""
    outputs: tuple[str, ...]
    spec: dict[str, Any]
    fingerprint: str
    record: str
    """The file that says this item is done, and with which job (written after its outputs)."""
    input_stamp: tuple[int, int]
    """The input's size and modification time (ns); a changed input is redone."""


@dataclass(frozen=True)
class PlanError:
    """An item that cannot run as given (a bad prompt in the manifest, a job it does not fit)."""

    index: int
    input: str
    output: str
    error: str


# -- discovery -----------------------------------------------------------------------------------------


def _is_hidden(path: Path) -> bool:
    return path.name.startswith(".")


def _kind_of_file(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return InputKind.STILL
    if suffix in INPUT_VIDEO_SUFFIXES:
        return InputKind.VIDEO
    return None


def _walk(root: Path, stills: bool, exclude: list[Path]) -> list[FoundInput]:
    found: list[FoundInput] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not any(
            _same_or_inside(here / d, ex) for ex in exclude))
        names = sorted(f for f in files if not f.startswith("."))
        images = [n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
        if images and not stills:
            rel = here.relative_to(root) if here != root else PurePath(root.resolve().name)
            found.append(FoundInput(here, rel, InputKind.SEQUENCE, origin=str(root)))
        for name in names:
            path = here / name
            kind = _kind_of_file(path)
            if kind is None or (kind == InputKind.STILL and not stills):
                continue
            found.append(FoundInput(path, path.relative_to(root), kind, origin=str(root)))
    return found


def _same_or_inside(path: Path, folder: Path) -> bool:
    p, f = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return p == f or f in p.parents


def _glob_root(pattern: str) -> Path:
    """The fixed part of a glob pattern (``clips/*/x.mp4`` → ``clips``)."""
    parts = Path(pattern).parts
    fixed: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def discover(inputs: list[str], *, stills: bool = False, exclude: list[Path] | None = None) -> list[FoundInput]:
    """Every input the arguments name, in the order given (folders and globs sorted by name).

    >>> discover(["synthetic:64x48@2"])[0].kind
    'video'
    """
    from rtseg.sources import is_special_input

    exclude = exclude or []
    found: list[FoundInput] = []
    for arg in inputs:
        path = Path(arg)
        if is_special_input(arg):
            found.append(FoundInput(path, PurePath(arg.replace(":", "-").replace("@", "-") + ".mp4"),
                                    InputKind.VIDEO, origin=arg))
        elif path.suffix.lower() in MANIFEST_SUFFIXES and path.is_file():
            found += read_manifest(path)
        elif path.is_dir():
            items = _walk(path, stills, exclude)
            if not items:
                raise ConfigError(f"no videos or image folders in {arg}")
            found += items
        elif path.is_file():
            kind = _kind_of_file(path) or InputKind.VIDEO  # an odd name: let the decoder decide
            found.append(FoundInput(path, PurePath(path.name), kind, origin=arg))
        elif glob.has_magic(arg):
            root = _glob_root(arg)
            matches = sorted(Path(m) for m in glob.glob(arg, recursive=True))
            items = []
            for m in matches:
                if m.is_dir():
                    items += [FoundInput(i.path, m.relative_to(root) / i.rel if i.path != m else m.relative_to(root),
                                         i.kind, origin=arg) for i in _walk(m, stills, exclude)]
                elif (file_kind := _kind_of_file(m)) is not None and not _is_hidden(m):
                    items.append(FoundInput(m, m.relative_to(root), file_kind, origin=arg))
            if not items:
                raise ConfigError(f"no inputs match {arg!r}")
            found += items
        else:
            raise ConfigError(f"input not found: {arg}")
    if not found:
        raise ConfigError("no inputs: give files, folders, globs or a manifest (.jsonl / .csv)")
    return found


# -- manifests -----------------------------------------------------------------------------------------


def read_manifest(path: Path) -> list[FoundInput]:
    """Items of a ``.jsonl`` (one JSON object per line) or ``.csv`` (a header row) manifest.

    Keys: ``input`` (required), ``output`` (relative to the output folder), SAM 2 prompts for the
    item (``points``, ``boxes``, ``masks``, ``frame``, or full ``prompts``) and ``job`` (any job keys
    for this item, e.g. ``{"effect": {"strength": 40}}``). Relative paths are relative to the manifest.
    """
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read manifest {path}: {exc}") from exc
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not a JSON object: {exc.msg}") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{n}: expected a JSON object like {{\"input\": \"clip.mp4\"}}")
            rows.append((n, row))
    else:
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "input" not in reader.fieldnames:
            raise ConfigError(f"{path}: a CSV manifest needs a header row with an 'input' column")
        for n, raw in enumerate(reader, 2):
            rows.append((n, _csv_row(raw, f"{path}:{n}")))
    base = path.resolve().parent
    out: list[FoundInput] = []
    for n, row in rows:
        where = f"{path}:{n}"
        unknown = set(row) - ITEM_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}; expected {', '.join(sorted(ITEM_KEYS))}")
        if not isinstance(row.get("input"), str) or not row["input"].strip():
            raise ConfigError(f"{where}: every item needs an 'input'")
        given = Path(row["input"])
        item_path = given if given.is_absolute() else base / given
        try:
            rel = PurePath(item_path.resolve().relative_to(base))
        except ValueError:
            rel = PurePath(item_path.name)
        output = row.get("output")
        if output is not None and not isinstance(output, str):
            raise ConfigError(f"{where}: 'output' must be a path, got {output!r}")
        kind = (InputKind.SEQUENCE if item_path.is_dir() else _kind_of_file(item_path)) or InputKind.VIDEO
        out.append(FoundInput(item_path, rel, kind, overrides=_overrides(row, base, where),
                              output=Path(output) if output else None, origin=where))
    if not out:
        raise ConfigError(f"{path}: the manifest lists no items")
    return out


def _csv_row(raw: dict[str, str | None], where: str) -> dict[str, Any]:
    """CSV cells: ``points`` as ``x,y[,label];x,y``, ``boxes`` as ``x0,y0,x1,y1``, ``masks`` a path,
    ``frame`` a number, ``job`` JSON; empty cells are absent."""
    row: dict[str, Any] = {}
    for key, value in raw.items():
        if key is None or value is None or not value.strip():
            continue
        value = value.strip()
        if key == "points":
            try:
                row[key] = [list(parse_point(p)) for p in value.split(";") if p.strip()]
            except ValueError:
                raise ConfigError(f"{where}: points must be x,y[,label];x,y…, got {value!r}") from None
        elif key == "boxes":
            try:
                row[key] = list(parse_box(value))
            except ValueError:
                raise ConfigError(f"{where}: boxes must be x0,y0,x1,y1, got {value!r}") from None
        elif key == "frame":
            try:
                row[key] = int(value)
            except ValueError:
                raise ConfigError(f"{where}: frame must be a frame index, got {value!r}") from None
        elif key in ("job", "prompts"):
            try:
                row[key] = json.loads(value)
            except json.JSONDecodeError:
                raise ConfigError(f"{where}: {key} must be JSON, got {value!r}") from None
        else:
            row[key] = value
    return row


def _per_object(value: Any, where: str, what: str) -> dict[int, Any]:
    """``{"1": v, "2": w}`` or a bare value for object 1 (the ids are the prompts' to check)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not str(k).isdigit():
                raise ConfigError(f"{where}: {what} keys are object ids 1..255, got {k!r}")
            out[int(k)] = v
        return out
    return {1: value}


def _overrides(row: dict[str, Any], base: Path, where: str) -> dict[str, Any]:
    """The job data an item changes: its prompts and its ``job`` keys."""
    data: dict[str, Any] = {}
    job = row.get("job")
    if job is not None:
        if not isinstance(job, dict):
            raise ConfigError(f"{where}: 'job' must be an object of job keys, got {job!r}")
        data = json.loads(json.dumps(job))
        for key in ("source", "outputs", "command"):
            if key in data:
                raise ConfigError(f"{where}: 'job' cannot change {key!r} (the batch sets it)")
    frame = row.get("frame", 0)
    per_object: dict[int, dict[str, Any]] = {}
    if "points" in row:
        for obj, pts in _per_object(row["points"], where, "points").items():
            if not isinstance(pts, list) or not all(isinstance(p, list) and len(p) in (2, 3) for p in pts):
                raise ConfigError(f"{where}: points must be [[x, y], …] or [[x, y, label], …], got {pts!r}")
            per_object.setdefault(obj, {})["points"] = [p[:2] for p in pts]
            per_object[obj]["labels"] = [p[2] if len(p) == 3 else 1 for p in pts]
    if "boxes" in row:
        for obj, box in _per_object(row["boxes"], where, "boxes").items():
            per_object.setdefault(obj, {})["box"] = box
    if "masks" in row:
        for obj, png in _per_object(row["masks"], where, "masks").items():
            per_object.setdefault(obj, {})["mask"] = png
    listed = row.get("prompts", [])
    if not isinstance(listed, list):
        raise ConfigError(f"{where}: 'prompts' must be a list of prompts")
    prompts = [_prompt({"frame": frame, "object": obj, **keys}, base, where)
               for obj, keys in sorted(per_object.items())]
    prompts += [_prompt(keys, base, f"{where}: prompt {i}") for i, keys in enumerate(listed)]
    if prompts:
        data.setdefault("model", {})["prompts"] = [prompt_to_dict(p) for p in prompts]
    return data


def _prompt(keys: Any, base: Path, where: str) -> Prompt:
    """One item's prompt, checked now (a bad one refuses the manifest, naming its line); masks are
    relative to the manifest."""
    try:
        return prompt_from_dict(keys, base)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


# -- outputs -------------------------------------------------------------------------------------------


def default_output_kinds(job: JobSpec) -> list[OutputKind]:
    """What a job writes when its config names no outputs: masks for segment and track, else a video."""
    if job.command in (JobKind.SEGMENT, JobKind.TRACK):
        return [OutputKind.MASKS]
    return [OutputKind.VIDEO]


def output_paths(found: FoundInput, kinds: list[tuple[OutputKind, str]], out_dir: Path, alpha: bool,
                 chosen: bool = True) -> list[tuple[OutputKind, Path]]:
    """Where each output of one input goes, and as what; ``kinds`` pairs each kind with the suffix the
    job's config gave it (``""`` when none). ``chosen``: the kinds come from the job's config (else they
    are the defaults, and an image sequence's default composite is a folder of PNGs, not a video)."""
    first: Path | None = None
    if found.output is not None:
        first = found.output if found.output.is_absolute() else out_dir / found.output
        base = first.with_suffix("") if first.suffix else first
    else:
        rel = found.rel
        base = out_dir / (rel.with_suffix("") if found.kind != InputKind.SEQUENCE and rel.suffix else rel)
    out: list[tuple[OutputKind, Path]] = []
    for i, (kind, suffix) in enumerate(kinds):
        tag = "" if i == 0 else f".{kind.value}"
        if kind is OutputKind.VIDEO and (found.kind == InputKind.STILL or
                                         (found.kind == InputKind.SEQUENCE and not chosen)):
            kind = OutputKind.IMAGES  # a photo's composite is a photo; a sequence's, a sequence
        if i == 0 and first is not None:
            if kind is OutputKind.VIDEO:
                kind = output_kind(first)
            out.append((kind, first))
        elif kind is OutputKind.VIDEO:
            own = found.path.suffix.lower() if found.kind == InputKind.VIDEO else ""
            ext = suffix or (own if own in (ALPHA_VIDEO_SUFFIXES if alpha else VIDEO_SUFFIXES) else
                             (".webm" if alpha else ".mp4"))
            out.append((kind, base.with_name(base.name + tag + ext)))
        elif kind in (OutputKind.IMAGES, OutputKind.MASKS):
            out.append((kind, base.with_name(base.name + tag + (".png" if found.kind == InputKind.STILL else ""))))
        elif kind is OutputKind.RLE:
            out.append((kind, base.with_name(base.name + tag + ".json")))
        else:  # logits: a folder
            out.append((kind, base.with_name(base.name + tag)))
    return out


# -- the plan ------------------------------------------------------------------------------------------


def outside_out(item: FoundInput, out_dir: Path) -> str | None:
    """Why a manifest's ``output`` is refused: it must name a path strictly inside ``--out`` (after
    resolving ``..`` and symlinks), and not the batch's own records; None when it is fine."""
    assert item.output is not None
    target = item.output if item.output.is_absolute() else out_dir / item.output
    real, root = Path(os.path.realpath(target)), Path(os.path.realpath(out_dir))
    if root not in real.parents or (root / STATE_DIR) == real or (root / STATE_DIR) in real.parents:
        return (f"{item.origin}: output {str(item.output)!r} must be a path inside --out {out_dir} "
                "(relative to it, without leaving it)")
    return None


def recorded_outputs(out_dir: Path) -> set[str]:
    """Every output a batch into ``out_dir`` recorded as finished (absolute paths), read once per plan."""
    found: set[str] = set()
    for record in sorted((out_dir / STATE_DIR).glob("*.json")) if (out_dir / STATE_DIR).is_dir() else []:
        try:
            data = json.loads(record.read_text())
            relative, outputs = data.get("relative"), data.get("outputs", [])
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(relative, list):  # relative to --out: true however --out is spelled next time
            found.update(os.path.abspath(out_dir / str(r)) for r in relative)
        elif isinstance(outputs, list):
            found.update(os.path.abspath(str(o)) for o in outputs)
    return found


def not_ours(paths: list[Path], recorded: set[str]) -> str | None:
    """Why an item may not write its outputs: one already exists and rtseg did not write it (a folder
    without rtseg's manifest, or a file no batch into this ``--out`` recorded); None when all are free."""
    from rtseg.sinks.atomic import foreign_entries

    for path in paths:
        if path.is_dir() and not path.is_symlink():
            foreign = foreign_entries(path)
            if foreign:
                return (f"{path} holds files rtseg did not write ({', '.join(foreign[:2])}): refusing to replace "
                        "it; move it away or choose another --out")
        elif (path.exists() or path.is_symlink()) and os.path.abspath(path) not in recorded:
            return (f"{path} exists and was not written by an rtseg batch: refusing to replace it; move it "
                    "away or choose another --out")
    return None


def fingerprint(spec: JobSpec) -> str:
    """A short hash of what the job does, leaving out which file it reads and writes and how it reports.

    Two items of one batch share it; changing any job key (model, mask, effect, encoder…) changes it.
    """
    data = spec.model_dump(mode="json")
    data["source"].pop("path", None)
    data["outputs"] = [{k: v for k, v in o.items() if k != "path"} for o in data["outputs"]]
    data.pop("run", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_stamp(path: Path) -> tuple[int, int]:
    """Size and mtime (ns) of a file; for a folder, the count and newest mtime of its files."""
    try:
        if path.is_dir():
            entries = [p.stat() for p in path.iterdir() if p.is_file()]
            return len(entries), max((s.st_mtime_ns for s in entries), default=0)
        st = path.stat()
        return st.st_size, st.st_mtime_ns
    except OSError:
        return -1, -1


def record_path(out_dir: Path, output: Path) -> Path:
    key = hashlib.sha256(os.path.abspath(output).encode()).hexdigest()[:20]
    return out_dir / STATE_DIR / f"{key}.json"


def load_job(job: JobSpec | str | os.PathLike[str] | dict[str, Any]) -> JobSpec:
    """The batch's job: a spec, a TOML file (its input and outputs, if any, are replaced per item), or a dict."""
    from rtseg.jobs.loading import load_toml

    if isinstance(job, JobSpec):
        return job
    if isinstance(job, dict):
        return JobSpec.from_dict(job, "job")
    path = Path(job)
    spec = JobSpec.from_dict(load_toml(path), str(path), base_dir=path.resolve().parent)
    if spec.live:
        raise ConfigError(f"{path}: a batch runs recorded files; a {spec.command.value} job on a camera is live")
    return spec.with_origin(path)


def plan(found: list[FoundInput], job: JobSpec, out_dir: Path) -> tuple[list[ItemTask], list[PlanError]]:
    """One task per input (or a plan error for an item its job does not fit); raises a ConfigError
    when two items would write the same output or an output would land in an input."""
    from rtseg.jobs.paths import inside, same_file

    if job.command is JobKind.WEBCAM:
        raise ConfigError("a batch runs recorded files; use a blur, replace, cutout, segment, overlay or "
                          "track job")
    base = job.model_dump(exclude_unset=True)
    base.pop("outputs", None)
    base.get("source", {}).pop("path", None)
    base["run"] = {k: v for k, v in base.get("run", {}).items() if k in ("queue_size", "cv_threads", "debug")}
    base["run"]["progress"] = False
    kinds: list[tuple[OutputKind, str]] = [(o.kind, Path(o.path).suffix.lower() if o.path else "")
                                           for o in job.outputs if o.kind is not OutputKind.NULL]
    chosen = bool(kinds)
    kinds = kinds or [(k, "") for k in default_output_kinds(job)]
    alpha = job.effective_effect is EffectKind.CUTOUT
    tasks: list[ItemTask] = []
    errors: list[PlanError] = []
    seen: dict[str, FoundInput] = {}
    recorded = recorded_outputs(out_dir)
    for index, item in enumerate(found):
        if item.output is not None and (problem := outside_out(item, out_dir)):
            errors.append(PlanError(index, str(item.path), str(item.output), problem))
            continue
        pairs = output_paths(item, kinds, out_dir, alpha, chosen)
        paths = [p for _, p in pairs]
        if problem := not_ours(paths, recorded):
            errors.append(PlanError(index, str(item.path), str(paths[0]), problem))
            continue
        for p in paths:
            key = os.path.normcase(os.path.abspath(p))
            if key in seen:
                other = seen[key]
                raise ConfigError(f"{other.path} and {item.path} would both write {p}: give them distinct "
                                  "names, or list them in a manifest with an 'output' each")
            seen[key] = item
            for ex in (item.path,):
                if same_file(p, ex) or (ex.is_dir() and inside(p, ex)):
                    raise ConfigError(f"output {p} would write into the input {ex}: choose another --out")
        outputs = [{"kind": k.value, "path": str(p)} for k, p in pairs]
        data = merge(base, item.overrides)
        data["source"] = {**data.get("source", {}), "path": str(item.path)}
        data["outputs"] = outputs
        try:
            spec = JobSpec.from_dict(data, item.origin or str(item.path)).check()
        except ConfigError as exc:
            errors.append(PlanError(index, str(item.path), str(paths[0]), str(exc)))
            continue
        tasks.append(ItemTask(index=index, input=str(item.path), output=str(paths[0]),
                              outputs=tuple(str(p) for p in paths), spec=spec.model_dump(mode="json"),
                              fingerprint=fingerprint(spec), record=str(record_path(out_dir, paths[0])),
                              input_stamp=input_stamp(item.path)))
    # An output inside another item's output folder would be replaced with that folder.
    for b in seen:
        for parent in Path(b).parents:
            a = str(parent)
            if a in seen:
                raise ConfigError(f"{seen[b].path} would write {b}, inside {seen[a].path}'s output folder {a}")
    return tasks, errors
