"""The symptom network's emergent behaviour: bistability with hysteresis, the rumination loop, relapse
after the drug's support fades, consolidation of recovery, and the day-to-day fluctuation."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.model import assemble, symptoms
from ketasim.parameters import default_parameters


def _activation(patient: ks.Patient, days: float, regimen=None, step="1 d", **kw):
    res = ks.simulate(regimen or ks.Regimen([]), patient, duration=f"{days} d", output_step=step,
                      outputs=["symptom_activation", "madrs", "depressive_drive"], **kw)  # fmt: skip
    return res.dataset


def _loop(stiffness_factor: float) -> tuple[float, float, float]:
    """Stress raised in steps of 8 days from 0.2 to 2.2 and lowered back. Returns, against the depressive
    drive (the network's input, which follows stress through the slower synapses): the drive at which
    the network switched to depression on the way up, the one at which it switched back on the way down,
    and the area between the two branches of activation. Consolidation and the mood fluctuation are off:
    the hysteresis tested is the network's own."""
    levels = np.concatenate([np.linspace(0.2, 2.2, 21), np.linspace(2.2, 0.2, 21)])
    steps = [(f"{8 * i} d", float(s)) for i, s in enumerate(levels)]
    patient = ks.Patient(stress_load=steps, random_effects={"network_stiffness": stiffness_factor,
                                                            "consolidation_strength": 1e-3})  # fmt: skip
    ds = ks.simulate(ks.Regimen([]), patient, duration=f"{8 * len(levels)} d", output_step="6 h",
                     outputs=["symptom_activation", "depressive_drive"], fluctuation=False).dataset  # fmt: skip
    a, d = ds["symptom_activation"].values[0], ds["depressive_drive"].values[0]
    half = a.size // 2
    grid = np.linspace(0.6, 1.6, 201)
    branches = []
    for drive, act in ((d[:half], a[:half]), (d[half:], a[half:])):
        order = np.argsort(drive)
        branches.append(np.interp(grid, drive[order], act[order]))
    up, down = branches
    assert up.min() < 0.1 and up.max() > 0.9  # both states are visited
    area = float(np.sum(np.abs(down - up)) * (grid[1] - grid[0]))
    return float(grid[np.argmax(up > 0.5)]), float(grid[np.argmax(down > 0.5)]), area


def test_stress_raised_and_lowered_slowly_switches_at_different_levels():
    """Hysteresis: a stiff network switches to depression at a higher drive than the one at which it
    switches back (a depressed and a recovered state coexist in between); a soft network much less so."""
    up, down, area = _loop(1.0)
    assert up - down >= 0.2
    soft_up, soft_down, soft_area = _loop(0.6)  # stiffness 2.7: the mean field alone is not bistable
    assert soft_up - soft_down < (up - down) / 2
    assert soft_area < area / 3


def test_cutting_the_rumination_loop_lowers_the_self_critical_items_and_time_depressed():
    params = default_parameters()

    def course(coupling_factor: float) -> tuple[float, float]:
        patient = ks.Patient(stress_load=0.95, noise_seed=11, random_effects={"rumination_coupling": coupling_factor})
        res = ks.simulate(ks.Regimen([]), patient, duration="365 d", output_step="1 d", params=params,
                          outputs=["symptom_activation", "madrs_items"])  # fmt: skip
        ds = res.dataset
        critical = float(ds["madrs_items"].values[0, list(symptoms.SELF_CRITICAL_ITEMS)].mean())
        depressed = float(np.mean(ds["symptom_activation"].values > 0.5))
        return critical, depressed

    with_loop, without_loop = course(1.0), course(1e-3)
    assert without_loop[0] < with_loop[0] - 0.3  # points per self-critical item
    assert without_loop[1] < with_loop[1]


#: A patient whose network has no recovered state at his untreated drive (threshold 10% below the
#: registry centre; the calibrated population holds both kinds): once the drug's support fades he relapses.
RELAPSING = ks.Patient(random_effects={"symptom_threshold": 0.9})


def test_response_to_one_infusion_fades_and_the_patient_relapses():
    ds = _activation(RELAPSING, 60, ks.protocols.get("zarate-2006-iv"), step="12 h")
    t = ds["time"].values / 24
    madrs = ds["madrs"].values[0]
    assert madrs[np.searchsorted(t, 1)] <= 16  # a response at 24 h (>= 50% of 32)
    assert madrs[-1] >= 28  # back near baseline a few weeks later: the support faded
    relapse_day = t[np.nonzero((t > 1) & (madrs > 16))[0][0]]
    assert 5 <= relapse_day <= 30


def test_a_long_remission_protects_against_relapse():
    """Consolidation: the same drive that relapses a fresh responder is tolerated after months of wellness."""
    weekly = ks.Regimen.repeat(ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"), "7 d", 20)
    short = ks.Regimen.repeat(ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"), "7 d", 1)
    long_run = _activation(RELAPSING, 140 + 60, weekly, step="1 d")
    short_run = _activation(RELAPSING, 60, short, step="1 d")
    a_long = long_run["symptom_activation"].values[0]
    a_short = short_run["symptom_activation"].values[0]
    assert a_short[-1] > 0.5  # one dose: relapsed within two months
    assert a_long[-1] < 0.5  # twenty weekly doses: still well two months after the last


def test_spontaneous_recovery_is_rare_in_treatment_resistant_depression():
    pop = ks.Population.sample(200, seed=3)
    res = ks.simulate(ks.Regimen([]), population=pop, duration="365 d", output_step="30 d", outputs=["madrs"])
    madrs = res.dataset["madrs"].values
    remitted = float(np.mean(madrs[:, -1] <= 10))
    assert remitted < 0.15  # usual care in TRD: 3.6% remission in 12 months (Dunner 2006)


def test_fluctuation_is_seeded_per_patient_and_can_be_switched_off():
    p = ks.Patient(noise_seed=42)
    a = _activation(p, 60)["depressive_drive"].values[0]
    b = _activation(p, 60)["depressive_drive"].values[0]
    smooth = _activation(ks.Patient(), 60)["depressive_drive"].values[0]
    off = ks.simulate(ks.Regimen([]), p, duration="60 d", output_step="1 d", outputs=["depressive_drive"],
                      fluctuation=False).dataset["depressive_drive"].values[0]  # fmt: skip
    np.testing.assert_array_equal(a, b)
    assert np.std(a) > 0.01 and np.std(smooth) == 0.0
    np.testing.assert_array_equal(off, smooth)
    # the path is day-to-day mood plus a slow drift: two stationary AR(1) processes, so its variance is
    # the sum of theirs and its lag-one correlation their variance-weighted mean
    v = default_parameters().value
    var = (v("mood_noise_sd") ** 2, v("mood_drift_sd") ** 2)
    rho = (v("mood_noise_autocorrelation"), np.exp(-v("mood_noise_interval", "d") / v("mood_drift_time", "d")))
    model = assemble(default_parameters(), [ks.Patient(noise_seed=s) for s in range(1000)])
    noise = model.ext_levels[:, :365, 1]
    assert noise.std() == pytest.approx(np.sqrt(sum(var)), rel=0.05)
    lag1 = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert lag1 == pytest.approx((var[0] * rho[0] + var[1] * rho[1]) / sum(var), abs=0.03)
    week = noise[:, 7:] - noise[:, :-7]  # a week apart, the day-to-day part has decorrelated
    expected = 2 * (var[0] * (1 - rho[0] ** 7) + var[1] * (1 - rho[1] ** 7))
    assert week.var() == pytest.approx(expected, rel=0.08)
