#!/usr/bin/env python
"""Run the README's Python examples (its ```python blocks with ``>>>``) as doctests, with the standard
library's doctest alone: ``scripts/test`` runs them in the base install (no pytest, no extras), and
``tests/test_readme.py`` runs them through the same functions.

    python scripts/readme_examples.py --clip FRAMES_DIR --model-dir SAM2_EXPORT --workdir SCRATCH

The examples run in ``--workdir`` (made if missing) with a copy of ``configs/``; ``clip`` (a short image
folder) and ``model_dir`` (a SAM 2 export) are the names they expect. Exit code 0 when every example
passes, 1 otherwise (doctest prints each failure), 2 when the README has no examples.
"""

from __future__ import annotations

import argparse
import doctest
import os
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def python_examples(readme: Path = README) -> list[str]:
    """The README's ```python blocks that hold doctest examples (``>>>``), in order."""
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    return [b for b in blocks if ">>>" in b]


def run_examples(workdir: Path, clip: Path, model_dir: Path, readme: Path = README) -> doctest.TestResults:
    """Run every example block in ``workdir`` (with a copy of ``configs/``), one namespace for all blocks;
    failures are printed by doctest. The working directory is restored afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "configs", workdir / "configs", dirs_exist_ok=True)
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {"clip": clip, "model_dir": model_dir}
    cwd = Path.cwd()
    os.chdir(workdir)
    try:
        with warnings.catch_warnings():
            # model_dir is a random-weight export: its masks mean nothing, which the examples do not use.
            warnings.filterwarnings("ignore", message=".*random[- ]weights.*")
            for i, block in enumerate(python_examples(readme)):
                runner.run(parser.get_doctest(block, globs, f"README python block {i}", str(readme), 0))
    finally:
        os.chdir(cwd)
    return runner.summarize(verbose=False)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", type=Path, required=True, help="a short image folder (the examples' `clip`)")
    ap.add_argument("--model-dir", type=Path, required=True, help="a SAM 2 export (the examples' `model_dir`)")
    ap.add_argument("--workdir", type=Path, required=True, help="scratch folder the examples run in")
    args = ap.parse_args(argv)
    if not python_examples():
        print(f"no ```python examples with >>> in {README}", file=sys.stderr)
        return 2
    result = run_examples(args.workdir.resolve(), args.clip.resolve(), args.model_dir.resolve())
    print(f"README examples: {result.attempted} run, {result.failed} failed")
    return 1 if result.failed or not result.attempted else 0


if __name__ == "__main__":
    sys.exit(main())
