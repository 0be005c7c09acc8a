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
    assert "2 kept, 0 broken" in result.stdout


def test_stage_packages_do_not_import_live_controls_or_jobs() -> None:
    """The contract above, spelled out for the cases DESIGN.md names: sources and sinks know no controls."""
    for package in ("sources", "segment", "temporal", "effects", "sinks", "graph"):
        for path in (ROOT / "rtseg" / package).rglob("*.py"):
            text = path.read_text()
            for upper in ("rtseg.controls", "rtseg.jobs", "rtseg.api", "rtseg.cli"):
                assert upper not in text, f"{path.relative_to(ROOT)} mentions {upper}"
