"""Process-wide memory settings for long runs (called by the ``rtseg`` command, never at import)."""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter number for the arena limit (malloc.h)."""


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Let glibc's malloc use at most ``arenas`` heaps; True if the limit was set.

    glibc gives threads that allocate at the same time heaps of their own (up to 8 per core). A
    pipeline's dozen threads pass large frames to each other, so on a 10-minute live run RSS swung
    between 320 and 410 MB and settled high; with two arenas it stayed flat at about 275 MB
    (``benchmarks/soak.py``), with no measurable change in file-blur throughput. A no-op off glibc or
    when ``MALLOC_ARENA_MAX`` is set in the environment (the user's choice wins).
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))
