"""What the studio may read and where it may write: read roots and one export folder.

The studio opens media only under its **read roots** (the video or folder it was started with, the
current directory, each ``--root``): a file root allows that file, a folder root that folder and
everything below it. Paths are resolved first (``realpath``: symlinks followed, ``..`` removed), and a
path outside every root is refused with one message whether or not it exists, so the answers say
nothing about the rest of the disk. (The members of an allowed image folder are read as they are,
symlinks included: the user put them there.)

Exports go only inside the **export folder** (``--out``, default ``./studio-exports``), which is
created by the first export, not at start. An export name is relative to it (an absolute one must
resolve inside it); an existing file or folder is replaced only when the request says so
(:class:`OutputExistsError` otherwise), and a folder then only through the normal job checks (a folder
rtseg did not write is refused by :mod:`rtseg.sinks.atomic`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rtseg.errors import ConfigError

DEFAULT_EXPORT_DIR = "studio-exports"


class NotAllowedError(ConfigError, PermissionError):
    """A path outside what the studio may read, or outside its export folder (HTTP 403)."""


class OutputExistsError(ConfigError, FileExistsError):
    """An export would replace an existing file or folder and the request did not say ``overwrite`` (HTTP 409)."""


def real(path: str | os.PathLike[str], cwd: Path) -> Path:
    """``path`` made absolute against ``cwd`` (``~`` expanded) with symlinks and ``..`` resolved.

    >>> str(real("a/../b", Path("/x")))
    '/x/b'
    """
    p = Path(os.path.expanduser(os.fspath(path)))
    return Path(os.path.realpath(p if p.is_absolute() else cwd / p))


def within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies below it (both already resolved).

    >>> within(Path("/a/b/c"), Path("/a/b")), within(Path("/a/bc"), Path("/a/b"))
    (True, False)
    """
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Root:
    """A read root: a folder (everything below it) or a single file."""

    path: Path
    is_dir: bool

    def allows(self, path: Path) -> bool:
        return within(path, self.path) if self.is_dir else path == self.path


@dataclass(frozen=True)
class FileRules:
    """The studio's read roots and export folder (all resolved), and the checks that use them.

    >>> rules = FileRules.create(["/tmp"], "/tmp/exports", cwd=Path("/tmp"))
    >>> str(rules.readable("clip.mp4")) == os.path.realpath("/tmp/clip.mp4")
    True
    >>> rules.readable("/etc/passwd")
    Traceback (most recent call last):
    rtseg.studio.files.NotAllowedError: not allowed: the studio opens files only under ...
    """

    roots: tuple[Root, ...]
    export_dir: Path
    cwd: Path

    @classmethod
    def create(cls, roots: Iterable[str | os.PathLike[str]], export_dir: str | os.PathLike[str] | None = None,
               cwd: Path | None = None) -> FileRules:
        """Rules for these roots (existing files or folders) and export folder (default
        ``CWD/studio-exports``: an existing folder, or a new name in an existing folder)."""
        cwd = Path(os.path.realpath(cwd or Path.cwd()))
        resolved: list[Root] = []
        for r in roots:
            p = real(r, cwd)
            if not p.exists():
                raise ConfigError(f"read root {r}: not found")
            root = Root(p, p.is_dir())
            if root not in resolved:
                resolved.append(root)
        if not resolved:
            raise ConfigError("the studio needs at least one folder or file it may read")
        out = real(export_dir if export_dir is not None else DEFAULT_EXPORT_DIR, cwd)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"export folder {out}: is a file, not a folder")
        if not out.exists() and not out.parent.is_dir():
            raise ConfigError(f"export folder {out}: its parent folder does not exist")
        return cls(tuple(resolved), out, cwd)

    def describe_roots(self) -> str:
        return ", ".join(str(r.path) for r in self.roots)

    def readable(self, path: str) -> Path:
        """The resolved path to open, or :class:`NotAllowedError` (the same message, existing or not)."""
        if not path or not path.strip():
            raise ConfigError("give a video file or an image folder")
        p = real(path.strip(), self.cwd)
        if not any(r.allows(p) for r in self.roots):
            raise NotAllowedError(f"not allowed: the studio opens files only under {self.describe_roots()} "
                                  "(start it with --root DIR to add a folder)")
        return p

    def export_target(self, path: str, overwrite: bool = False) -> Path:
        """The resolved path an export writes: inside the export folder, and new unless ``overwrite``."""
        if not path or not path.strip():
            raise ConfigError(f"give an output name (in the export folder {self.export_dir})")
        p = real(path.strip(), self.export_dir)
        if p == self.export_dir or not within(p, self.export_dir):
            raise NotAllowedError(f"not allowed: exports go only inside the export folder {self.export_dir}; "
                                  "give a name relative to it")
        if os.path.lexists(p) and not overwrite:
            raise OutputExistsError(f"{p} already exists")
        return p

    @contextlib.contextmanager
    def export_folder(self) -> Iterator[Path]:
        """The export folder, created now if new; removed again if what runs inside fails and left it empty."""
        created = not self.export_dir.exists()
        if created:
            self.export_dir.mkdir()
        try:
            yield self.export_dir
        except BaseException:
            if created:
                with contextlib.suppress(OSError):
                    self.export_dir.rmdir()  # only if still empty
            raise
