"""A studio session's long work (propagation, an export): one task at a time, in a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rtseg.errors import ConfigError, RtsegError, internal_error
from rtseg.studio.events import EventLog


class TaskRunner:
    """Runs one task at a time in a daemon thread; a failure becomes an ``error`` event in ``events``
    (the server goes on). ``cancel`` asks the running task to stop (it checks between frames)."""

    def __init__(self, events: EventLog) -> None:
        self.events = events
        self.cancel = threading.Event()
        self.current: str | None = None
        """The running task's name, or None."""
        self.worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def check_idle(self) -> None:
        """Raise :class:`ConfigError` while a task runs."""
        if self.current is not None:
            raise ConfigError(f"busy ({self.current}): cancel it or wait")

    def start(self, name: str, work: Callable[[], None]) -> None:
        """Run ``work`` in a thread named ``studio-NAME``; refused while another task runs."""
        with self._lock:  # one long task at a time, whichever request thread asks
            self.check_idle()
            self.current = name
        self.cancel.clear()

        def run() -> None:
            try:
                work()
            except RtsegError as exc:
                self.events.put(type="error", task=name, message=str(exc))
            except Exception as exc:  # shown on the page; the server goes on
                self.events.put(type="error", task=name, message=internal_error(exc))
            finally:
                self.current = None

        self.worker = threading.Thread(target=run, name=f"studio-{name}", daemon=True)
        self.worker.start()

    def stop(self) -> None:
        """Cancel the running task and wait for it (up to 30 s)."""
        self.cancel.set()
        worker = self.worker
        if worker is not None and worker.is_alive():
            worker.join(timeout=30)
