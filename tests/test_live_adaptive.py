"""Adaptive mode: the inference interval / input scale as a pure function of measured rates."""

from __future__ import annotations

import threading

from rtseg.controls.adaptive import AdaptiveChoice, AdaptiveLoop, AdaptiveTarget, Measured, choose
from rtseg.jobs import JobSpec, build
from tests.conftest import DATA, require

CLIP = DATA / "webcam" / "thoughtful-640x360.mp4"

FPS30 = AdaptiveTarget(fps=30.0, max_interval=8, cpus=2)


def m(out_fps: float, cpu: float = 100.0, infer_s: float = 0.03, src: float = 30.0) -> Measured:
    return Measured(output_fps=out_fps, source_fps=src, cpu_percent=cpu, infer_s=infer_s)


def test_behind_the_target_fps_doubles_the_interval_then_lowers_the_scale() -> None:
    c = AdaptiveChoice()
    steps = []
    for _ in range(6):
        c = choose(m(20.0, cpu=190), FPS30, c)
        steps.append((c.interval, c.scale))
    assert steps == [(2, 1.0), (4, 1.0), (8, 1.0), (8, 0.75), (8, 0.5), (8, 0.5)]
    assert "at the limits" in c.reason and "20.0 fps" in c.reason


def test_on_target_with_room_steps_back_up_scale_first() -> None:
    c = AdaptiveChoice(interval=4, scale=0.5)
    c = choose(m(30.0, cpu=60), FPS30, c)
    assert (c.interval, c.scale) == (4, 0.75)
    c = choose(m(30.0, cpu=60), FPS30, c)
    assert (c.interval, c.scale) == (4, 1.0)
    c = choose(m(30.0, cpu=60), FPS30, c)
    assert (c.interval, c.scale) == (2, 1.0)


def test_no_step_up_when_the_predicted_cpu_would_not_fit() -> None:
    # Inference takes 20 ms: interval 2 -> 1 adds 0.02 * 15 = 30 % of a core (110 + 30 > 0.85 * 150).
    budget = AdaptiveTarget(fps=30.0, cpu_percent=150.0, cpus=2)
    c = choose(m(30.0, cpu=110, infer_s=0.02), budget, AdaptiveChoice(interval=2))
    assert (c.interval, c.reason) == (2, "steady")
    c = choose(m(30.0, cpu=30, infer_s=0.02), budget, AdaptiveChoice(interval=2))
    assert c.interval == 1


def test_a_model_slower_than_the_interval_costs_the_same_at_any_interval() -> None:
    # 600 ms per inference: the limiter already keeps it to 1.7 per second at interval 1 or 2.
    budget = AdaptiveTarget(fps=30.0, cpu_percent=150.0, cpus=2)
    c = choose(m(30.0, cpu=120, infer_s=0.6), budget, AdaptiveChoice(interval=2))
    assert c.interval == 1


def test_over_the_cpu_budget_steps_down_even_at_full_fps() -> None:
    c = choose(m(30.0, cpu=120), AdaptiveTarget(cpu_percent=80.0, cpus=2), AdaptiveChoice())
    assert c.interval == 2 and "cpu 120% > budget 80%" in c.reason


def test_the_target_cannot_exceed_the_camera_rate() -> None:
    # A 24 fps clip delivered in full meets a 30 fps target: nothing to do.
    c = choose(m(24.0, cpu=50, src=24.0), FPS30, AdaptiveChoice(interval=2))
    assert c.interval == 1


def test_a_model_that_cannot_scale_only_changes_the_interval() -> None:
    t = AdaptiveTarget(fps=30.0, max_interval=2, scales=(1.0,), cpus=2)
    c = choose(m(10.0), t, AdaptiveChoice(interval=2))
    assert (c.interval, c.scale) == (2, 1.0)


def test_the_loop_applies_changes_and_records_them() -> None:
    applied: list[AdaptiveChoice] = []
    rates = iter([None, m(20.0, cpu=190), m(29.9, cpu=100), m(30.0, cpu=40)])  # None: still warming up
    loop = AdaptiveLoop(FPS30, lambda: next(rates), applied.append, period_s=60)
    loop.start()
    loop.stop()
    for _ in range(4):
        loop.step()
    assert [(c.interval, c.scale) for c in applied] == [(1, 1.0), (2, 1.0), (1, 1.0)]
    doc = loop.to_json()
    assert doc["choice"]["interval"] == 1 and len(doc["changes"]) == 2
    assert doc["changes"][0]["measured"]["output_fps"] == 20.0


def test_run_applies_the_starting_choice_then_steps_until_stopped() -> None:
    applied: list[AdaptiveChoice] = []
    stop = threading.Event()
    calls = iter([m(20.0, cpu=190), m(20.0, cpu=190), m(20.0, cpu=190)])

    def measure() -> Measured | None:
        value = next(calls, None)
        if value is None:
            stop.set()
        return value

    loop = AdaptiveLoop(FPS30, measure, applied.append, period_s=0.001)
    worker = loop.worker()
    assert worker.name == "adaptive"
    worker.run(stop)  # returns once stop is set (the pipeline runs it in a thread of its own)
    assert [(c.interval, c.scale) for c in applied] == [(1, 1.0), (2, 1.0), (4, 1.0), (8, 1.0)]
    assert [h["interval"] for h in loop.to_json()["changes"]] == [2, 4, 8]


def _webcam_spec(**schedule: object) -> JobSpec:
    return JobSpec.from_dict({"command": "webcam", "source": {"path": str(require(CLIP)), "realtime": True},
                              "schedule": schedule, "outputs": [{"kind": "null"}],
                              "run": {"status": False}}).check()


def test_the_built_live_job_owns_an_adaptive_loop_that_sets_the_segment_rate() -> None:
    p = build(_webcam_spec(target_fps=24, cpu_budget=150, max_interval=4))
    assert p.adaptive is not None
    assert p.adaptive.target == AdaptiveTarget(fps=24, cpu_percent=150, max_interval=4, cpus=p.adaptive.target.cpus)
    assert "adaptive" in [w.name for w in p.controls.workers()]
    p.adaptive.apply(AdaptiveChoice(interval=4, scale=0.5))
    assert (p.segment.interval, p.segment.scale) == (4, 0.5)
    assert build(_webcam_spec()).adaptive is None  # no target, no loop
