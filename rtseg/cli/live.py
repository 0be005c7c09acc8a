"""``rtseg webcam``: camera (or a file replayed in real time) → background blur/replace → virtual camera,
preview window and/or recording. Registered on the main ``rtseg`` app by :func:`register`.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from typer.core import TyperCommand

from rtseg.config import load_toml, merge
from rtseg.errors import ConfigError

DEFAULT_BLUR = 25.0


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

    optional_values: ClassVar[dict[str, str]] = {"--blur": f"{DEFAULT_BLUR:g}"}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_optional_values(list(args), self.optional_values))


class SinkName(StrEnum):
    NULL = "null"
    VCAM = "vcam"
    PREVIEW = "preview"


def _setup_logging() -> None:
    logger = logging.getLogger("rtseg.live")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("rtseg: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def cli_data(
    *, device: str | None = None, source: str | None = None, realtime: bool = False, loop: bool | None = None,
    blur: float | None = None, background: list[str] | None = None, vcam: bool = False,
    vcam_device: str | None = None, vcam_backend: str | None = None, vcam_format: str | None = None,
    preview: bool = False, record: Path | None = None, sink: list[SinkName] | None = None,
    duration: float | None = None, stats_json: Path | None = None, mirror: bool | None = None,
    width: int | None = None, height: int | None = None, fps: float | None = None, fourcc: str | None = None,
    fail_closed: float | None = None, model: str | None = None, status: bool | None = None, debug: bool = False,
    model_dir: str | None = None, point: list[str] | None = None, box: str | None = None,
    threads: int | None = None, carry: bool | None = None, target_fps: float | None = None,
    cpu_budget: float | None = None,
) -> dict[str, Any]:
    """The options given on the command line as a (partial) :class:`LiveConfig` dict; None = not given."""
    sinks = set(sink or [])
    effect: dict[str, Any] = {"fail_closed_ms": fail_closed}
    if background:
        effect["backgrounds"] = list(background)
        effect["mode"] = "replace"
    if blur is not None:
        effect["strength"] = blur
        effect["mode"] = "blur"
    out: dict[str, Any] = {"vcam_device": vcam_device, "vcam_backend": vcam_backend, "vcam_format": vcam_format}
    if vcam or preview or record is not None or sinks:
        out.update({"vcam": vcam or SinkName.VCAM in sinks, "preview": preview or SinkName.PREVIEW in sinks,
                    "null": SinkName.NULL in sinks, "record": str(record) if record is not None else None,
                    "_explicit": True})
    prompt: dict[str, Any] = {}
    if point:
        parsed = [parse_point(p) for p in point]
        prompt.update(points=[(x, y) for x, y, _ in parsed], labels=[lab for _, _, lab in parsed])
    if box is not None:
        prompt["box"] = parse_numbers(box, 4, "--box", "X0,Y0,X1,Y1")
    return {
        "source": {"device": device, "file": source, "realtime": realtime or None, "loop": loop, "mirror": mirror,
                   "width": width, "height": height, "fps": fps, "fourcc": fourcc},
        "model": {"name": model, "dir": model_dir, "threads": threads},
        "prompt": prompt,
        "carry": {"enabled": carry},
        "adaptive": {"target_fps": target_fps, "cpu_budget": cpu_budget},
        "effect": effect,
        "output": out,
        "run": {"duration": duration, "stats_json": str(stats_json) if stats_json else None, "status": status,
                "debug": debug or None},
    }


def parse_numbers(text: str, count: int, option: str, form: str) -> tuple[float, ...]:
    """``"10,20"`` → ``(10.0, 20.0)``; a :class:`ConfigError` naming ``option`` otherwise.

    >>> parse_numbers("1,2.5", 2, "--point", "X,Y")
    (1.0, 2.5)
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count:
        raise ConfigError(f"{option} expects {form}, got {text!r}")
    return values


