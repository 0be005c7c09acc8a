"""The studio's event log: progress and results of long work, which the page reads as Server-Sent Events."""

from __future__ import annotations

import collections
import threading
from typing import Any


class EventLog:
    """Numbered events (1, 2, ...), the last ``keep`` of them kept; thread-safe.

    >>> log = EventLog()
    >>> log.put(type="done", task="export")
    >>> log.since(0)
    [(1, {'type': 'done', 'task': 'export'})]
    """

    def __init__(self, keep: int = 1000) -> None:
        self._items: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=keep)
        self._n = 0
        self._lock = threading.Lock()

    def put(self, **event: Any) -> None:
        with self._lock:
            self._n += 1
            self._items.append((self._n, event))

    def since(self, n: int) -> list[tuple[int, dict[str, Any]]]:
        """The events after event ``n``, oldest first."""
        with self._lock:
            return [(i, e) for i, e in self._items if i > n]
