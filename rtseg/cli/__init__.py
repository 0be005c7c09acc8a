"""The ``rtseg`` command line (typer). Every option maps to a key of :class:`rtseg.config.JobConfig`."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from rtseg import __version__
from rtseg.config import build_config, load_toml, merge
from rtseg.errors import ConfigError, RtsegError

app = typer.Typer(
    name="rtseg",
    help="Real-time video segmentation: blur or replace backgrounds, cut out people, export masks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


# -- common options ---------------------------------------------------------------------------------

ModelOpt = Annotated[str | None, typer.Option("--model", help="selfie | selfie-square | selfie-landscape")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML file with defaults for this command.")]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar with fps and ETA.")]
StatsOpt = Annotated[Path | None, typer.Option("--stats-json", help="Write run statistics (fps, latency, drops) here.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
MasksOpt = Annotated[Path | None, typer.Option("--masks", help="Also write one alpha PNG per frame here.")]
QueueOpt = Annotated[int | None, typer.Option("--queue-size", help="Frames buffered between stages.")]
SmoothingOpt = Annotated[str | None, typer.Option("--smoothing", help="none | ema | uncertainty | motion (default).")]
RefineOpt = Annotated[str | None, typer.Option("--refine", help="none (default) | feather | guided.")]
RoiOpt = Annotated[bool | None, typer.Option("--roi/--no-roi",
                                             help="Second model pass on a crop around the person (default on).")]
InferEveryOpt = Annotated[int | None, typer.Option(
    "--infer-every", help="Run the model on every K-th frame; optical flow moves the mask in between.")]
CrfOpt = Annotated[int | None, typer.Option("--crf", help="Encoder quality (lower is better).")]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="Encoder speed preset (x264: ultrafast…veryslow).")]


class FpsColumn(ProgressColumn):
    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.1f} fps" if speed else "   ... fps", style="cyan")


def _fail(exc: BaseException, debug: bool) -> typer.Exit:
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, RtsegError):
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        return typer.Exit(exc.exit_code)
    err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True)
    if not debug:
        traceback.print_exception(exc)
    return typer.Exit(3)


def execute(data: dict[str, Any], config: Path | None, source: str = "command line") -> None:
    """Merge ``config`` (if any) under the CLI values, validate, and run the job with progress."""
    from rtseg.app import SourceInfo, run_job

    debug = bool(data.get("run", {}).get("debug"))
    try:
        base = load_toml(config) if config else {}
        if config and "command" in base and base["command"] != data.get("command"):
            raise ConfigError(f"{config} is a '{base['command']}' config, not '{data.get('command')}'")
        cfg = build_config(merge(base, data), str(config) if config else source)
        debug = cfg.run.debug
        progress: Progress | None = None
        task_id: Any = None

        total: list[int] = []

        def on_start(info: SourceInfo) -> None:
            total.append(info.frames)

        def on_output(frame: Any, stats: Any) -> None:
            nonlocal progress, task_id
            if progress is None and cfg.run.progress:
                progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                    FpsColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err_console,
                                    transient=False)
                task_id = progress.add_task(cfg.command.value, total=(total[0] if total else 0) or None)
                progress.start()
            if progress is not None:
                progress.advance(task_id)

        try:
            stats = run_job(cfg, on_output=on_output, on_start=on_start)
        finally:
            if progress is not None:
                progress.stop()
        out = cfg.output or cfg.masks
        err_console.print(f"wrote {out}: {stats.frames_out} frames in {stats.duration_s:.1f} s "
                          f"({stats.fps:.1f} fps)", highlight=False)
    except KeyboardInterrupt:
        err_console.print("interrupted; no output written")
        raise typer.Exit(130) from None
    except Exception as exc:
        raise _fail(exc, debug) from None


def _common(model: str | None, progress: bool | None, stats_json: Path | None, debug: bool,
            queue_size: int | None = None, smoothing: str | None = None, refine: str | None = None,
            roi: bool | None = None, infer_every: int | None = None) -> dict[str, Any]:
    return {
        "model": {"name": model},
        "mask": {"smoothing": smoothing, "refine": refine, "roi": roi, "infer_every": infer_every},
        "run": {"progress": progress, "stats_json": str(stats_json) if stats_json else None,
                "debug": debug or None, "queue_size": queue_size},
    }


def _s(p: Path | None) -> str | None:
    return str(p) if p is not None else None


# -- commands ---------------------------------------------------------------------------------------

@app.command()
def blur(
    input: Annotated[str, typer.Argument(help="Video file, URL, or image folder.")],
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="Output video (.mp4, .mkv, .webm) or folder.")] = None,
    strength: Annotated[float | None, typer.Option("--strength", help="Blur sigma in pixels (default 25).")] = None,
    masks: MasksOpt = None, model: ModelOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None,
    stats_json: StatsOpt = None, queue_size: QueueOpt = None, crf: CrfOpt = None, preset: PresetOpt = None,
    smoothing: SmoothingOpt = None, refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Blur the background, keep the person sharp."""
    data = {"command": "blur", "input": input, "output": _s(output), "masks": _s(masks),
            "effect": {"strength": strength}, "encoder": {"crf": crf, "preset": preset},
            **_common(model, progress, stats_json, debug, queue_size, smoothing, refine, roi, infer_every)}
    execute(data, config)


