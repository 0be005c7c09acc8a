"""Write-then-rename: an output appears complete or not at all, and a crash leaves nothing behind for long.

Files are written to a hidden sibling (``.NAME.rtseg-partial-PID.SUFFIX``) and renamed over the target
when complete; folders are written to a hidden sibling folder (``.NAME.rtseg-partial-PID-XXXX``) and
replace the target folder as a whole (an existing folder's old files never mix with the new ones).

A folder output replaces only a folder that is new, empty, or written by rtseg: every folder rtseg
commits holds a small manifest, :data:`OUTPUT_MARKER`, listing what rtseg wrote there, and a folder
holding anything else is refused (:func:`check_replaceable`) before any work starts, and again at
the moment of the swap. Rtseg deletes only the entries its manifest lists.

A process killed outright (SIGKILL, power cut) cannot remove its partial files; the next rtseg run
that writes into the same folder removes those whose writer process no longer exists (never those of
a live process) and says so in one line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rtseg import interrupts
from rtseg.errors import ConfigError, SinkError
from rtseg.version import __version__

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


OUTPUT_MARKER = ".rtseg-output.json"
"""The manifest in every folder rtseg commits: each entry it wrote there with the size and modification
time it had, and which rtseg wrote it. Only a folder whose entries all match it (or an empty folder)
may be replaced: a file added, or one edited since, keeps the folder from being replaced."""
MARKER_FORMAT = "rtseg-output/1"

Stamp = tuple[int, int] | None
"""A file's (size, mtime in ns); None for a folder."""


def _stamp(path: Path) -> Stamp:
    st = path.lstat()
    return None if stat.S_ISDIR(st.st_mode) else (st.st_size, st.st_mtime_ns)


def _walk(folder: Path) -> Iterator[str]:
    """Every entry below ``folder`` as a relative POSIX path (folders end in ``/``), the marker left out."""
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder)
        for name in dirs:
            yield (rel / name).as_posix() + "/"
        for name in files:
            if not (rel == Path(".") and name == OUTPUT_MARKER):
                yield (rel / name).as_posix()


