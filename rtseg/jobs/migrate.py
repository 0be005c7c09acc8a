"""Old job files keep working: the key layouts of earlier rtseg versions mapped onto the current one.

:meth:`~rtseg.jobs.spec.JobSpec.from_dict` runs every job's keys through :func:`normalize` before
validating them, so a config written for an earlier version is the job it was.
"""

from __future__ import annotations

import copy
from typing import Any

from rtseg.errors import ConfigError
from rtseg.jobs.outputs import output_kind


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Map the key layouts of earlier rtseg versions onto the current one (old configs keep working).

    Top-level ``input`` / ``output`` / ``masks`` / ``rle`` / ``logits``; webcam configs'
    ``[source] device`` / ``file``, ``[prompt]``, ``[carry]``, ``[adaptive]``, ``[flow]``,
    ``[output]``, ``[effect] mode`` and ``[model] device``; ``[effect] background``.

    >>> normalize({"command": "blur", "input": "a.mp4", "output": "b.mp4"})["outputs"]
    [{'kind': 'video', 'path': 'b.mp4'}]
    """
    if not isinstance(data, dict):
        return data
    d = copy.deepcopy(data)

    def section(name: str) -> dict[str, Any]:
        value = d.setdefault(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"'{name}' must be a table ([{name}]), got {value!r}")
        return value

    outputs: list[dict[str, Any]] = []
    if "input" in d:
        section("source")["path"] = d.pop("input")
    if "output" in d and not isinstance(d["output"], dict):
        path = d.pop("output")
        if path is not None:
            kind = output_kind(path).value if isinstance(path, str) else "video"
            outputs.append({"kind": kind, "path": path})
    for key in ("masks", "rle", "logits"):
        if key in d and not isinstance(d[key], dict):
            path = d.pop(key)
            if path is not None:
                outputs.append({"kind": key, "path": path})
    src = d.get("source")
    if isinstance(src, dict):
        if "device" in src:
            src["camera"] = src.pop("device")
        if "file" in src:
            src["path"] = src.pop("file")
    model = d.get("model")
    if isinstance(model, dict) and "device" in model:
        model["provider"] = model.pop("device")
    prompt = d.pop("prompt", None)
    if isinstance(prompt, dict):
        if prompt.get("points") or prompt.get("box") is not None:
            prompts = section("model").setdefault("prompts", [])
            if not isinstance(prompts, list):
                raise ConfigError("'model.prompts' must be a list of prompts")
            prompts.append({k: v for k, v in prompt.items() if k in ("points", "labels", "box")})
        unknown = set(prompt) - {"points", "labels", "box"}
        if unknown:
            raise ConfigError(f"unknown key 'prompt.{sorted(unknown)[0]}'")
    carry = d.pop("carry", None)
    if isinstance(carry, dict):
        section("mask")["carry"] = carry
    adaptive = d.pop("adaptive", None)
    if isinstance(adaptive, dict):
        sched = section("schedule")
        renames = {"period_s": "adaptive_period_s"}
        for k, v in adaptive.items():
            sched[renames.get(k) or k] = v
    flow = d.pop("flow", None)
    if isinstance(flow, dict):
        for k, v in flow.items():
            if k in ("queue_size", "cv_threads"):
                section("run")[k] = v
            else:
                section("schedule")[k] = v
    effect = d.get("effect")
    if isinstance(effect, dict):
        if "mode" in effect:
            effect["kind"] = effect.pop("mode")
        if "background" in effect:
            bg = effect.pop("background")
            if bg is not None:
                effect["backgrounds"] = [bg, *effect.get("backgrounds", [])]
    out = d.get("output")
    if isinstance(out, dict):
        d.pop("output")
        vcam = {k: out.pop(k) for k in ("vcam_device", "vcam_backend", "vcam_format") if k in out}
        if out.pop("vcam", False):
            outputs.append({"kind": "vcam", **vcam})
        if out.pop("preview", False):
            outputs.append({"kind": "preview"})
        record = out.pop("record", None)
        if record:
            outputs.append({"kind": "record", "path": record})
        if out.pop("null", False):
            outputs.append({"kind": "null"})
        if out:
            raise ConfigError(f"unknown key 'output.{sorted(out)[0]}'")
    if outputs:
        existing = d.get("outputs", [])
        d["outputs"] = [*existing, *outputs] if isinstance(existing, list) else existing
    if d.get("command") == "track" and isinstance(d.get("model", {}), dict) and "name" not in d.get("model", {}):
        section("model")["name"] = "sam2"  # tracking is what SAM 2 does; a track job needs no model name
    for name in ("source", "model", "mask", "schedule", "effect", "encoder", "run"):
        if d.get(name) == {}:
            d.pop(name)
    return d
