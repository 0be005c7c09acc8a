"""The signals that end a job (Ctrl-C, SIGTERM, SIGHUP), handled in one place.

Python runs signal handlers in the main thread only, between two bytecodes, so a handler that raises
can interrupt the main thread anywhere. :func:`handled` installs a job's own handler for the stop
signals; :func:`deferred` holds them back for a few lines that must not be cut in two (a folder made
but not yet recorded, two renames of one swap) and delivers them when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C; ``kill``, ``timeout``, systemd and Docker; a closed terminal."""

SIGNAL_EXIT: dict[int, int] = {int(sig): 128 + int(sig) for sig in STOP_SIGNALS}
"""Exit codes after a signal (128 + its number), as shells report them.

>>> SIGNAL_EXIT[signal.SIGINT], SIGNAL_EXIT[signal.SIGTERM], SIGNAL_EXIT[signal.SIGHUP]
(130, 143, 129)
"""

Handler = Callable[[int, Any], None]


@contextlib.contextmanager
def handled(handler: Handler) -> Iterator[None]:
    """``handler`` receives the stop signals inside the block; the previous handlers come back after it.

    Outside the main thread (where Python cannot set handlers) it does nothing.
    """
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A stop signal that arrives inside the block is delivered, to the handler in force, when it ends.

    For a few lines only: the user's Ctrl-C waits for them.

    >>> import os
    >>> with contextlib.suppress(KeyboardInterrupt):
    ...     with deferred():
    ...         os.kill(os.getpid(), signal.SIGINT)
    ...         print("the block ran to its end")
    ...     print("not reached: the Ctrl-C lands here")
    the block ran to its end
    """
    held: list[int] = []
    try:
        with handled(lambda signum, frame: held.append(signum)):
            yield
    finally:
        for signum in held:
            signal.raise_signal(signum)
