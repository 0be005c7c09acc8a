"""``rtseg blur | replace | cutout | overlay | segment``: file jobs. Each fills a JobSpec and runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rtseg.cli.common import (
    BoxOpt,
    ConfigOpt,
    CrfOpt,
    DebugOpt,
    FrameOpt,
    InferEveryOpt,
    InputArg,
    LogitsOpt,
    MaskPromptOpt,
    MasksOpt,
    ModelDirOpt,
    ModelOpt,
    ObjectOpt,
    PointOpt,
    PresetOpt,
    ProgressOpt,
    PromptsOpt,
    ProviderOpt,
    QualityOpt,
    QueueOpt,
    RefineOpt,
    RleOpt,
    RoiOpt,
    SmoothingOpt,
    StatsOpt,
    ThreadsOpt,
    apply_quality,
    execute,
    mask_data,
    model_data,
    output_kind,
    run_data,
    s,
    spec_from,
)
from rtseg.jobs.spec import JobKind

OutputOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Output video (.mp4, .mkv, .webm) or folder.")]


def file_job(kind: JobKind, o: dict[str, Any], effect: dict[str, Any] | None = None) -> None:
    """Run a file job from a command's options (``o`` is the command's ``locals()``)."""

    def make() -> Any:
        outputs = []
        if o.get("output") is not None:
            outputs.append({"kind": output_kind(o["output"]).value, "path": str(o["output"])})
        for key in ("masks", "rle", "logits"):
            if o.get(key) is not None:
                outputs.append({"kind": key, "path": str(o[key])})
        data = {
            "source": {"path": o.get("input")},
            "model": model_data(o.get("model"), o.get("model_dir"), o.get("provider"), o.get("threads"),
                                o.get("point"), o.get("box"), o.get("mask"), o.get("frame"), o.get("obj"),
                                o.get("prompts")),
            "mask": mask_data(o.get("smoothing"), o.get("refine"), o.get("roi"), o.get("infer_every")),
            "effect": effect or {},
            "encoder": {"crf": o.get("crf"), "preset": o.get("preset")},
            "run": run_data(o.get("progress"), o.get("stats_json"), o.get("debug", False), o.get("queue_size")),
            "outputs": outputs,
        }
        return spec_from(kind, apply_quality(o.get("quality"), data), o.get("config"))

    execute(make, bool(o.get("debug")))


def blur(
    input: InputArg = None, output: OutputOpt = None,
    strength: Annotated[float | None, typer.Option("--strength", help="Blur sigma in pixels (default 25).")] = None,
    masks: MasksOpt = None, model: ModelOpt = None, model_dir: ModelDirOpt = None, point: PointOpt = None,
    box: BoxOpt = None, mask: MaskPromptOpt = None, frame: FrameOpt = None, obj: ObjectOpt = None,
    prompts: PromptsOpt = None, provider: ProviderOpt = None, threads: ThreadsOpt = None, rle: RleOpt = None,
    logits: LogitsOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None, stats_json: StatsOpt = None,
    queue_size: QueueOpt = None, crf: CrfOpt = None, preset: PresetOpt = None, smoothing: SmoothingOpt = None,
    refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None, quality: QualityOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Blur the background, keep the person (or the SAM 2 object) sharp."""
    file_job(JobKind.BLUR, locals(), {"strength": strength})


