"""Bounded queues with a declared leak policy.

Like GStreamer's ``queue`` element (``max-size-buffers`` + ``leaky``), every queue between two stages
is bounded and says what happens when it is full: ``block`` waits (files: never drop a frame),
``drop_oldest`` discards the oldest queued item (live input: the newest frame wins, latency stays
low). Every drop is counted. Waiting always watches a stop event, so a stopped pipeline never hangs on
a full or empty queue.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from enum import StrEnum
from typing import Generic, TypeVar

T = TypeVar("T")

POLL_S = 0.05
"""Seconds a wait sleeps before it looks at the stop event again (queues and the flow limiter)."""


class Policy(StrEnum):
    """What a full queue does with a new item."""

    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    BLOCK_THEN_DROP = "block_then_drop"
    """Wait up to the queue's ``block_timeout_s`` for room, then drop the new item (a recording that
    stalls loses frames, counted, instead of stalling what feeds it)."""


class Stopped(Exception):
    """Raised from a queue wait when the pipeline's stop event is set."""


class _EndOfStream:
    _instance: _EndOfStream | None = None

    def __new__(cls) -> _EndOfStream:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EOS"


EOS = _EndOfStream()
"""The end-of-stream marker. It is never dropped, whatever the policy."""


class BoundedQueue(Generic[T]):
    """A thread-safe FIFO of at most ``maxsize`` items with a leak policy.

    >>> import threading
    >>> q = BoundedQueue[int](2, Policy.DROP_OLDEST)
    >>> stop = threading.Event()
    >>> for i in range(3):
    ...     q.put(i, stop)
    >>> q.dropped, q.get(stop), q.get(stop)
    (1, 1, 2)
    """

    def __init__(self, maxsize: int, policy: Policy = Policy.BLOCK, name: str = "queue",
                 block_timeout_s: float = 2.0) -> None:
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.policy = Policy(policy)
        self.name = name
        self.block_timeout_s = block_timeout_s
        self.dropped = 0
        self.max_depth = 0
        self._closed = False
        self._items: deque[T | _EndOfStream] = deque()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: T | _EndOfStream, stop: threading.Event) -> None:
        """Add ``item``; when full: wait (``block``), drop the oldest item (``drop_oldest``), or wait up
        to ``block_timeout_s`` and then drop ``item`` (``block_then_drop``; end of stream always waits)."""
        deadline = time.monotonic() + self.block_timeout_s
        with self._cond:
            if self._closed:
                return
            while len(self._items) >= self.maxsize:
                if (self.policy is Policy.BLOCK_THEN_DROP and item is not EOS
                        and time.monotonic() >= deadline):
                    self.dropped += 1
                    return
                if self.policy is Policy.DROP_OLDEST:
                    self._items.popleft()
                    self.dropped += 1
                    continue
                if stop.is_set():
                    raise Stopped
                self._cond.wait(POLL_S)
                if self._closed:
                    return
            self._items.append(item)
            self.max_depth = max(self.max_depth, len(self._items))
            self._cond.notify_all()

    def close(self) -> None:
        """Its consumer is gone: from now on ``put`` discards (nothing upstream waits on it)."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def get(self, stop: threading.Event) -> T | _EndOfStream:
        """Remove and return the oldest item, waiting until there is one or ``stop`` is set."""
        with self._cond:
            while not self._items:
                if stop.is_set():
                    raise Stopped
                self._cond.wait(POLL_S)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def get_latest(self, stop: threading.Event) -> T | _EndOfStream:
        """Return the newest item and count everything older as dropped (a one-in-flight limiter).

        End of stream is returned only after the items queued before it, so it is never skipped.
        """
        with self._cond:
            while not self._items:
                if stop.is_set():
                    raise Stopped
                self._cond.wait(POLL_S)
            while len(self._items) > 1 and self._items[1] is not EOS:
                self._items.popleft()
                self.dropped += 1
            item = self._items.popleft()
            self._cond.notify_all()
            return item
