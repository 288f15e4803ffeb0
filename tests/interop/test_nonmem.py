"""NONMEM-style datasets and the population description: the numbers, the order, the round trip, the refusals."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from _cli import cli
from ketasim.cli import main
from ketasim.interop import population_description, regimen_from_nonmem, regimens_from_nonmem, to_nonmem
from ketasim.interop.nonmem import (
    COLUMNS,
    DVID,
    ESK_AGE_FROM_Y,
    ESK_QH_FLOOR_L_H,
    REFERENCE_WEIGHT_KG,
)
from ketasim.model import assemble
from ketasim.model import pk as pk_layer
from ketasim.patients import SWALLOWED_ABSORPTION, Population
from ketasim.patients.population import draw_patient

P = ks.default_parameters()
COVARIATES = [
    ks.Patient(weight="55 kg", sex="female", age=30, cyp2b6="*1/*6", ancestry="asian"),
    ks.Patient(weight="92.5 kg", sex="male", age=71, cyp2b6="*6/*6", ancestry="japanese"),
    ks.Patient(weight="70 kg", sex="male", age=45),
]


@pytest.fixture(scope="module")
def zarate():
    """Three patients, 0.5 mg/kg over 40 min, 1 day on a 10-min grid."""
    res = ks.simulate("zarate-2006-iv", population=COVARIATES, duration="1 d", output_step="10 min")
    return res, to_nonmem(res, COVARIATES)


def _read(path):
    # pandas 3 reads floats back exactly by default; pandas 2 (the lower bound) only when asked
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    return pd.read_csv(path, na_values=["."], **exact)


# ---------------------------------------------------------------- export: the numbers


def test_dose_rows_hold_mg_per_kg_times_weight_and_the_infusion_rate(zarate):
    _, df = zarate
    doses = df[df["EVID"] == 1]
    assert list(doses["ID"]) == [1, 2, 3]
    weights = np.array([55.0, 92.5, 70.0])
    assert list(doses["AMT"]) == list(0.5 * weights)  # exactly 0.5 mg/kg x WT
    np.testing.assert_allclose(doses["RATE"], 0.5 * weights / (40 / 60), rtol=1e-15)  # mg/h = AMT / duration
    assert set(doses["CMT"]) == {4} and set(doses["DRUG"]) == {1} and set(doses["MDV"]) == {1}
    assert doses["DV"].isna().all() and set(doses["DVID"]) == {0} and set(doses["TIME"]) == {0.0}


def test_covariates_are_coded_per_patient(zarate):
    _, df = zarate
    first = df.groupby("ID").first()
    assert list(first["WT"]) == [55.0, 92.5, 70.0]
    assert list(first["SEX"]) == [1, 0, 0]  # 1 = female
    assert list(first["AGE"]) == [30.0, 71.0, 45.0]
    assert list(first["CYP2B6"]) == [1, 2, 0]  # number of *6 alleles
    assert list(first["ANCESTRY"]) == [1, 2, 0]  # non-Asian, Asian, Japanese
    assert (df.groupby("ID")[["WT", "SEX", "AGE", "CYP2B6", "ANCESTRY"]].nunique() == 1).all().all()


def test_observations_are_the_results_values_at_their_times(zarate):
    res, df = zarate
    ds, t = res.dataset, res.dataset["time"].values
    assert list(df.columns) == list(COLUMNS)
    for name, cmt in (("ketamine_plasma", 4), ("madrs", 5)):
        obs = df[(df["EVID"] == 0) & (df["DVID"] == DVID[name])]
        assert set(obs["CMT"]) == {cmt} and set(obs["MDV"]) == {0} and set(obs["AMT"]) == {0.0}
        for i in range(3):
            rows = obs[obs["ID"] == i + 1]
            assert list(rows["TIME"]) == list(t)
            assert list(rows["DV"]) == list(ds[name].values[i])  # exactly the Result's numbers
    assert DVID == {"ketamine_plasma": 1, "esketamine_plasma": 2, "arketamine_plasma": 3, "norketamine_plasma": 4,
                    "hydroxynorketamine_plasma": 5, "psilocin_plasma": 6, "escitalopram_plasma": 7, "madrs": 8}  # fmt: skip


def test_observe_every_and_observe_at_pick_grid_times(zarate):
    res, _ = zarate
    ds = res.dataset
    df = to_nonmem(res, COVARIATES, analytes=["norketamine_plasma"], observe_every="2 h")
    obs = df[(df["EVID"] == 0) & (df["ID"] == 2)]
    assert list(obs["TIME"]) == pytest.approx(list(np.arange(0, 24.01, 2.0)), abs=1e-9)
    assert set(obs["DVID"]) == {4}
    j = int(np.argmin(np.abs(ds["time"].values - 6.0)))
    assert obs[np.isclose(obs["TIME"], 6.0)]["DV"].item() == ds["norketamine_plasma"].values[1, j]
    df = to_nonmem(res, COVARIATES, observe_at=["40 min", "1 d"])
    assert sorted(set(df.loc[df["EVID"] == 0, "TIME"])) == pytest.approx([40 / 60, 24.0], abs=1e-9)


def test_rows_sorted_by_id_and_time_with_doses_before_observations_at_the_same_time():
    pop = Population.sample(2, seed=3)
    res = ks.simulate("murrough-2013-six-infusions", population=pop, duration="5 d", output_step="1 h",
                      outputs=["ketamine_plasma", "madrs"])  # fmt: skip
    df = to_nonmem(res, pop)
    key = list(zip(df["ID"], df["TIME"], -df["EVID"], df["DVID"], strict=True))
    assert key == sorted(key)  # ID, then TIME, then EVID 1 before 0, then DVID
    for t in (0.0, 48.0, 96.0):  # infusions start on output times: the dose comes first
        at = df[(df["ID"] == 2) & (df["TIME"] == t)]
        assert list(at["EVID"]) == [1, 0, 0] and list(at["DVID"]) == [0, 1, 8]
    assert (df["EVID"] == 1).sum() == 2 * 3  # 3 infusions within 5 days, per patient; the 3 later ones are left out
    assert df.attrs["omitted_doses"] == [f"ketamine 0.5 mg/kg iv over 40 min at {h} h" for h in (168, 216, 264)]


def test_csv_is_plain_with_dot_for_missing_and_reads_back_exactly(zarate, tmp_path):
    res, _ = zarate
    path = tmp_path / "study.csv"
    out = to_nonmem(res, COVARIATES, path=path)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1].split(",")[6] == "."  # DV of the first (dose) row
    back = _read(path)
    pd.testing.assert_frame_equal(back, out, check_exact=True)  # every digit survives the file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.csv"]  # no temporary left behind


def test_sessions_are_not_doses_and_are_listed():
    reg = ks.Regimen([ks.Dose("ketamine", "iv", "35 mg", duration="40 min"), ks.Session("psychotherapy", at="1 d"),
                      ks.Session("saline", at="2 d")])  # fmt: skip
    res = ks.simulate(reg, duration="3 d", output_step="1 h", outputs=["ketamine_plasma"])
    df = to_nonmem(res, ks.Patient())
    assert (df["EVID"] == 1).sum() == 1 and df.loc[df["EVID"] == 1, "AMT"].item() == 35.0
    assert df.attrs["omitted_sessions"] == ["psychotherapy session at 24 h", "saline session at 48 h"]
    assert list(regimen_from_nonmem(df).sessions) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"analytes": ["nope"]}, "analytes"),
        ({"analytes": ["psilocin_plasma"], "patients": "restricted"}, "analytes"),
        ({"observe_every": "7 min"}, "observe_every"),
        ({"observe_every": 2}, "observe_every"),
        ({"observe_at": ["5 min"]}, "observe_at"),
        ({"observe_at": ["1 h"], "observe_every": "1 h"}, "observe_every"),
        ({"patients": "two"}, "patients"),
    ],
)
def test_export_refusals_name_the_field(zarate, kwargs, field):
    res, _ = zarate
    kwargs = dict(kwargs)
    pts = kwargs.pop("patients", COVARIATES)
    if pts == "restricted":
        res, pts = ks.simulate("zarate-2006-iv", duration="2 h", outputs=["ketamine_plasma"]), ks.Patient()
    elif pts == "two":
        pts = COVARIATES[:2]
    with pytest.raises(ks.InputError) as err:
        to_nonmem(res, pts, **kwargs)
    assert err.value.field == field


# ---------------------------------------------------------------- round trip


def test_round_trip_gives_the_same_regimen_and_the_same_concentrations(tmp_path):
    reg = ks.Regimen([
        ks.Dose("esketamine", "intranasal", "56 mg"),
        ks.Dose("ketamine", "iv", "35 mg", duration="40 min", at="1 d"),
        ks.Dose("ketamine", "im", "50 mg", at="2 d"),
        ks.Dose("ketamine", "oral", "100 mg", at="60 h"),
        ks.Dose("esketamine", "iv", "20 mg", at="3 d"),
        ks.Dose("psilocybin", "oral", "25 mg", at="76 h"),
    ])  # fmt: skip
    patient = COVARIATES[1]
    run = {"duration": "4 d", "output_step": "15 min"}
    res = ks.simulate(reg, patient, **run)
    to_nonmem(res, patient, analytes=list(DVID), path=tmp_path / "d.csv")
    back = regimen_from_nonmem(tmp_path / "d.csv")
    assert len(back.doses) == len(reg.doses)
    for a, b in zip(back.doses, reg.doses, strict=True):
        assert (a.drug, a.route, a.amount, a.per_kg, a.at_h) == (b.drug, b.route, b.amount, b.per_kg, b.at_h)
        assert (a.duration_h is None) == (b.duration_h is None)
        if b.duration_h:  # RATE = AMT / duration is a float division; AMT / RATE gives it back to the last bits
            assert a.duration_h == pytest.approx(b.duration_h, rel=1e-14)
    again = ks.simulate(back, patient, **run)
    for name in DVID:
        a, b = again.dataset[name].values, res.dataset[name].values
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10 * max(np.abs(b).max(), 1e-300), err_msg=name)


def test_round_trip_of_a_population_dosed_per_kg(zarate, tmp_path):
    res, _ = zarate
    to_nonmem(res, COVARIATES, path=tmp_path / "pop.csv")
    regimens = regimens_from_nonmem(tmp_path / "pop.csv")
    assert list(regimens) == [1, 2, 3]
    for i, patient in enumerate(COVARIATES):
        (dose,) = regimens[i + 1].doses
        assert dose.amount == 0.5 * patient.weight_kg and not dose.per_kg  # mg/kg came back in mg
        assert dose.duration_h == pytest.approx(40 / 60, rel=1e-14)
        again = ks.simulate(regimens[i + 1], patient, duration="1 d", output_step="10 min")
        for name in ("ketamine_plasma", "norketamine_plasma", "madrs"):
            b = res.dataset[name].values[i]
            np.testing.assert_allclose(again.dataset[name].values[0], b, rtol=1e-10, atol=1e-10 * np.abs(b).max())


# ---------------------------------------------------------------- import: what is read, what is refused

BASE = {"ID": [1, 1, 1], "TIME": [0.0, 0.0, 1.0], "AMT": [35.0, 0.0, 0.0], "RATE": [52.5, 0.0, 0.0], "CMT": [4, 4, 4],
        "EVID": [1, 0, 0], "DV": [np.nan, 0.0, 80.0], "MDV": [1, 0, 0], "DRUG": [1, 0, 0]}  # fmt: skip


def _frame(**changes):
    df = pd.DataFrame(BASE)
    for key, value in changes.items():
        col, row = key.rsplit("_", 1) if key[-1].isdigit() else (key, None)
        if row is None:
            df = df.drop(columns=col) if value is None else df.assign(**{col: value})
        else:
            df[col] = df[col].astype(object if isinstance(value, str) else float)
            df.loc[int(row), col] = value
    return df


def test_import_reads_amount_rate_route_drug_and_time():
    reg = regimen_from_nonmem(_frame())
    (d,) = reg.doses
    assert (d.drug, d.route, d.amount, d.duration_h, d.at_h) == (ks.Drug.KETAMINE, ks.Route.IV, 35.0, 35 / 52.5, 0.0)
    assert reg.name == "ID 1"


def test_import_expands_addl_and_ii_and_accepts_drug_names_and_lowercase_columns():
    df = _frame(ADDL=[2, 0, 0], II=[48.0, 0, 0], DRUG=["esketamine", ".", "."])
    df.columns = [c.lower() for c in df.columns]
    reg = regimen_from_nonmem(df)
    assert [d.at_h for d in reg.doses] == [0.0, 48.0, 96.0]
    assert {d.drug for d in reg.doses} == {ks.Drug.ESKETAMINE}


def test_import_without_a_drug_column_needs_the_drug():
    with pytest.raises(ks.InputError) as err:
        regimen_from_nonmem(_frame(DRUG=None))
    assert err.value.field == "DRUG" and "drug=" in err.value.message
    assert regimen_from_nonmem(_frame(DRUG=None), drug="esketamine").doses[0].drug is ks.Drug.ESKETAMINE


def test_import_chooses_among_several_ids():
    df = pd.concat([_frame(), _frame(ID=[7, 7, 7], AMT_0=70.0)], ignore_index=True)
    with pytest.raises(ks.InputError) as err:
        regimen_from_nonmem(df)
    assert err.value.field == "id" and "1, 7" in err.value.message
    assert regimen_from_nonmem(df, id=7).doses[0].amount == 70.0
    with pytest.raises(ks.InputError) as err:
        regimen_from_nonmem(df, id=3)
    assert err.value.field == "id"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"AMT": None}, "AMT", "required column"),
        ({"EVID": None}, "EVID", "required column"),
        ({"AMT_0": -5.0}, "AMT (row 1)", "> 0"),
        ({"AMT_0": "lots"}, "AMT (row 1)", "number"),
        ({"CMT_0": 7}, "CMT (row 1)", "4 (IV, central)"),
        ({"EVID_1": 3}, "EVID (row 2)", "reset"),
        ({"EVID_2": 4}, "EVID (row 3)", "reset"),
        ({"EVID_1": 9}, "EVID (row 2)", "0 (observation), 1 (dose) or 2"),
        ({"RATE_0": -1}, "RATE (row 1)", "defined by the model"),
        ({"RATE_0": -2}, "RATE (row 1)", "defined by the model"),
        ({"CMT_0": 1}, "RATE (row 1)", "only IV doses"),
        ({"SS": [1, 0, 0]}, "SS (row 1)", "steady-state"),
        ({"DRUG_0": 9}, "DRUG (row 1)", "1 (ketamine)"),
        ({"DRUG_0": "caffeine"}, "DRUG (row 1)", "esketamine"),
        ({"DRUG_0": 3, "RATE_0": 0.0}, "CMT (row 1)", "oral drug only"),
        ({"DRUG_0": 2, "CMT_0": 2, "RATE_0": 0.0, "AMT_0": 30.0}, "AMT (row 1)", "28 mg devices"),
        ({"TIME_0": -1.0}, "TIME (row 1)", ">= 0"),
        ({"ADDL": [1, 0, 0]}, "II (row 1)", "interval"),
        ({"ID_2": 1.5}, "ID (row 3)", "whole number"),
    ],
)
def test_import_refusals_name_the_column_and_the_row(changes, field, words):
    with pytest.raises(ks.InputError) as err:
        regimen_from_nonmem(_frame(**changes))
    assert err.value.field == field
    assert words in err.value.message


def test_import_refuses_a_missing_file_and_a_non_table(tmp_path):
    with pytest.raises(ks.InputError) as err:
        regimen_from_nonmem(tmp_path / "absent.csv")
    assert err.value.field == "path"
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ks.InputError) as err:
        regimen_from_nonmem(tmp_path / "empty.csv")
    assert err.value.field == "path"


# ---------------------------------------------------------------- the population description


def test_population_description_numbers_are_the_registrys(tmp_path):
    doc = population_description(path=tmp_path / "pop.json")
    assert json.loads((tmp_path / "pop.json").read_text()) == json.loads(json.dumps(doc))
    pk = P.layer("pk")
    assert set(doc["typical_values"]) == {p.name for p in pk}
    for p in pk:
        entry = doc["typical_values"][p.name]
        assert (entry["value"], entry["unit"], entry["iiv_cv"]) == (p.value, p.unit, p.iiv_cv)
        assert entry.get("source_key") == p.source and entry.get("assumption") == p.assumption
    assert doc["typical_values"]["r_cl"]["source"] == P.citation("r_cl").short()
    with_iiv = {n for n, p in P.items() if p.iiv_cv}
    assert set(doc["iiv"]["pk"]) == with_iiv | set(SWALLOWED_ABSORPTION) and "r_cl" in with_iiv
    for name in doc["iiv"]["pk"]:
        cv = P[name].iiv_cv if name in with_iiv else P.value("iiv_ka_swallowed_cv")
        assert doc["iiv"]["pk"][name]["cv"] == cv
        assert doc["iiv"]["pk"][name]["omega2"] == pytest.approx(math.log(1 + cv**2), rel=1e-15)
    assert {doc["iiv"]["pk"][n]["shared_eta"] for n in SWALLOWED_ABSORPTION} == {"swallowed_absorption"}
    for effect, row in doc["iiv"]["pd"].items():
        assert row["cv"] == P.value(row["cv_parameter"]), effect
    coefficients = {n: e for c in doc["covariate_model"] for n, e in c["coefficients"].items()}
    assert set(coefficients) >= {"allometric_exponent_cl", "allometric_exponent_v", "female_cl_multiplier",
                                 "cyp2b6_im_cl_multiplier", "cyp2b6_pm_cl_multiplier", "esk_age_qh_slope"}  # fmt: skip
    for name, entry in coefficients.items():
        assert (entry["value"], entry["unit"]) == (P[name].value, P[name].unit)
    assert doc["residual_error"]["madrs"]["rating_noise_sd"]["value"] == P.value("rating_noise_sd")
    for name, entry in doc["covariate_distribution"].items():
        assert entry["value"] == P.value(name)
    assert doc["parameter_set"] == P.digest()


def test_population_description_follows_another_parameter_set():
    doc = population_description(P.replace(r_cl=80.0, allometric_exponent_cl=0.7))
    assert doc["typical_values"]["r_cl"]["value"] == 80.0
    wt = next(c for c in doc["covariate_model"] if "allometric_exponent_cl" in c["coefficients"])
    assert wt["coefficients"]["allometric_exponent_cl"]["value"] == 0.7


def test_described_variability_is_what_the_population_draws():
    doc = population_description()
    drawn = draw_patient(np.random.SeedSequence(5), "trd", P, {})
    assert set(drawn.random_effects) == set(doc["iiv"]["pk"]) | set(doc["iiv"]["pd"])


def test_described_covariate_formulas_are_the_models():
    """The formulas' constants (70 kg, 60 years, 1 L/h floor) and parameter lists against the assembled model."""
    a, b = COVARIATES[0], COVARIATES[1]  # female *1/*6 Asian 55 kg 30 y; male *6/*6 Japanese 92.5 kg 71 y
    m = assemble(P, [a, b])
    v = P.value
    for i, pt in enumerate((a, b)):
        w = pt.weight_kg / REFERENCE_WEIGHT_KG
        assert m.constants["rac_v1"][i] == pytest.approx(v("r_v1") * w ** v("allometric_exponent_v"), rel=1e-12)
        assert m.constants["nk_vp"][i] == pytest.approx(v("nk_vp") * w ** v("allometric_exponent_v"), rel=1e-12)
    K, ix = m.pk.K, pk_layer.IDX
    # R-ketamine clearance: weight, sex (a is female) and CYP2B6 (a *1/*6, b *6/*6)
    cl = np.array([
        v("r_cl") * (55 / REFERENCE_WEIGHT_KG) ** v("allometric_exponent_cl") * v("female_cl_multiplier")
        * v("cyp2b6_im_cl_multiplier"),
        v("r_cl") * (92.5 / REFERENCE_WEIGHT_KG) ** v("allometric_exponent_cl") * v("cyp2b6_pm_cl_multiplier"),
    ])  # fmt: skip
    got = K[:, ix["rnk_central"], ix["r_central"]] * m.constants["rac_v1"] / v("r_fm_nk")
    np.testing.assert_allclose(got, cl, rtol=1e-12)
    # S-ketamine hepatic flow: falls with age above 60 (b is 71), never below the floor
    qh = np.maximum(v("esk_qh") - v("esk_age_qh_slope") * np.maximum(np.array([30, 71]) - ESK_AGE_FROM_Y, 0),
                    ESK_QH_FLOOR_L_H)  # fmt: skip
    np.testing.assert_allclose(K[:, ix["s_liver"], ix["s_central"]] * m.constants["esk_vc"], qh, rtol=1e-12)
    old = assemble(P, [ks.Patient(age=100)])
    floor = old.pk.K[0, ix["s_liver"], ix["s_central"]] * old.constants["esk_vc"][0]
    assert floor == pytest.approx(max(v("esk_qh") - v("esk_age_qh_slope") * 40, ESK_QH_FLOOR_L_H), rel=1e-12)


