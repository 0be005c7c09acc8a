"""The terminal view of a bench report (rich tables) and its JSON file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

IMPL_LABELS = {"rtseg": "rtseg", "baseline": "tutorial loop"}
"""The implementations a workload's report may hold a run summary of (in table order), and their labels."""


def run_summaries(report: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(workload, implementation, run summary) of every implementation measured by a workload that ran.

    >>> report = {"workloads": {"a": {"status": "ok", "rtseg": {"fps": 1}}, "b": {"status": "error"}}}
    >>> list(run_summaries(report))
    [('a', 'rtseg', {'fps': 1})]
    """
    for name, w in report["workloads"].items():
        if w.get("status") != "ok":
            continue
        for impl in IMPL_LABELS:
            if w.get(impl):
                yield name, impl, w[impl]


def _fps(s: dict[str, float]) -> str:
    return f"{s['median']:.1f} ({s['min']:.1f}–{s['max']:.1f})"


def _row(table: Table, workload: str, impl: str, summary: dict[str, Any], speedup: str = "") -> None:
    lat = summary["latency_ms"]
    table.add_row(workload, impl, _fps(summary["fps"]), speedup, f"{summary['cpu_percent']['median']:.0f}%",
                  f"{summary['cpu_ms_per_frame']['median']:.1f}",
                  f"{summary['peak_rss_mb']['median']:.0f}", f"{lat['p50']:.1f} / {lat['p99']:.1f}",
                  f"{summary['dropped']['median']:.0f}", f"{summary['frames_out']['median']:.0f}",
                  f"{summary['load_avg']['median']:.2f}")


def results_table(report: dict[str, Any]) -> Table:
    """One row per workload and implementation: fps median (min–max), speed-up, CPU, RSS, latency, drops."""
    table = Table(title="rtseg bench", title_justify="left")
    for col, just in [("workload", "left"), ("impl", "left"), ("fps median (min–max)", "right"),
                      ("speed-up", "right"), ("CPU", "right"), ("CPU ms/frame", "right"), ("peak RSS MiB", "right"),
                      ("latency p50 / p99 ms", "right"), ("drops", "right"), ("frames", "right"),
                      ("load", "right")]:
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for name, w in report["workloads"].items():
        status = w.get("status")
        if status != "ok":
            table.add_row(name, f"[yellow]{status}[/]", w.get("reason", ""), *[""] * 8)
            continue
        if "rtseg" in w:
            sp = w.get("speedup")
            _row(table, name, "rtseg", w["rtseg"], f"[bold]{sp['median_fps_ratio']:.2f}×[/]" if sp else "")
            if w.get("baseline"):
                _row(table, "", "tutorial loop", w["baseline"], "1.00×")
        elif name == "effects":
            for fx, r in w["effects"].items():
                table.add_row(name if fx == next(iter(w["effects"])) else "", fx, f"{r['fps']:.0f}", "",
                              f"{r['cpu_percent']:.0f}%", "", "", f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}", "",
                              str(r["count"]), f"{w['load_avg']:.2f}")
        elif name == "sam2":
            fm = w["frame_ms"]
            table.add_row(name, w["provider"], f"{w['fps']:.2f}", "", f"{w['cpu_percent']:.0f}%", "",
                          f"{w['peak_rss_mb']:.0f}", f"{fm['median']:.0f} / {fm['max']:.0f}", "", str(w["frames"]),
                          "")
    return table


def stages_table(report: dict[str, Any]) -> Table:
    """Per-stage cost percentiles (wall time inside each stage, all measured frames pooled)."""
    table = Table(title="per-stage cost (ms)", title_justify="left")
    for col in ("workload", "impl", "stage", "p50", "p95", "p99", "mean"):
        table.add_column(col, justify="left" if col in ("workload", "impl", "stage") else "right")
    for name, w in report["workloads"].items():
        if w.get("status") != "ok":
            continue
        for impl in IMPL_LABELS:
            summary = w.get(impl)
            if not summary:
                continue
            for i, (stage, s) in enumerate(summary["stages"].items()):
                table.add_row(name if i == 0 else "", impl if i == 0 else "", stage, f"{s['p50_ms']:.2f}",
                              f"{s['p95_ms']:.2f}", f"{s['p99_ms']:.2f}", f"{s['mean_ms']:.2f}")
        if name == "sam2":
            for graph, ms in w["graphs_ms"].items():
                table.add_row(name, "sam2", graph, "", "", "", f"{ms:.1f}")
    return table


def cpu_rows(report: dict[str, Any]) -> list[tuple[str, str, dict[str, float]]]:
    """(workload, impl, CPU ms per frame by thread) for every run that has the figures."""
    return [(name, impl, s["cpu_ms_by_thread"]) for name, impl, s in run_summaries(report)
            if s.get("cpu_ms_by_thread")]


def cpu_table(report: dict[str, Any]) -> Table:
    """Where the CPU goes: each pipeline thread's CPU ms per frame (``other``: library threads, GC)."""
    table = Table(title="where the CPU goes (CPU ms per frame, by thread)", title_justify="left")
    for col in ("workload", "impl", "threads", "other", "total"):
        table.add_column(col, justify="left" if col in ("workload", "impl", "threads") else "right")
    for name, impl, cpu in cpu_rows(report):
        cells = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if k not in ("other", "total"))
        table.add_row(name, impl, cells, f"{cpu.get('other', 0.0):.2f}", f"{cpu.get('total', 0.0):.2f}")
    return table


