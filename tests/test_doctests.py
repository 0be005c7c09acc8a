"""The examples in rtseg's docstrings run (those marked ``+SKIP`` need a camera, a model or media not here)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import rtseg

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"rtseg.tools.sam2.export", "rtseg.tools.sam2.fused", "rtseg.tools.sam2.rope", "rtseg.__main__"}


def modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(rtseg.__path__, "rtseg.") if m.name not in SKIP)


@pytest.mark.parametrize("name", modules())
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # examples read configs/ and ../shared/data relative to the repository
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
