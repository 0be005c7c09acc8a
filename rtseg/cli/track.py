"""``rtseg export-sam2`` and ``rtseg track`` (added to the main app by :func:`register`).

Neither command imports torch unless it runs: ``export-sam2`` loads it lazily, ``track`` never does.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from rtseg.errors import ConfigError


class Variant(StrEnum):
    tiny = "tiny"
    small = "small"
    base_plus = "base_plus"
    large = "large"


class TrackEffect(StrEnum):
    overlay = "overlay"
    cutout = "cutout"
    blur_background = "blur-background"
    blur_object = "blur-object"


def parse_point(text: str) -> tuple[float, float, int]:
    """``X,Y`` or ``X,Y,LABEL`` (label 1 include, 0 exclude) -> (x, y, label)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) == 2:
            return float(parts[0]), float(parts[1]), 1
        if len(parts) == 3:
            label = int(parts[2])
            if label in (0, 1):
                return float(parts[0]), float(parts[1]), label
    except ValueError:
        pass
    raise ConfigError(f"--point expects X,Y or X,Y,LABEL with LABEL 0 or 1, got {text!r}")


def parse_box(text: str) -> tuple[float, float, float, float]:
    """``X0,Y0,X1,Y1`` -> a tuple of floats."""
    try:
        values = tuple(float(p) for p in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] < values[0] or values[3] < values[1]:
        raise ConfigError(f"--box expects X0,Y0,X1,Y1 with X0<=X1 and Y0<=Y1, got {text!r}")
    return values  # type: ignore[return-value]


