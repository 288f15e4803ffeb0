"""Population PK validation studies (issue 16, part): a study given as its doses and subjects, each
row's metric computed per virtual subject, the median compared, the 5-95% band drawn.

The metrics are checked against what the model's parameters say for subjects without variability: an
IV dose's clearance is the registry's (R-ketamine: ``r_cl``; S-ketamine: the hepatic clearance of
Perez-Ruixo 2021's liver compartment, Q_H CL_int / (Q_H + CL_int)), oral bioavailability the
registry's F (R) or gut-wall availability times the hepatic escape fraction (S).
"""

from __future__ import annotations

import numpy as np
import pytest

from ketasim.analysis.validation import predict_study, reference_studies, rows_for, study_figure
from ketasim.parameters import default_parameters


def _s_ketamine(p):
    """S-ketamine's hepatic clearance (L/h) and oral bioavailability for a typical subject."""
    qh, clint = (
        p.value("esk_qh", "L/h"),
        (p.value("esk_kel", "1/h") + p.value("esk_kmet", "1/h")) * p.value("esk_vh", "L"),
    )
    return qh * clint / (qh + clint), p.value("esk_fgut") * qh / (qh + clint)


TYPICAL = {"n": 3, "cohort": "typical", "weight": "70 kg", "sex": "male", "cyp2b6": "*1/*1", "age": 40}


def _study(doses, rows, duration="3 d"):
    return {"id": "t", "citation": "test", "kind": "pk", "doses": doses, "subjects": TYPICAL, "duration": duration,
            "site": "venous", "row": rows}  # fmt: skip


def test_clearance_of_each_enantiomer_is_the_registry_value_for_a_typical_subject():
    p = default_parameters()
    study = _study([{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}],
                   [{"quantity": "clearance_l_h", "analyte": a, "observed": 1.0} for a in
                    ("esketamine_plasma", "arketamine_plasma")])  # fmt: skip
    preds = predict_study(study, params=p)
    assert preds[("clearance_l_h", "esketamine_plasma")][0] == pytest.approx(_s_ketamine(p)[0], rel=0.01)
    assert preds[("clearance_l_h", "arketamine_plasma")][0] == pytest.approx(p.value("r_cl", "L/h"), rel=0.01)
    lo, hi = preds[("clearance_l_h", "esketamine_plasma")][2:]
    assert lo == pytest.approx(hi, rel=1e-9)  # no variability: no band


def test_oral_bioavailability_is_the_registry_value_and_per_kg_clearance_scales():
    p = default_parameters()
    study = _study([{"drug": "ketamine", "route": "oral", "amount": "40 mg"}],
                   [{"quantity": "bioavailability", "analyte": a, "observed": 0.2} for a in
                    ("esketamine_plasma", "arketamine_plasma")])  # fmt: skip
    preds = predict_study(study, params=p)
    assert preds[("bioavailability", "esketamine_plasma")][0] == pytest.approx(_s_ketamine(p)[1], rel=0.01)
    assert preds[("bioavailability", "arketamine_plasma")][0] == pytest.approx(p.value("rac_f_oral"), rel=0.01)
    per_kg = _study([{"drug": "ketamine", "route": "iv", "amount": "1 mg/kg", "duration": "10 s"}],
                    [{"quantity": "clearance_ml_min_kg", "analyte": "esketamine_plasma", "observed": 1.0}])  # fmt: skip
    v = predict_study(per_kg, params=p)[("clearance_ml_min_kg", "esketamine_plasma")][0]
    assert v == pytest.approx(_s_ketamine(p)[0] * 1000 / 60 / 70, rel=0.01)


def test_shipped_population_pk_rows_carry_site_band_and_a_figure():
    study = next(s for s in reference_studies() if s["id"] == "hasan2021")
    rows = rows_for(study, predict_study(study))
    assert {r.arm for r in rows} == {"esketamine_plasma", "arketamine_plasma"}  # one row per analyte
    assert all(r.site.startswith("not stated") for r in rows)
    for r in rows:
        assert r.band is not None and r.band[0] < r.predicted < r.band[1]  # the subjects vary
    fig = study_figure(rows)
    labels = {t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()}
    assert "model: 5-95% of virtual subjects" in labels
    assert "sampled: not stated (serum)" in fig._suptitle.get_text()


