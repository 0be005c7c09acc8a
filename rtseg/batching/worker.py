"""One batch worker: loads each model once and runs items through the normal pipeline, one at a time.

The same class runs inside a local worker process and inside a Ray actor. An item's outputs are
committed by their sinks (write, then rename); only then is its record written (also atomically), so
a record always describes outputs that are complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtseg.batching.items import ItemTask
from rtseg.errors import describe
from rtseg.jobs.build import Overrides, build
from rtseg.jobs.models import ModelCache
from rtseg.jobs.spec import JobSpec

OK, FAILED, SKIPPED, NOT_RUN = "ok", "failed", "skipped", "not run"
"""Item statuses: written; tried and failed; already done with this job; never started (the batch was stopped)."""
REPORT_KEYS = ("input", "output", "status", "frames", "seconds", "fps", "worker", "error")


@dataclass
class ReportRow:
    """One line of the batch report."""

    input: str
    output: str
    status: str
    frames: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    worker: str = ""
    error: str | None = None
    index: int = 0
    outputs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: getattr(self, k) for k in REPORT_KEYS}
        if len(self.outputs) > 1:
            data["outputs"] = self.outputs
        return data


def worker_name(kind: str, number: int) -> str:
    return f"{kind}-{number}@{socket.gethostname()}:{os.getpid()}"


def write_record(task: ItemTask, frames: int) -> None:
    """Say the item is done, with the fingerprint of the job that made it (write, then rename)."""
    path = Path(task.record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    out_dir = path.parent.parent
    relative = [os.path.relpath(os.path.abspath(o), os.path.abspath(out_dir)) for o in task.outputs]
    tmp.write_text(json.dumps({"input": task.input, "outputs": list(task.outputs), "relative": relative,
                               "fingerprint": task.fingerprint,
                               "input_stamp": list(task.input_stamp), "frames": frames,
                               "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
    os.replace(tmp, path)


def read_record(task: ItemTask) -> dict[str, Any] | None:
    """The item's record if it is done with this job and these outputs still exist, else None."""
    try:
        record = json.loads(Path(task.record).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != task.fingerprint:
        return None
    if record.get("outputs") != list(task.outputs) or record.get("input_stamp") != list(task.input_stamp):
        return None
    if not all(os.path.exists(p) for p in task.outputs):
        return None
    return record


def make_parents(path: Path) -> list[Path]:
    """Create the missing folders above ``path``; the ones created, deepest first."""
    missing = [p for p in path.parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing


def remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders an item created for outputs it never wrote (deepest first; only empty ones)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


FramesCallback = Callable[[int], None]


class ItemRunner:
    """Runs batch items in this process; models stay loaded between items (:class:`ModelCache`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.models = ModelCache()
        self.items = 0

    def run(self, task: ItemTask, on_frames: FramesCallback | None = None) -> ReportRow:
        """Run one item; a failure is a ``failed`` row (one-line error), never an exception.

        KeyboardInterrupt (an abort) passes through after the pipeline removed its partial outputs.
        """
        t0 = time.perf_counter()
        frames = 0
        row = ReportRow(task.input, task.output, FAILED, worker=self.name, index=task.index,
                        outputs=list(task.outputs))
        self.items += 1
        created: list[Path] = []
        try:
            spec = JobSpec.from_dict(task.spec, task.input).check()
            for out in task.outputs:
                created += make_parents(Path(out))

            def on_output(frame: Any, stats: Any) -> None:
                nonlocal frames
                frames += 1
                if on_frames is not None:
                    on_frames(frames)

            stats = build(spec, overrides=Overrides(models=self.models), on_output=on_output).run()
            frames = stats.frames_out
            write_record(task, frames)
            row.status = OK
        except Exception as exc:
            row.error = describe(exc)
            frames = 0  # a failed item wrote nothing: its frames are not in any output
            remove_if_empty(created)
        row.frames = frames
        row.seconds = round(time.perf_counter() - t0, 3)
        row.fps = round(frames / row.seconds, 2) if row.seconds > 0 and row.status == OK else 0.0
        return row

    def close(self) -> None:
        self.models.close()
