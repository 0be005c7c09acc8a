"""``rtseg blur | replace | cutout | overlay | segment``: file jobs. Each fills a JobSpec and runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from rtseg.cli.jobdata import apply_quality, mask_data, model_data, output_kind, run_data, spec_from
from rtseg.cli.options import (
    STRENGTH_HELP,
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
)
from rtseg.cli.running import execute
from rtseg.jobs.spec import JobKind

OutputOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Output video (.mp4, .mkv, .webm) or folder.")]


@dataclass(frozen=True)
class FileJobOptions:
    """The options the file commands share, as given (None: not given, so ``--config`` or the job's
    default applies). A command without an option (``cutout`` has no ``--crf``) leaves it None."""

    input: str | None = None
    output: Path | None = None
    masks: Path | None = None
    rle: Path | None = None
    logits: Path | None = None
    model: str | None = None
    model_dir: Path | None = None
    provider: str | None = None
    threads: int | None = None
    point: list[str] | None = None
    box: str | None = None
    mask: Path | None = None
    frame: int | None = None
    obj: int | None = None
    prompts: Path | None = None
    smoothing: str | None = None
    refine: str | None = None
    roi: bool | None = None
    infer_every: int | None = None
    quality: str | None = None
    crf: int | None = None
    preset: str | None = None
    config: Path | None = None
    progress: bool | None = None
    stats_json: Path | None = None
    queue_size: int | None = None
    debug: bool = False

    def outputs(self) -> list[dict[str, Any]]:
        """``-o`` (a video, a PNG folder or one PNG), ``--masks``, ``--rle`` and ``--logits``, in that order."""
        outputs = []
        if self.output is not None:
            outputs.append({"kind": output_kind(self.output).value, "path": str(self.output)})
        for kind, path in (("masks", self.masks), ("rle", self.rle), ("logits", self.logits)):
            if path is not None:
                outputs.append({"kind": kind, "path": str(path)})
        return outputs

    def job_data(self, effect: dict[str, Any]) -> dict[str, Any]:
        """The (partial) JobSpec dict of these options and the command's ``[effect]`` options."""
        data = {
            "source": {"path": self.input},
            "model": model_data(self.model, self.model_dir, self.provider, self.threads, self.point, self.box,
                                self.mask, self.frame, self.obj, self.prompts),
            "mask": mask_data(self.smoothing, self.refine, self.roi, self.infer_every),
            "effect": effect,
            "encoder": {"crf": self.crf, "preset": self.preset},
            "run": run_data(self.progress, self.stats_json, self.debug, self.queue_size),
            "outputs": self.outputs(),
        }
        return apply_quality(self.quality, data)


def file_job(kind: JobKind, options: FileJobOptions, effect: dict[str, Any] | None = None) -> None:
    """Run a file job of ``kind`` from the command's options and its ``[effect]`` options."""
    execute(lambda: spec_from(kind, options.job_data(effect or {}), options.config), options.debug)


def blur(
    input: InputArg = None, output: OutputOpt = None,
    strength: Annotated[float | None, typer.Option("--strength", help=STRENGTH_HELP)] = None,
    masks: MasksOpt = None, model: ModelOpt = None, model_dir: ModelDirOpt = None, point: PointOpt = None,
    box: BoxOpt = None, mask: MaskPromptOpt = None, frame: FrameOpt = None, obj: ObjectOpt = None,
    prompts: PromptsOpt = None, provider: ProviderOpt = None, threads: ThreadsOpt = None, rle: RleOpt = None,
    logits: LogitsOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None, stats_json: StatsOpt = None,
    queue_size: QueueOpt = None, crf: CrfOpt = None, preset: PresetOpt = None, smoothing: SmoothingOpt = None,
    refine: RefineOpt = None, roi: RoiOpt = None, infer_every: InferEveryOpt = None, quality: QualityOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Blur the background, keep the person (or the SAM 2 object) sharp."""
    options = FileJobOptions(
        input=input, output=output, masks=masks, rle=rle, logits=logits,
        model=model, model_dir=model_dir, provider=provider, threads=threads, point=point, box=box, mask=mask,
        frame=frame, obj=obj, prompts=prompts, smoothing=smoothing, refine=refine, roi=roi, infer_every=infer_every,
        quality=quality, crf=crf, preset=preset, config=config, progress=progress, stats_json=stats_json,
        queue_size=queue_size, debug=debug)
    file_job(JobKind.BLUR, options, {"strength": strength})


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
    options = FileJobOptions(
        input=input, output=output, masks=masks, rle=rle, logits=logits,
        model=model, model_dir=model_dir, provider=provider, threads=threads, point=point, box=box, mask=mask,
        frame=frame, obj=obj, prompts=prompts, smoothing=smoothing, refine=refine, roi=roi, infer_every=infer_every,
        quality=quality, crf=crf, preset=preset, config=config, progress=progress, stats_json=stats_json,
        queue_size=queue_size, debug=debug)
    file_job(JobKind.REPLACE, options, {"backgrounds": [background] if background else None,
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
    options = FileJobOptions(
        input=input, output=output, masks=masks, rle=rle, logits=logits,
        model=model, model_dir=model_dir, provider=provider, threads=threads, point=point, box=box, mask=mask,
        frame=frame, obj=obj, prompts=prompts, smoothing=smoothing, refine=refine, roi=roi, infer_every=infer_every,
        quality=quality, config=config, progress=progress, stats_json=stats_json, queue_size=queue_size, debug=debug)
    file_job(JobKind.CUTOUT, options)


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
    options = FileJobOptions(
        input=input, output=output, masks=masks, rle=rle, logits=logits,
        model=model, model_dir=model_dir, provider=provider, threads=threads, point=point, box=box, mask=mask,
        frame=frame, obj=obj, prompts=prompts, smoothing=smoothing, refine=refine, roi=roi, infer_every=infer_every,
        quality=quality, config=config, progress=progress, stats_json=stats_json, queue_size=queue_size, debug=debug)
    file_job(JobKind.OVERLAY, options, {"overlay_colour": colour})


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
    options = FileJobOptions(
        input=input, masks=masks, rle=rle, logits=logits,
        model=model, model_dir=model_dir, provider=provider, threads=threads, point=point, box=box, mask=mask,
        frame=frame, obj=obj, prompts=prompts, smoothing=smoothing, refine=refine, roi=roi, infer_every=infer_every,
        quality=quality, config=config, progress=progress, stats_json=stats_json, queue_size=queue_size, debug=debug)
    file_job(JobKind.SEGMENT, options)


def register(app: typer.Typer) -> None:
    for command in (blur, replace, cutout, overlay, segment):
        app.command(command.__name__)(command)


__all__ = ["FileJobOptions", "file_job", "register"]