def test_unknown_pk_metric_is_refused_naming_the_study():
    from ketasim.errors import InputError

    study = _study(
        [{"drug": "ketamine", "route": "iv", "amount": "10 mg"}], [{"quantity": "auc_of_joy", "observed": 1}]
    )
    with pytest.raises(InputError, match=r"t\.row\.quantity"):
        predict_study(study)


# ------------------------------------------------------------------ the metrics of issue 16 part 5


def test_auc_to_infinity_is_the_analyte_dose_over_its_clearance():
    """Any linear disposition: AUC(0-inf) = dose / CL; the S-ketamine in 1 mg/kg racemate is 35 mg."""
    p = default_parameters()
    study = _study([{"drug": "ketamine", "route": "iv", "amount": "1 mg/kg", "duration": "10 s"}],
                   [{"quantity": "auc_ng_h_ml", "analyte": "esketamine_plasma", "observed": 1.0}])  # fmt: skip
    auc = predict_study(study, params=p)[("auc_ng_h_ml", "esketamine_plasma")][0]
    assert auc == pytest.approx(35.0 * 1000 / _s_ketamine(p)[0], rel=0.01)  # mg/(L/h) -> ng h/mL


def test_auc_and_concentration_helpers_on_a_one_compartment_bolus():
    from ketasim.analysis.validation._validate import _auc_inf, _concentration_at

    t = np.arange(0, 48.0001, 0.05)
    c0, k = np.array([[100.0], [40.0]]), np.array([[0.3], [0.1]])
    c = c0 * np.exp(-k * t)
    assert _auc_inf(t, c, {}) == pytest.approx((c0 / k).ravel(), rel=1e-3)
    at2 = _concentration_at(t, c, {"at": "2 h"}, "f")
    assert at2 == pytest.approx((c0 * np.exp(-k * 2)).ravel(), rel=1e-6)
    assert _concentration_at(t, c, {"at": "90 min"}, "f") == pytest.approx((c0 * np.exp(-k * 1.5)).ravel(), rel=1e-6)


def test_metabolite_ratio_of_two_known_curves():
    """Parent C0 e^{-k t}; metabolite formed from all of it and cleared at rate km: AUC_m/AUC_p = k/km
    (unit volumes), and at a time t the Bateman ratio k/(km - k) (e^{-k t} - e^{-km t}) / e^{-k t}."""
    from ketasim.analysis.validation._validate import _auc_inf

    t = np.arange(0, 96.0001, 0.02)
    k, km = 0.4, 0.1
    parent = 10 * np.exp(-k * t)[None, :]
    metabolite = (10 * k / (km - k) * (np.exp(-k * t) - np.exp(-km * t)))[None, :]
    assert (_auc_inf(t, metabolite, {"terminal_from": "48 h"}) / _auc_inf(t, parent, {}))[0] == pytest.approx(
        k / km, rel=2e-3
    )
    p = default_parameters()  # the model: the norketamine/ketamine ratio at 2 h, from the same two outputs
    study = _study([{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}],
                   [{"quantity": "metabolite_ratio", "analyte": "norketamine_plasma", "over": "ketamine_plasma",
                     "at": "2 h", "observed": 1.0},
                    {"quantity": "concentration_ng_ml", "analyte": "ketamine_plasma", "at": "2 h", "observed": 1.0},
                    {"quantity": "concentration_ng_ml", "analyte": "norketamine_plasma", "at": "2 h",
                     "observed": 1.0}])  # fmt: skip
    preds = predict_study(study, params=p)
    ratio = preds[("metabolite_ratio", "norketamine_plasma")][0]
    nk = preds[("concentration_ng_ml", "norketamine_plasma")][0]
    ket = preds[("concentration_ng_ml", "ketamine_plasma")][0]
    assert ratio == pytest.approx(nk / ket, rel=1e-9)
    assert 0 < ratio < 5


def test_cv_of_a_lognormal_with_known_sigma():
    from ketasim.analysis.validation._validate import _cv

    sigma = 0.4
    x = np.random.default_rng(1).lognormal(0.0, sigma, 200_000)
    assert _cv(x) == pytest.approx(np.sqrt(np.exp(sigma**2) - 1), rel=0.01)