def replace(
    input: InputArg = None,
    background: Annotated[str | None, typer.Option(
        "--background", help="Image, video (looped) or #RRGGBB. Required (here or in --config).")] = None,
    output: OutputOpt = None, masks: MasksOpt = None, model: ModelOpt = None, model_dir: ModelDirOpt = None,
    point: PointOpt = None, box: BoxOpt = None, mask: MaskPromptOpt = None, frame: FrameOpt = None,
    obj: ObjectOpt = None, prompts: PromptsOpt = None, provider: ProviderOpt = None, threads: ThreadsOpt = None,
    rle: RleOpt = None, logits: LogitsOpt = None,
    config: ConfigOpt = None, progress: ProgressOpt = None, stats_json: StatsOpt = None, queue_size: QueueOpt = None,
    crf: CrfOpt = None, preset: PresetOpt = None,
    light_wrap: Annotated[float | None, typer.Option(
        "--light-wrap", help="0..1: background light over the edge.")] = None,
    smoothing: SmoothingOpt = None, refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None,
    quality: QualityOpt = None, debug: DebugOpt = False,
) -> None:
    """Replace the background with an image, a looped video, or a colour."""
    file_job(JobKind.REPLACE, locals(), {"backgrounds": [background] if background else None,
                                         "light_wrap": light_wrap})


def cutout(
    input: InputArg = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="OUTPUT.webm (VP9 alpha), OUTPUT.mov (ProRes 4444) or a folder of RGBA PNGs.")] = None,
    masks: MasksOpt = None, model: ModelOpt = None, model_dir: ModelDirOpt = None, point: PointOpt = None,
    box: BoxOpt = None, mask: MaskPromptOpt = None, frame: FrameOpt = None, obj: ObjectOpt = None,
    prompts: PromptsOpt = None, provider: ProviderOpt = None, threads: ThreadsOpt = None, rle: RleOpt = None,
    logits: LogitsOpt = None, config: ConfigOpt = None,
    progress: ProgressOpt = None, stats_json: StatsOpt = None, queue_size: QueueOpt = None,
    smoothing: SmoothingOpt = None, refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None,
    quality: QualityOpt = None, debug: DebugOpt = False,
) -> None:
    """Cut the person (or the SAM 2 object) out: output with an alpha channel."""
    file_job(JobKind.CUTOUT, locals())


def overlay(
    input: InputArg = None, output: OutputOpt = None,
    colour: Annotated[str | None, typer.Option("--colour", help="Tint colour #RRGGBB.")] = None,
    masks: MasksOpt = None, model: ModelOpt = None, model_dir: ModelDirOpt = None, point: PointOpt = None,
    box: BoxOpt = None, mask: MaskPromptOpt = None, frame: FrameOpt = None, obj: ObjectOpt = None,
    prompts: PromptsOpt = None, provider: ProviderOpt = None, threads: ThreadsOpt = None, rle: RleOpt = None,
    logits: LogitsOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None, stats_json: StatsOpt = None,
    queue_size: QueueOpt = None, smoothing: SmoothingOpt = None, refine: RefineOpt = None, roi: RoiOpt = None,
    infer_every: InferEveryOpt = None, quality: QualityOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Tint the segmented person or object (a view of the mask)."""
    file_job(JobKind.OVERLAY, locals(), {"overlay_colour": colour})


def segment(
    input: InputArg = None,
    masks: Annotated[Path | None, typer.Option("--masks", help="Folder for one mask PNG per frame.")] = None,
    model: ModelOpt = None, model_dir: ModelDirOpt = None, point: PointOpt = None, box: BoxOpt = None,
    mask: MaskPromptOpt = None, frame: FrameOpt = None, obj: ObjectOpt = None, prompts: PromptsOpt = None,
    provider: ProviderOpt = None, threads: ThreadsOpt = None, rle: RleOpt = None, logits: LogitsOpt = None,
    config: ConfigOpt = None, progress: ProgressOpt = None, stats_json: StatsOpt = None, queue_size: QueueOpt = None,
    smoothing: SmoothingOpt = None, refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None,
    quality: QualityOpt = None, debug: DebugOpt = False,
) -> None:
    """Write the masks the composite would use, one PNG per frame (alpha 0..255; SAM 2: object ids)."""
    file_job(JobKind.SEGMENT, locals())


def register(app: typer.Typer) -> None:
    for command in (blur, replace, cutout, overlay, segment):
        app.command(command.__name__)(command)


__all__ = ["register", "s"]
