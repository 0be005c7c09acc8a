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
