"""The architecture is checked, not only drawn: import direction, no circles, no private imports, lint, types.

Each check runs the tool the README names, so a violation fails the test command (and so CI).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ketasim"
BIN = Path(sys.executable).parent


def _tool(name: str, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = BIN / name
    if not exe.exists():
        pytest.fail(f"{name} is not installed beside {sys.executable}: install the [test] extra")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_layer_contract_is_kept():
    out = _tool("lint-imports", "--no-cache")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 kept, 0 broken" in out.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """pk (model layer) importing the trial runner must fail the same check CI runs."""
    shutil.copytree(SRC, tmp_path / "ketasim", ignore=shutil.ignore_patterns("__pycache__"))
    pk = tmp_path / "ketasim" / "model" / "pk.py"
    pk.write_text(pk.read_text(encoding="utf-8") + "\nimport ketasim.trials.runner  # deliberately upward\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = _tool("lint-imports", "--no-cache", "--config", str(ROOT / "pyproject.toml"), env=env, cwd=tmp_path)
    assert out.returncode != 0
    assert "ketasim.model.pk -> ketasim.trials.runner" in out.stdout


def test_no_import_cycles():
    graph = grimp.build_graph("ketasim", cache_dir=None)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for dep in sorted(graph.find_modules_directly_imported_by(m)):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[m] = 2

    for m in sorted(graph.modules):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def _private_imports(path: Path) -> list[str]:
    """Imports of a private module or name from outside the package that owns it."""
    module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    bad = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for t in targets:  # the first offending target of a statement is reported, once
            parts = t.split(".")
            i = next((i for i, p in enumerate(parts) if p.startswith("_") and not p.startswith("__")), None)
            if parts[0] != "ketasim" or i is None:
                continue
            owner = ".".join(parts[:i])  # the package that holds the private part
            if not (package == owner or package.startswith(owner + ".")):
                bad.append(f"{module}: {t}")
                break
    return bad


def test_no_module_imports_another_packages_private_names():
    bad = [b for p in sorted(SRC.rglob("*.py")) for b in _private_imports(p)]
    assert bad == []


def test_the_private_name_check_can_fail(tmp_path):
    probe = SRC / "clinical" / "_probe_for_test.py"  # the check reads paths under src/ketasim
    probe.write_text("from ketasim.engine._compiled import MESSAGES\nfrom ketasim.units import _x\n")
    try:
        assert _private_imports(probe) == [
            "ketasim.clinical._probe_for_test: ketasim.engine._compiled",
            "ketasim.clinical._probe_for_test: ketasim.units._x",
        ]
    finally:
        probe.unlink()


def test_ruff_is_clean():
    out = _tool("ruff", "check", "src", "tests", "benchmarks", "examples")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean():
    out = _tool("mypy")  # files and settings: [tool.mypy] in pyproject.toml
    assert out.returncode == 0, out.stdout + out.stderr


def test_package_is_typed():
    assert (SRC / "py.typed").exists()
