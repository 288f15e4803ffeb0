"""Augmentation with an atypical antipsychotic and switching antidepressants (issue 18 item 4): where they
enter the chain and what a trial arm with them is."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.parameters import default_parameters
from ketasim.trials.scenario import ArmSpec, regimen_from_spec

P = default_parameters()


def _run(*sessions: ks.Session, biotype: str = "monoaminergic") -> ks.Result:
    return ks.simulate(ks.Regimen(list(sessions)), ks.Patient(biotype=biotype), duration="42 d", output_step="1 h",
                       fluctuation=False, outputs=["augmentation_effect", "depressive_drive", "madrs"])  # fmt: skip


def test_the_antipsychotic_builds_up_and_relieves_the_monoaminergic_drive():
    start = ks.Session("antipsychotic_augmentation", at="2 d")
    res, plain = _run(ks.Session("clinic_visit", at="2 d"), start), _run(ks.Session("clinic_visit", at="2 d"))
    t = res.dataset["time"].values
    tau = P.value("tau_augmentation", "h")
    expected = np.where(t < 48, 0.0, 1 - np.exp(-(t - 48) / tau))  # analytic onset
    assert np.allclose(res.dataset["augmentation_effect"].values[0], expected, rtol=1e-5, atol=1e-7)
    assert res.dataset["madrs"].values[0, -1] < plain.dataset["madrs"].values[0, -1] - 2
    # a synaptic depression gains less: the antipsychotic acts on the monoaminergic route only
    gain = {b: _run(ks.Session("clinic_visit", at="2 d"), biotype=b).dataset["depressive_drive"].values[0, -1]
            - _run(ks.Session("clinic_visit", at="2 d"), start, biotype=b).dataset["depressive_drive"].values[0, -1]
            for b in ("synaptic", "monoaminergic")}  # fmt: skip
    assert gain["monoaminergic"] > 2 * gain["synaptic"] > 0


def test_trial_arms_can_augment_or_switch():
    aug = regimen_from_spec("a", ArmSpec(doses=[], background="antipsychotic_augmentation"))
    assert [s.kind.value for s in aug.sessions] == ["antipsychotic_augmentation"]
    switch = regimen_from_spec("s", ArmSpec(doses=[], background="new_antidepressant"))
    assert [s.kind.value for s in switch.sessions] == ["oral_antidepressant"]
    with pytest.raises(ks.InputError, match="cannot be simulated"):
        regimen_from_spec("l", ArmSpec(doses=[], background="lithium_augmentation"))
