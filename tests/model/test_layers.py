"""Each layer on its own: inputs in, outputs checked against the reference numbers."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.model import Hypotheses, assemble, circuit, receptor, signaling, symptoms
from ketasim.model._definition import NUMERIC

P = ks.default_parameters()


def model(*patients: ks.Patient, hypotheses: Hypotheses | None = None):
    return assemble(P, list(patients or [ks.Patient()]), hypotheses)


def racemic_block(conc_um: float) -> dict[str, np.ndarray]:
    m = model()
    y = m.state(ce_s_ketamine=conc_um / 2, ce_r_ketamine=conc_um / 2)
    return m.signals(y, ["nmda_occupancy", "nmda_interneuron_block"])


def test_pyramidal_block_matches_gerhard_2020_slice_data():
    assert racemic_block(1.0)["nmda_occupancy"][0] == pytest.approx(0.50, abs=0.02)
    assert racemic_block(10.0)["nmda_occupancy"][0] == pytest.approx(0.80, abs=0.02)


@pytest.mark.parametrize("conc", [0.1, 0.3, 1.0, 3.0])
def test_interneurons_are_more_blocked_than_pyramidal_cells(conc):
    b = racemic_block(conc)
    assert b["nmda_interneuron_block"][0] > b["nmda_occupancy"][0] + 0.1


def test_metabolites_block_less_than_parent():
    m = model()
    blocks = [m.signals(m.state(**{f"ce_{sp}": 1.0}), ["nmda_occupancy"])["nmda_occupancy"][0]
              for sp in receptor.SPECIES]  # fmt: skip
    s_ket, r_ket, s_nk, r_nk, hnk = blocks
    assert s_ket > r_ket > r_nk and s_ket > s_nk > r_nk > hnk


def test_effect_site_lags_plasma_with_half_life_of_6_minutes():
    m = model()
    vc = m.constants["esk_vc"][0]
    dy = m.rates(m.state(s_central=1.0 * vc))  # 1 µM S-ketamine in plasma, empty brain
    # dCe/dt at Ce = 0 is ke0 * fu * C: ke0 = ln 2 / 6.1 min
    assert dy["ce_s_ketamine"][0] == pytest.approx(np.log(2) / (6.1 / 60) * 0.55, rel=0.01)


def test_circuit_shows_the_inverted_u():
    m = model()
    r_e0 = m.constants["r_e0"][0]

    def fold(conc: float) -> float:
        y = m.state(ce_s_ketamine=conc / 2, ce_r_ketamine=conc / 2)
        return float(m.signals(y, ["pyramidal_rate"])["pyramidal_rate"][0])

    assert fold(0.0) == pytest.approx(1.0, abs=1e-9)
    assert all(fold(c) > 1.4 for c in (0.3, 0.5, 1.0))  # antidepressant exposure: up
    assert 0.9 <= fold(10.0) <= 1.1  # anaesthetic exposure: back near baseline
    assert fold(30.0) < 0.95  # above it: down
    assert r_e0 == pytest.approx(7.47, abs=0.01)  # Hz, baseline of the reference network
    # the numeric helper and the traced equations are the same function
    zero = np.zeros(1)
    r_e, r_i, rise = circuit.steady_rates(NUMERIC, m.constants.c, zero, zero, zero)
    assert r_e[0] == r_e0 and r_i[0] == m.constants["r_i0"][0] and rise[0] == 0.0
    # the rise above baseline is computed without cancellation: it equals r_e - r_e0 where that is exact
    for conc in (0.01, 0.5, 20.0):
        b = racemic_block(conc)
        r, _, d = circuit.steady_rates(NUMERIC, m.constants.c, b["nmda_occupancy"], b["nmda_interneuron_block"], zero)
        assert d[0] == pytest.approx(r[0] - r_e0, rel=1e-9, abs=1e-12)
    # without drug the compiled right-hand side holds glutamate exactly at its fixed point
    assert m.rates(m.initial())["glutamate"][0] == 0.0 and m.rates(m.initial())["glutamate_adaptation"][0] == 0.0


def test_glutamate_relaxes_with_its_time_constant():
    m = model()
    # firing doubled: a pyramidal rate of 2 r_e0 needs the block that doubles it; set glutamate's
    # target directly instead through the adaptation state (target = 1 + gain * (excess - adaptation))
    dy = m.rates(m.state(glutamate_adaptation=-1.0))  # excess 0, adaptation -1: target 1 + 0.6
    assert dy["glutamate"][0] == pytest.approx(0.6 / (20 / 60), rel=1e-9)


def test_signaling_baseline_is_a_fixed_point_and_gate_is_and_like():
    m = model()
    y = m.initial()
    dy = m.rates(y)
    assert max(abs(dy[s][0]) for s in signaling.STATES) < 1e-12
    assert m.signals(y, ["trkb"])["trkb"][0] == pytest.approx(1.0)
    # no activity (glutamate 0): no mTORC1 drive however much BDNF
    quiet = m.rates(m.state(glutamate=0.0, bdnf=3.0, mtorc1=0.0))
    assert quiet["mtorc1"][0] == 0.0


def test_signaling_switches():
    on = model()
    none = model(hypotheses=Hypotheses(disinhibition=False, rest_block=False))
    y = on.state(glutamate=1.5, ce_s_ketamine=0.5)  # a glutamate pulse and some block
    assert on.rates(y)["bdnf"][0] > 0 and on.rates(y)["eef2k"][0] < 0  # both branches act
    assert on.signals(y, ["ampa_activation"])["ampa_activation"][0] == 1.5
    assert max(abs(none.rates(y)[s][0]) for s in signaling.STATES) == 0.0  # neither does
    assert none.signals(y, ["ampa_activation"])["ampa_activation"][0] == 1.0


def test_unstressed_density_is_one_and_stress_loses_10_to_30_percent():
    unstressed = model(ks.Patient(stress_load=0.0))
    y = unstressed.initial()
    assert unstressed.signals(y, ["synapse_density"])["synapse_density"][0] == pytest.approx(1.0, abs=1e-12)
    assert 0.7 <= unstressed.constants["reference_density"][0] <= 0.9
    # the initial state is a fixed point of the synapse equations
    assert abs(unstressed.rates(y)["labile_synapses"][0]) < 1e-15
    stressed = model()
    assert abs(stressed.rates(stressed.initial())["stable_synapses"][0]) < 1e-15


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
    m = model(ks.Patient(alcohol_use_disorder=True), ks.Patient())
    y = m.state(ce_s_ketamine=0.2, ce_r_ketamine=0.2)
    out = m.signals(y, ["cadss", "sbp_change"])
    assert out["cadss"][0] < out["cadss"][1]
    assert m.constants["cadss_emax"][0] == m.constants["cadss_emax"][1]
    assert out["sbp_change"][0] == out["sbp_change"][1]
    # the noticed effect (which drives expectancy) is not blunted: same expectancy build-up
    rates = m.rates(y)
    assert rates["expectancy"][0] == pytest.approx(rates["expectancy"][1], rel=1e-12)