def parse_point(text: str) -> tuple[float, float, int]:
    """``X,Y`` or ``X,Y,LABEL`` (1 include, the default; 0 exclude) in video pixels.

    >>> parse_point("640,360"), parse_point("10,20,0")
    ((640.0, 360.0, 1), (10.0, 20.0, 0))
    """
    parts = text.split(",")
    if len(parts) == 3:
        x, y = parse_numbers(",".join(parts[:2]), 2, "--point", "X,Y[,LABEL]")
        if parts[2].strip() not in ("0", "1"):
            raise ConfigError(f"--point label must be 1 (include) or 0 (exclude), got {text!r}")
        return x, y, int(parts[2])
    x, y = parse_numbers(text, 2, "--point", "X,Y[,LABEL]")
    return x, y, 1


def combine(base: dict[str, Any], cli: dict[str, Any]) -> dict[str, Any]:
    """The config file under the command line: a camera on the command line replaces a file in the
    config (and the other way round), and outputs given on the command line replace the config's."""
    base = merge({}, base)
    bsrc, csrc = base.get("source", {}), cli["source"]
    if csrc.get("file") is not None:
        bsrc.pop("device", None)
    if csrc.get("device") is not None:
        for key in ("file", "realtime"):
            bsrc.pop(key, None)
    cout = dict(cli["output"])
    if cout.pop("_explicit", False):
        bout = base.get("output", {})
        for key in ("vcam", "preview", "null", "record"):
            bout.pop(key, None)
        cout = {k: (v if v else None) if k in ("vcam", "preview", "null") else v for k, v in cout.items()}
    data = merge(base, {**cli, "output": cout})
    out = data.setdefault("output", {})
    if not any(out.get(k) for k in ("vcam", "preview", "null", "record")):
        out["vcam"] = True  # the everyday use: a virtual webcam
    return data


def execute_live(data: dict[str, Any], config: Path | None, source: str = "command line") -> None:
    """Validate, run, report; errors exit with the code of :func:`rtseg.cli._fail`."""
    from rtseg.cli import _fail, err_console
    from rtseg.live.config import build_live_config
    from rtseg.live.pipeline import LiveSession

    debug = bool(data.get("run", {}).get("debug"))
    try:
        base: dict[str, Any] = {}
        if config is not None:
            base = load_toml(config)
            if base.get("command", "webcam") != "webcam":
                raise ConfigError(f"{config} is a '{base['command']}' config, not 'webcam'")
        cfg = build_live_config(combine(base, data), str(config) if config else source)
        debug = cfg.run.debug
        _setup_logging()
        session = LiveSession(cfg)
        stats = session.run()
        lat = stats.to_json()["latency_ms"]
        err_console.print(f"webcam: {stats.frames_out} frames in {stats.duration_s:.1f} s ({stats.fps:.2f} fps), "
                          f"dropped {stats.dropped}, latency p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms, "
                          f"cpu {stats.cpu_percent:.0f}%", highlight=False)
        if cfg.output.record:
            err_console.print(f"wrote {cfg.output.record}", highlight=False)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(130) from None
    except Exception as exc:
        raise _fail(exc, debug) from None


def run_config_file(path: Path, *, stats_json: Path | None = None, debug: bool = False) -> None:
    """``rtseg run configs/webcam-blur.toml``: a webcam TOML file with nothing on the command line."""
    data = cli_data(stats_json=stats_json, debug=debug)
    execute_live(data, path, source=str(path))


