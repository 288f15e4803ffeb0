"""Write ``reference_pre_onesource.npz``: numbers from the hand-written model (commit 2fb6217).

Before the model was rewritten as one symbolic definition with generated back ends (issue 12), this
script stored what the hand-written code computed, so that the generated code can be held to it:

* ``rhs/<hyp>`` and ``obs/<hyp>/<output>``: the right-hand side and every output at random states of
  eight varied patients, for all eight combinations of the mechanism switches;
* ``traj/<scenario>/<output>``: whole trajectories of the validation-style scenarios on a coarse grid,
  integrated at tight tolerances.

It only uses the public API (``Model.rhs``, ``Model.observe``, ``ketasim.simulate``), so running it
again against a later version shows what changed; ``tests/model/test_definition.py`` does exactly that.
Run from the repository root: ``python tests/data/make_reference.py``.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

import ketasim as ks
from ketasim.dosing import Dose, Regimen, Session
from ketasim.model import Hypotheses, assemble
from ketasim.parameters import default_parameters
from ketasim.patients import Population

OUT = Path(__file__).with_name("reference_pre_onesource.npz")
N_RANDOM = 12  # random states per patient and switch combination


def patients() -> list[ks.Patient]:
    # the prior draws ("trd" drew them before the calibrated virtual population existed)
    pop = Population.sample(6, seed=7, cohort="trd_prior").patients
    return [
        *pop,
        ks.Patient(alcohol_use_disorder=True, biotype="inflammatory", symptom_profile=-0.8, supportive_environment=1.0),
        ks.Patient(stress_load=[(0, 1.0), ("2 d", 1.6)], psychotherapy=["30 h"], weight="95 kg", sex="female"),
    ]


def hypotheses() -> dict[str, Hypotheses]:
    return {"".join("1" if f else "0" for f in flags): Hypotheses(*flags)
            for flags in itertools.product((True, False), repeat=3)}  # fmt: skip


def random_states(model, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """States (n, P, K), session inputs (n, P, K) and times (K,) spread over plausible and extreme values."""
    rng = np.random.default_rng(seed)
    n, P = model.n_states, model.n_patients
    y = model.initial()[:, :, None] * rng.uniform(0.3, 2.5, (n, P, N_RANDOM)) + rng.uniform(0, 3, (n, P, N_RANDOM))
    n_pk = model.slices["pk"].stop
    y[:n_pk] = rng.uniform(0, 400, (n_pk, P, N_RANDOM))  # µmol: plenty of drug everywhere
    u = rng.uniform(0, 5, (n, P, N_RANDOM))
    t = np.sort(rng.uniform(0, 96, N_RANDOM))
    return y, u, t


SCENARIOS = {
    "zarate-iv-7d": ("zarate-2006-iv", "7 d"),
    "murrough-six-infusions-21d": ("murrough-2013-six-infusions", "21 d"),
    "spravato-84-28d": ("spravato-induction-84mg", "28 d"),
    "oral-im-racemic-4d": (Regimen([Dose("ketamine", "oral", "1 mg/kg"),
                                    Dose("ketamine", "im", "0.5 mg/kg", at="30 h")]), "4 d"),
    "comparators-14d": (Regimen([Dose("psilocybin", "oral", "25 mg"), Session("oral_antidepressant", at="1 d"),
                                 Session("midazolam", at="2 d"),
                                 Session("exercise", at="3 d", duration="1 h", intensity=0.8),
                                 Session("bhb_supplement", at="4 d"), Session("psychotherapy", at="4 d"),
                                 Session("ketogenic_diet", at="5 d")]), "14 d"),
}  # fmt: skip
TRAJ_SOLVER = ks.SolverOptions(rtol=1e-9, atol=1e-13)


def main() -> None:
    data: dict[str, np.ndarray] = {}
    pts = patients()
    for key, hyp in hypotheses().items():
        model = assemble(default_parameters(), pts, hyp)
        y, u, t = random_states(model)
        data[f"rhs/{key}"] = np.stack([model.rhs(t[k], y[:, :, k], u[:, :, k]) for k in range(t.size)], axis=-1)
        for name, value in model.observe(t, y).items():
            data[f"obs/{key}/{name}"] = value
    for name, (regimen, duration) in SCENARIOS.items():
        res = ks.simulate(regimen, population=pts, duration=duration, output_step="2 h", solver=TRAJ_SOLVER)
        for var in res.dataset.data_vars:
            data[f"traj/{name}/{var}"] = res.dataset[var].values
        data[f"traj/{name}/time"] = res.dataset["time"].values
    np.savez_compressed(OUT, **data)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {len(data)} arrays)")


if __name__ == "__main__":
    main()