def written_by_rtseg(folder: Path) -> dict[str, Stamp] | None:
    """What rtseg's manifest in ``folder`` says it wrote there (entry → stamp), or None without a valid one.

    >>> written_by_rtseg(Path("/nonexistent")) is None
    True
    """
    try:
        data = json.loads((folder / OUTPUT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) and data.get("format") == MARKER_FORMAT else None
    if not isinstance(files, dict):
        return None
    out: dict[str, Stamp] = {}
    for name, value in files.items():
        if value is None and name.endswith("/"):
            out[name] = None
        elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
            out[name] = (value[0], value[1])
        else:
            return None
    return out


def foreign_entries(folder: Path, limit: int = 3) -> list[str]:
    """Up to ``limit`` entries of the existing folder ``folder`` that rtseg did not write there, or that
    changed since it did (none: rtseg may replace the folder). Stops early, so a large folder of the
    user's costs one look.

    >>> foreign_entries(Path("/nonexistent"))
    []
    """
    if not folder.is_dir():
        return []
    written = written_by_rtseg(folder)
    found: list[str] = []
    if written is None:
        with os.scandir(folder) as it:
            for entry in it:
                found.append(entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
                if len(found) >= limit:
                    break
        return sorted(found)
    for rel in _walk(folder):
        if rel not in written:
            found.append(rel)
        elif not rel.endswith("/"):
            try:
                same = _stamp(folder / rel) == written[rel]
            except OSError:
                same = False
            if not same:
                found.append(f"{rel} (changed since rtseg wrote it)")
        if len(found) >= limit:
            break
    return found


def check_replaceable(folder: Path, what: str | None = None) -> None:
    """Raise a :class:`ConfigError` unless ``folder`` is new, empty, or holds only what rtseg wrote there.

    >>> check_replaceable(Path("/nonexistent/new-folder"))
    """
    foreign = foreign_entries(Path(folder))
    if not foreign:
        return
    shown = ", ".join(foreign[:2]) + (", …" if len(foreign) > 2 else "")
    prefix = f"{what}: " if what else ""
    raise ConfigError(f"{prefix}refusing to replace the folder {folder}: it holds files rtseg did not write "
                      f"({shown}); give a new or empty folder, or move those files out")


def write_marker(folder: Path) -> None:
    """Record in ``folder`` every entry rtseg wrote there (called just before the folder is committed)."""
    files = {rel: _stamp(folder / rel.rstrip("/")) for rel in sorted(_walk(folder))}
    data = {"format": MARKER_FORMAT, "written_by": f"rtseg {__version__}",
            "committed": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files}
    (folder / OUTPUT_MARKER).write_text(json.dumps(data, indent=0) + "\n", encoding="utf-8")


def _remove_written(folder: Path) -> list[str]:
    """Delete what rtseg's manifest in ``folder`` lists (files still as rtseg wrote them), the manifest,
    then the folder if it is empty; what is left (nothing rtseg wrote) is returned, never deleted."""
    written = written_by_rtseg(folder) or {}
    # files first, then folders deepest first (a folder goes only once it is empty)
    for rel in sorted(written, key=lambda r: (r.endswith("/"), -r.count("/"), r)):
        path = folder / rel.rstrip("/")
        with contextlib.suppress(OSError):
            if rel.endswith("/"):
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()  # only when empty
            elif _stamp(path) == written[rel]:
                path.unlink()
    with contextlib.suppress(OSError):
        (folder / OUTPUT_MARKER).unlink()
    left = sorted(_walk(folder)) if folder.exists() else []
    if not left:
        with contextlib.suppress(OSError):
            folder.rmdir()
    return left


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class AtomicDir:
    """Files go to a hidden temporary folder beside ``target``; ``commit()`` puts it in place of the
    target as a whole (created with the user's umask, like any folder).

    The target may be replaced only if it is new, empty, or an rtseg output (:func:`check_replaceable`,
    checked in :meth:`open` and again in :meth:`commit`); the committed folder carries the manifest
    that says so (:data:`OUTPUT_MARKER`). A target that is a symbolic link is resolved: the folder it
    points to is the one written.
    """

    def __init__(self, target: Path, what: str | None = None) -> None:
        self.target = Path(target)
        self.what = what
        self.tmp: Path | None = None

    def open(self) -> Path:
        if self.target.is_symlink():
            self.target = Path(os.path.realpath(self.target))
        parent = self.target.resolve().parent
        check_writable_dir(parent, str(self.target))
        if self.target.exists() and not self.target.is_dir():
            raise SinkError(f"output {self.target} exists and is not a directory")
        check_replaceable(self.target, self.what)
        _clean_once(parent)
        try:
            with interrupts.deferred():  # made and recorded as one step: a Ctrl-C between them would leak it
                self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}{PARTIAL}{os.getpid()}-", dir=parent))
            os.chmod(self.tmp, 0o777 & ~_umask())
        except BaseException:  # e.g. Ctrl-C right now: the stage's close() may not run, so clean up here
            self.discard()
            raise
        return self.tmp

    def commit(self) -> None:
        assert self.tmp is not None, "open() first"
        target = self.target
        try:
            write_marker(self.tmp)
        except OSError as exc:
            raise write_error(self.tmp / OUTPUT_MARKER, exc) from exc
        if target.exists() or target.is_symlink():
            # Someone may have put files into the target since open(): look again, right before the swap.
            check_replaceable(target, self.what)
            # Move the old folder aside under a partial name, put the new one in place, then delete
            # what rtseg wrote in the old one: at every moment the target is the old folder, the new
            # one, or (for the instant between two renames) absent; never a mix. A Ctrl-C waits for
            # the swap to end, so it never leaves the target absent or the old folder half-deleted.
            with interrupts.deferred():
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}{PARTIAL}{os.getpid()}-old-", dir=target.parent))
                os.replace(target, old)  # a folder may be renamed over an empty one
                os.replace(self.tmp, target)
                self.tmp = None
                left = _remove_written(old)
                if left:  # files that appeared in the instant between the check and the swap: kept, visibly
                    kept = target.with_name(f"{target.name}.rtseg-kept-{time.strftime('%Y%m%d-%H%M%S')}")
                    os.replace(old, kept)
                    log.warning("%s held files rtseg did not write (%s); they are kept in %s", target,
                                ", ".join(left[:3]), kept)
        else:
            os.replace(self.tmp, target)
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.tmp)
            self.tmp = None
