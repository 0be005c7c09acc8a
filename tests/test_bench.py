"""Tests of the benchmark code itself: tiny synthetic workloads, one repetition, no timed assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtseg.bench import SCHEMA, BenchOptions, BenchRun, Workload
from rtseg.bench.baseline import BaselineBlur
from rtseg.bench.options import parse_size
from rtseg.errors import ConfigError
from tests.conftest import run_cli

TINY = {"synthetic_size": "192x108", "synthetic_frames": 6, "repeat": 1, "warmup": 0}


def _summary_keys(summary: dict) -> None:
    assert set(summary) >= {"fps", "duration_s", "cpu_percent", "peak_rss_mb", "dropped", "frames_out",
                            "latency_ms", "stages", "load_avg", "runs"}
    for key in ("fps", "cpu_percent", "peak_rss_mb"):
        assert set(summary[key]) == {"median", "min", "max"}
    assert set(summary["latency_ms"]) == {"p50", "p95", "p99", "max"}
    for stage in summary["stages"].values():
        assert set(stage) == {"p50_ms", "p95_ms", "p99_ms", "mean_ms", "count"}


def test_file_workloads_run_rtseg_and_the_baseline_on_every_frame() -> None:
    report = BenchRun(BenchOptions(workloads=[Workload.FILE_BLUR_720P, Workload.FILE_SEGMENT], **TINY)).run()
    json.dumps(report)  # the --json document is plain JSON
    assert report["schema"] == SCHEMA
    assert report["machine"]["cpus"] >= 1
    for name in ("file-blur-720p", "file-segment"):
        w = report["workloads"][name]
        assert w["status"] == "ok", w
        assert w["expected_frames"] == 6 and w["input"]["synthetic"] and w["input"]["width"] == 192
        for impl in ("rtseg", "baseline"):
            _summary_keys(w[impl])
            assert w[impl]["frames_out"]["median"] == 6
            assert [r["frames_out"] for r in w[impl]["runs"]] == [6]
            assert w[impl]["fps"]["median"] > 0
        assert len(w["speedup"]["pairwise"]) == 1 and w["speedup"]["median_fps_ratio"] > 0
    blur = report["workloads"]["file-blur-720p"]
    assert {"source", "segment", "composite", "encode"} <= set(blur["rtseg"]["stages"])
    assert set(blur["baseline"]["stages"]) == {"read", "segment", "blur+blend", "write"}
    assert blur["encoder"]["codec"] == "libx264"
    assert blur["baseline_impl"]["ksize"] == [51, 51]
    assert "encode" not in report["workloads"]["file-segment"]["rtseg"]["stages"]
    assert set(report["workloads"]["file-segment"]["baseline"]["stages"]) == {"read", "segment"}


def test_repetitions_alternate_and_warmups_are_not_recorded() -> None:
    opts = BenchOptions(workloads=[Workload.FILE_SEGMENT], **{**TINY, "repeat": 3, "warmup": 1})
    w = BenchRun(opts).run()["workloads"]["file-segment"]
    assert [r["rep"] for r in w["rtseg"]["runs"]] == [0, 1, 2]
    assert [r["rep"] for r in w["baseline"]["runs"]] == [0, 1, 2]
    assert len(w["speedup"]["pairwise"]) == 3


def test_live_effects_and_sam2_without_a_model_dir() -> None:
    opts = BenchOptions(workloads=[Workload.LIVE_720P30, Workload.EFFECTS, Workload.SAM2], live_seconds=0.5,
                        effects_frames=3, **TINY)
    report = BenchRun(opts).run()
    live = report["workloads"]["live-720p30"]
    assert live["status"] == "ok", live
    run = live["rtseg"]["runs"][0]
    assert run["frames_out"] > 0 and run["frames_out"] + run["dropped"] <= live["expected_frames"] + 1
    assert len(live["latency_series"]["t_s"]) == len(live["latency_series"]["latency_ms"]) == run["frames_out"]
    fx = report["workloads"]["effects"]
    assert fx["status"] == "ok" and fx["frames"] == 3
    assert {"replace-colour", "replace-image", "cutout", "overlay"} <= set(fx["effects"])
    assert all(r["count"] == 3 for r in fx["effects"].values())
    assert report["workloads"]["sam2"] == {"status": "skipped", "reason": "no --sam2-model-dir"}


def test_options_validate_and_scenario_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    assert parse_size("640x360") == (640, 360)
    with pytest.raises(ConfigError, match="1280x720"):
        parse_size("720p")
    with pytest.raises(ConfigError, match="unknown key 'repeats'"):
        BenchOptions.from_sources(None, {"repeats": 2})
    scenario = tmp_path / "s.toml"
    scenario.write_text('[bench]\nworkloads = ["file-segment"]\ninput = "clip.mp4"\nrepeat = 2\n')
    opts = BenchOptions.from_sources(scenario, {"repeat": 4, "input": None})
    assert opts.workloads == [Workload.FILE_SEGMENT] and opts.repeat == 4
    assert opts.input == str(tmp_path / "clip.mp4")
    assert BaselineBlur.SIGMA.kernel(25) == ((0, 0), 25.0)


def test_shipped_scenarios_are_valid() -> None:
    root = Path(__file__).resolve().parents[1] / "benchmarks"
    scenarios = sorted(root.glob("*.toml"))
    assert scenarios
    for path in scenarios:
        BenchOptions.from_sources(path, {})


@pytest.mark.slow
def test_cli_prints_the_table_and_writes_json_and_charts(tmp_path: Path) -> None:
    out, charts = tmp_path / "bench.json", tmp_path / "charts"
    res = run_cli("bench", "file-blur-720p", "--size", "192x108", "--frames", "4", "--repeat", "1",
                  "--warmup", "0", "--json", str(out), "--plot", str(charts))
    assert res.returncode == 0, res.stderr
    assert "file-blur-720p" in res.stdout and "tutorial loop" in res.stdout and "speed-up" in res.stdout
    report = json.loads(out.read_text())
    assert report["workloads"]["file-blur-720p"]["rtseg"]["frames_out"]["median"] == 4
    assert (charts / "stage_breakdown.png").stat().st_size > 1000


@pytest.mark.slow
def test_cli_rejects_an_unknown_workload() -> None:
    res = run_cli("bench", "file-blur-4k", "--repeat", "1")
    assert res.returncode == 2
    assert "file-blur-4k" in res.stderr and "file-blur-720p" in res.stderr, "names the bad and the known workloads"
    assert "Traceback" not in res.stderr
