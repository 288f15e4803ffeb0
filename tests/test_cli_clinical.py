"""The clinical-practice and export commands of the CLI."""

from __future__ import annotations

import json

import pytest

from _cli import cli


def test_tci_json_holds_the_target(capsys):
    code, out, err = cli(capsys, "tci", "--target", "150 ng/mL", "--duration", "1 h", "--check", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["max_deviation_pct"] < 3.0
    assert all(step["rate_mg_h"] >= 0 for step in data["schedule"])


@pytest.mark.parametrize("drug", ["Ketamine", "racemic", "esketamine"])
def test_tci_check_reads_any_spelling_of_target_and_drug(capsys, drug):
    code, out, err = cli(capsys, "tci", "--target", "150ng/mL", "--drug", drug, "--duration", "30 min", "--check",
                         "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["max_deviation_pct"] < 3.0  # compared with the plasma of the drug infused


def test_tci_refuses_an_out_of_range_target(capsys):
    code, _, err = cli(capsys, "tci", "--target", "5000 ng/mL")
    assert code == 2 and err.startswith("error: target") and "Traceback" not in err


def test_dose_finder_reports_the_binding_constraint(capsys):
    code, out, err = cli(capsys, "dose-finder", "--max-cadss", "3", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["binding"] == "cadss" and data["cadss_peak"] <= 3.0


def test_dose_finder_refuses_infeasible_limits(capsys):
    code, _, err = cli(capsys, "dose-finder", "--max-cadss", "0.001", "--dose-min", "1 mg/kg", "--json")
    assert code == 2 and "infeasible" in err


def test_monitor_json_gives_discharge_after_two_hours(capsys):
    code, out, err = cli(capsys, "monitor", "--protocol", "esketamine-84mg-single", "--hours", "6", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 1 and rows[0]["discharge_h"] >= 2.0


def test_export_sbml_writes_a_valid_document(capsys, tmp_path):
    pytest.importorskip("libsbml")
    out = tmp_path / "model.xml"
    code, _, err = cli(capsys, "export-sbml", str(out), "--protocol", "esketamine-56mg-single")
    assert code == 0, err
    text = out.read_text()
    assert text.startswith("<?xml") and "<sbml" in text and 'level="3"' in text


@pytest.mark.parametrize("target", ["150ng/mL", "0.15 ug/mL"])
def test_tci_check_honours_the_target_unit(capsys, target):
    """Issue 14: a target in ug/mL was read as ng/mL (a 99900% 'deviation')."""
    code, out, err = cli(capsys, "tci", "--target", target, "--duration", "1 h", "--check", "--json")
    assert code == 0, err
    assert json.loads(out)["max_deviation_pct"] < 0.01


def test_tci_check_of_a_profile_reports_its_deviation(capsys):
    """Issue 14: --profile with --check reported nothing; each level is checked after its approach."""
    code, out, err = cli(capsys, "tci", "--profile", "0:100,20min:250", "--duration", "1 h", "--check", "--json")
    assert code == 0, err
    assert json.loads(out)["max_deviation_pct"] < 0.01
    code, out, _ = cli(capsys, "tci", "--profile", "0:100,20min:250", "--duration", "1 h", "--check")
    assert "deviation from target after the first quarter of each target level: 0.00%" in out
