"""``rtseg webcam``: camera (or a file replayed in real time) → effect → virtual camera, preview, recording."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperCommand

from rtseg.cli.jobdata import model_data, path_str, spec_from
from rtseg.cli.options import (
    BoxOpt,
    ConfigOpt,
    DebugOpt,
    ModelDirOpt,
    ModelOpt,
    PointOpt,
    ProviderOpt,
    choices_help,
    default_of,
    shown,
)
from rtseg.cli.running import execute
from rtseg.effects.blur import DEFAULT_STRENGTH
from rtseg.jobs.build import LIVE_GATE
from rtseg.jobs.spec import DEFAULT_EFFECT, CarrySpec, EffectKind, JobKind, JobSpec, SourceSpec


def expand_optional_values(args: list[str], optional: dict[str, str]) -> list[str]:
    """Give options with an optional value (``--blur [N]``) their default when no value follows.

    An option in ``optional`` that is last, or followed by something that is not a number (another
    option), gets ``optional[opt]`` inserted; ``--blur 12`` and ``--blur=12`` are left alone. Typer
    (which vendors click without ``flag_value``) cannot express this, so the command normalises its
    arguments before parsing.

    >>> expand_optional_values(["--blur", "--vcam"], {"--blur": "25"})
    ['--blur', '25', '--vcam']
    >>> expand_optional_values(["--blur", "12"], {"--blur": "25"})
    ['--blur', '12']
    """
    out: list[str] = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--":
            out.extend(args[i + 1:])
            break
        if arg in optional:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if nxt is None or not _is_number(nxt):
                out.append(optional[arg])
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class OptionalValueCommand(TyperCommand):
    """A typer command whose ``--blur`` takes an optional value (see :func:`expand_optional_values`)."""

    optional_values: ClassVar[dict[str, str]] = {"--blur": shown(DEFAULT_STRENGTH)}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_optional_values(list(args), self.optional_values))


class SinkName(StrEnum):
    NULL = "null"
    VCAM = "vcam"
    PREVIEW = "preview"


# Help that states a default reads it from the job's schema, the blur effect or the builder.
BLUR_HELP = f"Blur the background; N = sigma in pixels (default {shown(DEFAULT_STRENGTH)})."
EFFECT_HELP = choices_help(EffectKind, DEFAULT_EFFECT[JobKind.WEBCAM].value,
                           {"cutout": "with --preview or --record .webm/.mov"}) + "."
CARRY_HELP = f"Move the newest mask to each frame by optical flow (default {default_of(CarrySpec, 'enabled')})."
GATE_HELP = (f"Skip the model on frames where no region changed by more than LEVELS grey levels "
             f"(default {shown(LIVE_GATE)}; 0: every frame).")


def cli_data(
    *, camera: str | None = None, source: str | None = None, realtime: bool = False, loop: bool | None = None,
    blur: float | None = None, background: list[str] | None = None, effect: EffectKind | None = None,
    vcam: bool = False, vcam_device: str | None = None, vcam_backend: str | None = None,
    vcam_format: str | None = None, preview: bool = False, record: Path | None = None,
    sink: list[SinkName] | None = None, duration: float | None = None, stats_json: Path | None = None,
    mirror: bool | None = None, width: int | None = None, height: int | None = None, fps: float | None = None,
    fourcc: str | None = None, fail_closed: float | None = None, model: str | None = None,
    status: bool | None = None, debug: bool = False, model_dir: Path | None = None, point: list[str] | None = None,
    box: str | None = None, threads: int | None = None, provider: str | None = None, carry: bool | None = None,
    target_fps: float | None = None, cpu_budget: float | None = None, gate: float | None = None,
) -> dict[str, Any]:
    """The options given on the command line as a (partial) JobSpec dict; None = not given."""
    sinks = set(sink or [])
    fx: dict[str, Any] = {"fail_closed_ms": fail_closed}
    if background:
        fx.update(backgrounds=list(background), kind="replace")
    if blur is not None:
        fx.update(strength=blur, kind="blur")
    if effect is not None:
        fx["kind"] = effect.value
    outputs: list[dict[str, Any]] = []
    if vcam or SinkName.VCAM in sinks:
        outputs.append({"kind": "vcam", "vcam_device": vcam_device, "vcam_backend": vcam_backend,
                        "vcam_format": vcam_format or "auto"})
    if preview or SinkName.PREVIEW in sinks:
        outputs.append({"kind": "preview"})
    if record is not None:
        outputs.append({"kind": "record", "path": str(record)})
    if SinkName.NULL in sinks:
        outputs.append({"kind": "null"})
    for out in outputs:
        for key in [k for k, v in out.items() if v is None]:
            del out[key]
    return {
        "source": {"camera": camera, "path": source, "realtime": realtime or None, "loop": loop, "mirror": mirror,
                   "width": width, "height": height, "fps": fps, "fourcc": fourcc},
        "model": model_data(model, model_dir, provider, threads, point, box),
        "mask": {"carry": {"enabled": carry}, "gate": gate},
        "schedule": {"target_fps": target_fps, "cpu_budget": cpu_budget},
        "effect": fx,
        "outputs": outputs,
        "run": {"duration": duration, "stats_json": path_str(stats_json), "status": status, "debug": debug or None},
        "_vcam": {"vcam_device": vcam_device, "vcam_backend": vcam_backend, "vcam_format": vcam_format},
    }


def webcam_spec(data: dict[str, Any], config: Path | None = None) -> JobSpec:
    """The webcam job from :func:`cli_data` options over ``config`` (a virtual camera by default), checked."""
    data = dict(data)
    vcam = {k: v for k, v in data.pop("_vcam", {}).items() if v is not None}
    default = [{"kind": "vcam", **vcam}]  # the everyday use: a virtual webcam
    return spec_from(JobKind.WEBCAM, data, config, replace_outputs=True, default_outputs=default)


def execute_live(make_data: Callable[[], dict[str, Any]], config: Path | None, debug: bool = False) -> None:
    """Build the webcam spec (config under command line; a virtual camera by default) and run it."""
    execute(lambda: webcam_spec(make_data(), config), debug)


def webcam(
    camera: Annotated[str | None, typer.Option(
        "--camera", "--device", help="Camera index (0, 1, …) or /dev/videoN (--device: the old spelling).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Replay a video as a camera (+ --realtime).")] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Replay --source at its native frame rate.")] = False,
    loop: Annotated[bool | None, typer.Option(
        "--loop/--no-loop", help=f"Loop the replayed file (default {default_of(SourceSpec, 'loop')}).")] = None,
    blur: Annotated[float | None, typer.Option(
        "--blur", metavar="[N]", help=BLUR_HELP)] = None,
    background: Annotated[list[str] | None, typer.Option(
        "--background", metavar="IMAGE|VIDEO|#RRGGBB",
        help="Replace the background: image, video or #RRGGBB (repeat: the b key cycles).")] = None,
    vcam: Annotated[bool, typer.Option("--vcam", help="Output to a virtual camera (the default output).")] = False,
    vcam_device: Annotated[str | None, typer.Option("--vcam-device", help="Virtual camera, e.g. /dev/video10.")] = None,
    vcam_backend: Annotated[str | None, typer.Option(
        "--vcam-backend", help="v4l2loopback | obs | unitycapture (default: the first that works).")] = None,
    vcam_format: Annotated[str | None, typer.Option("--vcam-format", help="auto | rgb | bgr | i420")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Show a preview window with hotkeys.")] = False,
    record: Annotated[Path | None, typer.Option("--record", help="Also record the output to this video file.")] = None,
    sink: Annotated[list[SinkName] | None, typer.Option(
        "--sink", metavar="null|vcam|preview",
        help="Output by name: null (discard, for measuring), vcam, preview.")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")] = None,
    stats_json: Annotated[Path | None, typer.Option(
        "--stats-json", help="Write run statistics (fps, latency, drops, CPU) here.")] = None,
    mirror: Annotated[bool | None, typer.Option("--mirror/--no-mirror", help="Mirror the image (selfie view).")] = None,
    width: Annotated[int | None, typer.Option(
        "--width", help=f"Requested camera width (default {default_of(SourceSpec, 'width')}).")] = None,
    height: Annotated[int | None, typer.Option(
        "--height", help=f"Requested camera height (default {default_of(SourceSpec, 'height')}).")] = None,
    fps: Annotated[float | None, typer.Option(
        "--fps", help=f"Requested camera frame rate (default {default_of(SourceSpec, 'fps')}).")] = None,
    fourcc: Annotated[str | None, typer.Option(
        "--fourcc", help=f"Requested camera format (default {default_of(SourceSpec, 'fourcc')}).")] = None,
    fail_closed: Annotated[float | None, typer.Option(
        "--fail-closed", metavar="MS", help="Blur the whole frame if no fresh mask came for MS ms.")] = None,
    effect: Annotated[EffectKind | None, typer.Option(
        "--effect", metavar="NAME", help=EFFECT_HELP)] = None,
    model: ModelOpt = None, model_dir: ModelDirOpt = None, point: PointOpt = None, box: BoxOpt = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", help="SAM 2: ONNX Runtime threads (default 1: the camera path keeps a core).")] = None,
    provider: ProviderOpt = None,
    carry: Annotated[bool | None, typer.Option(
        "--carry/--no-carry", help=CARRY_HELP)] = None,
    gate: Annotated[float | None, typer.Option(
        "--gate", metavar="LEVELS", help=GATE_HELP)] = None,
    target_fps: Annotated[float | None, typer.Option(
        "--target-fps", help="Adaptive: infer less often / on smaller input to hold this output fps.")] = None,
    cpu_budget: Annotated[float | None, typer.Option(
        "--cpu-budget", metavar="PERCENT", help="Adaptive: keep process CPU under this (100 = one core).")] = None,
    config: ConfigOpt = None,
    status: Annotated[bool | None, typer.Option("--status/--no-status", help="Periodic status line on stderr.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Live: camera → background blur or replacement → virtual camera, preview, recording.

    Keys in the preview window: e effect on/off, +/- blur, b next background, s stats, m mirror, q quit.
    With --model sam2: left click tracks (include point), right click excludes, c clears.
    Ctrl-C ends cleanly (recordings are kept).
    """
    execute_live(lambda: cli_data(
        camera=camera, source=source, realtime=realtime, loop=loop, blur=blur, background=background, effect=effect,
        vcam=vcam, vcam_device=vcam_device, vcam_backend=vcam_backend, vcam_format=vcam_format, preview=preview,
        record=record, sink=sink, duration=duration, stats_json=stats_json, mirror=mirror, width=width,
        height=height, fps=fps, fourcc=fourcc, fail_closed=fail_closed, model=model, status=status, debug=debug,
        model_dir=model_dir, point=point, box=box, threads=threads, provider=provider, carry=carry,
        target_fps=target_fps, cpu_budget=cpu_budget, gate=gate), config, debug)


def register(app: typer.Typer) -> None:
    """Add ``webcam`` to the ``rtseg`` app."""
    app.command("webcam", cls=OptionalValueCommand)(webcam)