def export_sam2_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for the graphs, constants and manifest.json.")],
    variant: Annotated[Variant, typer.Option("--variant", help="SAM 2 size.")] = Variant.tiny,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="Official SAM 2 / SAM 2.1 checkpoint (.pt).")
    ] = None,
    image_size: Annotated[int, typer.Option("--image-size", help="Model input size: 1024 (official) or 512.")] = 1024,
    random_weights: Annotated[
        int | None,
        typer.Option("--random-weights", metavar="SEED", help="Seeded random weights instead of a checkpoint."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Export SAM 2 to the ONNX graphs `rtseg track` runs (needs the `export` extra: torch + sam2)."""
    from rtseg.cli import _fail, err_console

    try:
        if (checkpoint is None) == (random_weights is None):
            raise ConfigError("give exactly one of --checkpoint FILE.pt or --random-weights SEED")
        if image_size not in (512, 1024):
            raise ConfigError(f"--image-size must be 1024 or 512, got {image_size}")
        try:
            import sam2  # noqa: F401
            import torch  # noqa: F401

            from rtseg.segment.sam2.export import export_sam2
        except ImportError as exc:
            raise ConfigError(
                f"export-sam2 needs the export extra ({exc.name} is missing): pip install 'rtseg[export]' "
                "(see .ci/install-export.sh for the pinned torch and sam2)"
            ) from exc
        path = export_sam2(out, variant.value, image_size, checkpoint=checkpoint, random_seed=random_weights)
        err_console.print(f"wrote {path} ({variant.value}, {image_size}x{image_size})", highlight=False)
    except Exception as exc:
        raise _fail(exc, debug) from None


def track_command(
    input: Annotated[str, typer.Argument(help="Video file or image folder.")],
    model: Annotated[Path, typer.Option("--model", help="Directory written by `rtseg export-sam2`.")],
    point: Annotated[
        list[str] | None, typer.Option("--point", metavar="X,Y[,LABEL]", help="Click (label 1 include, 0 exclude).")
    ] = None,
    box: Annotated[str | None, typer.Option("--box", metavar="X0,Y0,X1,Y1", help="Box around the object.")] = None,
    mask: Annotated[Path | None, typer.Option("--mask", metavar="PNG", help="Mask of the object (non-zero).")] = None,
    frame: Annotated[int, typer.Option("--frame", help="Frame the prompt is on.")] = 0,
    obj: Annotated[int, typer.Option("--object", help="Object id for the prompt (1..255).")] = 1,
    prompts: Annotated[Path | None, typer.Option("--prompts", help="JSON list of prompts (several objects).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Video or folder with the --effect.")] = None,
    masks: Annotated[Path | None, typer.Option("--masks", help="Folder: one PNG of object ids per frame.")] = None,
    rle: Annotated[Path | None, typer.Option("--rle", help="JSON file: COCO RLE per frame and object.")] = None,
    logits: Annotated[
        Path | None, typer.Option("--logits", help="Folder: one float32 .npy (objects x H x W) per frame.")
    ] = None,
    effect: Annotated[TrackEffect, typer.Option("--effect", help="What -o shows.")] = TrackEffect.overlay,
    device: Annotated[str, typer.Option("--device", help="auto | tensorrt | cuda | cpu")] = "auto",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar with fps and ETA.")] = True,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Track objects through a video with SAM 2 from a click, a box or a mask."""
    from rtseg.cli import _fail, err_console

    try:
        specs = build_prompts(point, box, mask, frame, obj, prompts)
        stats = run_track(
            input,
            model,
            specs,
            output=output,
            masks=masks,
            rle=rle,
            logits=logits,
            effect=effect,
            device=device,
            progress=progress,
        )
        outs = ", ".join(str(p) for p in (output, masks, rle, logits) if p is not None)
        err_console.print(
            f"wrote {outs}: {stats.frames_out} frames in {stats.duration_s:.1f} s ({stats.fps:.2f} fps)",
            highlight=False,
        )
    except KeyboardInterrupt:
        err_console.print("interrupted; no output written")
        raise typer.Exit(130) from None
    except Exception as exc:
        raise _fail(exc, debug) from None


def build_prompts(
    point: list[str] | None,
    box: str | None,
    mask: Path | None,
    frame: int,
    obj: int,
    prompts: Path | None,
) -> list[Any]:
    """Turn the prompt options into :class:`~rtseg.segment.sam2.stage.PromptSpec` calls."""
    from rtseg.segment.sam2.stage import PromptSpec, load_prompts_file

    if not 1 <= obj <= 255:
        raise ConfigError(f"--object must be an object id in 1..255, got {obj}")
    if frame < 0:
        raise ConfigError(f"--frame must be >= 0, got {frame}")
    specs: list[Any] = []
    if point or box is not None:
        pts = [parse_point(p) for p in point or []]
        specs.append(
            PromptSpec(
                frame=frame,
                obj_id=obj,
                points=[(x, y) for x, y, _ in pts],
                labels=[lbl for _, _, lbl in pts],
                box=parse_box(box) if box else None,
            )
        )
    if mask is not None:
        if not mask.is_file():
            raise ConfigError(f"--mask file not found: {mask}")
        specs.append(PromptSpec(frame=frame, obj_id=obj, mask=mask))
    if prompts is not None:
        specs.extend(load_prompts_file(prompts))
    if not specs:
        raise ConfigError("give a prompt: --point X,Y[,LABEL], --box X0,Y0,X1,Y1, --mask PNG or --prompts FILE.json")
    return specs


def run_track(
    input: str,
    model: Path,
    specs: list[Any],
    *,
    output: Path | None = None,
    masks: Path | None = None,
    rle: Path | None = None,
    logits: Path | None = None,
    effect: TrackEffect = TrackEffect.overlay,
    device: str = "auto",
    progress: bool = False,
) -> Any:
    """Build and run source -> track -> effect -> sinks; return the run's stats."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from rtseg.app import probe_source
    from rtseg.cli import FpsColumn, err_console
    from rtseg.effects import BlurEffect, CutoutEffect, EffectStage, OverlayEffect
    from rtseg.graph import Pipeline
    from rtseg.segment.sam2.manifest import Sam2Model
    from rtseg.segment.sam2.stage import Sam2TrackStage, TrackFilesSink
    from rtseg.sinks import PngFolderSink, VideoFileSink
    from rtseg.sources import open_source

    if output is None and masks is None and rle is None and logits is None:
        raise ConfigError("nothing to write: give -o OUTPUT, --masks DIR, --rle FILE.json or --logits DIR")
    Sam2Model.from_dir(model)  # fail on a bad model directory before decoding anything
    source = open_source(input)
    info = probe_source(source)
    stages: list[Any] = [
        Sam2TrackStage(
            model,
            specs,
            num_frames=info.frames,
            device=device,
            invert_alpha=effect is TrackEffect.blur_object,
        )
    ]
    sinks: list[Any] = []
    if output is not None:
        fx: Any = {
            TrackEffect.overlay: lambda: OverlayEffect(),
            TrackEffect.cutout: lambda: CutoutEffect(),
            TrackEffect.blur_background: lambda: BlurEffect(),
            TrackEffect.blur_object: lambda: BlurEffect(),
        }[effect]()
        stages.append(EffectStage(fx))
        alpha_out = effect is TrackEffect.cutout
        if output.suffix == "" or output.is_dir():
            sinks.append(PngFolderSink(output))
        elif alpha_out and output.suffix.lower() not in (".webm", ".mov"):
            raise ConfigError(f"--effect cutout needs OUTPUT.webm, OUTPUT.mov or a folder, got {output.name!r}")
        else:
            sinks.append(
                VideoFileSink(
                    output,
                    fps=info.fps,  # type: ignore[arg-type]
                    time_base=info.time_base,  # type: ignore[arg-type]
                    audio_from=info.audio_path,
                    alpha=alpha_out,
                )
            )
    if masks is not None or rle is not None or logits is not None:
        sinks.append(TrackFilesSink(masks=masks, logits=logits, rle=rle))

    bar: Progress | None = None
    task: Any = None
    if progress:
        bar = Progress(
            TextColumn("[bold]track"),
            BarColumn(),
            MofNCompleteColumn(),
            FpsColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
        )
        task = bar.add_task("track", total=info.frames or None)

    def on_output(frame: Any, stats: Any) -> None:
        if bar is not None:
            bar.advance(task)

    pipeline = Pipeline(source, stages, sinks if len(sinks) > 1 else sinks[0], queue_size=2, on_output=on_output)
    if bar is not None:
        bar.start()
    try:
        return pipeline.run()
    finally:
        if bar is not None:
            bar.stop()


def register(app: typer.Typer) -> None:
    """Add ``export-sam2`` and ``track`` to the ``rtseg`` command."""
    app.command("export-sam2")(export_sam2_command)
    app.command("track")(track_command)
