"""Property-based tests of the command line's contract (issue 15): whatever the arguments, a command
exits 0 with its output, or 2 with one line on stderr starting ``error:`` (usage errors of the argument
parser: its own message, status 2), and never prints a traceback.

Arguments are drawn from odd strings (unicode, empty, decimal commas, expressions, huge and negative
numbers, NaN) mixed with valid values, for the options of the README's commands that take values.
``derandomize=True``: the same examples on every run. Examples: simulate 150, tci 80, export-nonmem 60,
trial and the store 60, parameter and protocol listings 40: 390 in all, about 40 s on 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ketasim.cli import main

ROOT = Path(__file__).resolve().parents[1]

ODD = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "nan", "inf", "-1", "0", "1e400", "5,0", "19 kg", "17", "101", "-1 d", "1d,,2d", "0 h", "-2", "100000000000", "9223372036854775808", "2*3", "10**10**8", "mg", "5 5", "7 🙂",
                     "-0", "1e-300", "3 mg 3", "'", '"', "[x]", "--json", "-", "\x00", "１２"]),
)  # fmt: skip


def mostly(*valid: str) -> st.SearchStrategy[str]:
    """A valid value three times in four, an odd one otherwise (so that whole commands also succeed)."""
    return st.tuples(st.integers(1, 4), st.sampled_from(valid), ODD).map(lambda t: t[2] if t[0] == 4 else t[1])


def _settings(n: int):  # type: ignore[no-untyped-def]
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip


def _check(capsys: pytest.CaptureFixture[str], argv: list[str]) -> int:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Traceback" not in out.out, (argv, out.err)
    assert code in (0, 2), (argv, code, out.err)
    event(f"exit {code}")
    if code == 2 and out.err.startswith("error:"):
        assert len([x for x in out.err.splitlines() if x.strip()]) == 1, (argv, out.err)
    elif code == 2:  # the argument parser's usage error: its own boxed message, naming the option
        assert "Usage" in out.err or "Error" in out.err or "Invalid" in out.err, (argv, out.err)
    return code


@_settings(150)
@given(
    weight=mostly("70kg", "55 kg", "300 kg", "120lb"),
    days=mostly("0.5", "1", "1e-5", "0.01"),
    sex=mostly("male", "female"),
    age=mostly("45", "18", "80.5"),
    therapy=mostly("1d", "1d,8d", "0 h"),
)
def test_simulate_exits_cleanly_whatever_its_arguments(capsys, weight, days, sex, age, therapy):
    _check(capsys, ["simulate", "--protocol", "zarate-2006-iv", "--weight", weight, "--days", days, "--sex", sex,
                    "--age", age, "--psychotherapy", therapy, "--json"])  # fmt: skip


@_settings(80)
@given(
    target=mostly("150ng/mL", "0.15 ug/mL", "150 ng/mL", "5000 ng/mL", "150"),
    profile=mostly("0:100,20min:250", "0:100", "20min:250,0:100", "0:-5"),
    use_profile=st.booleans(),
)
def test_tci_exits_cleanly_whatever_its_arguments(capsys, target, profile, use_profile):
    argv = ["tci", "--profile", profile] if use_profile else ["tci", "--target", target]
    _check(capsys, [*argv, "--check"])


@_settings(60)
@given(
    every=mostly("1h", "15 min"),
    patients=mostly("1", "3"),
    observe=mostly("ketamine_plasma", "madrs", "ketamine_plasma,madrs", ","),
)
def test_export_nonmem_exits_cleanly_whatever_its_arguments(capsys, tmp_path_factory, every, patients, observe):
    out = tmp_path_factory.mktemp("nm") / "s.csv"
    _check(capsys, ["export-nonmem", str(out), "--days", "1", "--every", every, "--patients", patients,
                    "--observe", observe])  # fmt: skip


@_settings(60)
@given(
    patients=mostly("4", "6"),
    seed=mostly("1", "2"),
    chunk=mostly("2", "3"),
    run_id=mostly("nope", "'; DROP TABLE runs; --"),
)
def test_trial_runs_and_report_exit_cleanly_whatever_their_arguments(capsys, tmp_path_factory, patients, seed,
                                                                     chunk, run_id):  # fmt: skip
    db = str(tmp_path_factory.mktemp("db") / "r.duckdb")
    scenario = str(ROOT / "examples" / "murrough2013_ketamine_vs_midazolam.toml")
    ran = _check(capsys, ["trial", scenario, "--patients", patients, "--seed", seed, "--chunk-size", chunk,
                          "--db", db, "--json"]) == 0  # fmt: skip
    assert _check(capsys, ["runs", "--db", db, "--json"]) == (0 if ran else 2)  # no store without a run
    _check(capsys, ["report", run_id, "--db", db, "--json"])


@_settings(40)
@given(
    layer=mostly("pk", "symptoms", "population"),
    command=st.sampled_from(["params", "protocols"]),
)
def test_listings_exit_cleanly_whatever_their_arguments(capsys, layer, command):
    _check(capsys, ["params", "--layer", layer, "--json"] if command == "params" else ["protocols", "--json"])
