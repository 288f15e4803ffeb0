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


def _switch_points(stiffness_factor: float) -> tuple[float, float, float, float]:
    """Stress raised in steps of 8 days from 0.2 to 2.2 and lowered back: the levels at which the network
    switched to depression and back, and the lowest and highest activation on the way up."""
    levels = np.concatenate([np.linspace(0.2, 2.2, 21), np.linspace(2.2, 0.2, 21)])
    steps = [(f"{8 * i} d", float(s)) for i, s in enumerate(levels)]
    patient = ks.Patient(stress_load=steps, random_effects={"network_stiffness": stiffness_factor})
    ds = _activation(patient, 8 * len(levels), step="1 d")
    t = ds["time"].values / 24
    a = ds["symptom_activation"].values[0]
    at_end = np.array([a[np.searchsorted(t, 8 * (i + 1) - 1)] for i in range(len(levels))])
    up, down = at_end[:21], at_end[21:]
    rising = levels[:21][int(np.argmax(up > 0.5))]
    falling = levels[21:][int(np.argmax(down < 0.5))]
    return rising, falling, float(up.min()), float(up.max())


def test_stress_raised_and_lowered_slowly_switches_at_different_levels():
    """Hysteresis: a stiff network switches to depression at a higher stress than the one at which it
    switches back; a soft (monostable) network under the same ramp switches back almost where it went."""
    rising, falling, low, high = _switch_points(1.0)
    assert low < 0.3 and high > 0.8  # both states are visited
    assert rising - falling >= 0.3
    soft_rising, soft_falling, *_ = _switch_points(0.75)  # stiffness below 4: no bistability
    assert soft_rising - soft_falling < rising - falling - 0.2


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


def test_response_to_one_infusion_fades_and_the_patient_relapses():
    ds = _activation(ks.Patient(), 60, ks.protocols.get("zarate-2006-iv"), step="12 h")
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
    long_run = _activation(ks.Patient(), 140 + 60, weekly, step="1 d")
    short_run = _activation(ks.Patient(), 60, short, step="1 d")
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
    sd = default_parameters().value("mood_noise_sd")
    model = assemble(default_parameters(), [ks.Patient(noise_seed=s) for s in range(400)])
    noise = model.ext_levels[:, :365, 1]
    assert noise.std() == pytest.approx(sd, rel=0.05)  # the stationary SD of the daily path
    lag1 = np.corrcoef(noise[:, :-1].ravel(), noise[:, 1:].ravel())[0, 1]
    assert lag1 == pytest.approx(default_parameters().value("mood_noise_autocorrelation"), abs=0.03)
