"""Running a job from the command line: progress bar, logging, stop signals, the summary line, and
errors as one line with their exit code (:func:`execute`)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.text import Text

from rtseg import interrupts
from rtseg.cli.console import err_console, fail
from rtseg.frame import Frame, StreamInfo
from rtseg.graph import RunStats
from rtseg.jobs.spec import JobSpec, OutputKind


class FpsColumn(ProgressColumn):
    """The progress bar's frames per second."""

    def render(self, task: Any) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:6.1f} fps" if speed else "   ... fps", style="cyan")


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
    """rtseg's log lines on stderr as ``rtseg: message`` (once per process)."""
    logger = logging.getLogger("rtseg")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("rtseg: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def describe_outputs(spec: JobSpec) -> str:
    """The job's outputs for the summary line: their paths (or kinds, for those without one)."""
    return ", ".join(o.path or o.kind.value for o in spec.outputs)


def execute(make_spec: Callable[[], JobSpec], debug: bool = False) -> RunStats:
    """Build the spec (``make_spec()``), run it with progress, print the summary; exit on errors."""
    from rtseg.jobs.build import build

    progress: Progress | None = None
    try:
        spec = make_spec()
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
