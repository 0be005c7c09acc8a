"""Media shipped with rtseg: the ``sample`` input (see ``NOTICE.md`` beside this file)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLE_NAME = "sample"
"""The input name that stands for the bundled sample clip (``rtseg blur sample -o out.mp4``)."""


def sample_path() -> Path:
    """The bundled 640x360, 4 s clip of a person juggling.

    >>> sample_path().name
    'sample.mp4'
    """
    return Path(str(resources.files(__package__).joinpath("sample.mp4")))
