"""Helpers shared by the benchmark scripts in this folder (run them as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def write_outputs(results: dict[str, Any], table: str, json_path: Path | None, markdown_path: Path | None) -> None:
    """Print the markdown ``table`` and write ``results`` / ``table`` where asked (folders created)."""
    print(table)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2) + "\n")
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(table)


def run_rtseg(cmd: list[str], stats: Path, cwd: Path, timeout: float) -> dict[str, Any]:
    """Run one ``python -m rtseg …`` command that writes ``--stats-json stats``; return its stats with
    the command line (stats path shown as STATS.json), the load average before/after and the wall time."""
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    doc = json.loads(stats.read_text())
    return {"command": "rtseg " + " ".join(cmd[3:]).replace(str(stats), "STATS.json"), "stats": doc,
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()],
            "process_wall_s": round(wall, 2)}


def machine_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "processor": platform.processor()}


def write_report(path: Path, doc: dict[str, Any]) -> None:
    """Write a benchmark's JSON document (folders created) and say where on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
