"""Target-controlled infusion (tci.py): the schedule, played back by the full model, holds the target."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.clinical.tci import MAX_TARGET_NG_ML, tci_rates, tci_schedule
from ketasim.engine import integrate
from ketasim.model import assemble
from ketasim.parameters import default_parameters

# Tight playback: LSODA is ~4x faster than BDF on these many short infusion segments, same accuracy.
TIGHT = ks.SolverOptions(method="LSODA", rtol=1e-8, atol=1e-10)
TOL = 0.03  # 3% of target

PATIENTS = [
    ks.Patient(weight="70 kg", sex="male"),
    ks.Patient(weight="110 kg", sex="female", cyp2b6="*6/*6", age=70),
    ks.Patient(weight="50 kg", sex="female", cyp2b6="*1/*6", random_effects={"r_cl": 1.5, "ke0": 0.6}),
]


def _plasma(reg: ks.Regimen, patient: ks.Patient, hours: float, var: str = "ketamine_plasma"):
    res = ks.simulate(reg, patient=patient, duration=f"{hours} h", output_step="20 s", solver=TIGHT)
    return res.dataset["time"].values, res.dataset[var].values[0]


def _effect_site(reg: ks.Regimen, patient: ks.Patient, hours: float):
    """Plasma-equivalent effect-site ketamine (ng/mL) from the full model's receptor states."""
    model = assemble(default_parameters(), [patient])
    t = np.arange(0.0, hours + 1e-9, 20 / 3600)
    boluses, infusions = model.events(reg)
    y = integrate(model, model.initial(), boluses, infusions, t, TIGHT)
    ix = model.index
    ce_um = y[ix["ce_s_ketamine"], 0] + y[ix["ce_r_ketamine"], 0]
    unbound = model.constants["fu_plasma"][0] * model.constants["kp_uu_brain"][0]
    return t, ce_um / unbound * model.pk.mw["ketamine"]


def _check_schedule(reg: ks.Regimen, duration_h: float, max_rate: float) -> None:
    rates = tci_rates(reg)
    assert (rates["rate_mg_h"] > 0).all()  # zero-rate intervals are left out, none is negative
    assert (rates["rate_mg_h"] <= max_rate * (1 + 1e-12)).all()
    assert (rates["start_h"].to_numpy()[1:] >= rates["end_h"].to_numpy()[:-1]).all()  # no overlap
    assert rates["end_h"].iloc[-1] <= duration_h + 1e-12
    assert all(d.route is ks.Route.IV and d.duration_h for d in reg.doses)


@pytest.mark.parametrize("patient", PATIENTS, ids=["70kg-male", "110kg-female-PM", "50kg-female-IM"])
def test_plasma_target_is_held(patient):
    reg = tci_schedule("150 ng/mL", patient, duration="1 h", update_every="1 min")
    _check_schedule(reg, 1.0, 1200.0)
    t, cp = _plasma(reg, patient, 1.0)
    steady = t >= 5 / 60
    dev = np.abs(cp[steady] / 150.0 - 1).max()
    assert dev < TOL, f"max deviation {dev:.2%}"
    assert cp.max() <= 150.0 * (1 + TOL)  # no overshoot during loading


@pytest.mark.parametrize("patient", PATIENTS[:2], ids=["70kg-male", "110kg-female-PM"])
def test_effect_site_target_is_held(patient):
    reg = tci_schedule(200, patient, site="effect", duration="1.5 h", update_every="1 min")
    _check_schedule(reg, 1.5, 1200.0)
    t, ce = _effect_site(reg, patient, 1.5)
    steady = t >= 0.5
    dev = np.abs(ce[steady] / 200.0 - 1).max()
    assert dev < TOL, f"max deviation {dev:.2%}"
    assert ce.max() <= 200.0 * (1 + TOL)
    # effect-site targeting overshoots plasma on purpose to speed up the effect site
    _, cp = _plasma(reg, patient, 1.5)
    assert cp.max() > 200.0 * 1.1