def test_cv_of_auc_after_iv_is_the_clearance_variability():
    """IV racemate, fixed covariates: R-ketamine's AUC = dose / CL, so its CV is that of 1/CL, the
    registry's iiv_cv (log-normal); a typical cohort has none."""
    p = default_parameters()
    fixed = {"weight": "70 kg", "sex": "male", "cyp2b6": "*1/*1", "age": 40}
    study = {**_study([{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}],
                      [{"quantity": "cv_auc", "analyte": "arketamine_plasma", "observed": 0.2},
                       {"quantity": "cv_cmax", "analyte": "arketamine_plasma", "observed": 0.2}]),
             "subjects": {"n": 400, "cohort": "healthy", **fixed}}  # fmt: skip
    preds = predict_study(study, params=p)
    assert preds[("cv_auc", "arketamine_plasma")][0] == pytest.approx(p["r_cl"].iiv_cv, abs=0.025)
    assert preds[("cv_cmax", "arketamine_plasma")][0] > 0.05
    typical = predict_study(_study(study["doses"], study["row"]), params=p)
    assert typical[("cv_auc", "arketamine_plasma")][0] == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------ sampling site


def test_arterial_studies_read_the_arterial_twin_every_other_site_the_venous_output():
    from ketasim.analysis.validation import site_output
    from ketasim.errors import InputError

    assert site_output("esketamine_plasma", "arterial") == "esketamine_arterial"
    assert site_output("norketamine_plasma", "arterial") == "norketamine_arterial"
    assert site_output("hydroxynorketamine_plasma", "arterial") == "hydroxynorketamine_arterial"
    for site in ("venous", "mixed (arterial and venous studies pooled)", "not stated", "arterial and forearm venous"):
        assert site_output("ketamine_plasma", site) == "ketamine_plasma"
    with pytest.raises(InputError, match="analyte"):
        site_output("madrs", "arterial")


def test_an_arterial_study_is_compared_with_the_arterial_output():
    """The same infusion read at the two sites: the arterial peak is the higher (the partially mixed drug),
    and the AUC of the arterial study exceeds the venous one by dose / total PK flow (Henthorn 2018)."""
    p = default_parameters()
    rows = [{"quantity": "cmax_ng_ml", "analyte": "esketamine_plasma", "observed": 1.0},
            {"quantity": "auc_ng_h_ml", "analyte": "esketamine_plasma", "observed": 1.0}]  # fmt: skip
    venous = _study([{"drug": "esketamine", "route": "iv", "amount": "20 mg", "duration": "20 min"}], rows)
    arterial = {**venous, "site": "arterial"}
    v, a = predict_study(venous, params=p), predict_study(arterial, params=p)
    # the arterial study's rows are keyed (and shown) by the output they are compared with
    assert {k[1] for k in a} == {"esketamine_arterial"} and {k[1] for k in v} == {"esketamine_plasma"}
    assert {r.arm for r in rows_for(arterial, a)} == {"esketamine_arterial"}
    assert a[("cmax_ng_ml", "esketamine_arterial")][0] > 1.5 * v[("cmax_ng_ml", "esketamine_plasma")][0]
    front = 20.0 * 1000 / p.value("pk_total_flow", "L/h")  # ng h/mL
    gap = a[("auc_ng_h_ml", "esketamine_arterial")][0] - v[("auc_ng_h_ml", "esketamine_plasma")][0]
    assert gap == pytest.approx(front, rel=0.03)


# ------------------------------------------------------------------ bad rows


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"quantity": "concentration_ng_ml", "observed": 1.0}, r"t\.row\(concentration_ng_ml, ketamine_plasma\)\.at"),
        ({"quantity": "metabolite_ratio", "analyte": "norketamine_plasma", "observed": 1.0},
         r"t\.row\(metabolite_ratio, norketamine_plasma\)\.over"),
        ({"quantity": "clearance_l_h", "analyte": "norketamine_plasma", "observed": 1.0}, r"analyte.*dosed analyte"),
    ],
)  # fmt: skip
def test_a_row_missing_what_its_metric_needs_is_refused_naming_the_field(row, field):
    from ketasim.errors import InputError

    study = _study([{"drug": "ketamine", "route": "iv", "amount": "10 mg"}], [row], duration="1 d")
    with pytest.raises(InputError, match=field):
        predict_study(study)


def test_auc_until_a_time_is_the_partial_integral():
    from ketasim.analysis.validation._validate import _auc_to

    t = np.arange(0, 48.0001, 0.05)
    c = (100.0 * np.exp(-0.3 * t))[None, :]
    assert _auc_to(t, c, {"until": "8 h"})[0] == pytest.approx(100 / 0.3 * (1 - np.exp(-2.4)), rel=1e-3)
    assert _auc_to(t, c, {})[0] == pytest.approx(100 / 0.3, rel=1e-3)
