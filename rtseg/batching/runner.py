"""The batch: plan the items, skip those already done with this job, run the rest, report.

The report (``--report FILE.jsonl``) has one line per item in input order and is written whole at the
end (write, then rename), also after Ctrl-C; the summary goes to the caller and the stats JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtseg.batching.executors import (
    Control,
    LocalExecutor,
    RayExecutor,
    failed_row,
    remove_partials,
)
from rtseg.batching.items import ItemTask, discover, load_job, plan
from rtseg.batching.worker import FAILED, NOT_RUN, OK, SKIPPED, ReportRow, read_record
from rtseg.errors import ConfigError
from rtseg.interrupts import handled
from rtseg.jobs.spec import JobSpec

EXECUTORS = ("local", "ray")


@dataclass
class BatchOptions:
    executor: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    resume: bool = True
    fail_fast: bool = False
    report: Path | None = None
    stats_json: Path | None = None
    stills: bool = False
    """Images in a folder are separate items (photos), not one image sequence."""

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.workers is not None and not 1 <= self.workers <= 1024:
            raise ConfigError(f"--workers must be 1..1024, got {self.workers}")
        if self.ray_address is not None and self.executor != "ray":
            raise ConfigError("--ray-address goes with --executor ray")


@dataclass
class Summary:
    """The batch's totals: items ok / failed / skipped / not run, frames, wall time, overall fps."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    not_run: int = 0
    """Items never started: the batch was stopped (Ctrl-C, a signal, ``--fail-fast``) before them."""
    frames: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    signal: int | None = None
    """The first signal that stopped the batch (SIGINT, SIGTERM, SIGHUP), for the exit code."""
    executor: str = "local"
    workers: int = 0
    rows: list[ReportRow] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """The executor's fixed costs: starting workers (and Ray), shutting Ray down."""

    @property
    def items(self) -> int:
        return self.ok + self.failed + self.skipped + self.not_run

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 when every item is ok or skipped; 128 + the signal's number after a signal; else 1."""
        if self.interrupted and self.signal is not None:
            return 128 + self.signal
        return 0 if self.failed == 0 and self.not_run == 0 and not self.interrupted else 1

    def to_json(self) -> dict[str, Any]:
        run = self.ok + self.failed
        return {"items": self.items, "ok": self.ok, "failed": self.failed, "skipped": self.skipped,
                "not_run": self.not_run, "frames": self.frames, "wall_s": round(self.wall_s, 3),
                "fps": round(self.fps, 2),
                "items_per_s": round(run / self.wall_s, 3) if self.wall_s > 0 else 0.0,
                "executor": self.executor, "workers": self.workers, "interrupted": self.interrupted,
                "executor_timings_s": self.timings}

    def line(self) -> str:
        not_run = f", {self.not_run} not run" if self.not_run else ""
        return (f"batch: {self.ok} ok, {self.failed} failed, {self.skipped} skipped{not_run}; {self.frames} frames "
                f"in {self.wall_s:.1f} s ({self.fps:.1f} fps)")


class Display:
    """What the batch shows as it runs (the CLI's progress bar; nothing for the API by default)."""

    def begin(self, total: int, skipped: int) -> None: ...
    def started(self, task: ItemTask, worker: str) -> None: ...
    def frames(self, task: ItemTask, frames: int) -> None: ...
    def done(self, row: ReportRow) -> None: ...
    def message(self, text: str) -> None: ...
    def end(self) -> None: ...


class _ItemEventHandler:
    """Executor events → frame totals and the display (executors call it from the driver's thread)."""

    def __init__(self, display: Display, control: Control, fail_fast: bool) -> None:
        self.display, self.control, self.fail_fast = display, control, fail_fast
        self.live_frames: dict[int, int] = {}
        self.failed_once = False

    def started(self, task: ItemTask, worker: str) -> None:
        self.live_frames[task.index] = 0
        self.display.started(task, worker)

    def frames(self, task: ItemTask, frames: int) -> None:
        self.live_frames[task.index] = frames
        self.display.frames(task, frames)

    def done(self, row: ReportRow) -> None:
        self.live_frames.pop(row.index, None)
        self.display.done(row)
        if row.status == FAILED and self.fail_fast and not self.failed_once:
            self.failed_once = True
            self.display.message(f"--fail-fast: stopping after {row.input} failed")
            self.control.stopping.set()
            self.control.aborting.set()


@contextmanager
def interrupts(control: Control, display: Display) -> Iterator[list[int]]:
    """Ctrl-C (or SIGTERM / SIGHUP) once: stop handing out items, let running ones finish; twice: abort."""
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if not control.stopping.is_set():
            control.stopping.set()
            display.message("stopping: no new items; running items will finish (Ctrl-C again to abort them)")
        elif not control.aborting.is_set():
            control.aborting.set()
            display.message("aborting running items; their partial outputs are removed")

    with handled(handler):
        yield received


