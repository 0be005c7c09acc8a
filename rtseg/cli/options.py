"""The options several ``rtseg`` commands share: their types, names and help text (typer ``Annotated`` aliases).

A command takes ``model: ModelOpt = None``; None means "not given", so a ``--config`` file's value or
the job's default applies. A help text that states a default reads it from where the default is
defined (:func:`default_of` a job field, an effect's constant), never from a copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from rtseg.cli.jobdata import prompt_default
from rtseg.effects.blur import DEFAULT_STRENGTH
from rtseg.imaging.refine import RefineMode
from rtseg.jobs.spec import MaskSpec
from rtseg.segment.registry import model_names
from rtseg.temporal.smoothing import SmoothingMode

# -- defaults as help text shows them ----------------------------------------------------------------


def shown(value: object) -> str:
    """A default as help text shows it: on/off for a flag, 25 rather than 25.0.

    >>> shown(True), shown(25.0), shown(1280), shown("MJPG")
    ('on', '25', '1280', 'MJPG')
    """
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def default_of(model: type[BaseModel], key: str) -> str:
    """The default of field ``key`` of ``model`` (a job section, the bench options) as help text shows it.

    >>> default_of(MaskSpec, "roi"), default_of(MaskSpec, "smoothing")
    ('on', 'motion')
    """
    return shown(model.model_fields[key].default)


def choices_help(choices: Iterable[str], default: str, notes: Mapping[str, str] | None = None) -> str:
    """The choices of a text option, ``a | b (note) | c (default: note)``, with the default marked.

    >>> choices_help(["none", "ema", "motion"], "motion", {"ema": "plain average"})
    'none | ema (plain average) | motion (default)'
    """
    notes = notes or {}

    def one(choice: str) -> str:
        note = notes.get(choice)
        if choice == default:
            return f"{choice} (default: {note})" if note else f"{choice} (default)"
        return f"{choice} ({note})" if note else choice

    return " | ".join(one(choice) for choice in choices)


STRENGTH_HELP = f"Blur sigma in pixels (default {shown(DEFAULT_STRENGTH)})."
MODEL_HELP = f"Model: {' | '.join(model_names())} (sam2 needs --model-dir)."
_REFINE = MaskSpec.model_fields["refine"].default
SMOOTHING_HELP = choices_help(SmoothingMode, MaskSpec.model_fields["smoothing"].default) + "."
REFINE_HELP = choices_help(sorted(RefineMode, key=lambda mode: mode != _REFINE),  # the default first
                           _REFINE, {"edge": "snap the mask edge to the image's"}) + "."

# -- the input -------------------------------------------------------------------------------------

InputArg = Annotated[str | None, typer.Argument(
    help="Video file or URL, image folder, `sample` (a bundled clip) or synthetic[:WxH][@N]; or in --config.")]

# -- model and prompts -----------------------------------------------------------------------------

ModelOpt = Annotated[str | None, typer.Option("--model", help=MODEL_HELP)]
ModelDirOpt = Annotated[Path | None, typer.Option(
    "--model-dir", help="SAM 2: a directory written by `rtseg export-sam2`.")]
ProviderOpt = Annotated[str | None, typer.Option(
    "--provider", help="SAM 2: ONNX Runtime provider: auto | tensorrt | cuda | cpu.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="SAM 2: ONNX Runtime threads (0: its default).")]
PointOpt = Annotated[list[str] | None, typer.Option(
    "--point", metavar="X,Y[,L]",
    help="SAM 2: a click in video pixels (L 1 include, the default; 0 exclude). Repeatable.")]
BoxOpt = Annotated[str | None, typer.Option("--box", metavar="X0,Y0,X1,Y1", help="SAM 2: a box around the object.")]
MaskPromptOpt = Annotated[Path | None, typer.Option(
    "--mask", metavar="PNG", help="SAM 2: a mask of the object (non-zero).")]
FrameOpt = Annotated[int | None, typer.Option(
    "--frame", help=f"SAM 2: the frame the prompt is on (default {prompt_default('frame')}).")]
ObjectOpt = Annotated[int | None, typer.Option(
    "--object", help=f"SAM 2: the object id of the prompt, 1..255 (default {prompt_default('obj_id')}).")]
PromptsOpt = Annotated[Path | None, typer.Option("--prompts", help="SAM 2: JSON list of prompts (several objects).")]

# -- outputs ---------------------------------------------------------------------------------------

MasksOpt = Annotated[Path | None, typer.Option("--masks", help="Also write one mask PNG per frame here.")]
RleOpt = Annotated[Path | None, typer.Option("--rle", help="SAM 2: JSON file of COCO RLE masks per frame and object.")]
LogitsOpt = Annotated[Path | None, typer.Option(
    "--logits", help="SAM 2: folder, one float32 .npy (objects x H x W) per frame.")]
CrfOpt = Annotated[int | None, typer.Option("--crf", help="Encoder quality (lower is better).")]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="Encoder speed preset (x264: ultrafast…veryslow).")]

# -- the mask path ---------------------------------------------------------------------------------

SmoothingOpt = Annotated[str | None, typer.Option("--smoothing", help=SMOOTHING_HELP)]
RefineOpt = Annotated[str | None, typer.Option("--refine", help=REFINE_HELP)]
QualityOpt = Annotated[str | None, typer.Option(
    "--quality", help="standard (default: the selfie model) | high (Robust Video Matting: finer edges, about "
    "20x the CPU, ~0.6 s per 720p frame here; run `rtseg import-rvm` once first).")]
RoiOpt = Annotated[bool | None, typer.Option(
    "--roi/--no-roi", help=f"Second model pass on a crop around the person (default {default_of(MaskSpec, 'roi')}).")]
InferEveryOpt = Annotated[int | None, typer.Option(
    "--infer-every", help="Run the model on every K-th frame; optical flow moves the mask in between.")]

# -- running ---------------------------------------------------------------------------------------

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML file with defaults for this command.")]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar with fps and ETA.")]
StatsOpt = Annotated[Path | None, typer.Option("--stats-json", help="Write run statistics (fps, latency, drops) here.")]
QueueOpt = Annotated[int | None, typer.Option("--queue-size", help="Frames buffered between stages.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
