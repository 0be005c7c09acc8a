"""Batches: one job over many videos, image sequences or photos, on local worker processes or on Ray.

Each item is the job's spec with its input and outputs filled in, run through the normal builder by
a worker that loads its model once; finished items carry the fingerprint of their job, so a rerun
skips them (and redoes those whose job or input changed).

>>> import rtseg
>>> rows = rtseg.batch(["clips/"], "configs/blur.toml", "out/")     # doctest: +SKIP
>>> {r["status"] for r in rows}                                     # doctest: +SKIP
{'ok'}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from rtseg.batching.executors import Control, LocalExecutor, RayExecutor, default_workers
from rtseg.batching.items import ItemTask, discover, fingerprint, plan
from rtseg.batching.runner import BatchOptions, Summary, run_batch
from rtseg.batching.worker import ReportRow
from rtseg.jobs.spec import JobSpec

PathLike = str | os.PathLike[str]


def batch(inputs: PathLike | Sequence[PathLike], job: JobSpec | PathLike | dict[str, Any], out_dir: PathLike, *,
          executor: str = "local", workers: int | None = None, ray_address: str | None = None, resume: bool = True,
          fail_fast: bool = False, report: PathLike | None = None, stills: bool = False) -> list[dict[str, Any]]:
    """Run ``job`` (a spec, a TOML file or a dict of job keys) over ``inputs`` into ``out_dir``, as
    ``rtseg batch`` does; the report rows (``input``, ``output``, ``status``, ``frames``, ``seconds``,
    ``fps``, ``worker``, ``error``), one per item in input order.

    >>> rows = rtseg.batch(["a.mp4", "frames/"], {"command": "segment"}, "masks/")   # doctest: +SKIP
    """
    from pathlib import Path

    given = [os.fspath(inputs)] if isinstance(inputs, str | os.PathLike) else [os.fspath(i) for i in inputs]
    options = BatchOptions(executor=executor, workers=workers, ray_address=ray_address, resume=resume,
                           fail_fast=fail_fast, report=Path(report) if report is not None else None, stills=stills)
    summary = run_batch(given, job, out_dir, options)
    return [r.to_json() for r in summary.rows]


__all__ = ["BatchOptions", "Control", "ItemTask", "LocalExecutor", "RayExecutor", "ReportRow", "Summary", "batch",
           "default_workers", "discover", "fingerprint", "plan", "run_batch"]
