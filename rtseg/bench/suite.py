"""Run the selected workloads and assemble the report (the ``--json`` document)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import tempfile
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from rtseg.bench.baseline import BaselineMode
from rtseg.bench.inputs import ClipInfo, real_clip, render_synthetic, scaled_clip
from rtseg.bench.measure import load_average, median_run
from rtseg.bench.options import BenchOptions, Workload, parse_size
from rtseg.bench.workloads import (
    baseline_run,
    compare,
    effects_run,
    live_run,
    rtseg_file_blur,
    rtseg_file_segment,
    sam2_run,
)
from rtseg.segment.providers import usable_cores
from rtseg.sinks.video import EncoderSettings
from rtseg.version import __version__

SCHEMA = "rtseg-bench/1"
Progress = Callable[[str], None]


def _versions() -> dict[str, str]:
    out = {"rtseg": __version__}
    for dist in ("numpy", "opencv-contrib-python", "av", "mediapipe", "onnxruntime"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def machine_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "cpus_usable": usable_cores(), "platform": platform.platform(),
            "processor": platform.processor() or "-", "python": platform.python_version(), "versions": _versions()}


def _skipped(reason: str) -> dict[str, Any]:
    return {"status": "skipped", "reason": reason}


def _strip_records(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "_records"}


def encoder_description(opts: BenchOptions) -> dict[str, Any]:
    s = EncoderSettings()
    options = dict(s.options)
    if opts.crf is not None:
        options["crf"] = str(opts.crf)
    if opts.preset is not None:
        options["preset"] = opts.preset
    return {"codec": s.codec, "pix_fmt": s.pix_fmt, "options": options, "threads": s.threads or "auto"}


class BenchRun:
    """One ``rtseg bench`` invocation. ``run()`` returns the report; ``records`` keeps raw runs for plots."""

    def __init__(self, opts: BenchOptions, progress: Progress | None = None) -> None:
        self.opts = opts
        self.progress = progress or (lambda msg: None)
        self.records: dict[str, Any] = {}
        self._clips: dict[tuple[int, int, int], ClipInfo] = {}

    def _clip(self, workdir: Path, size: tuple[int, int] | None = None, frames: int | None = None) -> ClipInfo:
        if self.opts.input is not None and size is None:
            key = (0, 0, 0)
            if key not in self._clips:
                self._clips[key] = real_clip(self.opts.input)
            return self._clips[key]
        w, h = size or parse_size(self.opts.synthetic_size)
        n = frames or self.opts.synthetic_frames
        if (w, h, n) not in self._clips:
            self.progress(f"rendering synthetic {w}x{h} clip ({n} frames)")
            self._clips[(w, h, n)] = render_synthetic(workdir, w, h, n)
        return self._clips[(w, h, n)]

    def _file_workload(self, workload: Workload, clip: ClipInfo, workdir: Path, opts: BenchOptions,
                       warmup: int, repeat: int) -> dict[str, Any]:
        out_rtseg, out_base = workdir / "rtseg-out.mp4", workdir / "baseline-out.mp4"
        if workload is Workload.FILE_BLUR_720P:
            ours = rtseg_file_blur(clip, opts, out_rtseg)
            mode = BaselineMode.BLUR
        else:
            ours = rtseg_file_segment(clip, opts, out_rtseg)
            mode = BaselineMode.SEGMENT
        theirs = baseline_run(clip, opts, out_base, mode) if opts.baseline else None
        result = compare(ours, theirs, repeat, warmup)
        self.records[workload.value] = result["_records"]
        doc = {"status": "ok", "input": clip.to_json(), "expected_frames": clip.frames,
               "strength": opts.strength, **_strip_records(result)}
        if workload is Workload.FILE_BLUR_720P:
            doc["encoder"] = encoder_description(opts)
            ksize, sigma = opts.baseline_blur.kernel(opts.strength)
            doc["baseline_impl"] = {"blur": opts.baseline_blur.value, "ksize": list(ksize), "sigma": sigma,
                                    "blend": "float numpy", "writer": "cv2.VideoWriter mp4v"} \
                if opts.baseline else None
        return doc

    def _scaling(self, workdir: Path) -> dict[str, Any]:
        opts = self.opts
        sizes, strengths = [], []
        first = True
        for text in opts.scaling_sizes:
            size = parse_size(text)
            clip = self._clip(workdir, size, opts.scaling_frames)
            self.progress(f"scaling: file-blur at {text}")
            r = self._file_workload(Workload.FILE_BLUR_720P, clip, workdir, opts, 1 if first else 0,
                                    opts.scaling_repeat)
            first = False
            sizes.append(self._scaling_point({"size": text, "megapixels": round(size[0] * size[1] / 1e6, 3)}, r))
        clip = self._clip(workdir, parse_size("1280x720"), opts.scaling_frames)
        for strength in opts.scaling_strengths:
            self.progress(f"scaling: file-blur at 1280x720, strength {strength:g}")
            r = self._file_workload(Workload.FILE_BLUR_720P, clip, workdir,
                                    opts.model_copy(update={"strength": strength}), 0, opts.scaling_repeat)
            strengths.append(self._scaling_point({"strength": strength}, r))
        return {"status": "ok", "frames": opts.scaling_frames, "repeat": opts.scaling_repeat,
                "resolution": sizes, "strength": strengths}

    @staticmethod
    def _scaling_point(key: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
        return {**key, "rtseg_fps": r["rtseg"]["fps"],
                "baseline_fps": r["baseline"]["fps"] if r["baseline"] else None,
                "speedup": r["speedup"]["median_fps_ratio"] if r["speedup"] else None,
                "rtseg_stages_mean_ms": {k: v["mean_ms"] for k, v in r["rtseg"]["stages"].items()},
                "load_avg": r["rtseg"]["load_avg"]}

    def run(self, workdir: Path | None = None) -> dict[str, Any]:
        opts = self.opts
        report: dict[str, Any] = {
            "schema": SCHEMA,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "options": opts.model_dump(mode="json"),
            "load_avg_start": load_average(),
            "workloads": {},
        }
        with tempfile.TemporaryDirectory(prefix="rtseg-bench-", dir=workdir) as tmp:
            work = Path(tmp)
            for workload in opts.workloads:
                self.progress(f"workload {workload.value}")
                try:
                    report["workloads"][workload.value] = self._workload(workload, work)
                except Exception as exc:  # one broken workload must not hide the others' numbers
                    report["workloads"][workload.value] = {
                        "status": "error", "reason": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(limit=6)}
            if opts.scaling:
                report["scaling"] = self._scaling(work)
        report["load_avg_end"] = load_average()
        return report

    def _workload(self, workload: Workload, work: Path) -> dict[str, Any]:
        opts = self.opts
        if workload is Workload.SAM2:
            if not opts.sam2_model_dir:
                return _skipped("no --sam2-model-dir")
            try:
                import rtseg.segment.sam2.tracker
            except ImportError as exc:
                return _skipped(f"SAM 2 tracker not available: {exc}")
            return {"status": "ok", **sam2_run(self._clip(work), opts)}
        clip = self._clip(work)
        if workload in (Workload.FILE_BLUR_720P, Workload.FILE_SEGMENT):
            return self._file_workload(workload, clip, work, opts, opts.warmup, opts.repeat)
        if workload in (Workload.LIVE_720P30, Workload.LIVE_1080P30):
            if workload is Workload.LIVE_1080P30:
                self.progress("scaling the clip to 1920x1080")
                clip = scaled_clip(clip, work, 1920, 1080)
            try:
                import rtseg.sources.realtime  # noqa: F401
            except ImportError as exc:
                return _skipped(f"realtime replay source not available: {exc}")
            result = compare(live_run(clip, opts, work / "unused.mp4"), None, opts.repeat, opts.warmup)
            records = result["_records"]["rtseg"]
            self.records[workload.value] = result["_records"]
            med = median_run(records)
            return {"status": "ok", "input": clip.to_json(), "target_fps": opts.live_fps,
                    "seconds": opts.live_seconds, "expected_frames": round(opts.live_seconds * opts.live_fps),
                    "rtseg": _strip_records(result)["rtseg"],
                    "latency_series": {"rep": med.rep, "t_s": [round(t, 4) for t in med.latency_times],
                                       "latency_ms": [round(1000 * x, 2) for x in med.latencies]}}
        if workload is Workload.EFFECTS:
            return {"status": "ok", "input": clip.to_json(), **effects_run(clip, opts, work)}
        raise AssertionError(workload)
