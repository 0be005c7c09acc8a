"""What every ``rtseg`` command shares: option types, the prompt parsers, spec assembly, and the one
run-and-report wrapper (progress, summary line, one-line errors and exit codes)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from rtseg import interrupts
from rtseg.errors import ConfigError, RtsegError
from rtseg.frame import Frame, StreamInfo
from rtseg.graph import RunStats
from rtseg.jobs.spec import JobKind, JobSpec, OutputKind, load_toml, merge
from rtseg.segment.prompts import Prompt, parse_box, parse_point, prompt_to_dict
from rtseg.segment.registry import model_names

err_console = Console(stderr=True, soft_wrap=True)

MODEL_HELP = f"Model: {' | '.join(model_names())} (sam2 needs --model-dir)."

# -- option types ----------------------------------------------------------------------------------

ModelOpt = Annotated[str | None, typer.Option("--model", help=MODEL_HELP)]
ModelDirOpt = Annotated[Path | None, typer.Option(
    "--model-dir", help="SAM 2: a directory written by `rtseg export-sam2`.")]
ProviderOpt = Annotated[str | None, typer.Option(
    "--provider", help="SAM 2: ONNX Runtime provider: auto | tensorrt | cuda | cpu.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="SAM 2: ONNX Runtime threads (0: its default).")]
PointOpt = Annotated[list[str] | None, typer.Option(
    "--point", metavar="X,Y[,L]",
    help="SAM 2: a click in video pixels (L 1 include, the default; 0 exclude). Repeatable.")]
BoxOpt = Annotated[str | None, typer.Option("--box", metavar="X0,Y0,X1,Y1", help="SAM 2: a box around the object.")]
MaskPromptOpt = Annotated[Path | None, typer.Option(
    "--mask", metavar="PNG", help="SAM 2: a mask of the object (non-zero).")]
FrameOpt = Annotated[int | None, typer.Option("--frame", help="SAM 2: the frame the prompt is on (default 0).")]
ObjectOpt = Annotated[int | None, typer.Option(
    "--object", help="SAM 2: the object id of the prompt, 1..255 (default 1).")]
PromptsOpt = Annotated[Path | None, typer.Option("--prompts", help="SAM 2: JSON list of prompts (several objects).")]
RleOpt = Annotated[Path | None, typer.Option("--rle", help="SAM 2: JSON file of COCO RLE masks per frame and object.")]
LogitsOpt = Annotated[Path | None, typer.Option(
    "--logits", help="SAM 2: folder, one float32 .npy (objects x H x W) per frame.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML file with defaults for this command.")]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar with fps and ETA.")]
StatsOpt = Annotated[Path | None, typer.Option("--stats-json", help="Write run statistics (fps, latency, drops) here.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
MasksOpt = Annotated[Path | None, typer.Option("--masks", help="Also write one mask PNG per frame here.")]
QueueOpt = Annotated[int | None, typer.Option("--queue-size", help="Frames buffered between stages.")]
SmoothingOpt = Annotated[str | None, typer.Option("--smoothing", help="none | ema | uncertainty | motion (default).")]
RefineOpt = Annotated[str | None, typer.Option(
    "--refine", help="edge (default: snap the mask edge to the image's) | none | feather | guided.")]
QualityOpt = Annotated[str | None, typer.Option(
    "--quality", help="standard (default: the selfie model) | high (Robust Video Matting: finer edges, about "
    "20x the CPU, ~0.6 s per 720p frame here; run `rtseg import-rvm` once first).")]
RoiOpt = Annotated[bool | None, typer.Option(
    "--roi/--no-roi", help="Second model pass on a crop around the person (default on).")]
InferEveryOpt = Annotated[int | None, typer.Option(
    "--infer-every", help="Run the model on every K-th frame; optical flow moves the mask in between.")]
CrfOpt = Annotated[int | None, typer.Option("--crf", help="Encoder quality (lower is better).")]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="Encoder speed preset (x264: ultrafast…veryslow).")]
InputArg = Annotated[str | None, typer.Argument(
    help="Video file or URL, image folder, `sample` (a bundled clip) or synthetic[:WxH][@N]; or in --config.")]

# -- prompt options (read into rtseg.segment.prompts.Prompt, which checks them) ---------------------


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
        prompt = Prompt(frame=frame if frame is not None else 0, obj_id=obj if obj is not None else 1,
                        points=tuple((x, y) for x, y, _ in parsed),
                        labels=tuple(label for _, _, label in parsed),  # type: ignore[misc]  # Prompt checks them
                        box=corners, mask=mask)
    except ConfigError as exc:
        raise ConfigError(f"{' '.join(given)}: {exc}") from None
    if mask is not None and not mask.is_file():
        raise ConfigError(f"--mask file not found: {mask}")
    return prompt


def s(p: Path | None) -> str | None:
    return str(p) if p is not None else None


def output_kind(path: Path) -> OutputKind:
    """``-o OUT``: a folder of PNGs when OUT has no suffix (like DIR), one PNG for OUT.png (a photo),
    else a video file (OUT.mp4)."""
    return OutputKind.IMAGES if path.suffix.lower() in ("", ".png") else OutputKind.VIDEO


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
    data: dict[str, Any] = {"name": model, "dir": s(model_dir), "provider": provider, "threads": threads,
                            "prompts_file": s(prompts)}
    prompt = prompt_from_options(point, box, mask, frame, obj)
    if prompt is not None:
        data["prompts"] = [prompt_to_dict(prompt)]
    return data


def mask_data(smoothing: str | None = None, refine: str | None = None, roi: bool | None = None,
              infer_every: int | None = None) -> dict[str, Any]:
    return {"smoothing": smoothing, "refine": refine, "roi": roi, "infer_every": infer_every}


def run_data(progress: bool | None = None, stats_json: Path | None = None, debug: bool = False,
             queue_size: int | None = None) -> dict[str, Any]:
    return {"progress": progress, "stats_json": s(stats_json), "debug": debug or None, "queue_size": queue_size}


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
    cli_outputs = [o for o in cli.pop("outputs", []) if o]
    outputs = list(base.pop("outputs", []))
    if cli_outputs:
        kinds = {o["kind"] for o in cli_outputs}
        outputs = [*([] if replace_outputs else [o for o in outputs if o["kind"] not in kinds]), *cli_outputs]
    if not outputs and default_outputs:
        outputs = default_outputs
    csrc = cli.get("source", {})
    bsrc = base.get("source", {})
    if csrc.get("path") is not None:
        bsrc.pop("camera", None)
    if csrc.get("camera") is not None:
        bsrc.pop("path", None)
        bsrc.pop("realtime", None)
    merged = merge(base, {**cli, "command": command.value})
    if outputs:
        merged["outputs"] = outputs
    return JobSpec.from_dict(merged, source).check().with_origin(config)


# -- running -----------------------------------------------------------------------------------------


class FpsColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.1f} fps" if speed else "   ... fps", style="cyan")


def fail(exc: BaseException, debug: bool) -> typer.Exit:
    """Print ``exc`` as one line (a traceback too with ``--debug``); the exit to raise."""
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, RtsegError):
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
        return typer.Exit(exc.exit_code)
    err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False)
    if not debug:
        traceback.print_exception(exc)
    return typer.Exit(3)


@contextlib.contextmanager
def signals_as_interrupts() -> Iterator[list[int]]:
    """SIGTERM and SIGHUP (``timeout``, systemd, Docker, a closed terminal) end a job like Ctrl-C.

    A file job aborts and removes its partial output; a live job finishes cleanly and keeps its
    recording (a second signal aborts it). Yields the signals received, for the exit code.
    """
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    with interrupts.handled(handler):
        yield received


def setup_logging() -> None:
    logger = logging.getLogger("rtseg")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("rtseg: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def describe_outputs(spec: JobSpec) -> str:
    return ", ".join(o.path or o.kind.value for o in spec.outputs)


def execute(make_spec: Any, debug: bool = False) -> RunStats:
    """Build the spec (``make_spec()``), run it with progress, print the summary; exit on errors."""
    from rtseg.jobs.build import build

    progress: Progress | None = None
    try:
        spec: JobSpec = make_spec()
        debug = spec.run.debug
        task: Any = None
        total: list[int] = []

        def on_start(info: StreamInfo) -> None:
            total.append(info.frames)

        def on_output(frame: Frame, stats: RunStats) -> None:
            nonlocal progress, task
            if progress is None:
                progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    FpsColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err_console)
                task = progress.add_task(spec.command.value, total=(total[0] if total else 0) or None)
                progress.start()
            progress.advance(task)

        show_progress = spec.run.progress and not spec.live
        setup_logging()
        pipeline = build(spec, on_output=on_output if show_progress else None, on_start=on_start)
        with signals_as_interrupts() as received:
            try:
                stats = pipeline.run()
            except KeyboardInterrupt:
                signum = received[-1] if received else int(signal.SIGINT)
                name = signal.Signals(signum).name
                err_console.print(f"interrupted ({name}); no output written", highlight=False, markup=False)
                raise typer.Exit(interrupts.SIGNAL_EXIT.get(signum, 130)) from None
            finally:
                if progress is not None:
                    progress.stop()
        if spec.live:
            lat = stats.to_json()["latency_ms"]
            err_console.print(f"webcam: {stats.frames_out} frames in {stats.duration_s:.1f} s ({stats.fps:.2f} fps), "
                              f"dropped {stats.dropped}, latency p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms, "
                              f"cpu {stats.cpu_percent:.0f}%", highlight=False, markup=False)
            if "record" not in stats.sink_errors:  # a failed recording said so when it stopped
                for out in spec.outputs_of(OutputKind.RECORD, OutputKind.VIDEO):
                    err_console.print(f"wrote {out.path}", highlight=False, markup=False)
        else:
            err_console.print(f"wrote {describe_outputs(spec)}: {stats.frames_out} frames in {stats.duration_s:.1f} s "
                              f"({stats.fps:.1f} fps)", highlight=False, markup=False)
        return stats
    except KeyboardInterrupt:
        err_console.print("interrupted; no output written")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        raise fail(exc, debug) from None
