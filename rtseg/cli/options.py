"""The options several ``rtseg`` commands share: their types, names and help text (typer ``Annotated`` aliases).

A command takes ``model: ModelOpt = None``; None means "not given", so a ``--config`` file's value or
the job's default applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtseg.segment.registry import model_names

MODEL_HELP = f"Model: {' | '.join(model_names())} (sam2 needs --model-dir)."

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
FrameOpt = Annotated[int | None, typer.Option("--frame", help="SAM 2: the frame the prompt is on (default 0).")]
ObjectOpt = Annotated[int | None, typer.Option(
    "--object", help="SAM 2: the object id of the prompt, 1..255 (default 1).")]
PromptsOpt = Annotated[Path | None, typer.Option("--prompts", help="SAM 2: JSON list of prompts (several objects).")]

# -- outputs ---------------------------------------------------------------------------------------

MasksOpt = Annotated[Path | None, typer.Option("--masks", help="Also write one mask PNG per frame here.")]
RleOpt = Annotated[Path | None, typer.Option("--rle", help="SAM 2: JSON file of COCO RLE masks per frame and object.")]
LogitsOpt = Annotated[Path | None, typer.Option(
    "--logits", help="SAM 2: folder, one float32 .npy (objects x H x W) per frame.")]
CrfOpt = Annotated[int | None, typer.Option("--crf", help="Encoder quality (lower is better).")]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="Encoder speed preset (x264: ultrafast…veryslow).")]

# -- the mask path ---------------------------------------------------------------------------------

SmoothingOpt = Annotated[str | None, typer.Option("--smoothing", help="none | ema | uncertainty | motion (default).")]
RefineOpt = Annotated[str | None, typer.Option(
    "--refine", help="edge (default: snap the mask edge to the image's) | none | feather | guided.")]
QualityOpt = Annotated[str | None, typer.Option(
    "--quality", help="standard (default: the selfie model) | high (Robust Video Matting: finer edges, about "
    "20x the CPU, ~0.6 s per 720p frame here; run `rtseg import-rvm` once first).")]
RoiOpt = Annotated[bool | None, typer.Option(
    "--roi/--no-roi", help="Second model pass on a crop around the person (default on).")]
InferEveryOpt = Annotated[int | None, typer.Option(
    "--infer-every", help="Run the model on every K-th frame; optical flow moves the mask in between.")]

# -- running ---------------------------------------------------------------------------------------

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML file with defaults for this command.")]
ProgressOpt = Annotated[bool | None, typer.Option("--progress/--no-progress", help="Progress bar with fps and ETA.")]
StatsOpt = Annotated[Path | None, typer.Option("--stats-json", help="Write run statistics (fps, latency, drops) here.")]
QueueOpt = Annotated[int | None, typer.Option("--queue-size", help="Frames buffered between stages.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks.")]