# ---------------------------------------------------------------- command line


def test_cli_export_nonmem_writes_the_population(capsys, tmp_path):
    out = tmp_path / "study.csv"
    code, text, err = cli(capsys, "export-nonmem", str(out), "--protocol", "zarate-2006-iv", "--patients", "3",
                          "--seed", "2", "--days", "1", "--every", "30 min")  # fmt: skip
    assert code == 0, err
    assert "3 patients, 3 dose records" in " ".join(text.split())
    df = _read(out)
    pop = Population.sample(3, seed=2)
    assert list(df.loc[df["EVID"] == 1, "AMT"]) == [0.5 * p.weight_kg for p in pop]
    res = ks.simulate("zarate-2006-iv", population=pop, duration="1 d", output_step="30 min")
    ket = df[(df["DVID"] == 1) & (df["ID"] == 3)]
    assert list(ket["DV"]) == list(res.dataset["ketamine_plasma"].values[2])


def test_cli_simulate_takes_the_regimen_from_a_dataset(capsys, tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame(BASE).to_csv(path, index=False, na_rep=".")
    code, text, err = cli(capsys, "simulate", "--regimen-from", str(path), "--days", "1", "--json")
    assert code == 0, err
    direct = ks.simulate(ks.Regimen([ks.Dose("ketamine", "iv", "35 mg", duration=f"{35 / 52.5!r} h")]),
                         ks.Patient(), duration="1 d")  # fmt: skip
    assert json.loads(text)["cmax_ng_ml"] == pytest.approx(direct.summary()["cmax_ng_ml"], rel=1e-12)


def test_cli_describe_population(capsys, tmp_path):
    code, text, err = cli(capsys, "describe-population", str(tmp_path / "pop.json"))
    assert code == 0, err
    assert "covariate effects" in " ".join(text.split())
    assert json.loads((tmp_path / "pop.json").read_text())["typical_values"]["esk_vc"]["value"] == P.value("esk_vc")


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (("export-nonmem", "{tmp}/x.csv", "--protocol", "nope"), "protocol"),
        (("export-nonmem", "{tmp}/x.csv", "--observe", "ketamine"), "observe"),
        (("export-nonmem", "{tmp}/x.csv", "--every", "5 m"), "every"),
        (("simulate", "--regimen-from", "{tmp}/bad.csv"), "AMT (row 1)"),
        (("simulate", "--regimen-from", "{tmp}/absent.csv"), "path"),
        (("simulate", "--id", "2"), "id"),
    ],
)
def test_cli_bad_input_gives_one_line_and_status_2(capsys, tmp_path, argv, field):
    _frame(AMT_0=-5.0).to_csv(tmp_path / "bad.csv", index=False, na_rep=".")
    code, out, err = cli(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}:"), err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "x.csv").exists()


def test_cli_help_names_the_new_options(capsys):
    code, out, _ = cli(capsys, "export-nonmem", "--help")
    assert code == 0 and "--patients" in out and "--every" in out and "NONMEM" in out
    code, out, _ = cli(capsys, "simulate", "--help")
    assert code == 0 and "--regimen-from" in out and "--id" in out


def test_export_nonmem_refuses_a_bare_observation_interval(tmp_path, capsys):
    """Issue 14: a bare number for a time silently meant hours; `--every 1` is refused like `duration=7`."""

    with pytest.raises(SystemExit) as exit_:
        main(["export-nonmem", str(tmp_path / "s.csv"), "--every", "1"])
    assert exit_.value.code == 2
    assert "every: a bare number has no unit" in capsys.readouterr().err
    assert not (tmp_path / "s.csv").exists()
