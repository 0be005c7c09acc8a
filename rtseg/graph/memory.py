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


MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 128 * 1024 * 1024
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Keep freed frame buffers in the process instead of handing them back to the kernel; True if set.

    A pipeline allocates and frees several frame-sized arrays per frame (decoded image, alpha,
    blurred background, composite, encoder planes). With glibc's defaults, large blocks come from
    ``mmap`` or are trimmed off the heap when freed, so every frame pays for page faults and the
    zeroing of fresh pages (``clear_page_erms`` is a visible share of a 720p blur's kernel time).
    This serves blocks up to 32 MiB from the heap and keeps up to 128 MiB of free heap: ``rtseg
    blur`` on the 720p juggle clip spends about 1 ms of CPU less per frame (20.9 → 19.8 ms,
    alternating runs). The cost: up to 128 MiB the pipeline freed stays in the resident set. A no-op
    off glibc, or when ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` is set (the user's
    choice wins).
    """
    if (os.environ.get("MALLOC_MMAP_THRESHOLD_") or os.environ.get("MALLOC_TRIM_THRESHOLD_")
            or not sys.platform.startswith("linux")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def tune_malloc() -> None:
    """Both settings, as the ``rtseg`` command and batch workers apply them before any thread starts."""
    limit_malloc_arenas()
    keep_freed_memory()
