"""``rtseg studio``: the click-to-track web app for recorded video (FastAPI + uvicorn, local)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtseg.cli.common import err_console, fail, setup_logging

LOCAL = ("127.0.0.1", "localhost", "::1")


def studio(
    video: Annotated[str | None, typer.Argument(help="A video file or image folder to open first.")] = None,
    model_dir: Annotated[Path | None, typer.Option(
        "--model-dir", help="SAM 2 export (`rtseg export-sam2`) for click-to-track; without it, the selfie model.")
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8765,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind (default: this machine only; the app reads and writes local files).")
    ] = "127.0.0.1",
    threads: Annotated[int | None, typer.Option("--threads", help="SAM 2: ONNX Runtime threads.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Open a local web page to click on objects, see their masks at once, propagate through the video,
    correct any frame, and export masks, COCO RLE or an effect video."""
    setup_logging()
    try:
        try:
            import uvicorn

            from rtseg.studio.app import create_app
        except ImportError as exc:
            from rtseg.errors import ConfigError

            raise ConfigError(f'rtseg studio needs its web server: pip install "rtseg[studio]" ({exc.name} missing)') \
                from None
        if video is not None and not Path(video).exists():
            from rtseg.errors import ConfigError

            raise ConfigError(f"not found: {video}")
        if model_dir is not None and not model_dir.is_dir():
            from rtseg.errors import ConfigError

            raise ConfigError(f"--model-dir {model_dir}: not a folder (give the folder `rtseg export-sam2` wrote)")
        app = create_app(model_dir, video, threads)
    except Exception as exc:
        raise fail(exc, debug) from None
    if host not in LOCAL:
        err_console.print(f"[bold yellow]warning:[/] serving on {host}: anyone who can reach this address can read "
                          "and write files as you through the studio", highlight=False)
    shown = f"[{host}]" if ":" in host else host
    err_console.print(f"rtseg studio: http://{shown}:{port}/  (Ctrl-C to stop)", highlight=False, markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("studio")(studio)
