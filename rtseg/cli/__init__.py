"""The ``rtseg`` command line (typer). Every command fills one :class:`~rtseg.jobs.spec.JobSpec`.

Commands live in small modules (:mod:`rtseg.cli.files`, :mod:`rtseg.cli.live`, :mod:`rtseg.cli.track`,
:mod:`rtseg.cli.bench`, …); this one makes the app, ``rtseg run`` (any job from a TOML file) and
``rtseg devices``, and turns usage errors into one line with exit code 2. What the commands share is in
:mod:`rtseg.cli.options` (option types and help), :mod:`rtseg.cli.jobdata` (options → job data),
:mod:`rtseg.cli.running` (running a job with progress and signals) and :mod:`rtseg.cli.console`
(errors as one line).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer._click.exceptions import NoArgsIsHelpError, UsageError

from rtseg.cli.console import err_console, fail
from rtseg.cli.jobdata import run_data
from rtseg.cli.options import DebugOpt, ProgressOpt, StatsOpt
from rtseg.cli.running import execute
from rtseg.errors import RtsegError
from rtseg.graph.memory import tune_malloc
from rtseg.version import __version__

app = typer.Typer(
    name="rtseg",
    help="Real-time video segmentation: blur or replace backgrounds, cut out and track objects, export masks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 120, "help_option_names": ["-h", "--help"]},
)


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="A TOML job file of any kind, e.g. configs/blur.toml.")],
    progress: ProgressOpt = None, stats_json: StatsOpt = None, debug: DebugOpt = False,
) -> None:
    """Run any job described by a TOML file (see configs/): blur, replace, cutout, segment, overlay,
    webcam, track. Paths in the file are relative to the file."""
    from rtseg.jobs.loading import merge
    from rtseg.jobs.spec import JobSpec

    def make() -> Any:
        spec = JobSpec.from_toml(config)
        data = merge(spec.model_dump(exclude_unset=True), {"run": run_data(progress, stats_json, debug)})
        return JobSpec.from_dict(data, str(config)).check().with_origin(config)

    execute(make, debug)


@app.command()
def devices() -> None:
    """List models, ONNX Runtime providers, the MediaPipe version, cameras and virtual cameras."""
    from rtseg.devices import report

    for line in report():
        typer.echo(line)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rtseg {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """rtseg: real-time video segmentation."""


_registered = False


def register_commands() -> None:
    """Add every command module's commands to :data:`app` (once; imported here, not at start-up)."""
    global _registered
    if _registered:
        return
    _registered = True
    from rtseg.cli import batch, bench, files, live, rvm, studio, track

    for module in (files, live, track, rvm, batch, studio, bench):
        module.register(app)


# typer vendors click as ``typer._click`` from 0.26 on (pyproject's floor) and no longer depends on click, so
# rtseg never imports click: a base install has none. typer re-exports Exit, Abort and BadParameter; the usage
# errors it raises (UsageError and its NoArgsIsHelpError) live only in its vendored exceptions module.
NO_ARGS: tuple[type[BaseException], ...] = (NoArgsIsHelpError,)
USAGE_ERRORS: tuple[type[BaseException], ...] = (UsageError,)
ABORTS: tuple[type[BaseException], ...] = (typer.Abort, KeyboardInterrupt)
EXITS: tuple[type[BaseException], ...] = (typer.Exit,)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings as one line on stderr (``warning: ...``), not Python's two-line source excerpt."""
    err_console.print(f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False)


def main(argv: list[str] | None = None) -> None:
    """The ``rtseg`` entry point: usage errors are one line on stderr with exit code 2."""
    warnings.showwarning = _show_warning
    tune_malloc()  # before the pipeline's threads start: flat RSS on long runs, no page faults per frame
    try:
        register_commands()
        # Without standalone mode click returns (not raises) the code of a typer.Exit from a command.
        code = app(args=argv, prog_name="rtseg", standalone_mode=False)
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            sys.exit(code)
    except NO_ARGS as exc:
        ctx = getattr(exc, "ctx", None)
        err_console.print(ctx.get_help() if ctx is not None else "", highlight=False, markup=False)
        sys.exit(2)
    except USAGE_ERRORS as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = escape(exc.format_message())  # type: ignore[attr-defined]
        err_console.print(f"[bold red]error:[/] {message}{escape(hint)}", highlight=False)
        sys.exit(2)
    except ABORTS:
        err_console.print("interrupted")  # e.g. Ctrl-C while starting up
        sys.exit(130)
    except EXITS as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except RtsegError as exc:
        raise SystemExit(fail(exc, False).exit_code) from None

__all__ = ["app", "main"]
