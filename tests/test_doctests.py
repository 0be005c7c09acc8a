"""The examples in rtseg's docstrings run (those marked ``+SKIP`` need a camera, a model or media not here).

Only modules that have examples are collected, so each test here runs at least one example: a module
without any is not a test that passes.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import rtseg

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"rtseg.tools.sam2.export", "rtseg.tools.sam2.fused", "rtseg.tools.sam2.rope", "rtseg.__main__"}
"""Modules that import torch or run the CLI when imported."""

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def examples_of(name: str) -> list[doctest.Example]:
    """The examples in the docstrings of module ``name``."""
    return [ex for test in doctest.DocTestFinder().find(importlib.import_module(name)) for ex in test.examples]


def skipped(example: doctest.Example) -> bool:
    return bool(example.options.get(doctest.SKIP))


def examples_in(name: str) -> int:
    """How many examples of module ``name`` run (those marked +SKIP do not)."""
    return sum(not skipped(ex) for ex in examples_of(name))


def modules_with_examples() -> list[str]:
    names = sorted(m.name for m in pkgutil.walk_packages(rtseg.__path__, "rtseg.") if m.name not in SKIP)
    return [name for name in names if examples_in(name)]


def run_examples(name: str) -> doctest.TestResults:
    return doctest.testmod(importlib.import_module(name), optionflags=FLAGS, verbose=False)


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # examples read configs/ and ../shared/data relative to the repository
    result = run_examples(name)
    assert result.attempted > 0, f"{name} has examples, yet none ran"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_examples_that_cannot_run_here_are_still_valid_python() -> None:
    """+SKIP examples (a camera, a GPU, a SAM 2 export) are compiled, so a renamed call is at least a
    syntax-checked line, never dead text."""
    names = sorted(m.name for m in pkgutil.walk_packages(rtseg.__path__, "rtseg.") if m.name not in SKIP)
    checked = 0
    for name in names:
        for example in filter(skipped, examples_of(name)):
            compile(example.source, f"<{name} example line {example.lineno}>", "single")
            checked += 1
    assert checked > 0


def test_a_wrong_example_fails_its_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "wrong_example.py").write_text('def f():\n    """\n    >>> 1 + 1\n    3\n    """\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run_examples("wrong_example")
    assert (result.failed, result.attempted) == (1, 1)


def test_most_modules_carry_examples() -> None:
    """The runner is not vacuous: a good share of rtseg's modules show how they are used."""
    total = [m.name for m in pkgutil.walk_packages(rtseg.__path__, "rtseg.") if m.name not in SKIP]
    with_examples = modules_with_examples()
    assert len(with_examples) >= len(total) // 3, (len(with_examples), len(total))
