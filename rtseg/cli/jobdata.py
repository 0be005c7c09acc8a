"""Command-line options → job data: the parts of a :class:`~rtseg.jobs.spec.JobSpec` dict a command's
options give (None: not given, so the config file's value or the job's default applies), the prompt
options read into a :class:`~rtseg.segment.prompts.Prompt`, and :func:`spec_from`, which puts a
``--config`` file under them and checks the job."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from rtseg.errors import ConfigError
from rtseg.jobs import outputs
from rtseg.jobs.loading import load_toml, merge
from rtseg.jobs.spec import JobKind, JobSpec, OutputKind
from rtseg.segment.prompts import Prompt, parse_box, parse_point, prompt_to_dict

# -- prompt options (read into rtseg.segment.prompts.Prompt, which checks them) ---------------------


def prompt_default(name: str) -> int:
    """What ``--frame`` (``frame``) or ``--object`` (``obj_id``) is when not given: :class:`Prompt`'s default.

    >>> prompt_default("frame"), prompt_default("obj_id")
    (0, 1)
    """
    value = {f.name: f.default for f in fields(Prompt)}[name]
    assert isinstance(value, int)
    return value


def prompt_from_options(point: list[str] | None = None, box: str | None = None, mask: Path | None = None,
                        frame: int | None = None, obj: int | None = None) -> Prompt | None:
    """The one :class:`Prompt` of ``--point``/``--box``/``--mask`` on ``--frame`` for ``--object`` (None if
    none is given). The text becomes numbers here; the prompt's checks are ``Prompt``'s, and its message
    comes prefixed with the options that gave it.

    >>> prompt_from_options(["640,360", "10,20,0"], frame=3).labels
    (1, 0)
    >>> prompt_from_options(["3,4,2"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    rtseg.errors.ConfigError: --point 3,4,2: prompt for object 1 on frame 0: point labels must be 0 (exclude) or 1 ...
    """
    given = [*(f"--point {p}" for p in point or ()), *([f"--box {box}"] if box is not None else []),
             *([f"--mask {mask}"] if mask is not None else []), *([f"--frame {frame}"] if frame is not None else []),
             *([f"--object {obj}"] if obj is not None else [])]
    if not given:
        return None
    parsed = []
    for text in point or ():
        try:
            parsed.append(parse_point(text))
        except ValueError:
            raise ConfigError(f"--point expects X,Y[,LABEL], got {text!r}") from None
    try:
        corners = parse_box(box) if box is not None else None
    except ValueError:
        raise ConfigError(f"--box expects X0,Y0,X1,Y1, got {box!r}") from None
    try:
        prompt = Prompt(frame=frame if frame is not None else prompt_default("frame"),
                        obj_id=obj if obj is not None else prompt_default("obj_id"),
                        points=tuple((x, y) for x, y, _ in parsed),
                        labels=tuple(label for _, _, label in parsed),  # type: ignore[misc]  # Prompt checks them
                        box=corners, mask=mask)
    except ConfigError as exc:
        raise ConfigError(f"{' '.join(given)}: {exc}") from None
    if mask is not None and not mask.is_file():
        raise ConfigError(f"--mask file not found: {mask}")
    return prompt


# -- spec sections -----------------------------------------------------------------------------------


def path_str(path: Path | None) -> str | None:
    """A path option as the job's text (None stays None: not given).

    >>> path_str(Path("out") / "masks"), path_str(None)
    ('out/masks', None)
    """
    return str(path) if path is not None else None


def output_kind(path: Path) -> OutputKind:
    """``-o OUT``: a folder of PNGs when OUT has no suffix (like DIR), one PNG for OUT.png (a photo),
    else a video file (OUT.mp4): the rule every surface uses, :func:`rtseg.jobs.outputs.output_kind`.

    >>> output_kind(Path("frames")).value, output_kind(Path("still.png")).value, output_kind(Path("a.mp4")).value
    ('images', 'images', 'video')
    """
    return outputs.output_kind(path)


def apply_quality(quality: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """``--quality high``: the ``rvm`` model without temporal smoothing (it has its own memory);
    explicit ``--model``/``--smoothing`` options win over it, a conflicting ``--model`` is an error."""
    if quality in (None, "standard"):
        return data
    if quality != "high":
        raise ConfigError(f"--quality must be standard or high, got {quality!r}")
    model, mask = data["model"], data["mask"]
    if model.get("name") not in (None, "rvm"):
        raise ConfigError(f"--quality high runs the rvm model; it cannot go with --model {model['name']}")
    model["name"] = "rvm"
    if mask.get("smoothing") is None:
        mask["smoothing"] = "none"
    return data


def model_data(model: str | None, model_dir: Path | None = None, provider: str | None = None,
               threads: int | None = None, point: list[str] | None = None, box: str | None = None,
               mask: Path | None = None, frame: int | None = None, obj: int | None = None,
               prompts: Path | None = None) -> dict[str, Any]:
    """The ``[model]`` part of a spec from the model and prompt options."""
    data: dict[str, Any] = {"name": model, "dir": path_str(model_dir), "provider": provider, "threads": threads,
                            "prompts_file": path_str(prompts)}
    prompt = prompt_from_options(point, box, mask, frame, obj)
    if prompt is not None:
        data["prompts"] = [prompt_to_dict(prompt)]
    return data


def mask_data(smoothing: str | None = None, refine: str | None = None, roi: bool | None = None,
              infer_every: int | None = None) -> dict[str, Any]:
    """The ``[mask]`` part of a spec from the mask-path options."""
    return {"smoothing": smoothing, "refine": refine, "roi": roi, "infer_every": infer_every}


def run_data(progress: bool | None = None, stats_json: Path | None = None, debug: bool = False,
             queue_size: int | None = None) -> dict[str, Any]:
    """The ``[run]`` part of a spec (``--debug`` off is "not given", so a config's ``debug = true`` holds)."""
    return {"progress": progress, "stats_json": path_str(stats_json), "debug": debug or None,
            "queue_size": queue_size}


# -- spec assembly -----------------------------------------------------------------------------------


def spec_from(command: JobKind, cli: dict[str, Any], config: Path | None, *, replace_outputs: bool = False,
              default_outputs: list[dict[str, Any]] | None = None) -> JobSpec:
    """The config file (if any) under the command-line values, checked.

    Paths in the config file are relative to the file; on the command line, to the working
    directory. Outputs given on the command line replace the config's outputs of the same kind
    (all of them with ``replace_outputs``); a camera replaces a file and the other way round.
    """
    base: dict[str, Any] = {}
    source = "command line"
    if config is not None:
        raw = load_toml(config)
        given = raw.get("command", command.value)
        if given != command.value:
            raise ConfigError(f"{config} is a '{given}' config, not '{command.value}'")
        spec = JobSpec.from_dict({**raw, "command": command.value}, str(config), base_dir=config.resolve().parent)
        base = spec.model_dump(exclude_unset=True)
        source = str(config)
    cli_outputs = [out for out in cli.pop("outputs", []) if out]
    outputs = list(base.pop("outputs", []))
    if cli_outputs:
        kinds = {out["kind"] for out in cli_outputs}
        outputs = [*([] if replace_outputs else [out for out in outputs if out["kind"] not in kinds]), *cli_outputs]
    if not outputs and default_outputs:
        outputs = default_outputs
    cli_source = cli.get("source", {})
    config_source = base.get("source", {})
    if cli_source.get("path") is not None:
        config_source.pop("camera", None)
    if cli_source.get("camera") is not None:
        config_source.pop("path", None)
        config_source.pop("realtime", None)
    merged = merge(base, {**cli, "command": command.value})
    if outputs:
        merged["outputs"] = outputs
    return JobSpec.from_dict(merged, source).check().with_origin(config)
