"""Installable beside other tools (issue 14): dependency ranges, extras, the lock file, missing extras.

The extras hold what not every user needs: ``trials`` (statsmodels, DuckDB, Dask), ``sbml`` (libSBML,
libRoadRunner), ``docs``; the core (simulate, plot, validate PK) must run without any of them, and a
command that needs one says which extra installs it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]

#: distribution name -> the module it is imported as, where the two differ
MODULE_OF = {"python-libsbml": "libsbml", "libroadrunner": "roadrunner", "salib": "SALib", "dask": "dask",
             "tomli-w": "tomli_w"}  # fmt: skip
#: declared although no module of ours imports it, with the reason
INDIRECT = {"pyarrow": "pandas reads the shipped virtual population (Parquet) through it"}


def _requirements(group: str | None) -> list[Requirement]:
    return [
        Requirement(r) for r in (PROJECT["dependencies"] if group is None else PROJECT["optional-dependencies"][group])
    ]


def _imported_top_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "ketasim").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif (
                isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"require", "_optional"} and node.args
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value.split(".")[0])  # optional modules imported through require(...)
                elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                    found.add(str(arg.values[0].value).split(".")[0])
    return found


def test_requires_python_has_no_upper_bound():
    assert PROJECT["requires-python"] == ">=3.11"


@pytest.mark.parametrize("group", [None, "trials", "sbml", "docs", "serve", "test"])
def test_dependencies_are_ranges_with_a_lower_bound_not_pins(group):
    for req in _requirements(group):
        if req.name == "ketasim":
            continue
        ops = {s.operator for s in req.specifier}
        assert "==" not in ops, f"{req} is pinned; pins belong in requirements.lock"
        assert ">=" in ops, f"{req} has no tested lower bound"


def test_every_declared_runtime_dependency_is_imported_and_every_import_is_declared():
    imported = _imported_top_modules()
    declared = {}
    for group in (None, "trials", "sbml", "serve"):
        for req in _requirements(group):
            declared[req.name.lower()] = MODULE_OF.get(req.name.lower(), req.name.lower().replace("-", "_"))
    unused = {d for d, m in declared.items() if m not in imported and d not in INDIRECT}
    assert not unused, f"declared but imported nowhere: {unused}"
    stdlib = set(sys.stdlib_module_names) | {"ketasim", "__future__"}
    undeclared = {m for m in imported - stdlib if m not in declared.values() and m not in {"distributed"}}
    assert not undeclared, f"imported but not declared: {undeclared}"


def test_the_all_extra_holds_every_other_extra_and_the_test_extra_holds_all():
    (all_req,) = _requirements("all")
    assert all_req.extras == set(PROJECT["optional-dependencies"]) - {"all", "test"}
    assert any(r.name == "ketasim" and "all" in r.extras for r in _requirements("test"))


def test_the_lock_pins_every_declared_dependency_inside_its_range():
    locked = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==")
            locked[name.strip().lower().replace("_", "-")] = Version(version.split(";")[0].strip())
    for group in (None, "trials", "sbml", "docs", "serve", "test"):
        for req in _requirements(group):
            if req.name == "ketasim":
                continue
            name = req.name.lower().replace("_", "-")
            assert name in locked, f"{req.name} missing from requirements.lock (run tools/lock.sh)"
            assert req.specifier.contains(locked[name]), f"lock has {name}=={locked[name]}, outside {req}"


def test_the_quick_start_and_ci_install_from_the_lock():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = 'python3.11 -m venv .venv && .venv/bin/pip install -q -c requirements.lock -e ".[test]" && .venv/bin/python -m pytest -q'
    assert test_cmd in readme and test_cmd in ci


def _run_without(blocked: list[str], argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys\n"
        f"for m in {blocked!r}: sys.modules[m] = None  # as if the extra were not installed\n"
        "from ketasim.cli import main\n"
        f"main({argv!r})\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)


TRIAL_EXTRA = ["statsmodels", "duckdb", "dask", "distributed"]


def test_the_core_simulates_without_any_extra(tmp_path):
    out = _run_without([*TRIAL_EXTRA, "libsbml", "roadrunner"],
                       ["simulate", "--protocol", "zarate-2006-iv", "--days", "1", "--json"], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert '"cmax_ng_ml"' in out.stdout


@pytest.mark.parametrize("missing", ["duckdb", "statsmodels"])
def test_a_trial_without_the_trials_extra_is_one_line_naming_it(tmp_path, missing):
    scenario = ROOT / "examples" / "murrough2013_ketamine_vs_midazolam.toml"
    out = _run_without([missing], ["trial", str(scenario), "--patients", "6", "--db", str(tmp_path / "r.duckdb")],
                       tmp_path)  # fmt: skip
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "`trials` extra" in out.stderr and f"{missing} is not installed" in out.stderr
    assert 'pip install "ketasim[trials]"' in " ".join(out.stderr.split())


@pytest.mark.parametrize("missing", ["fastapi", "uvicorn"])
def test_the_explorer_without_the_serve_extra_is_one_line_naming_it(tmp_path, missing):
    out = _run_without([missing], ["serve", "--port", "8999"], tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "`serve` extra" in out.stderr and f"{missing} is not installed" in out.stderr


def test_dask_workers_without_the_trials_extra_name_it():
    from ketasim._internal.cluster import map_ordered
    from ketasim.errors import MissingExtraError

    saved = {m: sys.modules.get(m) for m in ("dask", "dask.distributed", "distributed")}
    try:
        for m in saved:
            sys.modules[m] = None  # type: ignore[assignment]
        with pytest.raises(MissingExtraError, match=r"`trials` extra \(dask is not installed\)"):
            map_ordered(abs, [1, 2], workers=1)
    finally:
        for m, mod in saved.items():
            if mod is None:
                sys.modules.pop(m, None)
            else:
                sys.modules[m] = mod


def test_a_broken_dependency_inside_an_installed_extra_is_not_reported_as_missing(monkeypatch):
    """Only the extra's own module missing means "install the extra"; anything else is the real error."""
    from ketasim._internal import optional

    def broken(name: str):
        raise ModuleNotFoundError("No module named 'scipy._lib.x'", name="scipy._lib.x")

    monkeypatch.setattr(optional.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match=r"scipy\._lib\.x"):
        optional.require("statsmodels.stats.proportion", "trial statistics")
