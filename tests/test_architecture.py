"""The layering of the code is a checked contract: `lint-imports` (import-linter) with pyproject's contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_stage_packages_do_not_import_live_controls_or_jobs() -> None:
    """The contract above, spelled out for the cases DESIGN.md names: sources and sinks know no controls."""
    for package in ("sources", "segment", "temporal", "effects", "sinks", "graph"):
        for path in (ROOT / "rtseg" / package).rglob("*.py"):
            text = path.read_text()
            for upper in ("rtseg.controls", "rtseg.jobs", "rtseg.api", "rtseg.cli"):
                assert upper not in text, f"{path.relative_to(ROOT)} mentions {upper}"


def test_run_time_code_importing_torch_breaks_the_contract(tmp_path: Path) -> None:
    """The forbidden contract is live: a copy of rtseg whose SAM 2 tracker imports torch (even inside a
    function) or the offline export tool fails `lint-imports`."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "rtseg", copy / "rtseg", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    tracker = copy / "rtseg" / "segment" / "sam2" / "tracker.py"
    original = tracker.read_text()
    for line in ("import torch", "from rtseg.tools.sam2 import export"):
        tracker.write_text(original + f"\n\ndef _late() -> None:\n    {line}  # noqa\n")
        env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}
        result = subprocess.run([exe, "--no-cache"], cwd=copy, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode != 0, line
        assert "never import torch" in result.stdout and "BROKEN" in result.stdout, result.stdout
