"""The README's Python examples run as doctests, in a scratch folder with a copy of configs/."""

from __future__ import annotations

import doctest
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_examples() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if ">>>" in b]


def test_the_readme_has_python_examples() -> None:
    assert len(python_examples()) >= 2


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path: Path, sam2_model_dir: Path, bedroom_dir: Path) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        parser = doctest.DocTestParser()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        globs = {"clip": bedroom_dir, "model_dir": sam2_model_dir}
        for i, block in enumerate(python_examples()):
            test = parser.get_doctest(block, globs, f"README python block {i}", "README.md", 0)
            runner.run(test)
        result = runner.summarize(verbose=False)
    finally:
        os.chdir(cwd)
    assert result.attempted > 8
    assert result.failed == 0
    assert (tmp_path / "sample-blur.mp4").is_file() and (tmp_path / "configs" / "sample-blur.mp4").is_file()
