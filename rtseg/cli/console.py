"""Where ``rtseg`` commands report to the user: the stderr console, and an error as one line with its
exit code (:func:`fail`)."""

from __future__ import annotations

import traceback

import typer
from rich.console import Console
from rich.markup import escape

from rtseg.errors import RtsegError, internal_error

err_console = Console(stderr=True, soft_wrap=True)


def fail(exc: BaseException, debug: bool) -> typer.Exit:
    """Print ``exc`` as one line (a traceback too with ``--debug``); the exit to raise."""
    if debug:
        traceback.print_exception(exc)
    if isinstance(exc, RtsegError):
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True)
        return typer.Exit(exc.exit_code)
    kind, _, message = internal_error(exc).partition(": ")
    err_console.print(f"[bold red]{kind}:[/] {escape(message)}", highlight=False)
    if not debug:
        traceback.print_exception(exc)
    return typer.Exit(3)


__all__ = ["err_console", "fail"]