def test_esketamine_plasma_target():
    patient = PATIENTS[0]
    reg = tci_schedule("80 ng/mL", patient, drug="esketamine", duration="45 min", update_every="1 min")
    assert {d.drug for d in reg.doses} == {ks.Drug.ESKETAMINE}
    t, cp = _plasma(reg, patient, 0.75, var="esketamine_plasma")
    dev = np.abs(cp[t >= 5 / 60] / 80.0 - 1).max()
    assert dev < TOL, f"max deviation {dev:.2%}"


def test_stepped_profile_follows_each_step():
    patient = PATIENTS[0]
    profile = [(0, 100), ("20 min", 250), ("40 min", 150)]
    reg = tci_schedule(profile, patient, duration="1.5 h", update_every="1 min")
    t, cp = _plasma(reg, patient, 1.5)
    minutes = t * 60
    up1 = (minutes >= 3) & (minutes < 20)
    up2 = (minutes >= 23) & (minutes < 40)
    assert np.abs(cp[up1] / 100 - 1).max() < TOL
    assert np.abs(cp[up2] / 250 - 1).max() < TOL
    # downward step: nothing is infused until plasma has fallen to the new target, no undershoot
    down = minutes >= 40
    assert cp[down].min() >= 150 * (1 - TOL)
    assert np.all(np.diff(cp[(minutes >= 40) & (cp > 151)]) < 0)
    assert np.abs(cp[minutes >= 80] / 150 - 1).max() < TOL
    rates = tci_rates(reg)
    gap = rates[(rates["start_h"] >= 40 / 60)]
    assert gap["start_h"].iloc[0] > 45 / 60  # the pump paused after the step down


def test_max_rate_limits_loading_and_accepts_per_kg():
    patient = ks.Patient(weight="80 kg")
    reg = tci_schedule(300, patient, duration="20 min", update_every="30 s", max_rate="2 mg/kg/h")
    rates = tci_rates(reg)
    assert rates["rate_mg_h"].max() == pytest.approx(160.0)
    fast = tci_rates(tci_schedule(300, patient, duration="20 min", update_every="30 s"))
    assert fast["rate_mg_h"].iloc[0] == pytest.approx(1200.0)


@pytest.mark.parametrize(
    "target",
    [0, -5, "0 ng/mL", MAX_TARGET_NG_ML + 1, "5000 ng/mL", "150 mg", "lots", [(0, 100), ("10 min", 0)], []],
)
def test_bad_targets_are_refused(target):
    with pytest.raises(ks.InputError) as err:
        tci_schedule(target, duration="30 min")
    assert err.value.field.startswith("target")


def test_bad_profiles_and_options_are_refused():
    with pytest.raises(ks.InputError) as err:
        tci_schedule([(0, 100), ("10 min", 200), ("5 min", 150)], duration="1 h")
    assert err.value.field.startswith("target")
    with pytest.raises(ks.InputError) as err:
        tci_schedule([(0, 100), ("2 h", 200)], duration="1 h")
    assert err.value.field.startswith("target")
    with pytest.raises(ks.InputError) as err:
        tci_schedule(4000)
    assert err.value.field == "target" and "3000" in err.value.message
    for kwargs, field in [
        ({"site": "brain"}, "site"),
        ({"update_every": "0.1 s"}, "update_every"),
        ({"duration": "0 h"}, "duration"),
        ({"max_rate": 0}, "max_rate"),
        ({"max_rate": "5 mg"}, "max_rate"),
        ({"drug": "aspirin"}, "drug"),
    ]:
        with pytest.raises(ks.InputError) as err:
            tci_schedule(150, **kwargs)
        assert err.value.field == field


def test_profile_deviation_sees_a_schedule_that_misses_its_levels():
    from ketasim.clinical.tci import tci_profile_deviation_pct

    reg = tci_schedule([("0 h", 100), ("20 min", 250)], ks.Patient(), duration="1 h")
    res = ks.simulate(reg, ks.Patient(), duration="1 h", output_step="1 min")
    assert tci_profile_deviation_pct(res, [(0.0, 100), (1 / 3, 250)]) < 0.01
    assert tci_profile_deviation_pct(res, [(0.0, 100), (1 / 3, 500)]) == pytest.approx(50, abs=0.5)
