"""A scenario file made ready to run: validated, its population drawn, its seed chosen.

``prepare_scenario_run`` does everything that can fail on bad input *before* a results store is
opened or written (``ketasim trial`` opens the store only afterwards); ``ScenarioRun.run`` then runs
the trial, optionally into a store, with the scenario text kept for provenance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ketasim.errors import InputError
from ketasim.trials.design import RunStore, Trial
from ketasim.trials.phased import PhasedResult, PhasedTrial
from ketasim.trials.result import TrialResult
from ketasim.trials.scenario import Scenario, load_scenario

__all__ = ["ScenarioRun", "prepare_scenario_run"]


@dataclass(frozen=True)
class ScenarioRun:
    """A validated scenario, its ``trial`` (population drawn) and the ``seed`` the run will use."""

    scenario: Scenario
    text: str
    trial: Trial | PhasedTrial
    seed: int

    @property
    def phased(self) -> bool:
        """A phased design (its result is a ``PhasedResult``, not kept in a results store)."""
        return isinstance(self.trial, PhasedTrial)

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name

    @property
    def n_patients(self) -> int:
        """Size of the drawn population."""
        return len(self.trial.population)

    def run(
        self,
        *,
        chunk_size: int = 200,
        workers: int | None = None,
        scheduler: str | None = None,
        store: RunStore | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> TrialResult | PhasedResult:
        """Run the trial with the chosen seed (see ``Trial.run``); ``store`` also records the scenario text
        (parallel-group trials only: a phased design's result is returned, not stored)."""
        if isinstance(self.trial, PhasedTrial):
            if store is not None:
                raise InputError("store", "phased designs are not kept in the results store yet; run without it")
            return self.trial.run(self.seed, chunk_size=chunk_size, workers=workers, scheduler=scheduler,
                                  progress=progress)  # fmt: skip
        return self.trial.run(
            self.seed,
            chunk_size=chunk_size,
            workers=workers,
            scheduler=scheduler,
            store=store,
            scenario_text=self.text,
            progress=progress,
        )


def prepare_scenario_run(path: str | Path, *, patients: int | None = None, seed: int | None = None) -> ScenarioRun:
    """Read and validate the scenario at ``path`` and draw its population.

    ``patients`` (>= 1) overrides the scenario's population size and ``seed`` its seed (the seed draws
    the population and randomises the arms). Bad input raises one ``InputError`` naming the field.
    """
    if patients is not None and patients < 1:
        raise InputError("patients", "must be >= 1", got=patients)
    sc, text = load_scenario(path)
    trial = sc.trial(patients=patients, seed=seed)
    return ScenarioRun(sc, text, trial, sc.seed if seed is None else seed)
