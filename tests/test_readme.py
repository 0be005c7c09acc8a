"""The README's Python examples run as doctests, in a scratch folder with a copy of configs/.

They run through ``scripts/readme_examples.py``, the standard-library runner that ``scripts/test`` also
uses for them in the base install (before any extra is installed).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_examples", ROOT / "scripts" / "readme_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_has_python_examples() -> None:
    assert len(_runner().python_examples()) >= 2


def test_a_failing_example_fails_the_run(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("```python\n>>> 1 + 1\n2\n>>> clip.name\n'frames'\n\n```\n")
    result = _runner().run_examples(tmp_path / "work", Path("frames"), Path("m"), readme)
    assert (result.attempted, result.failed) == (2, 0)
    readme.write_text("```python\n>>> 1 + 1\n3\n\n```\n")
    assert _runner().run_examples(tmp_path / "work", Path("frames"), Path("m"), readme).failed == 1


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path: Path, sam2_model_dir: Path, bedroom_dir: Path) -> None:
    result = _runner().run_examples(tmp_path, bedroom_dir, sam2_model_dir)
    assert result.attempted > 8
    assert result.failed == 0
    assert (tmp_path / "sample-blur.mp4").is_file() and (tmp_path / "configs" / "sample-blur.mp4").is_file()
