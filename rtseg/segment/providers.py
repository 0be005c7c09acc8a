"""ONNX Runtime execution providers: TensorRT -> CUDA -> CPU, with a fallback that explains itself.

Like pyvirtualcam's backend registry, every faster provider that is not used gets a reason, and the
reasons travel with the session (:class:`ProviderChoice`) so the CLI can print them once. Two
different things can go wrong and both are checked:

* the installed onnxruntime build does not offer the provider at all (plain ``onnxruntime`` has only
  CPU; TensorRT and CUDA come with ``onnxruntime-gpu``);
* the build offers it but the session silently runs without it, because CUDA, cuDNN or TensorRT
  libraries are missing or do not match. ONNX Runtime only logs this, so after creating a session we
  compare ``session.get_providers()`` with what we asked for.

>>> from rtseg.segment.providers import plan_providers
>>> plan_providers("auto", ["CPUExecutionProvider"])[0]
['CPUExecutionProvider']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtseg.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import onnxruntime as ort

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PREFERENCE: tuple[str, ...] = (TENSORRT, CUDA, CPU)
"""Fastest first. CPU is always last and always present."""

SHORT_NAMES = {TENSORRT: "TensorRT", CUDA: "CUDA", CPU: "CPU"}


class Provider(StrEnum):
    """The provider choice (job key ``model.provider``, ``--provider``): which ONNX Runtime execution
    providers a session may use. ``auto`` tries TensorRT, then CUDA, then CPU."""

    AUTO = "auto"
    TENSORRT = "tensorrt"
    CUDA = "cuda"
    CPU = "cpu"

    @classmethod
    def parse(cls, value: str | Provider) -> Provider:
        try:
            return cls(value.lower() if isinstance(value, str) else value)
        except ValueError:
            # "device": the word the CLI has always printed here (--device is the old spelling of --provider)
            raise ConfigError(f"unknown device {value!r}; expected one of {', '.join(d.value for d in cls)}") from None


def _wanted(choice: Provider) -> list[str]:
    """Providers to try for a provider choice, fastest first, CPU always as the last resort."""
    if choice is Provider.AUTO or choice is Provider.TENSORRT:
        return list(PREFERENCE)
    if choice is Provider.CUDA:
        return [CUDA, CPU]
    return [CPU]


def available_providers() -> list[str]:
    """Providers this onnxruntime build offers (not a promise that their libraries load)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def _not_offered_reason(provider: str) -> str:
    gpu_build = _gpu_build_installed()
    if gpu_build:
        return f"this onnxruntime-gpu build does not offer {provider}"
    return "the installed onnxruntime is the CPU-only build (install onnxruntime-gpu for CUDA/TensorRT)"


def _gpu_build_installed() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("onnxruntime-gpu")
    except PackageNotFoundError:
        return False
    return True


def plan_providers(provider: str | Provider, available: list[str]) -> tuple[list[str], dict[str, str]]:
    """Decide which providers to request, given what the build offers.

    Returns ``(providers_to_request, skipped)`` where ``skipped`` maps each faster provider that will
    not be requested to the reason. Pure logic, so it is tested without a GPU.
    """
    planned: list[str] = []
    skipped: dict[str, str] = {}
    for name in _wanted(Provider.parse(provider)):
        if name == CPU or name in available:
            planned.append(name)
        else:
            skipped[name] = _not_offered_reason(name)
    return planned, skipped


@dataclass(slots=True)
class ProviderChoice:
    """What was asked for, what the session really uses, and why each faster provider is not used."""

    provider: Provider
    """The choice asked for (``auto``, ``tensorrt``, ``cuda`` or ``cpu``)."""
    requested: list[str]
    used: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return self.used[0] if self.used else CPU

    def explain(self) -> str:
        """One line: ``running on CPU (TensorRT: ...; CUDA: ...)`` or just ``running on CUDA``."""
        head = f"running on {SHORT_NAMES.get(self.primary, self.primary)}"
        faster = [p for p in PREFERENCE if p in self.skipped and PREFERENCE.index(p) < PREFERENCE.index(self.primary)]
        if not faster:
            return head
        reasons = "; ".join(f"{SHORT_NAMES[p]} skipped: {self.skipped[p]}" for p in faster)
        return f"{head} ({reasons})"


@dataclass(frozen=True, slots=True)
class GpuOptions:
    """Settings that only matter on a GPU provider (pure data; applied by :func:`provider_entries`).

    * ``trt_cache``: TensorRT writes the engines it builds (minutes for SAM 2's image encoder) and its
      timing cache here and reuses them on the next start; without it every start rebuilds.
    * ``fp16``: TensorRT builds fp16 engines from the float32 graphs (about 2x the throughput on
      tensor-core GPUs). For the CUDA provider, export fp16 graphs instead (``rtseg export-sam2
      --fp16``): the CUDA provider runs a graph in the precision it is stored in.
    """

    trt_cache: str | None = None
    fp16: bool = False
    device_id: int = 0


def provider_entries(providers: list[str], gpu: GpuOptions | None = None) -> list[str | tuple[str, dict[str, str]]]:
    """The ``providers`` argument of an ONNX Runtime session: names with their options.

    >>> provider_entries([TENSORRT, CPU], GpuOptions(trt_cache="/c", fp16=True))[0][1]["trt_engine_cache_path"]
    '/c'
    >>> provider_entries([CPU])
    ['CPUExecutionProvider']
    """
    g = gpu or GpuOptions()
    out: list[str | tuple[str, dict[str, str]]] = []
    for p in providers:
        if p == TENSORRT:
            opts = {"device_id": str(g.device_id), "trt_fp16_enable": "True" if g.fp16 else "False"}
            if g.trt_cache:
                opts.update({"trt_engine_cache_enable": "True", "trt_engine_cache_path": g.trt_cache,
                             "trt_timing_cache_enable": "True", "trt_timing_cache_path": g.trt_cache})
            out.append((p, opts))
        elif p == CUDA:
            out.append((p, {"device_id": str(g.device_id)}))
        else:
            out.append(p)
    return out


