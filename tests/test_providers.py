"""Execution-provider selection: TensorRT -> CUDA -> CPU, and a fallback that says why.

Only CPU exists here, so the "GPU present" cases use the pure planning function, and the real
fallback (asking ONNX Runtime for CUDA on a CPU-only build) is exercised for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rtseg.errors import ConfigError, ModelError
from rtseg.segment.providers import (
    CPU,
    CUDA,
    TENSORRT,
    GpuOptions,
    Provider,
    available_providers,
    create_session,
    describe_gpu_path,
    describe_providers,
    open_session,
    plan_providers,
    provider_entries,
)


@pytest.fixture(scope="module")
def tiny_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    onnx = pytest.importorskip("onnx")
    from onnx import helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("graph") / "relu.onnx"
    onnx.save(model, str(path))
    return path


def test_auto_prefers_tensorrt_then_cuda_then_cpu() -> None:
    planned, skipped = plan_providers("auto", [TENSORRT, CUDA, CPU])
    assert planned == [TENSORRT, CUDA, CPU]
    assert skipped == {}


def test_auto_without_tensorrt_explains_the_skip() -> None:
    planned, skipped = plan_providers("auto", [CUDA, CPU])
    assert planned == [CUDA, CPU]
    assert list(skipped) == [TENSORRT]
    assert "TensorrtExecutionProvider" in skipped[TENSORRT] or "onnxruntime" in skipped[TENSORRT]


def test_cpu_only_build_skips_both_gpu_providers_with_a_reason() -> None:
    planned, skipped = plan_providers(Provider.AUTO, [CPU])
    assert planned == [CPU]
    assert set(skipped) == {TENSORRT, CUDA}
    for reason in skipped.values():
        assert "onnxruntime" in reason


def test_explicit_provider_choice_limits_the_providers() -> None:
    assert plan_providers("cuda", [TENSORRT, CUDA, CPU])[0] == [CUDA, CPU]
    assert plan_providers("CPU", [TENSORRT, CUDA, CPU])[0] == [CPU]


def test_unknown_provider_choice_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        plan_providers("gpu", [CPU])


def test_available_providers_always_include_cpu() -> None:
    assert CPU in available_providers()


def test_cuda_request_on_this_machine_falls_back_to_cpu_and_says_why(tiny_graph: Path) -> None:
    import numpy as np

    session, choice = create_session(tiny_graph, "cuda")
    assert session.get_providers() == [CPU]
    assert choice.used == [CPU]
    assert CUDA in choice.skipped
    text = choice.explain()
    assert text.startswith("running on CPU")
    assert "CUDA skipped" in text
    assert session.run(None, {"x": np.array([-1.0, 2.0], np.float32)})[0].tolist() == [0.0, 2.0]


def test_session_that_silently_drops_a_provider_is_detected(tiny_graph: Path) -> None:
    """Ask ONNX Runtime itself for CUDA (bypassing the planner): it warns, runs on CPU, and the
    actual-provider check records why CUDA is not in use."""
    with pytest.warns(UserWarning):
        _, choice = open_session(tiny_graph, [CUDA, CPU], provider=Provider.CUDA)
    assert choice.requested == [CUDA, CPU]
    assert choice.used == [CPU]
    assert "session runs without it" in choice.skipped[CUDA]
    assert "CUDA skipped: requested, but the session runs without it" in choice.explain()


def test_cpu_request_needs_no_explanation(tiny_graph: Path) -> None:
    _, choice = create_session(tiny_graph, "cpu")
    assert choice.explain() == "running on CPU"


def test_missing_or_corrupt_graph_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        create_session(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a graph")
    with pytest.raises(ModelError, match=r"bad\.onnx"):
        create_session(bad)


def test_describe_providers_covers_each_provider() -> None:
    text = describe_providers()
    for name in ("TensorRT", "CUDA", "CPU"):
        assert name in text
    assert "CPU: always" in text


def test_tensorrt_gets_its_engine_cache_and_fp16_settings() -> None:
    entries = provider_entries([TENSORRT, CUDA, CPU], GpuOptions(trt_cache="/var/cache/rtseg-trt", fp16=True,
                                                                 device_id=1))
    trt, cuda, cpu = entries
    assert trt == (TENSORRT, {"device_id": "1", "trt_fp16_enable": "True", "trt_engine_cache_enable": "True",
                              "trt_engine_cache_path": "/var/cache/rtseg-trt", "trt_timing_cache_enable": "True",
                              "trt_timing_cache_path": "/var/cache/rtseg-trt"})
    assert cuda == (CUDA, {"device_id": "1"}) and cpu == CPU
    plain = provider_entries([TENSORRT, CPU])[0]
    assert plain == (TENSORRT, {"device_id": "0", "trt_fp16_enable": "False"})  # no cache asked: none set


def test_a_session_created_with_gpu_options_on_a_cpu_build_still_opens(tiny_graph: Path, tmp_path: Path) -> None:
    # The options travel with the provider entries; on this CPU-only build only CPU is requested,
    # so the cache directory is not created for nothing.
    cache = tmp_path / "trt"
    session, choice = create_session(tiny_graph, "auto", gpu=GpuOptions(trt_cache=str(cache), fp16=True))
    assert choice.used == [CPU] and session.run(None, {"x": __import__("numpy").ones(2, "float32")})
    assert not cache.exists()


def test_devices_says_what_sam2_would_use() -> None:
    assert describe_gpu_path("auto", available=[CPU]).startswith("would run on CPU; IO binding off")
    trt = describe_gpu_path("auto", GpuOptions(trt_cache="/c"), available=[TENSORRT, CUDA, CPU])
    assert "would run on TensorRT" in trt and "IO binding on" in trt and "engine cache /c" in trt
    assert "fp32 engines" in trt
    cuda = describe_gpu_path("cuda", available=[TENSORRT, CUDA, CPU])
    assert "would run on CUDA" in cuda and "--fp16" in cuda


def test_the_job_spec_carries_the_gpu_settings_to_sam2(tmp_path: Path) -> None:
    from rtseg.jobs import JobSpec
    from rtseg.jobs.segmenters import model_options
    from rtseg.segment.registry import create_segmenter
    from rtseg.segment.sam2.segmenter import Sam2Segmenter

    spec = JobSpec.from_dict({"command": "track", "source": {"path": "v.mp4"}, "outputs": [{"kind": "null"}],
                              "model": {"name": "sam2", "dir": str(tmp_path), "trt_cache": str(tmp_path / "trt"),
                                        "fp16": True, "prompts": [{"points": [[1, 2]]}]}})
    seg = create_segmenter("sam2", model_options(spec))
    assert isinstance(seg, Sam2Segmenter)
    assert seg.model.gpu == GpuOptions(trt_cache=str(tmp_path / "trt"), fp16=True)
