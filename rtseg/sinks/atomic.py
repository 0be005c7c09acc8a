"""Write-then-rename: an output appears complete or not at all, and a crash leaves nothing behind for long.

Files are written to a hidden sibling (``.NAME.rtseg-partial-PID.SUFFIX``) and renamed over the target
when complete; folders are written to a hidden sibling folder (``.NAME.rtseg-partial-PID-XXXX``) and
replace the target folder as a whole (an existing folder's old files never mix with the new ones).
A process killed outright (SIGKILL, power cut) cannot remove its partial files; the next rtseg run
that writes into the same folder removes those whose writer process no longer exists (never those of
a live process) and says so in one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

from rtseg.errors import SinkError

log = logging.getLogger("rtseg")

PARTIAL = ".rtseg-partial-"
_PARTIAL_RE = re.compile(r"^\..*\.rtseg-partial-(\d+)(?:[.-].*)?$")
_cleaned: set[Path] = set()


LOW_SPACE = 4 * 1024 * 1024
"""Below this many free bytes a failed write is reported as a full disk."""


def _free_bytes(path: Path) -> tuple[Path | None, int | None]:
    folder = next((p for p in [path.parent, *path.parents] if p.exists()), None)
    return folder, (shutil.disk_usage(folder).free if folder is not None else None)


def disk_full(path: Path, exc: BaseException | None = None) -> bool:
    """True if a write of ``path`` failed for lack of space (ENOSPC, or next to nothing free)."""
    _, free = _free_bytes(Path(path))
    return getattr(exc, "errno", None) == 28 or (free is not None and free < LOW_SPACE)


def write_error(path: Path, exc: BaseException | None = None) -> SinkError:
    """The error for a failed write of ``path``, saying so when the disk is full.

    >>> str(write_error(Path("/nonexistent/x.png")))
    'cannot write /nonexistent/x.png'
    """
    target = Path(path)
    _, free = _free_bytes(target)
    shown = _visible(target)
    if disk_full(target, exc):
        where = f" ({free / 1e6:.1f} MB free there)" if free is not None else ""
        return SinkError(f"cannot write {shown}: the disk is full{where}")
    reason = f": {exc.strerror or exc}" if isinstance(exc, OSError) else (f": {exc}" if exc else "")
    return SinkError(f"cannot write {shown}{reason}")


def _visible(path: Path) -> Path:
    """The name the user gave for a path inside a hidden partial file or folder.

    >>> _visible(Path("/o/.m.rtseg-partial-12-ab/00001.png")), _visible(Path("/o/.j.rtseg-partial-12.mp4"))
    (PosixPath('/o/m/00001.png'), PosixPath('/o/j.mp4'))
    """
    if _PARTIAL_RE.match(path.parent.name):
        return path.parent.with_name(path.parent.name[1:path.parent.name.index(PARTIAL)]) / path.name
    if _PARTIAL_RE.match(path.name):
        return path.with_name(path.name[1:path.name.index(PARTIAL)] + path.suffix)
    return path


def check_writable_dir(directory: Path, what: str) -> None:
    if not directory.exists():
        raise SinkError(f"output directory does not exist: {directory} (for {what})")
    if not directory.is_dir():
        raise SinkError(f"not a directory: {directory} (for {what})")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SinkError(f"output directory is not writable: {directory} (for {what})")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_partials(directory: Path) -> int:
    """Remove the partial files and folders in ``directory`` whose writer process is gone; how many.

    >>> remove_stale_partials(Path("/nonexistent"))
    0
    """
    try:
        entries = list(directory.iterdir())
    except OSError:
        return 0
    removed = 0
    for entry in entries:
        m = _PARTIAL_RE.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def _clean_once(directory: Path) -> None:
    """Stale partials of this folder are removed the first time this process writes there."""
    key = directory.resolve()
    if key in _cleaned:
        return
    _cleaned.add(key)
    n = remove_stale_partials(key)
    if n:
        log.warning("removed %d partial output%s left in %s by an rtseg run that ended early",
                    n, "" if n == 1 else "s", key)


def partial_file(path: Path) -> Path:
    """A hidden sibling of ``path`` with the same suffix, so FFmpeg still sees the format."""
    parent = path.parent.resolve()
    check_writable_dir(parent, str(path))
    if path.is_dir():
        raise SinkError(f"output {path} is a directory; expected a file name")
    _clean_once(parent)
    return path.with_name(f".{path.stem}{PARTIAL}{os.getpid()}{path.suffix}")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicDir:
    """Files go to a hidden temporary folder beside ``target``; ``commit()`` puts it in place of the
    target as a whole (created with the user's umask, like any folder)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp: Path | None = None

    def open(self) -> Path:
        parent = self.target.resolve().parent
        check_writable_dir(parent, str(self.target))
        if self.target.exists() and not self.target.is_dir():
            raise SinkError(f"output {self.target} exists and is not a directory")
        _clean_once(parent)
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}{PARTIAL}{os.getpid()}-", dir=parent))
            os.chmod(self.tmp, 0o777 & ~_umask())
        except BaseException:  # e.g. Ctrl-C right now: the stage's close() will not run, so clean up here
            self.discard()
            raise
        return self.tmp

    def commit(self) -> None:
        assert self.tmp is not None, "open() first"
        target = self.target
        if target.exists() or target.is_symlink():
            # Move the old folder aside under a partial name, put the new one in place, then delete
            # the old one: at every moment the target is the old folder, the new one, or (for the
            # instant between two renames) absent; never a mix.
            old = target.with_name(f".{target.name}{PARTIAL}{os.getpid()}-old")
            if old.exists():
                shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(self.tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, target)
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.tmp)
            self.tmp = None
