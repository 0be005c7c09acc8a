"""``rtseg studio``: the click-to-track web app for recorded video (FastAPI + uvicorn, local)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtseg.cli.console import err_console, fail
from rtseg.cli.options import DebugOpt
from rtseg.cli.running import setup_logging
from rtseg.errors import ConfigError

LOCAL = ("127.0.0.1", "localhost", "::1")


def studio(
    video: Annotated[str | None, typer.Argument(help="A video file or image folder to open first.")] = None,
    model_dir: Annotated[Path | None, typer.Option(
        "--model-dir", help="SAM 2 export (`rtseg export-sam2`) for click-to-track; without it, the selfie model.")
    ] = None,
    root: Annotated[list[Path] | None, typer.Option(
        "--root", metavar="DIR",
        help="Another folder the page may open videos from (repeatable; always: VIDEO and the current folder).")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="DIR", help="Folder exports are written in (default ./studio-exports, made by the first "
        "export).")] = None,
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 8765,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind (default: this machine only; the app reads and writes local files).")
    ] = "127.0.0.1",
    threads: Annotated[int | None, typer.Option("--threads", help="SAM 2: ONNX Runtime threads.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Open a local web page to click on objects, see their masks at once, propagate through the video,
    correct any frame, and export masks, COCO RLE or an effect video.

    The page may open files only under VIDEO, the current folder and each --root, and writes only in
    the export folder (--out). Every call needs the secret token in the printed URL.
    """
    setup_logging()
    try:
        try:
            import uvicorn

            from rtseg.studio.app import create_app
            from rtseg.studio.guard import new_token
        except ImportError as exc:
            raise ConfigError(f'rtseg studio needs its web server: pip install "rtseg[studio]" ({exc.name} missing)') \
                from None
        if video is not None and not Path(video).exists():
            raise ConfigError(f"not found: {video}")
        if model_dir is not None and not model_dir.is_dir():
            raise ConfigError(f"--model-dir {model_dir}: not a folder (give the folder `rtseg export-sam2` wrote)")
        for r in root or []:
            if not r.is_dir():
                raise ConfigError(f"--root {r}: not a folder")
        roots: list[str | Path] = [*([video] if video is not None else []), Path.cwd(), *(root or [])]
        token = new_token()
        app = create_app(model_dir, video, threads, token=token, roots=roots, export_dir=out, bind=host,
                         debug=debug)
    except Exception as exc:
        raise fail(exc, debug) from None
    if host not in LOCAL:
        err_console.print(f"[bold yellow]warning:[/] serving on {host}: anyone who can reach this address and has "
                          "the token can read and write files as you through the studio", highlight=False)
    files = app.state.studio.files
    shown = f"[{host}]" if ":" in host else host
    for line in (f"rtseg studio: http://{shown}:{port}/?token={token}  (Ctrl-C to stop)",
                 f"rtseg studio reads videos only under: {files.describe_roots()}",
                 f"rtseg studio writes exports only in: {files.export_dir}"
                 + ("" if files.export_dir.exists() else " (made by the first export)")):
        err_console.print(line, highlight=False, markup=False)
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False)


def register(app: typer.Typer) -> None:
    app.command("studio")(studio)
