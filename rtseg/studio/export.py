"""A studio export: the job the CLI would run for it, with the session's masks as the model (SAM 2) or
the selfie model, written by the CLI's sinks, atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtseg.errors import ConfigError
from rtseg.graph.pipeline import OutputCallback
from rtseg.jobs.build import Overrides, build
from rtseg.jobs.pipeline import JobPipeline
from rtseg.jobs.spec import JobSpec
from rtseg.segment.prompts import Prompt, prompt_to_dict
from rtseg.studio.stored_masks import StoredMasks

if TYPE_CHECKING:
    from rtseg.segment.sam2.interactive import InteractiveSession

EXPORT_KINDS = ("masks", "rle", "blur-background", "blur-object", "cutout", "overlay")
NOTHING_TO_EXPORT = "nothing to export: click an object first"


def check_request(kind: str, out: str) -> None:
    """Refuse an unknown export kind or an empty output path."""
    if kind not in EXPORT_KINDS:
        raise ConfigError(f"export kind must be one of {', '.join(EXPORT_KINDS)}, got {kind!r}")
    if not out or not out.strip():
        raise ConfigError("give an output path")


def export_spec(kind: str, out: str, source: str, model_dir: Path | None = None,
                prompts: Sequence[Prompt] = ()) -> JobSpec:
    """The job an export of ``source`` to ``out`` runs: the selfie model, or with ``model_dir`` SAM 2
    with the clicks recorded as its prompts, one per click or box in the order given (with none there
    is nothing to export)."""
    outputs: list[dict[str, Any]]
    command = "segment"
    effect: dict[str, Any] = {}
    if kind == "masks":
        outputs = [{"kind": "masks", "path": out}]
    elif kind == "rle":
        outputs = [{"kind": "rle", "path": out}]
        command = "track"
        effect = {"kind": "none"}
    else:
        outputs = [{"kind": "video", "path": out}]
        command = {"blur-background": "blur", "blur-object": "blur", "cutout": "cutout",
                   "overlay": "overlay"}[kind]
        effect = {"invert": True} if kind == "blur-object" else {}
    model: dict[str, Any] = {"name": "selfie"}
    if model_dir is not None:
        if not prompts:
            raise ConfigError(NOTHING_TO_EXPORT)
        model = {"name": "sam2", "dir": str(model_dir), "prompts": [prompt_to_dict(p) for p in prompts]}
    elif kind == "rle":
        raise ConfigError("COCO RLE export is per object: it needs SAM 2 (--model-dir)")
    data = {"command": command, "source": {"path": source}, "outputs": outputs, "effect": effect,
            "model": model, "run": {"progress": False}}
    return JobSpec.from_dict(data, "studio export").check()


def export_pipeline(spec: JobSpec, session: InteractiveSession | None, on_output: OutputCallback) -> JobPipeline:
    """The export's pipeline, built now (so a bad target fails the request); with an interactive
    ``session`` its stored masks are the model."""
    overrides = Overrides(segmenter=StoredMasks(session)) if session is not None else None
    return build(spec, overrides=overrides, on_output=on_output)
