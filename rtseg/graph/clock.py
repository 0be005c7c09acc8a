"""Clocks for pacing live sources: the real monotonic clock and a simulated one for tests.

A live source never asks "how long did the last frame take"; it asks the clock to wait until the next
frame is due. Tests swap in :class:`SimulatedClock` (the idea of MediaPipe's
``SimulationClockExecutor``), so pacing logic is checked exactly and instantly.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds and an interruptible wait."""

    def now(self) -> float: ...

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        """Sleep until ``now() >= t``; return False if ``stop`` was set first."""
        ...


class MonotonicClock:
    """The real clock (:func:`time.perf_counter`, the same base as ``Frame.t_in``)."""

    def now(self) -> float:
        return time.perf_counter()

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        while True:
            remaining = t - time.perf_counter()
            if remaining <= 0:
                return not stop.is_set()
            if stop.wait(remaining):
                return False


class SimulatedClock:
    """A clock that only moves when told to: ``wait_until`` jumps straight to the deadline.

    ``advance()`` simulates work that takes time (a slow decode, a stalled camera).

    >>> import threading
    >>> clock = SimulatedClock(); clock.wait_until(0.5, threading.Event())
    True
    >>> clock.now()
    0.5
    """

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds

    def wait_until(self, t: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return False
        with self._lock:
            self._t = max(self._t, t)
        return True
