"""Population PK validation studies (issue 16, part): a study given as its doses and subjects, each
row's metric computed per virtual subject, the median compared, the 5-95% band drawn.

The metrics are checked against what the model's parameters say for subjects without variability: an
IV dose's clearance is the registry's clearance (racemic S-ketamine: Fanta 2015, 95.2 L/h at 70 kg;
R-ketamine 0.83 of it), oral bioavailability the registry's F.
"""

from __future__ import annotations

import pytest

from ketasim.analysis.validation import predict_study, reference_studies, rows_for, study_figure
from ketasim.parameters import default_parameters

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
    s_cl = p.value("rac_s_cl", "L/h")
    assert preds[("clearance_l_h", "esketamine_plasma")][0] == pytest.approx(s_cl, rel=0.01)
    assert preds[("clearance_l_h", "arketamine_plasma")][0] == pytest.approx(s_cl * p.value("rac_r_cl_ratio"), rel=0.01)
    lo, hi = preds[("clearance_l_h", "esketamine_plasma")][2:]
    assert lo == pytest.approx(hi, rel=1e-9)  # no variability: no band


def test_oral_bioavailability_is_the_registry_value_and_per_kg_clearance_scales():
    p = default_parameters()
    study = _study([{"drug": "ketamine", "route": "oral", "amount": "40 mg"}],
                   [{"quantity": "bioavailability", "analyte": "esketamine_plasma", "observed": 0.2}])  # fmt: skip
    f = predict_study(study, params=p)[("bioavailability", "esketamine_plasma")][0]
    assert f == pytest.approx(p.value("rac_f_oral"), rel=0.01)
    per_kg = _study([{"drug": "ketamine", "route": "iv", "amount": "1 mg/kg", "duration": "10 s"}],
                    [{"quantity": "clearance_ml_min_kg", "analyte": "esketamine_plasma", "observed": 1.0}])  # fmt: skip
    v = predict_study(per_kg, params=p)[("clearance_ml_min_kg", "esketamine_plasma")][0]
    assert v == pytest.approx(p.value("rac_s_cl", "L/h") * 1000 / 60 / 70, rel=0.01)


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
