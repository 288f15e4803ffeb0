"""Each layer on its own: inputs in, outputs checked against the reference numbers."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.model import circuit, receptor, signaling, symptoms, synapse

P = ks.default_parameters()


def racemic_block(conc_um: float) -> dict[str, np.ndarray]:
    rec = receptor.build(P, [ks.Patient()])
    ce = np.array([[conc_um / 2], [conc_um / 2], [0.0], [0.0], [0.0]])
    return rec.block(ce)


def test_pyramidal_block_matches_gerhard_2020_slice_data():
    assert racemic_block(1.0)["nmda_occupancy"][0] == pytest.approx(0.50, abs=0.02)
    assert racemic_block(10.0)["nmda_occupancy"][0] == pytest.approx(0.80, abs=0.02)


@pytest.mark.parametrize("conc", [0.1, 0.3, 1.0, 3.0])
def test_interneurons_are_more_blocked_than_pyramidal_cells(conc):
    b = racemic_block(conc)
    assert b["nmda_interneuron_block"][0] > b["nmda_occupancy"][0] + 0.1


def test_metabolites_block_less_than_parent():
    rec = receptor.build(P, [ks.Patient()])
    one = np.zeros((5, 1))
    blocks = []
    for i in range(5):
        ce = one.copy()
        ce[i] = 1.0
        blocks.append(rec.block(ce)["nmda_occupancy"][0])
    s_ket, r_ket, s_nk, r_nk, hnk = blocks
    assert s_ket > r_ket > r_nk and s_ket > s_nk > r_nk > hnk


def test_effect_site_lags_plasma_with_half_life_of_6_minutes():
    rec = receptor.build(P, [ks.Patient()])
    y = np.zeros((5, 1))
    dy = rec.rhs(y, [np.ones(1)] * 5)
    # dCe/dt at Ce = 0 is ke0 * fu * C: ke0 = ln 2 / 6.1 min
    assert dy[0, 0] == pytest.approx(np.log(2) / (6.1 / 60) * 0.55, rel=0.01)


def test_circuit_shows_the_inverted_u():
    circ = circuit.build(P, [ks.Patient()])

    def fold(conc: float) -> float:
        b = racemic_block(conc)
        r_e, _ = circ.rates(b["nmda_occupancy"], b["nmda_interneuron_block"])
        return float(r_e[0] / circ.r_e0)

    assert fold(0.0) == pytest.approx(1.0, abs=1e-9)
    assert all(fold(c) > 1.4 for c in (0.3, 0.5, 1.0))  # antidepressant exposure: up
    assert 0.9 <= fold(10.0) <= 1.1  # anaesthetic exposure: back near baseline
    assert fold(30.0) < 0.95  # above it: down
    assert circ.r_e0 == pytest.approx(7.47, abs=0.01)  # Hz, baseline of the reference network


def test_glutamate_relaxes_with_its_time_constant():
    circ = circuit.build(P, [ks.Patient()])
    y = np.array([[1.0], [0.0]])
    dy = circ.rhs(y, np.array([2 * circ.r_e0]))  # firing doubled
    assert dy[0, 0] == pytest.approx(0.6 / (20 / 60), rel=1e-9)


def test_signaling_baseline_is_a_fixed_point_and_gate_is_and_like():
    sig = signaling.build(P, [ks.Patient()])
    y = sig.initial(1)
    assert np.abs(sig.rhs(y, np.ones(1), np.zeros(1))).max() < 1e-12
    assert sig.trkb(np.array(1.0)) == pytest.approx(1.0)
    assert sig.gate(np.array(1.0)) == pytest.approx(1.0)
    assert sig.gate(np.array(0.0)) == 0.0  # no activity: no mTORC1 however much BDNF


def test_signaling_switches():
    on = signaling.build(P, [ks.Patient()])
    none = signaling.build(P, [ks.Patient()], disinhibition=False, rest_block=False)
    y = on.initial(1)
    glu, block = np.array([1.5]), np.array([0.4])
    assert on.rhs(y, glu, block)[1, 0] > 0  # BDNF rises
    assert np.abs(none.rhs(y, glu, block)).max() == 0.0


def test_unstressed_density_is_one_and_stress_loses_10_to_30_percent():
    syn = synapse.build(P, [ks.Patient(stress_load=0.0)])
    ss = syn.steady_state(np.array([0.0]))
    assert ss[0, 0] + ss[1, 0] == pytest.approx(1.0, abs=1e-12)
    assert 0.7 <= syn.reference_density <= 0.9


def test_madrs_items_sum_to_the_baseline_and_profiles_shift_items():
    def items(profile: float) -> np.ndarray:
        res = ks.simulate(
            ks.Regimen([]), ks.Patient(madrs_baseline=30, symptom_profile=profile), duration="1 h", output_step="1 h"
        )
        return res.dataset["madrs_items"].values[0, :, 0]

    neutral, anhedonic, critical = items(0.0), items(-1.0), items(1.0)
    assert neutral.sum() == pytest.approx(30.0, abs=1e-9)
    assert anhedonic.sum() == pytest.approx(30.0, abs=1e-9)
    anh, crit = list(symptoms.ANHEDONIA_ITEMS), list(symptoms.SELF_CRITICAL_ITEMS)
    assert anhedonic[anh].sum() > critical[anh].sum()
    assert critical[crit].sum() > anhedonic[crit].sum()
    assert np.all((neutral >= 0) & (neutral <= 6))


def test_cadss_tolerance_shifts_potency_only():
    tol = symptoms.build(P, [ks.Patient(alcohol_use_disorder=True)], 0.78, np.array([0.78]))
    base = symptoms.build(P, [ks.Patient()], 0.78, np.array([0.78]))
    c = np.array([0.2])
    assert tol.cadss(c, c)[0] < base.cadss(c, c)[0]
    assert tol.cadss_emax[0] == base.cadss_emax[0]
    assert tol.sbp(c)[0] == base.sbp(c)[0]
