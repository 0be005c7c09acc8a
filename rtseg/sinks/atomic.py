"""Write-then-rename helpers: an output appears complete or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rtseg.errors import SinkError


def check_writable_dir(directory: Path, what: str) -> None:
    if not directory.exists():
        raise SinkError(f"output directory does not exist: {directory} (for {what})")
    if not directory.is_dir():
        raise SinkError(f"not a directory: {directory} (for {what})")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise SinkError(f"output directory is not writable: {directory} (for {what})")


def partial_file(path: Path) -> Path:
    """A hidden sibling of ``path`` with the same suffix, so FFmpeg still sees the format."""
    check_writable_dir(path.parent.resolve(), str(path))
    if path.is_dir():
        raise SinkError(f"output {path} is a directory; expected a file name")
    return path.with_name(f".{path.stem}.rtseg-partial-{os.getpid()}{path.suffix}")


class AtomicDir:
    """Files go to a hidden temporary directory beside ``target``; ``commit()`` moves them in."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.tmp: Path | None = None

    def open(self) -> Path:
        parent = self.target.resolve().parent
        check_writable_dir(parent, str(self.target))
        if self.target.exists() and not self.target.is_dir():
            raise SinkError(f"output {self.target} exists and is not a directory")
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.rtseg-partial-", dir=parent))
        return self.tmp

    def commit(self) -> None:
        assert self.tmp is not None, "open() first"
        if not self.target.exists():
            os.replace(self.tmp, self.target)
        else:
            for item in self.tmp.iterdir():
                os.replace(item, self.target / item.name)
            self.tmp.rmdir()
        self.tmp = None

    def discard(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