def session_options(intra_op_threads: int | None = None, *, spinning: bool = True) -> ort.SessionOptions:
    """ORT options rtseg uses: all graph optimisations, intra-op threads = usable cores by default.

    ``spinning=False`` makes idle intra-op threads sleep at once instead of busy-waiting for the
    next op. Spinning helps a lone session with many small ops, but when several sessions run one
    after another (SAM 2 has four, each with its own pool) or other work shares the cores, the
    spinning threads of the session that just finished take CPU from whatever runs next.
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = int(intra_op_threads) if intra_op_threads else usable_cores()
    opts.log_severity_level = 3  # shape-merge warnings from exported graphs are noise
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def usable_cores() -> int:
    """CPUs this process may run on (its affinity on Linux, else the machine's count); at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def open_session(
    path: str | Path,
    providers: list[str],
    options: ort.SessionOptions | None = None,
    skipped: dict[str, str] | None = None,
    provider: Provider = Provider.AUTO,
    gpu: GpuOptions | None = None,
) -> tuple[ort.InferenceSession, ProviderChoice]:
    """Create a session with ``providers`` and record which of them it actually uses.

    A requested provider missing from ``session.get_providers()`` is added to ``skipped`` with the
    reason that its libraries failed to load; ONNX Runtime itself only logs that.
    """
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ONNX graph not found: {path}")
    if gpu is not None and gpu.trt_cache and TENSORRT in providers:
        Path(gpu.trt_cache).mkdir(parents=True, exist_ok=True)
    try:
        session = ort.InferenceSession(str(path), sess_options=options or session_options(),
                                       providers=provider_entries(providers, gpu))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... classes
        raise ModelError(f"cannot load ONNX graph {path}: {exc}") from exc
    used = list(session.get_providers())
    skipped = dict(skipped or {})
    for name in providers:
        if name not in used and name not in skipped:
            skipped[name] = (
                "requested, but the session runs without it (its libraries failed to load or do not "
                "match this onnxruntime build; see the onnxruntime log)"
            )
    return session, ProviderChoice(provider=provider, requested=list(providers), used=used, skipped=skipped)


def create_session(
    path: str | Path,
    provider: str | Provider = Provider.AUTO,
    intra_op_threads: int | None = None,
    *,
    spinning: bool = True,
    gpu: GpuOptions | None = None,
) -> tuple[ort.InferenceSession, ProviderChoice]:
    """Open ``path`` on the fastest usable provider for the ``provider`` choice and explain any fallback.

    ``spinning`` is passed to :func:`session_options`, ``gpu`` to :func:`provider_entries`.

    >>> session, choice = create_session("image_encoder.onnx", "cuda")  # doctest: +SKIP
    >>> choice.explain()  # doctest: +SKIP
    'running on CPU (CUDA skipped: the installed onnxruntime is the CPU-only build ...)'
    """
    choice = Provider.parse(provider)
    planned, skipped = plan_providers(choice, available_providers())
    return open_session(path, planned, session_options(intra_op_threads, spinning=spinning), skipped, choice, gpu)


def describe_providers() -> str:
    """A short human description for ``rtseg devices``: each provider and whether it can be used."""
    try:
        available = available_providers()
    except ImportError as exc:
        return f"onnxruntime not importable: {exc}"
    parts = []
    for provider in PREFERENCE:
        name = SHORT_NAMES[provider]
        if provider in available:
            note = "offered" if provider != CPU else "always"
            parts.append(f"{name}: {note}")
        else:
            parts.append(f"{name}: no ({_not_offered_reason(provider)})")
    others = [p for p in available if p not in PREFERENCE]
    if others:
        parts.append("also offered: " + ", ".join(others))
    return "; ".join(parts)


def describe_gpu_path(provider: str | Provider = Provider.AUTO, gpu: GpuOptions | None = None,
                      available: list[str] | None = None) -> str:
    """What a SAM 2 job would use on this machine: provider, IO binding, TensorRT cache and fp16."""
    try:
        offered = available if available is not None else available_providers()
    except ImportError as exc:
        return f"onnxruntime not importable: {exc}"
    planned, _ = plan_providers(provider, offered)
    g = gpu or GpuOptions()
    first = planned[0]
    parts = [f"would run on {SHORT_NAMES.get(first, first)}",
             "IO binding on (features stay on the GPU between the four graphs)" if first != CPU
             else "IO binding off (CPU: nothing to keep on a device; `io_binding=True` forces it)"]
    if first == TENSORRT:
        parts.append(f"TensorRT engine cache {g.trt_cache}" if g.trt_cache
                     else "no TensorRT engine cache (engines rebuilt on every start; set model.trt_cache)")
        parts.append("fp16 engines" if g.fp16 else "fp32 engines (model.fp16 = true builds fp16)")
    elif first == CUDA:
        parts.append("graph precision as exported (rtseg export-sam2 --fp16 for fp16 graphs)")
    return "; ".join(parts)


def provider_options_summary(choice: ProviderChoice) -> dict[str, Any]:
    """Machine-readable form of a choice (for benchmark JSON and logs)."""
    return {
        "device": choice.provider.value,  # the key benchmark JSON has always had
        "requested": choice.requested,
        "used": choice.used,
        "skipped": choice.skipped,
    }
