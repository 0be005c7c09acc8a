"""``rtseg export-sam2`` and ``rtseg track``.

Neither command imports torch unless it runs: ``export-sam2`` loads it lazily, ``track`` never does.
``track`` is a job like any other: a JobSpec with the sam2 model, its prompts and the outputs.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from rtseg.cli.console import err_console, fail
from rtseg.cli.jobdata import model_data, output_kind, run_data, spec_from
from rtseg.cli.options import (
    BoxOpt,
    ConfigOpt,
    DebugOpt,
    FrameOpt,
    LogitsOpt,
    MaskPromptOpt,
    ModelDirOpt,
    ObjectOpt,
    PointOpt,
    ProgressOpt,
    PromptsOpt,
    RleOpt,
    StatsOpt,
    ThreadsOpt,
)
from rtseg.cli.running import execute
from rtseg.errors import ConfigError
from rtseg.jobs.loading import load_toml
from rtseg.jobs.spec import DEFAULT_EFFECT, JobKind
from rtseg.segment.registry import MODELS


class ExportVariant(StrEnum):
    """What ``export-sam2 --variant`` exports: a SAM 2 model size, or EdgeTAM."""

    tiny = "tiny"
    small = "small"
    base_plus = "base_plus"
    large = "large"
    edgetam = "edgetam"


class TrackEffect(StrEnum):
    overlay = "overlay"
    cutout = "cutout"
    blur_background = "blur-background"
    blur_object = "blur-object"


def export_sam2_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the graphs, constants and manifest.json.")],
    variant: Annotated[ExportVariant, typer.Option(
        "--variant", help="SAM 2 size, or edgetam (EdgeTAM: needs the edgetam-dimos package in place of sam2)."
    )] = ExportVariant.tiny,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Official SAM 2 / SAM 2.1 / EdgeTAM checkpoint (.pt).")
    ] = None,
    image_size: Annotated[int, typer.Option(
        "--image-size", help="Model input size: 1024 (official) or 512 (SAM 2 only)."
    )] = 1024,
    random_weights: Annotated[
        int | None,
        typer.Option("--random-weights", metavar="SEED", help="Seeded random weights instead of a checkpoint."),
    ] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Store the graphs in float16 (for the CUDA provider).")] = False,
    debug: DebugOpt = False,
) -> None:
    """Export SAM 2 or EdgeTAM to the ONNX graphs `rtseg track` runs (needs the `export` extra: torch + sam2;
    EdgeTAM needs its own environment with the edgetam-dimos package: .ci/install-edgetam.sh)."""
    try:
        if (checkpoint is None) == (random_weights is None):
            raise ConfigError("give exactly one of --checkpoint FILE.pt or --random-weights SEED")
        if image_size not in (512, 1024):
            raise ConfigError(f"--image-size must be 1024 or 512, got {image_size}")
        if variant is ExportVariant.edgetam and image_size != 1024:
            raise ConfigError(f"--variant edgetam exports at --image-size 1024 only (its training size), "
                              f"got {image_size}")
        try:
            import sam2  # noqa: F401
            import torch  # noqa: F401

            from rtseg.tools.sam2.edgetam import check_code
            from rtseg.tools.sam2.export import export_sam2
        except ImportError as exc:
            raise ConfigError(
                f"export-sam2 needs the export extra ({exc.name} is missing): pip install 'rtseg[export]' "
                "(see .ci/install-export.sh for the pinned torch and sam2)"
            ) from exc
        check_code(variant.value)  # EdgeTAM's `sam2` and Meta's are told apart before --out is touched
        from rtseg.sinks.atomic import AtomicDir

        # Written beside --out and renamed into place: a failed or killed export leaves no half folder,
        # and --out may replace only a new, empty or earlier rtseg folder.
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = AtomicDir(out, "--out")
        try:
            export_sam2(staging.open(), variant.value, image_size, checkpoint=checkpoint, random_seed=random_weights,
                        fp16=fp16)
            staging.commit()
        finally:
            staging.discard()
        path = out
        err_console.print(f"wrote {path} ({variant.value}, {image_size}x{image_size}{', float16' if fp16 else ''})",
                          highlight=False, markup=False)
    except Exception as exc:
        raise fail(exc, debug) from None


EFFECTS = {TrackEffect.overlay: ("overlay", False), TrackEffect.cutout: ("cutout", False),
           TrackEffect.blur_background: ("blur", False), TrackEffect.blur_object: ("blur", True)}


def track_command(
    input: Annotated[str | None, typer.Argument(help="Video file or image folder (or in --config).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="sam2 (the default), or the model directory (the old spelling of --model-dir).")] = None,
    model_dir: ModelDirOpt = None, point: PointOpt = None, box: BoxOpt = None, mask: MaskPromptOpt = None,
    frame: FrameOpt = None, obj: ObjectOpt = None, prompts: PromptsOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Video or folder with the --effect.")] = None,
    masks: Annotated[Path | None, typer.Option("--masks", help="Folder: one PNG of object ids per frame.")] = None,
    rle: RleOpt = None, logits: LogitsOpt = None,
    effect: Annotated[TrackEffect | None, typer.Option(
        "--effect", help=f"What -o shows (default {DEFAULT_EFFECT[JobKind.TRACK].value}).")] = None,
    provider: Annotated[str | None, typer.Option(
        "--provider", "--device",
        help="ONNX Runtime provider: auto | tensorrt | cuda | cpu (--device: old spelling).")] = None,
    threads: ThreadsOpt = None, config: ConfigOpt = None, progress: ProgressOpt = None, stats_json: StatsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Track objects through a video with SAM 2 from a click, a box or a mask."""

    def make() -> Any:
        name, directory = model, model_dir
        if name is not None and name not in MODELS:
            if directory is not None:
                raise ConfigError(f"--model {name!r} is not a model name; give the directory once, as --model-dir")
            name, directory = "sam2", Path(name)
        if name is None:  # track is SAM 2's command: so is a --config whose [model] names no model
            configured = load_toml(config).get("model") if config is not None else None
            if not (isinstance(configured, dict) and "name" in configured):
                name = "sam2"
        outputs = []
        if output is not None:
            outputs.append({"kind": output_kind(output).value, "path": str(output)})
        for kind, path in (("masks", masks), ("rle", rle), ("logits", logits)):
            if path is not None:
                outputs.append({"kind": kind, "path": str(path)})
        fx: dict[str, Any] = {}
        if effect is not None:
            kind, invert = EFFECTS[effect]
            fx = {"kind": kind, "invert": invert}
        data = {
            "source": {"path": input},
            "model": model_data(name, directory, provider, threads, point,
                                box, mask, frame, obj, prompts),
            "effect": fx,
            "run": run_data(progress, stats_json, debug),
            "outputs": outputs,
        }
        return spec_from(JobKind.TRACK, data, config)

    execute(make, debug)


def register(app: typer.Typer) -> None:
    """Add ``export-sam2`` and ``track`` to the ``rtseg`` command."""
    app.command("export-sam2")(export_sam2_command)
    app.command("track")(track_command)
