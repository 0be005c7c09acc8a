"""The layering of the code is a checked contract: `lint-imports` (import-linter) with pyproject's contracts."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    """rtseg's import graph as import-linter sees it (every import statement, also those inside functions)."""
    return grimp.build_graph("rtseg", include_external_packages=True, cache_dir=None)


STAGES = ("rtseg.sources", "rtseg.segment", "rtseg.temporal", "rtseg.effects", "rtseg.sinks", "rtseg.graph")
ABOVE_STAGES = ("rtseg.controls", "rtseg.jobs", "rtseg.api", "rtseg.cli", "rtseg.bench", "rtseg.studio")


def test_the_graph_sees_the_downward_imports(graph: grimp.ImportGraph) -> None:
    """The questions below are asked of a real graph: the jobs do reach every stage package."""
    for stage in STAGES:
        assert graph.chain_exists("rtseg.jobs", stage, as_packages=True), stage


def test_stage_packages_do_not_import_live_controls_jobs_or_entry_points(graph: grimp.ImportGraph) -> None:
    """Sources, models, effects and sinks know nothing of live controls, jobs or the CLI, even indirectly."""
    for stage in STAGES:
        for upper in ABOVE_STAGES:
            chain = graph.find_shortest_chain(stage, upper, as_packages=True)
            assert chain is None, " -> ".join(chain or ())


def test_the_cli_reaches_every_command_and_nothing_reaches_back(graph: grimp.ImportGraph) -> None:
    """Commands are imported by import statements (visible to the contract), and the packages they run
    (benchmarks included) never import the CLI back."""
    commands = sorted(m for m in graph.find_children("rtseg.cli"))
    assert len(commands) >= 6
    for module in commands:
        assert graph.chain_exists("rtseg.cli", module), module
    for package in ("rtseg.bench", "rtseg.batching", "rtseg.studio", "rtseg.tools", "rtseg.api", "rtseg.jobs"):
        chain = graph.find_shortest_chain(package, "rtseg.cli", as_packages=True)
        assert chain is None, " -> ".join(chain or ())


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    """No package of rtseg imports, through any chain, a package that imports it back."""
    packages = sorted(graph.find_children("rtseg"))
    for a in packages:
        for b in packages:
            if a < b and graph.chain_exists(a, b, as_packages=True):
                assert not graph.chain_exists(b, a, as_packages=True), f"{a} and {b} import each other"


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
