"""The rtseg error hierarchy.

Every error rtseg raises on purpose derives from :class:`RtsegError` and, where it fits, from the
builtin a caller would already catch (``ValueError`` for bad configuration, ``OSError`` for media and
devices). The CLI prints ``str(error)`` as one line and exits non-zero; other exceptions are bugs and
keep their traceback.
"""

from __future__ import annotations


class RtsegError(Exception):
    """Base class of every error rtseg raises deliberately."""

    exit_code: int = 1


class ConfigError(RtsegError, ValueError):
    """An option, config file or config key is invalid."""

    exit_code = 2


class SourceError(RtsegError, OSError):
    """An input cannot be opened or decoded (missing, not media, truncated, no camera)."""


class SinkError(RtsegError, OSError):
    """An output cannot be written (unwritable path, encoder failure, no virtual camera)."""


class ModelError(RtsegError, OSError):
    """A model file is missing, corrupt, or fails to load."""


class ChecksumError(ModelError):
    """A model file's sha256 does not match the expected value."""


class PipelineError(RtsegError, RuntimeError):
    """The stage graph was used wrongly (e.g. run twice, no stages)."""


class ExecutorError(RtsegError, RuntimeError):
    """A batch's workers cannot be started or reached (e.g. no Ray cluster at the given address)."""


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines too) made one space.

    >>> one_line("cannot read\\n  x.mp4 ")
    'cannot read x.mp4'
    """
    return " ".join(str(text).split())


def internal_error(exc: BaseException) -> str:
    """How an error that is not rtseg's own (a bug) is shown: ``internal error: Type: message``.

    >>> internal_error(KeyError("x"))
    "internal error: KeyError: 'x'"
    """
    return f"internal error: {type(exc).__name__}: {exc}"


def describe(exc: BaseException) -> str:
    """An error in one line as rtseg reports it: its own errors by their message, anything else as a bug.

    >>> describe(ConfigError("bad key\\nin x.toml")), describe(ZeroDivisionError("division by zero"))
    ('bad key in x.toml', 'internal error: ZeroDivisionError: division by zero')
    """
    return one_line(str(exc) if isinstance(exc, RtsegError) else internal_error(exc))
