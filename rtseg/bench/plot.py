"""PNG charts of a bench report (matplotlib, headless ``Agg`` backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rtseg.bench.report import IMPL_LABELS, run_summaries
from rtseg.errors import ConfigError


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib (pip install 'rtseg[bench]')") from exc
    return plt


Bar = tuple[str, dict[str, float], str]
"""(label, {part: ms}, text after the bar)."""


def _stacked_bars(bars: list[Bar], path: Path, title: str, xlabel: str, height: float) -> Path:
    """Stacked horizontal bars, one colour per part, one legend entry per part (outside, on the right)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 1.0 + height * len(bars)))
    colours: dict[str, Any] = {}
    cmap = plt.get_cmap("tab10")
    for y, (_, parts, note) in enumerate(bars):
        left = 0.0
        for part, ms in parts.items():
            c = colours.setdefault(part, cmap(len(colours) % 10))
            ax.barh(y, ms, left=left, color=c, label=part)
            left += ms
        ax.text(left + 0.3, y, note, va="center", fontsize=8)
    ax.set_yticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles, strict=True))
    ax.legend(uniq.values(), uniq.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def stage_breakdown(report: dict[str, Any], path: Path) -> Path | None:
    """Stacked horizontal bars: mean milliseconds per stage, one bar per workload and implementation."""
    bars: list[Bar] = []
    for name, impl, s in run_summaries(report):
        # A live source's time is the wait for the camera clock, not work: left out.
        stages = {k: v["mean_ms"] for k, v in s["stages"].items() if not (name.startswith("live") and k == "source")}
        bars.append((f"{name}\n{IMPL_LABELS[impl]}", stages, f"{s['fps']['median']:.1f} fps"))
    if not bars:
        return None
    return _stacked_bars(bars, path, "Stage-time breakdown",
                         "mean wall time per frame in each stage (ms); stages overlap across threads in rtseg", 0.7)


def cpu_breakdown(report: dict[str, Any], path: Path) -> Path | None:
    """Stacked horizontal bars: CPU ms per frame by pipeline thread (``other``: library threads, GC)."""
    bars: list[Bar] = []
    for name, w in report["workloads"].items():
        s = w.get("rtseg") if w.get("status") == "ok" else None
        if s and s.get("cpu_ms_by_thread"):
            cpu = s["cpu_ms_by_thread"]
            bars.append((name, {k: v for k, v in cpu.items() if k != "total"}, f"{cpu.get('total', 0.0):.1f} ms"))
    if not bars:
        return None
    return _stacked_bars(bars, path, "Where the CPU goes (rtseg)",
                         "CPU ms per output frame, by thread (all cores together)", 0.6)


def live_latency(report: dict[str, Any], path: Path) -> Path | None:
    """End-to-end latency of every frame of the median live run against time."""
    w = report["workloads"].get("live-720p30")
    if not w or w.get("status") != "ok":
        return None
    series = w["latency_series"]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(series["t_s"], series["latency_ms"], lw=0.8)
    lat = w["rtseg"]["latency_ms"]
    ax.axhline(lat["p50"], ls="--", c="grey", lw=0.8, label=f"p50 {lat['p50']:.1f} ms")
    ax.axhline(lat["p99"], ls=":", c="red", lw=0.8, label=f"p99 {lat['p99']:.1f} ms")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("capture → output latency (ms)")
    ax.set_title(f"live-720p30: {w['rtseg']['fps']['median']:.1f} fps out of {w['target_fps']:g}, "
                 f"dropped {w['rtseg']['dropped']['median']:.0f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def scaling(report: dict[str, Any], path: Path) -> Path | None:
    """fps against frame size and against blur strength, rtseg and the tutorial loop."""
    sc = report.get("scaling")
    if not sc:
        return None
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, xlabel in ((a, "resolution", "megapixels"), (b, "strength", "blur strength (sigma, px)")):
        pts = sc[key]
        xs = [p["megapixels"] if key == "resolution" else p["strength"] for p in pts]
        ax.plot(xs, [p["rtseg_fps"]["median"] for p in pts], "o-", label="rtseg")
        if all(p["baseline_fps"] for p in pts):
            ax.plot(xs, [p["baseline_fps"]["median"] for p in pts], "s--", label="tutorial loop")
        if key == "resolution":
            for p, x in zip(pts, xs, strict=True):
                ax.annotate(p["size"], (x, p["rtseg_fps"]["median"]), fontsize=7, textcoords="offset points",
                            xytext=(3, 4))
        ax.set_xlabel(xlabel)
        ax.set_ylabel("fps (median)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("file-blur: fps scaling")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_plots(report: dict[str, Any], directory: str | Path) -> list[Path]:
    """All charts that apply to ``report``, as PNG files in ``directory`` (created if missing)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    made = [stage_breakdown(report, d / "stage_breakdown.png"), cpu_breakdown(report, d / "cpu_breakdown.png"),
            live_latency(report, d / "live_latency.png"),
            scaling(report, d / "scaling.png")]
    return [p for p in made if p is not None]