@app.command()
def replace(
    input: Annotated[str, typer.Argument(help="Video file, URL, or image folder.")],
    background: Annotated[str | None, typer.Option("--background", help="Image, video (looped) or #RRGGBB.")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output video or folder.")] = None,
    masks: MasksOpt = None, model: ModelOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None,
    stats_json: StatsOpt = None, queue_size: QueueOpt = None, crf: CrfOpt = None, preset: PresetOpt = None,
    light_wrap: Annotated[float | None, typer.Option("--light-wrap",
                                                     help="0..1: background light over the edge.")] = None,
    smoothing: SmoothingOpt = None, refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Replace the background with an image, a looped video, or a colour."""
    data = {"command": "replace", "input": input, "output": _s(output), "masks": _s(masks),
            "effect": {"background": background, "light_wrap": light_wrap}, "encoder": {"crf": crf, "preset": preset},
            **_common(model, progress, stats_json, debug, queue_size, smoothing, refine, roi, infer_every)}
    execute(data, config)


@app.command()
def cutout(
    input: Annotated[str, typer.Argument(help="Video file, URL, or image folder.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="OUTPUT.webm (VP9 alpha), OUTPUT.mov (ProRes 4444) or a folder of RGBA PNGs.")] = None,
    masks: MasksOpt = None, model: ModelOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None,
    stats_json: StatsOpt = None, queue_size: QueueOpt = None, smoothing: SmoothingOpt = None,
    refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None, debug: DebugOpt = False,
) -> None:
    """Cut the person out: output with an alpha channel."""
    data = {"command": "cutout", "input": input, "output": _s(output), "masks": _s(masks),
            **_common(model, progress, stats_json, debug, queue_size, smoothing, refine, roi, infer_every)}
    execute(data, config)


@app.command()
def overlay(
    input: Annotated[str, typer.Argument(help="Video file, URL, or image folder.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output video or folder.")] = None,
    colour: Annotated[str | None, typer.Option("--colour", help="Tint colour #RRGGBB.")] = None,
    masks: MasksOpt = None, model: ModelOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None,
    stats_json: StatsOpt = None, queue_size: QueueOpt = None, smoothing: SmoothingOpt = None,
    refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None, debug: DebugOpt = False,
) -> None:
    """Tint the segmented person (a debug view of the mask)."""
    data = {"command": "overlay", "input": input, "output": _s(output), "masks": _s(masks),
            "effect": {"overlay_colour": colour},
            **_common(model, progress, stats_json, debug, queue_size, smoothing, refine, roi, infer_every)}
    execute(data, config)


@app.command()
def segment(
    input: Annotated[str, typer.Argument(help="Video file, URL, or image folder.")],
    masks: Annotated[Path | None, typer.Option("--masks", help="Folder for one 8-bit alpha PNG per frame.")] = None,
    model: ModelOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None,
    stats_json: StatsOpt = None, queue_size: QueueOpt = None, smoothing: SmoothingOpt = None,
    refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None, debug: DebugOpt = False,
) -> None:
    """Write the alpha the composite would use, one PNG per frame (00000.jpg → 00000.png)."""
    data = {"command": "segment", "input": input, "masks": _s(masks),
            **_common(model, progress, stats_json, debug, queue_size, smoothing, refine, roi, infer_every)}
    execute(data, config)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="A TOML job file, e.g. configs/blur.toml.")],
    progress: ProgressOpt = None, stats_json: StatsOpt = None, debug: DebugOpt = False,
) -> None:
    """Run a job described entirely by a TOML file (see configs/)."""
    data = {"run": {"progress": progress, "stats_json": _s(stats_json), "debug": debug or None}}
    try:
        base = load_toml(config)
    except RtsegError as exc:
        raise _fail(exc, debug) from None
    if base.get("command") == "webcam":
        from rtseg.live.cli import run_config_file

        run_config_file(config, stats_json=stats_json, debug=debug)
        return
    execute(merge(base, data), None, source=str(config))


@app.command()
def devices() -> None:
    """List ONNX Runtime providers, the MediaPipe version, cameras and virtual-camera backends."""
    from rtseg.devices import report

    for line in report():
        typer.echo(line)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rtseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """rtseg: real-time video segmentation."""


# Feature packages add their own commands with ``register(app)``; keeps this module small.
COMMAND_MODULES = ("rtseg.live.cli", "rtseg.bench.cli", "rtseg.segment.sam2.cli")
_registered = False


def register_commands() -> None:
    global _registered
    if _registered:
        return
    _registered = True
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that feature package is not there
            raise
        module.register(app)


def main() -> None:
    register_commands()
    app(prog_name="rtseg")


if __name__ == "__main__":  # pragma: no cover
    main()
