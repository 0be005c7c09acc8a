"""``rtseg bench``: the command line of :mod:`rtseg.bench` (measured workloads against a same-run baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtseg.bench.baseline import BaselineBlur
from rtseg.bench.options import BenchOptions, Workload
from rtseg.cli.console import fail
from rtseg.cli.options import DebugOpt, default_of

# Help that states a default reads it from BenchOptions, where it is defined.
WORKLOADS_HELP = f"{', '.join(w.value for w in Workload)} (default: all)."
_BASELINE_BLUR = BenchOptions.model_fields["baseline_blur"].default
_KERNEL_NOTES = {BaselineBlur.KERNEL: "2·strength+1 taps", BaselineBlur.SIGMA: "= strength"}
BASELINE_BLUR_HELP = "Tutorial kernel: " + " or ".join(
    f"{kind.value} ({_KERNEL_NOTES[kind]}{', default' if kind is _BASELINE_BLUR else ''})" for kind in BaselineBlur
) + "."
REPEAT_HELP = f"Measured runs per implementation ({default_of(BenchOptions, 'repeat')})."
WARMUP_HELP = f"Unrecorded runs first ({default_of(BenchOptions, 'warmup')})."
STRENGTH_HELP = f"Blur sigma in pixels ({default_of(BenchOptions, 'strength')})."
SIZE_HELP = f"Synthetic frame size ({default_of(BenchOptions, 'synthetic_size')})."
FRAMES_HELP = f"Synthetic clip length ({default_of(BenchOptions, 'synthetic_frames')})."
LIVE_SECONDS_HELP = f"Live replay length ({default_of(BenchOptions, 'live_seconds')})."


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command to ``app``."""
    app.command(name="bench")(bench)


def bench(
    workloads: Annotated[list[str] | None, typer.Argument(help=WORKLOADS_HELP)] = None,
    input: Annotated[str | None, typer.Option("--input", help="A real clip instead of the synthetic one.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Scenario TOML (see benchmarks/).")] = None,
    repeat: Annotated[int | None, typer.Option("--repeat", help=REPEAT_HELP)] = None,
    warmup: Annotated[int | None, typer.Option("--warmup", help=WARMUP_HELP)] = None,
    baseline: Annotated[bool | None, typer.Option("--baseline/--no-baseline",
                                                  help="Alternate with the tutorial loop.")] = None,
    baseline_blur: Annotated[str | None, typer.Option("--baseline-blur", help=BASELINE_BLUR_HELP)] = None,
    strength: Annotated[float | None, typer.Option("--strength", help=STRENGTH_HELP)] = None,
    size: Annotated[str | None, typer.Option("--size", help=SIZE_HELP)] = None,
    frames: Annotated[int | None, typer.Option("--frames", help=FRAMES_HELP)] = None,
    live_seconds: Annotated[float | None, typer.Option("--live-seconds", help=LIVE_SECONDS_HELP)] = None,
    scaling: Annotated[bool | None, typer.Option("--scaling/--no-scaling",
                                                 help="Sweep resolution and blur strength too.")] = None,
    crf: Annotated[int | None, typer.Option("--crf", help="x264 CRF for rtseg's output.")] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="x264 preset for rtseg's output.")] = None,
    sam2_model_dir: Annotated[Path | None, typer.Option("--sam2-model-dir",
                                                        help="Exported SAM 2 model directory.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report here (JSON).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write PNG charts into this folder.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Write the tables as Markdown here.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Measure fps, latency, CPU and memory, alternating with the tutorial loop in the same run.

    Example: rtseg bench file-blur-720p --input clip.mp4 --repeat 5 --json bench.json --plot charts/
    """
    from rich.console import Console

    from rtseg.bench.plot import write_plots
    from rtseg.bench.report import markdown as to_markdown
    from rtseg.bench.report import print_report, write_json
    from rtseg.bench.suite import BenchRun

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a piped report keeps its table rows on one line
    err = Console(stderr=True)
    try:
        opts = BenchOptions.from_sources(config, {
            "workloads": workloads or None, "input": input, "repeat": repeat, "warmup": warmup,
            "baseline": baseline, "baseline_blur": baseline_blur,
            "strength": strength, "synthetic_size": size, "synthetic_frames": frames,
            "live_seconds": live_seconds, "scaling": scaling, "crf": crf, "preset": preset,
            "sam2_model_dir": str(sam2_model_dir) if sam2_model_dir else None})
        report = BenchRun(opts, progress=lambda msg: err.print(f"[dim]· {msg}[/]")).run()
        print_report(report, console)
        if json_path is not None:
            write_json(report, json_path)
            err.print(f"wrote {json_path}")
        if markdown is not None:
            markdown.write_text(to_markdown(report))
            err.print(f"wrote {markdown}")
        if plot is not None:
            for p in write_plots(report, plot):
                err.print(f"wrote {p}")
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        raise fail(exc, debug) from None
    if any(w.get("status") == "error" for w in report["workloads"].values()):
        for name, w in report["workloads"].items():
            if w.get("status") == "error":
                err.print(f"[bold red]{name} failed:[/] {w['reason']}", highlight=False)
                if debug:
                    err.print(w.get("traceback", ""), highlight=False)
        raise typer.Exit(1)
