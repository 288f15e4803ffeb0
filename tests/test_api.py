"""The public contract: names, result variables and summary keys stay stable."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import ketasim as ks

PUBLIC = {
    "Dose", "Drug", "Endpoints", "Hypotheses", "Population", "Session", "Trial", "TrialResult", "InputError", "KetasimError", "ParameterError", "ParameterSet",
    "Patient", "Regimen", "Result", "Route", "SolverOptions", "__version__", "default_parameters",
    "load_parameter_set", "protocols", "simulate", "compare", "Comparison",
}  # fmt: skip

DESIGN_VARIABLES = {
    "ketamine_plasma": "ng/mL",
    "norketamine_plasma": "ng/mL",
    "esketamine_plasma": "ng/mL",
    "arketamine_plasma": "ng/mL",
    "nmda_occupancy": "fraction (pyramidal)",
    "glutamate": "fold of baseline",
    "bdnf": "fold of baseline",
    "mtorc1": "fold of baseline",
    "synaptic_protein": "fold of baseline",
    "synapse_density": "fraction of healthy density",
    "madrs": "points (0-60)",
    "cadss": "points",
    "sbp_change": "mmHg",
}

SUMMARY = {
    "cmax_ng_ml", "cmax_arterial_ng_ml", "tmax_h", "auc_ng_h_ml", "peak_nmda_occupancy", "peak_glutamate_fold",
    "synapse_density_24h", "madrs_baseline", "madrs_24h", "madrs_7d", "cadss_peak",
    "sbp_change_peak_mmhg", "synapse_density_end",
}  # fmt: skip


def test_public_api_is_pinned():
    assert set(ks.__all__) == PUBLIC


def test_every_module_declares_all():
    missing = []
    for mod in pkgutil.walk_packages(ks.__path__, "ketasim."):
        m = importlib.import_module(mod.name)
        if not hasattr(m, "__all__"):
            missing.append(mod.name)
    assert missing == []


def test_result_has_design_variables_units_and_dims():
    res = ks.simulate(
        ks.protocols.get("zarate-2006-iv"), patient=ks.Patient(weight="70 kg"), duration="1 d", output_step="15 min"
    )
    ds = res.dataset
    assert ds["madrs"].dims == ("patient", "time")
    assert ds["time"].attrs["units"] == "h"
    for name, unit in DESIGN_VARIABLES.items():
        assert ds[name].attrs["units"] == unit
        assert np.isfinite(ds[name].values).all()
    assert set(res.summary()) == SUMMARY
    assert np.isnan(res.summary()["madrs_7d"])  # beyond a 1-day run: NaN, never a made-up number


def test_population_runs_in_one_batch_and_matches_single_runs():
    pts = [ks.Patient(weight=w) for w in ("55 kg", "70 kg", "110 kg")]
    batch = ks.simulate("zarate-2006-iv", population=pts, duration="1 d", output_step="30 min")
    assert batch.dataset.sizes["patient"] == 3
    for i, p in enumerate(pts):
        single = ks.simulate("zarate-2006-iv", p, duration="1 d", output_step="30 min")
        np.testing.assert_allclose(
            batch.dataset["ketamine_plasma"].values[i],
            single.dataset["ketamine_plasma"].values[0],
            rtol=1e-4,
            atol=1e-6,
        )


@pytest.mark.parametrize("regimen", ["zarate-2006-iv", "spravato-induction-84mg"])
def test_summary_peaks_do_not_depend_on_the_output_step(regimen):
    """Issue 14: Cmax was 161 ng/mL at 1-min output, 107 at hourly and 15 at 6-hourly; the CADSS peak fell
    from 7.6 to 0.03. Peaks, their times and the AUC now come from a grid refined around every dose."""
    runs = [ks.simulate(regimen, duration="7 d", output_step=s) for s in ("1 min", "1 h", "6 h")]
    fine, *coarse = [r.summary() for r in runs]
    for s in coarse:
        for key in ("cmax_ng_ml", "tmax_h", "peak_nmda_occupancy", "peak_glutamate_fold", "cadss_peak",
                    "sbp_change_peak_mmhg"):  # fmt: skip
            assert s[key] == pytest.approx(fine[key], rel=1e-9), key
        assert s["auc_ng_h_ml"] == pytest.approx(fine["auc_ng_h_ml"], rel=1e-3)
    assert runs[2].dataset.sizes["time"] == 29  # the dataset keeps the grid asked for


def test_to_dict_holds_the_data_not_only_the_summary():
    """Issue 14: Result.to_dict() returned the summary alone."""
    import json

    res = ks.simulate("zarate-2006-iv", duration="2 h", output_step="30 min")
    d = json.loads(json.dumps(res.to_dict()))  # plain types
    assert d["summary"]["cmax_ng_ml"] == pytest.approx(res.summary()["cmax_ng_ml"])
    assert d["data"]["coords"]["time"]["data"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert d["data"]["data_vars"]["ketamine_plasma"]["attrs"]["units"] == "ng/mL"
    assert len(d["data"]["data_vars"]["madrs"]["data"][0]) == 5