def webcam(
    device: Annotated[str | None, typer.Option("--device", help="Camera index (0, 1, …) or /dev/videoN.")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Replay a video as a camera (+ --realtime).")] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Replay --source at its native frame rate.")] = False,
    loop: Annotated[bool | None, typer.Option("--loop/--no-loop", help="Loop the replayed file (default on).")] = None,
    blur: Annotated[float | None, typer.Option(
        "--blur", metavar="[N]", help=f"Blur the background; N = sigma in pixels (default {DEFAULT_BLUR:g}).")] = None,
    background: Annotated[list[str] | None, typer.Option(
        "--background", help="Replace the background: image, video or #RRGGBB (repeat: the b key cycles).")] = None,
    vcam: Annotated[bool, typer.Option("--vcam", help="Output to a virtual camera (the default output).")] = False,
    vcam_device: Annotated[str | None, typer.Option("--vcam-device", help="Virtual camera, e.g. /dev/video10.")] = None,
    vcam_backend: Annotated[str | None, typer.Option("--vcam-backend", help="v4l2loopback|obs|unitycapture")] = None,
    vcam_format: Annotated[str | None, typer.Option("--vcam-format", help="auto | rgb | bgr | i420")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Show a preview window with hotkeys.")] = False,
    record: Annotated[Path | None, typer.Option("--record", help="Also record the output to this video file.")] = None,
    sink: Annotated[list[SinkName] | None, typer.Option(
        "--sink", help="Output by name: null (discard, for measuring), vcam, preview.")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")] = None,
    stats_json: Annotated[Path | None, typer.Option(
        "--stats-json", help="Write run statistics (fps, latency, drops, CPU) here.")] = None,
    mirror: Annotated[bool | None, typer.Option("--mirror/--no-mirror", help="Mirror the image (selfie view).")] = None,
    width: Annotated[int | None, typer.Option("--width", help="Requested camera width (default 1280).")] = None,
    height: Annotated[int | None, typer.Option("--height", help="Requested camera height (default 720).")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Requested camera frame rate (default 30).")] = None,
    fourcc: Annotated[str | None, typer.Option("--fourcc", help="Requested camera format (default MJPG).")] = None,
    fail_closed: Annotated[float | None, typer.Option(
        "--fail-closed", metavar="MS", help="Blur the whole frame if no fresh mask came for MS ms.")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="selfie | selfie-square | selfie-landscape | sam2 (+ --model-dir)")] = None,
    model_dir: Annotated[str | None, typer.Option(
        "--model-dir", help="SAM 2: a directory written by `rtseg export-sam2`.")] = None,
    point: Annotated[list[str] | None, typer.Option(
        "--point", metavar="X,Y[,L]", help="SAM 2: prompt point on the first frame (L 1 include, 0 exclude).")] = None,
    box: Annotated[str | None, typer.Option("--box", metavar="X0,Y0,X1,Y1", help="SAM 2: prompt box.")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", help="SAM 2: ONNX Runtime threads (default 1: the camera path keeps a core).")] = None,
    carry: Annotated[bool | None, typer.Option(
        "--carry/--no-carry", help="Move the newest mask to each frame by optical flow (default on).")] = None,
    target_fps: Annotated[float | None, typer.Option(
        "--target-fps", help="Adaptive: infer less often / on smaller input to hold this output fps.")] = None,
    cpu_budget: Annotated[float | None, typer.Option(
        "--cpu-budget", metavar="PERCENT", help="Adaptive: keep process CPU under this (100 = one core).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML defaults (configs/webcam-*.toml).")] = None,
    status: Annotated[bool | None, typer.Option("--status/--no-status", help="Periodic status line on stderr.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Live: camera → background blur or replacement → virtual camera, preview, recording.

    Keys in the preview window: e effect on/off, +/- blur, b next background, s stats, m mirror, q quit.
    With --model sam2: left click tracks (include point), right click excludes, c clears.
    Ctrl-C ends cleanly (recordings are kept).
    """
    try:
        data = cli_data(device=device, source=source, realtime=realtime, loop=loop, blur=blur, background=background,
                        vcam=vcam, vcam_device=vcam_device, vcam_backend=vcam_backend, vcam_format=vcam_format,
                        preview=preview, record=record, sink=sink, duration=duration, stats_json=stats_json,
                        mirror=mirror, width=width, height=height, fps=fps, fourcc=fourcc, fail_closed=fail_closed,
                        model=model, status=status, debug=debug, model_dir=model_dir, point=point, box=box,
                        threads=threads, carry=carry, target_fps=target_fps, cpu_budget=cpu_budget)
    except ConfigError as exc:
        from rtseg.cli import _fail

        raise _fail(exc, debug) from None
    execute_live(data, config)


def register(app: typer.Typer) -> None:
    """Add ``webcam`` to the ``rtseg`` app."""
    app.command("webcam", cls=OptionalValueCommand)(webcam)
