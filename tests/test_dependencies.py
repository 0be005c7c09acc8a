"""Every module rtseg imports is a declared dependency, and a base command needs only the base install.

* ``deptry rtseg`` (configured in pyproject.toml, ``[tool.deptry]``) finds no issue: no missing (DEP001),
  unused (DEP002), transitive (DEP003) or dev-only (DEP004) dependency. An extra's packages count as
  declared wherever rtseg imports them, so deptry alone cannot see a base command importing an extra's
  module (or a package that only an extra brings in, as click came with Ray): hence the second check,
  which runs the README's first command and ``rtseg devices`` in a fresh interpreter and records every
  import statement executed in rtseg's own modules; each must be the standard library, rtseg, or a
  distribution of ``[project].dependencies``.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _deptry(root: Path, cwd: Path, tmp: Path) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    report = tmp / "deptry.json"
    proc = subprocess.run([sys.executable, "-m", "deptry", str(root), "--config", str(ROOT / "pyproject.toml"),
                           "--no-ansi", "--json-output", str(report)],
                          cwd=cwd, capture_output=True, text=True, timeout=300)
    assert report.is_file(), f"deptry did not run (is the test extra installed?):\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(report.read_text())


def _describe(issues: list[dict]) -> str:
    return "\n".join(f"{i['location']['file']}:{i['location']['line']}: {i['error']['code']} {i['error']['message']}"
                     for i in issues)


def test_deptry_finds_no_dependency_issue(tmp_path: Path) -> None:
    proc, issues = _deptry(Path("rtseg"), ROOT, tmp_path)
    assert issues == [], "declare these in pyproject.toml (or fix the import):\n" + _describe(issues)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deptry_reports_an_undeclared_and_a_test_only_import(tmp_path: Path) -> None:
    """The configuration still catches what it is there for: a copy of rtseg with one module importing
    click (declared nowhere) and pytest (only in the test extra) at run time fails."""
    copy = tmp_path / "src" / "rtseg"
    shutil.copytree(ROOT / "rtseg", copy, ignore=lambda d, names: [n for n in names if not (
        n.endswith(".py") or (Path(d) / n).is_dir()) or n == "__pycache__"])
    (copy / "cli" / "stray.py").write_text("import click\nimport pytest\n")
    proc, issues = _deptry(Path("rtseg"), copy.parent, tmp_path)
    found = {(i["module"], i["error"]["code"]) for i in issues}
    assert proc.returncode != 0
    assert found & {("click", "DEP001"), ("click", "DEP003")}, found
    assert ("pytest", "DEP004") in found, found


# Run in a fresh interpreter: record (importing rtseg module, top-level name) for every import statement
# executed in rtseg's modules while the README's first command and `rtseg devices` run.
RECORD_IMPORTS = r"""
import builtins, json, sys

seen = set()
_import = builtins.__import__


def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
    module = _import(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__") or ""
    if level == 0 and importer.split(".")[0] == "rtseg":
        seen.add((importer, name.split(".")[0]))
    return module


builtins.__import__ = recording_import
from rtseg.cli import main

for argv in (["blur", "sample", "-o", sys.argv[2], "--no-progress"], ["devices"]):
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code:
            raise
with open(sys.argv[1], "w") as f:
    json.dump(sorted(seen), f)
"""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_distributions() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {_canonical(re.match(r"[A-Za-z0-9._-]+", d).group(0)) for d in deps}  # type: ignore[union-attr]
    assert {"typer", "numpy", "opencv-contrib-python"} <= names
    return names


def test_a_base_command_imports_only_base_dependencies(tmp_path: Path) -> None:
    record = tmp_path / "imports.json"
    proc = subprocess.run([sys.executable, "-c", RECORD_IMPORTS, str(record), str(tmp_path / "sample-blur.mp4")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "sample-blur.mp4").stat().st_size > 0
    imports = [tuple(pair) for pair in json.loads(record.read_text())]
    importers = {importer for importer, _ in imports}
    assert {"rtseg.cli", "rtseg.devices"} <= importers  # the recorder saw the commands' modules

    base = base_distributions()
    provided_by = importlib.metadata.packages_distributions()
    allowed = set(sys.stdlib_module_names) | {"rtseg"}
    undeclared = sorted(
        f"{importer} imports {module} ({', '.join(provided_by.get(module, ['no installed distribution']))})"
        for importer, module in imports
        if module not in allowed and not base & {_canonical(d) for d in provided_by.get(module, [])})
    assert undeclared == [], "a base command imports what [project].dependencies does not declare:\n" + "\n".join(
        undeclared)
    third_party = {module for _, module in imports} - allowed
    assert {"numpy", "cv2", "av", "typer"} <= third_party, third_party
