"""``run_batch``: the one simulation pipeline (assemble -> events -> integrate) that every caller uses.

``simulate``, the trial runner and the dose finder all come through here, so a batch of patients is
built, dosed and integrated the same way whichever tool asked for it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ketasim.dosing import Regimen
from ketasim.engine import Observed, SolverOptions, integrate, integrate_observed
from ketasim.errors import InputError
from ketasim.model import Hypotheses, Model, assemble, random_effect_names
from ketasim.model.pk import Bolus, Infusion
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient

__all__ = ["Batch", "check_random_effects", "run_batch"]


@dataclass(frozen=True)
class Batch:
    """One integrated batch: its states ``y`` (n_states, n_copies, n_times), or, where ``run_batch`` was
    told which outputs to keep, only those and their summaries (``observed``, an ``engine.Observed``;
    ``y`` None)."""

    model: Model
    t: np.ndarray
    y: np.ndarray | None
    observed: Observed | None = None

    def observe(self, only: Collection[str] | None = None) -> dict[str, np.ndarray]:
        """Output variables on the time grid (all, or the named ones; a batch that kept only some
        outputs has them at its kept times, ``observed.t``)."""
        if self.y is not None:
            return self.model.observe(self.t, self.y, only=only)
        assert self.observed is not None  # (one of the two is always set by run_batch)
        series = self.observed.series
        names = list(series) if only is None else list(dict.fromkeys(only))
        missing = [k for k in names if k not in series]
        if missing:
            raise KeyError(f"this batch kept only {sorted(series)}, not {missing}")
        return {k: series[k] for k in names}

    def pre_dose(self, only: Collection[str] = ("madrs",)) -> dict[str, np.ndarray]:
        """Outputs of the pre-dose state (before any bolus at time 0), one value per copy: the baselines."""
        obs = self.model.observe(self.t[:1], self.model.initial()[:, :, None], only=only)
        return {k: v[..., 0] for k, v in obs.items()}


def run_batch(
    regimens: Regimen | Sequence[Regimen],
    patients: Sequence[Patient],
    t: np.ndarray,
    *,
    params: ParameterSet | None = None,
    hypotheses: Hypotheses | None = None,
    solver: SolverOptions | None = None,
    layers: Sequence[ModuleType] | None = None,
    fluctuation: bool = True,
    outputs: Collection[str] | None = None,
    keep: np.ndarray | None = None,
    peaks: Collection[str] = (),
    out: np.ndarray | None = None,
) -> Batch:
    """Integrate ``patients`` under ``regimens`` on the output grid ``t`` (hours).

    With one regimen the batch has one copy per patient. With several, every patient is simulated
    under each (regimen-major: copy ``k * len(patients) + i`` is patient i under regimen k), in one
    integration; copy k receives exactly the events of regimen k (the events are built for the whole
    batch and masked), so nothing assumes that doses act linearly. ``layers``: a model with other layer
    modules (default ``ketasim.model.LAYERS``). ``outputs``: keep only these output variables, computed
    at each output time inside the integration, instead of every state; then ``keep`` (which times of
    ``t`` to store), ``peaks`` (outputs to summarise over all of ``t``) and ``out`` (a preallocated array)
    are passed to ``integrate_observed``.
    """
    regs = [regimens] if isinstance(regimens, Regimen) else list(regimens)
    n = len(patients)
    params = params or default_parameters()
    check_random_effects(patients, params, layers)
    model = assemble(params, [p for _ in regs for p in patients], hypotheses, layers, fluctuation)
    if len(regs) == 1:
        boluses, infusions = model.events(regs[0])
    else:
        boluses, infusions = [], []
        for k, reg in enumerate(regs):
            mask = np.zeros(n * len(regs))
            mask[k * n : (k + 1) * n] = 1.0
            b_k, i_k = model.events(reg)
            boluses.extend(Bolus(b.time, b.state, np.asarray(b.amount, float) * mask) for b in b_k)
            infusions.extend(Infusion(i.start, i.stop, i.state, np.asarray(i.rate, float) * mask) for i in i_k)
    if outputs is not None:
        observed = integrate_observed(model, model.initial(), boluses, infusions, t, outputs, solver, keep=keep,
                                      peaks=peaks, out=out)  # fmt: skip
        return Batch(model, t, None, observed)
    return Batch(model, t, integrate(model, model.initial(), boluses, infusions, t, solver))


def check_random_effects(
    patients: Sequence[Patient], params: ParameterSet, layers: Sequence[ModuleType] | None = None
) -> None:
    """Refuse a random effect the model does not read (a misspelt name would silently change nothing)."""
    names = set().union(*(p.random_effects for p in patients)) if patients else set()
    known = random_effect_names(params, layers)
    unknown = sorted(names - known)
    if unknown:
        raise InputError(f"random_effects[{unknown[0]}]", f"the model has no per-patient parameter {unknown[0]!r}; "
                         f"random effects may name: {', '.join(sorted(known))}", got=repr(unknown[0]))  # fmt: skip
