"""A flow limiter in front of inference: at most one frame in flight, newest wins.

Modelled on MediaPipe's ``FlowLimiterCalculator`` (``max_in_flight``, ``max_in_queue``): the selfie
graph puts one in front of the segmenter so that, on live input, frames arriving while the model is
busy are dropped *from inference* instead of queueing behind it (a queue adds a frame time of latency
per queued frame and never catches up). Here the frames the limiter drops are still delivered by the
composite stage, with the newest mask; the limiter only decides which frames get segmented.
"""

from __future__ import annotations

import threading
from collections import deque
from enum import StrEnum
from typing import Generic, TypeVar

from rtseg.graph.queues import POLL_S, Stopped

T = TypeVar("T")


class Admission(StrEnum):
    """What :meth:`FlowLimiter.offer` did with an item."""

    IN_FLIGHT = "in_flight"
    """Handed to the worker now."""
    QUEUED = "queued"
    """Waiting for the worker (only with ``max_in_queue > 0``); a newer item may still replace it."""
    DROPPED = "dropped"
    """Not processed: the worker was busy and there was no queue room."""


class FlowLimiter(Generic[T]):
    """Admit items to a worker while fewer than ``max_in_flight`` are being processed.

    An item offered while the worker is busy waits in a queue of ``max_in_queue`` (newest wins: the
    oldest waiting item is dropped); with ``max_in_queue=0`` (MediaPipe's default) it is dropped at
    once. Every drop is counted in ``dropped``.

    >>> import threading
    >>> lim = FlowLimiter[int](); stop = threading.Event()
    >>> lim.offer(1).value, lim.offer(2).value     # 2 arrives while 1 is in flight
    ('in_flight', 'dropped')
    >>> lim.take(stop); lim.done(); lim.offer(3).value
    1
    'in_flight'
    >>> lim.dropped
    1
    """

    def __init__(self, max_in_flight: int = 1, max_in_queue: int = 0) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if max_in_queue < 0:
            raise ValueError(f"max_in_queue must be >= 0, got {max_in_queue}")
        self.max_in_flight = max_in_flight
        self.max_in_queue = max_in_queue
        self.offered = 0
        self.processed = 0
        self.dropped = 0
        self._in_flight = 0
        self._ready: deque[T] = deque()  # admitted to flight, not yet taken by the worker
        self._queue: deque[T] = deque()  # waiting for a flight slot
        self._cond = threading.Condition()

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def offer(self, item: T) -> Admission:
        """Hand ``item`` to the worker if a slot is free; otherwise queue or drop it."""
        with self._cond:
            self.offered += 1
            if self._in_flight < self.max_in_flight:
                self._in_flight += 1
                self._ready.append(item)
                self._cond.notify_all()
                return Admission.IN_FLIGHT
            if self.max_in_queue == 0:
                self.dropped += 1
                return Admission.DROPPED
            if len(self._queue) >= self.max_in_queue:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(item)
            return Admission.QUEUED

    def take(self, stop: threading.Event) -> T:
        """The worker's side: wait for the next admitted item (raises ``Stopped`` once ``stop`` is set)."""
        with self._cond:
            while not self._ready:
                if stop.is_set():
                    raise Stopped
                self._cond.wait(POLL_S)
            return self._ready.popleft()

    def done(self) -> None:
        """The worker finished its item: free the slot and admit the newest queued item, if any."""
        with self._cond:
            self.processed += 1
            self._in_flight = max(0, self._in_flight - 1)
            if self._queue and self._in_flight < self.max_in_flight:
                self._in_flight += 1
                self._ready.append(self._queue.popleft())
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake a waiting worker so it notices its stop event."""
        with self._cond:
            self._cond.notify_all()
