"""The command line: JSON outputs, tables, files, and one-line refusals with exit status 2."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

import ketasim as ks
from _cli import cli
from ketasim.parameters import default_parameters

REQUIRED = ("zarate-2006-iv", "murrough-2013-six-infusions", "spravato-induction-56mg", "spravato-induction-84mg")
SUMMARY_KEYS = {"cmax_ng_ml", "tmax_h", "auc_ng_h_ml", "madrs_24h"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_module(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ketasim.cli", *argv], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


# ---------------------------------------------------------------- simulate


def test_simulate_json_subprocess():
    proc = run_module("simulate", "--protocol", "zarate-2006-iv", "--json", "--days", "2")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)  # exactly one JSON document
    assert isinstance(data, dict)
    assert set(data) >= SUMMARY_KEYS
    assert data["cmax_ng_ml"] == pytest.approx(185.0, rel=0.25)
    assert data["tmax_h"] == pytest.approx(40 / 60, abs=2 / 60)
    assert data["auc_ng_h_ml"] > data["cmax_ng_ml"]
    assert data["madrs_baseline"] == pytest.approx(32.0, abs=1e-9)
    assert 0 < data["madrs_24h"] < data["madrs_baseline"]
    assert data["madrs_7d"] is None  # beyond a 2-day run: NaN is written as null


def test_simulate_json_matches_the_api(capsys):
    code, out, err = cli(
        capsys,
        "simulate",
        "--protocol",
        "esketamine-56mg-single",
        "--json",
        "--days",
        "1.5",
        "--weight",
        "82kg",
        "--sex",
        "female",
    )
    assert code == 0, err
    data = json.loads(out)
    api = ks.simulate(
        "esketamine-56mg-single", patient=ks.Patient(weight="82 kg", sex="female"), duration="1.5 d"
    ).summary()
    # the CLI adds the monitoring keys for ketamine sessions (discharge time, flagged sessions)
    assert set(data) == set(api) | {"discharge_h", "sessions_flagged"}
    assert data["discharge_h"] >= 2.0
    for key, value in api.items():
        if math.isnan(value):
            assert data[key] is None
        else:
            assert data[key] == pytest.approx(value, rel=1e-9), key


def test_simulate_takes_co_medication_and_names_the_allowed_ones(capsys):
    code, out, err = cli(capsys, "simulate", "--protocol", "esketamine-56mg-single", "--json", "--days", "1",
                         "--comedication", "clarithromycin")  # fmt: skip
    assert code == 0, err
    api = ks.simulate("esketamine-56mg-single", patient=ks.Patient(comedication=["clarithromycin"]), duration="1 d")
    alone = ks.simulate("esketamine-56mg-single", patient=ks.Patient(), duration="1 d")
    assert json.loads(out)["cmax_ng_ml"] == pytest.approx(api.summary()["cmax_ng_ml"], rel=1e-9)
    assert api.summary()["auc_ng_h_ml"] > 1.1 * alone.summary()["auc_ng_h_ml"]
    code, out, err = cli(capsys, "simulate", "--days", "1", "--comedication", "aspirin")
    assert code == 2 and "comedication" in err and "ticlopidine" in err and "Traceback" not in err


def test_simulate_table(capsys):
    code, out, err = cli(capsys, "simulate", "--days", "1")
    assert code == 0, err
    assert "zarate-2006-iv" in out
    assert "cmax_ng_ml" in out and "madrs_24h" in out
    assert "Zarate" in out  # the protocol's source is shown


def test_simulate_writes_plot_and_summary(capsys, tmp_path):
    png, js = tmp_path / "X.png", tmp_path / "sub" / "S.json"
    code, out, err = cli(capsys, "simulate", "--days", "1", "--plot", str(png), "--out", str(js), "--json")
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 10_000
    saved = json.loads(js.read_text())
    assert set(saved) >= SUMMARY_KEYS
    assert saved == json.loads(out)  # the file holds the printed summary
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporary files left behind


# ---------------------------------------------------------------- params and protocols


def test_params_pk_json(capsys):
    code, out, err = cli(capsys, "params", "--layer", "pk", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list)
    assert len(rows) == len(default_parameters().layer("pk")) > 20
    assert {r["layer"] for r in rows} == {"pk"}
    for r in rows:
        assert (r["source"] is None) != (r["assumption"] is None), r["name"]
        assert r["unit"]
    names = {r["name"] for r in rows}
    assert {"r_cl", "esk_vc", "esk_frn"} <= names
    assert "ke0" not in names  # a receptor-layer parameter


def test_params_all_json(capsys):
    code, out, _ = cli(capsys, "params", "--json")
    assert code == 0
    assert len(json.loads(out)) == len(default_parameters())


def test_params_table(capsys):
    code, out, _ = cli(capsys, "params", "--layer", "receptor")
    assert code == 0
    assert "ke0" in out and "r_cl" not in out


def test_protocols_json(capsys):
    code, out, err = cli(capsys, "protocols", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    for name in REQUIRED:
        assert name in rows
        assert rows[name]["source"]
    assert rows["zarate-2006-iv"]["doses"] == "1"
    assert rows["murrough-2013-six-infusions"]["doses"] == "6"
    assert rows["spravato-induction-56mg"]["doses"] == "8"
    assert rows["spravato-induction-84mg"]["doses"] == "8"


def test_protocols_table(capsys, monkeypatch):
    import ketasim.cli

    monkeypatch.setattr(ketasim.cli.console, "width", 250)  # keep long names on one line
    code, out, _ = cli(capsys, "protocols")
    assert code == 0
    for name in REQUIRED:
        assert name in out


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (("simulate", "--weight", "5kg"), "weight"),
        (("simulate", "--weight", "5m"), "weight"),
        (("simulate", "--weight", "5 m"), "weight"),
        (("simulate", "--weight", "heavy"), "weight"),
        (("simulate", "--days", "0"), "days"),
        (("simulate", "--days", "-3"), "days"),
        (("simulate", "--protocol", "nope"), "protocol"),
        (("simulate", "--cyp2b6", "*9/*9"), "cyp2b6"),
        (("simulate", "--sex", "other"), "sex"),
        (("simulate", "--age", "10"), "age"),
        (("simulate", "--madrs-baseline", "70"), "madrs_baseline"),
        (("simulate", "--stress", "5"), "stress_load"),
        (("simulate", "--biotype", "lunar"), "biotype"),
        (("simulate", "--psychotherapy", "1d,xyz"), "psychotherapy[1]"),
        (("params", "--layer", "nope"), "layer"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, field):
    code, out, err = cli(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {field}:"), lines[0]
    assert out == ""


def test_bad_input_subprocess_has_no_traceback():
    proc = run_module("simulate", "--weight", "5kg", "--json")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == ["error: weight: must be within 20-300 kg (got '5kg')"]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("argv", "shown"), [(("simulate", "--days", "abc"), "--days"), (("simulate", "--bogus"), "--bogus")]
)
def test_usage_errors_exit_2_without_traceback(capsys, argv, shown):
    code, _, err = cli(capsys, *argv)
    assert code == 2
    assert shown in err and "Traceback" not in err


def test_no_arguments_shows_help(capsys):
    code, out, err = cli(capsys)
    assert code in (0, 2)
    assert "simulate" in out + err and "protocols" in out + err
    assert "Traceback" not in err


def test_help_exits_0(capsys):
    code, out, _ = cli(capsys, "simulate", "--help")
    assert code == 0
    assert "--weight" in out and "--protocol" in out


def test_version(capsys):
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"ketasim {ks.__version__}"


def test_export_sbml_without_the_extra_names_it(capsys, monkeypatch, tmp_path):
    """Issue 14: after the Quick start (no extras), export-sbml gave a traceback."""
    monkeypatch.setitem(sys.modules, "libsbml", None)  # as if python-libsbml were not installed
    code, _, err = cli(capsys, "export-sbml", str(tmp_path / "m.xml"))
    assert code == 2 and "Traceback" not in err
    assert "`sbml` extra" in err and 'pip install -e ".[sbml]"' in err
    assert not (tmp_path / "m.xml").exists()


def test_the_first_run_on_a_machine_says_that_it_compiles(tmp_path):
    """Issue 14: the first simulation compiles the model for ~25 s in silence. It now says so, once."""
    env = {**os.environ, "KETASIM_CACHE_DIR": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    runs = [subprocess.run([sys.executable, "-m", "ketasim.cli", "simulate", "--days", "1", "--json"], env=env,
                           capture_output=True, text=True, timeout=600) for _ in range(2)]  # fmt: skip
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert "ketasim: compiling the model for this machine" in runs[0].stderr
    assert "compiling" not in runs[1].stderr
    first, second = (json.loads(r.stdout) for r in runs)
    assert first.keys() == second.keys()
    for k, v in first.items():  # the freshly compiled and the cached kernel agree (to rounding)
        assert v == second[k] or v == pytest.approx(second[k], rel=1e-9), k


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["simulate", "--days", "1", "--plot", "{tmp}/f.txt"], "plot: the file name must end in a figure format"),
        (["trial", "{tmp}/latin1.toml"], "scenario: not UTF-8 text"),
        (["trial", "{tmp}/deep.toml"], "scenario: nested too deeply"),
        (["calibrate", "{tmp}/latin1.toml"], "config: not UTF-8 text"),
    ],
)
def test_files_that_are_not_what_they_should_be_are_one_line(capsys, tmp_path, argv, says):
    """Issue 15: an unsupported figure suffix (found only after the run), a scenario in Latin-1 and a deeply
    nested one gave tracebacks."""
    (tmp_path / "latin1.toml").write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    code, _, err = cli(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and "Traceback" not in err
    assert says in err and len([x for x in err.splitlines() if x.strip()]) == 1
    assert not (tmp_path / "f.txt").exists()
