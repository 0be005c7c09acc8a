"""``rtseg batch``: one job over many inputs, on local worker processes or Ray, resumable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rtseg.batching.items import ItemTask
from rtseg.batching.runner import BatchOptions, Display, run_batch
from rtseg.batching.worker import FAILED, ReportRow
from rtseg.cli.console import err_console, fail
from rtseg.cli.options import DebugOpt, shown
from rtseg.cli.running import setup_logging


class ProgressDisplay(Display):
    """One rich progress bar: items done / total, frames per second across workers, ETA; a line per
    failing item as it fails."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task: Any = None
        self.t0 = time.perf_counter()
        self.frames_done = 0
        self.running: dict[int, int] = {}

    def begin(self, total: int, skipped: int) -> None:
        self.t0 = time.perf_counter()
        if skipped:
            err_console.print(f"resume: {skipped} of {total} items already done with this job; skipping them",
                              highlight=False, markup=False)
        if not self.enabled:
            return
        self.progress = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TextColumn("items"),
                                 TextColumn("[cyan]{task.fields[fps]}"), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=err_console)
        self.task = self.progress.add_task("batch", total=total - skipped, fps="   ... fps")
        self.progress.start()

    def _update(self, advance: int = 0) -> None:
        if self.progress is None:
            return
        span = time.perf_counter() - self.t0
        frames = self.frames_done + sum(self.running.values())
        self.progress.update(self.task, advance=advance, fps=f"{frames / span:7.1f} fps" if span > 0 else "")

    def started(self, task: ItemTask, worker: str) -> None:
        self.running[task.index] = 0

    def frames(self, task: ItemTask, frames: int) -> None:
        self.running[task.index] = frames
        self._update()

    def done(self, row: ReportRow) -> None:
        self.running.pop(row.index, None)
        if row.status == FAILED:
            self.message(f"[bold red]failed:[/] {escape(row.input)}: {escape(row.error or '')}", markup=True)
        else:
            self.frames_done += row.frames
        self._update(advance=1)

    def message(self, text: str, markup: bool = False) -> None:
        console = self.progress.console if self.progress is not None else err_console
        console.print(text, highlight=False, markup=markup)

    def end(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


RESUME_HELP = f"Skip items already done with this same job (default {shown(BatchOptions.resume)})."


def batch(
    inputs: Annotated[list[str], typer.Argument(
        help="Videos, photos, folders (searched recursively: videos and image folders), globs, or a manifest "
             "(.jsonl / .csv: input, output, prompts, job keys per item).")],
    job: Annotated[Path, typer.Option("--job", help="The job for every item: a TOML file (see configs/).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder; outputs keep the inputs' relative paths.")],
    executor: Annotated[str, typer.Option(
        "--executor", help="local (worker processes) | ray.")] = BatchOptions.executor,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Workers (default: local, one per CPU; Ray, the cluster's CPUs).")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="Ray cluster: auto | ray://HOST:10001 (default: start Ray on this machine).")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help=RESUME_HELP)] = BatchOptions.resume,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="Stop at the first failed item.")] = BatchOptions.fail_fast,
    report: Annotated[Path | None, typer.Option("--report", help="One JSON line per item (FILE.jsonl).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar.")] = True,
    stats_json: Annotated[Path | None, typer.Option("--stats-json", help="The batch's totals as JSON.")] = None,
    stills: Annotated[bool, typer.Option(
        "--stills", help="Images in a folder are separate photos, not one image sequence.")] = BatchOptions.stills,
    debug: DebugOpt = False,
) -> None:
    """Run one job over many videos, image folders or photos: locally in worker processes (each loads
    its model once) or on Ray. Ctrl-C once stops handing out items; twice aborts the running ones."""
    setup_logging()
    display = ProgressDisplay(progress)
    try:
        options = BatchOptions(executor=executor, workers=workers, ray_address=ray_address, resume=resume,
                               fail_fast=fail_fast, report=report, stats_json=stats_json, stills=stills)
        summary = run_batch(inputs, job, out, options, display=display)
    except typer.Exit:
        raise
    except Exception as exc:
        raise fail(exc, debug) from None
    err_console.print(summary.line() + (f"; report: {report}" if report else ""), highlight=False, markup=False)
    if summary.interrupted:
        err_console.print("interrupted: finished outputs and the report are kept; run the same command again to "
                          "do the rest", highlight=False, markup=False)
        raise typer.Exit(summary.exit_code if summary.signal is not None else 130)
    raise typer.Exit(summary.exit_code)


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)