def write_report(path: Path, rows: list[ReportRow]) -> None:
    """One JSON line per item, written whole (a partial file renamed into place)."""
    from rtseg.sinks.atomic import partial_file

    tmp = partial_file(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row.to_json()) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_outputs_not_inputs(out_dir: Path, options: BatchOptions, job: JobSpec) -> None:
    from rtseg.jobs.paths import same_file

    for what, p in (("--report", options.report), ("--stats-json", options.stats_json)):
        if p is None:
            continue
        if p.suffix == "" or p.is_dir():
            raise ConfigError(f"{what} {p}: expected a file name")
        if not p.resolve().parent.is_dir():
            raise ConfigError(f"{what} {p}: folder {p.resolve().parent} does not exist")
        if job.origin and same_file(p, Path(job.origin)):
            raise ConfigError(f"{what} {p} is the job file: refusing to write over an input")


def run_batch(inputs: list[str], job: JobSpec | str | os.PathLike[str] | dict[str, Any],
              out_dir: str | os.PathLike[str], options: BatchOptions | None = None, *, display: Display | None = None,
              control: Control | None = None, on_plan: Callable[[list[ItemTask]], None] | None = None) -> Summary:
    """Run ``job`` over ``inputs`` into ``out_dir``; the summary with one report row per item."""
    options = options or BatchOptions()
    display = display or Display()
    control = control or Control()
    spec = load_job(job)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; expected a folder")
    if not out.resolve().parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.resolve().parent} does not exist")
    _check_outputs_not_inputs(out, options, spec)
    found = discover(inputs, stills=options.stills, exclude=[out])
    tasks, errors = plan(found, spec, out)
    created = not out.exists()
    out.mkdir(exist_ok=True)
    if on_plan is not None:
        on_plan(tasks)
    rows: dict[int, ReportRow] = {e.index: ReportRow(e.input, e.output, FAILED, error=e.error, index=e.index)
                                  for e in errors}
    todo: list[ItemTask] = []
    for task in tasks:
        record = read_record(task) if options.resume else None
        if record is not None:
            rows[task.index] = ReportRow(task.input, task.output, SKIPPED, frames=int(record.get("frames", 0)),
                                         index=task.index, outputs=list(task.outputs))
        else:
            todo.append(task)
    executor = (RayExecutor(options.workers, options.ray_address) if options.executor == "ray"
                else LocalExecutor(options.workers))
    summary = Summary(executor=executor.name, workers=min(executor.workers or 0, len(todo)) if isinstance(
        executor, LocalExecutor) else (options.workers or 0))
    events = _ItemEventHandler(display, control, options.fail_fast)
    display.begin(len(tasks) + len(errors), len(tasks) - len(todo))
    for e in errors:
        display.done(rows[e.index])
    t0 = time.perf_counter()
    interrupted = False
    received: list[int] = []
    try:
        with interrupts(control, display) as received:
            if todo and not (options.fail_fast and errors):
                for row in executor.run(todo, control, events):
                    rows[row.index] = row
            interrupted = bool(received)
    finally:
        display.end()
        summary.wall_s = time.perf_counter() - t0
        summary.timings = dict(executor.timings)
        not_run = [t for t in todo if t.index not in rows]
        for t in not_run:
            why = "not run: the batch was stopped before this item" if (control.stopping.is_set() or errors) \
                else "not run"
            rows[t.index] = failed_row(t, why, status=NOT_RUN)
        remove_partials(todo)
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()  # only if nothing was written: no empty folder left behind
        summary.rows = [rows[i] for i in sorted(rows)]
        summary.ok = sum(r.status == OK for r in summary.rows)
        summary.failed = sum(r.status == FAILED for r in summary.rows)
        summary.skipped = sum(r.status == SKIPPED for r in summary.rows)
        summary.not_run = sum(r.status == NOT_RUN for r in summary.rows)
        summary.frames = sum(r.frames for r in summary.rows if r.status == OK)
        summary.interrupted = interrupted or (control.stopping.is_set() and not options.fail_fast)
        summary.signal = received[0] if received else None
        if options.report is not None:
            write_report(options.report, summary.rows)
        if options.stats_json is not None:
            from rtseg.sinks.atomic import partial_file

            tmp = partial_file(options.stats_json)
            tmp.write_text(json.dumps({**summary.to_json(), "rows": [r.to_json() for r in summary.rows]}, indent=2))
            os.replace(tmp, options.stats_json)
    return summary