def scaling_tables(scaling: dict[str, Any]) -> list[Table]:
    out = []
    for key, title in (("resolution", "size"), ("strength", "strength")):
        table = Table(title=f"file-blur scaling with {key}", title_justify="left")
        for col in (title, "rtseg fps", "tutorial fps", "speed-up"):
            table.add_column(col, justify="right")
        for p in scaling[key]:
            label = p["size"] if key == "resolution" else f"{p['strength']:g}"
            base = _fps(p["baseline_fps"]) if p["baseline_fps"] else "-"
            table.add_row(label, _fps(p["rtseg_fps"]), base, f"{p['speedup']:.2f}×" if p["speedup"] else "-")
        out.append(table)
    return out


def print_report(report: dict[str, Any], console: Console) -> None:
    console.print(results_table(report))
    console.print(stages_table(report))
    if cpu_rows(report):
        console.print(cpu_table(report))
    if "scaling" in report:
        for t in scaling_tables(report["scaling"]):
            console.print(t)
    m = report["machine"]
    console.print(f"machine: {m['cpus_usable']} usable CPUs, {m['platform']}, Python {m['python']}; "
                  f"load average {report['load_avg_start']} → {report['load_avg_end']}; CPU% is of one core.",
                  highlight=False)


def write_json(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the report atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown tables (what ``benchmarks/README.md`` shows), via ``--markdown FILE``."""
    lines = []
    m = report["machine"]
    lines.append(f"{m['cpus_usable']} usable CPUs · {m['platform']} · Python {m['python']} · "
                 f"load average {report['load_avg_start']} → {report['load_avg_end']} · {report['created']}")
    if report["workloads"]:
        lines.append("")
        lines.append("| workload | impl | fps median (min–max) | speed-up | CPU | CPU ms/frame | peak RSS MiB "
                     "| latency p50 / p99 ms | drops | frames |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, w in report["workloads"].items():
        if w.get("status") != "ok":
            lines.append(f"| {name} | {w.get('status')}: {w.get('reason', '')} | | | | | | | | |")
            continue
        for impl, label in IMPL_LABELS.items():
            s = w.get(impl)
            if not s:
                continue
            sp = w.get("speedup")
            speed = (f"**{sp['median_fps_ratio']:.2f}×** ({sp['min']:.2f}–{sp['max']:.2f}), "
                     f"CPU/frame ratio {sp['cpu_per_frame_ratio']:.2f}" if impl == "rtseg" else "1.00×") if sp else ""
            lat = s["latency_ms"]
            lines.append(f"| {name if impl == 'rtseg' else ''} | {label} | {_fps(s['fps'])} | {speed} | "
                         f"{s['cpu_percent']['median']:.0f}% | {s['cpu_ms_per_frame']['median']:.1f} | "
                         f"{s['peak_rss_mb']['median']:.0f} | "
                         f"{lat['p50']:.1f} / {lat['p99']:.1f} | {s['dropped']['median']:.0f} | "
                         f"{s['frames_out']['median']:.0f} |")
        if name == "effects":
            for fx, r in w["effects"].items():
                lines.append(f"| {name if fx == next(iter(w['effects'])) else ''} | {fx} | {r['fps']:.0f} | | "
                             f"{r['cpu_percent']:.0f}% | | | {r['p50_ms']:.2f} / {r['p99_ms']:.2f} | | {r['count']} |")
        if name == "sam2":
            fm = w["frame_ms"]
            lines.append(f"| sam2 | {w['provider']} | {w['fps']:.2f} | | {w['cpu_percent']:.0f}% | | "
                         f"{w['peak_rss_mb']:.0f} | {fm['median']:.0f} / {fm['max']:.0f} | | {w['frames']} |")
    stage_rows = []
    for name, impl, s in run_summaries(report):
        cells = ", ".join(f"{k} {v['p50_ms']:.1f}/{v['p95_ms']:.1f}/{v['p99_ms']:.1f}" for k, v in s["stages"].items())
        stage_rows.append(f"| {name} | {impl} | {cells} |")
    if stage_rows:
        lines += ["", "Per-stage wall time p50/p95/p99 (ms):", "", "| workload | impl | stages |", "|---|---|---|",
                  *stage_rows]
    cpu = cpu_rows(report)
    if cpu:
        lines += ["", "Where the CPU goes: CPU ms per output frame by pipeline thread (`other`: threads the "
                  "libraries start themselves, e.g. FFmpeg's, and the rest of the process):", "",
                  "| workload | impl | threads | other | total |", "|---|---|---|---:|---:|"]
        for name, impl, c in cpu:
            cells = ", ".join(f"{k} {v:.2f}" for k, v in c.items() if k not in ("other", "total"))
            lines.append(f"| {name} | {impl} | {cells} | {c.get('other', 0.0):.2f} | {c.get('total', 0.0):.2f} |")
    if "scaling" in report:
        sc = report["scaling"]
        for key, title in (("resolution", "size"), ("strength", "strength")):
            lines += ["", f"file-blur scaling with {key} (synthetic, {sc['frames']} frames, "
                          f"{sc['repeat']} runs each):", "",
                      f"| {title} | rtseg fps | tutorial fps | speed-up |", "|---:|---:|---:|---:|"]
            for p in sc[key]:
                label = p["size"] if key == "resolution" else f"{p['strength']:g}"
                base = _fps(p["baseline_fps"]) if p["baseline_fps"] else "-"
                sp = f"{p['speedup']:.2f}×" if p["speedup"] else "-"
                lines.append(f"| {label} | {_fps(p['rtseg_fps'])} | {base} | {sp} |")
    return "\n".join(lines) + "\n"
