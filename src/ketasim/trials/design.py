"""A randomised trial of regimens: arms, randomisation, endpoints, and the run that fills a ``TrialResult``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from ketasim._internal.checks import check_memory, whole_number
from ketasim._internal.signals import checkpoint
from ketasim.dosing import Regimen
from ketasim.engine import SolverOptions
from ketasim.errors import InputError
from ketasim.model import STATE_NAMES, Hypotheses
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Population
from ketasim.patients.population import MAX_SEED
from ketasim.simulation import MAX_DURATION_H, dose_times
from ketasim.trials.endpoints import Endpoints
from ketasim.trials.result import SeriesAccumulator, TrialResult
from ketasim.trials.runner import TrialChunk, execute
from ketasim.units import TIME_RESOLUTION_H, QuantityLike, parse_quantity

__all__ = ["MAX_WEIGHT", "RunRecorder", "RunStore", "Trial"]

#: The largest randomisation weight: a ratio such as 1000:1 is already extreme, and a block holds the
#: sum of the weights (1e9 built a list of 1e9 arm names, 21 GB).
MAX_WEIGHT = 1000
#: About what one row of a trial's MADRS series (patient, arm, time, MADRS) takes in memory, bytes.
SERIES_ROW_BYTES = 64


class RunRecorder(Protocol):
    """What a results store hands a running trial: chunks are added, then the run commits or rolls back."""

    def add(self, endpoints: pd.DataFrame, series: pd.DataFrame) -> None: ...
    def commit(self, result: TrialResult) -> None: ...
    def rollback(self) -> None: ...


class RunStore(Protocol):
    """A results store (``ketasim.interop.Store``): opens one transaction per run."""

    def begin_run(self, run_id: str, seed: int, parameter_set: str, control: str, scenario_text: str,
                  patients: pd.DataFrame) -> RunRecorder: ...  # fmt: skip


@dataclass(frozen=True)
class Trial:
    """A randomised trial of regimens (controls are regimens of sessions: see ``Regimen.as_control``)."""

    arms: Mapping[str, Regimen]
    population: Population
    duration: QuantityLike = "7 d"
    randomisation: Mapping[str, int] | None = None
    endpoints: Endpoints = field(default_factory=Endpoints)
    control: str | None = None
    hypotheses: Hypotheses = field(default_factory=Hypotheses)
    params: ParameterSet | None = None
    series_step: QuantityLike = "6 h"
    solver: SolverOptions | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.arms, Mapping) or not self.arms:
            raise InputError("arms", "a trial needs at least one arm: a mapping from an arm name to a Regimen",
                             got=type(self.arms).__name__)  # fmt: skip
        for name, reg in self.arms.items():
            if not isinstance(name, str):
                raise InputError("arms", "arm names must be strings", got=repr(name)[:60])
            if not isinstance(reg, Regimen):
                raise InputError(f"arms.{name}", "must be a ketasim.Regimen (controls: Regimen.as_control)")
        if not isinstance(self.population, Population):
            raise InputError("population", "must be a ketasim.Population (Population.sample, or "
                             "Population(patients))", got=type(self.population).__name__)  # fmt: skip
        if self.randomisation is not None and not isinstance(self.randomisation, Mapping):
            raise InputError("randomisation", "must be a mapping from an arm name to a whole-number weight, "
                             "e.g. {'ketamine': 2, 'placebo': 1}", got=type(self.randomisation).__name__)  # fmt: skip
        ratio = self.randomisation or {a: 1 for a in self.arms}
        for a, r in ratio.items():
            if a not in self.arms:
                raise InputError(f"randomisation.{a}", f"unknown arm; arms are {', '.join(self.arms)}")
            whole_number(r, f"randomisation.{a}", 1, MAX_WEIGHT)
        missing = [a for a in self.arms if a not in ratio]
        if missing:  # an arm left out of the ratio would silently get no patients
            raise InputError(
                f"randomisation.{missing[0]}", f"every arm needs a weight; arms are {', '.join(self.arms)}"
            )
        if not isinstance(self.endpoints, Endpoints):
            raise InputError("endpoints", "must be a ketasim.Endpoints (Endpoints.make)",
                             got=type(self.endpoints).__name__)  # fmt: skip
        if self.control is not None and (not isinstance(self.control, str) or self.control not in self.arms):
            raise InputError("control", f"unknown arm; arms are {', '.join(self.arms)}", got=repr(self.control))
        if not isinstance(self.hypotheses, Hypotheses):
            raise InputError("hypotheses", "must be a ketasim.Hypotheses", got=type(self.hypotheses).__name__)
        for name, value, kind in (("params", self.params, ParameterSet), ("solver", self.solver, SolverOptions)):
            if value is not None and not isinstance(value, kind):
                raise InputError(name, f"must be a ketasim.{kind.__name__} or None", got=type(value).__name__)
        _ = self.duration_h, self.series_step_h  # refused here, before anything runs

    @property
    def duration_h(self) -> float:
        return parse_quantity(self.duration, "duration", "h", strictly_positive=True, maximum=MAX_DURATION_H,
                              unit_required=True)  # fmt: skip

    @property
    def series_step_h(self) -> float:
        step = parse_quantity(self.series_step, "series_step", "h", strictly_positive=True, maximum=MAX_DURATION_H)
        if step < TIME_RESOLUTION_H:
            raise InputError("series_step", "must be at least 1 ms (the time resolution)", got=repr(self.series_step))
        return step

    @property
    def control_arm(self) -> str:
        if self.control:
            return self.control
        no_drug = [a for a, r in self.arms.items() if not r.doses]
        return no_drug[0] if no_drug else next(iter(self.arms))

    def assignment(self, seed: int) -> list[str]:
        """Permuted-block randomisation (block = one round of the ratio), reproducible from the seed."""
        whole_number(seed, "seed", 0, MAX_SEED)
        ratio = self.randomisation or {a: 1 for a in self.arms}
        block = [a for a, r in ratio.items() for _ in range(r)]
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0A11]))
        n = len(self.population)
        out: list[str] = []
        while len(out) < n:
            out.extend(block[i] for i in rng.permutation(len(block)))
        return out[:n]

    def chunks(self, seed: int, chunk_size: int) -> list[TrialChunk]:
        whole_number(seed, "seed", 0, MAX_SEED)
        whole_number(chunk_size, "chunk_size")
        n = len(self.population)
        arms = self.assignment(seed)
        noise = np.random.SeedSequence([seed, 0x7015E]).spawn(n)
        params = self.params or default_parameters()
        step = self.series_step_h
        return [
            TrialChunk(
                s,
                tuple(self.population.patients[s : s + chunk_size]),
                tuple(arms[s : s + chunk_size]),
                tuple(noise[s : s + chunk_size]),
                dict(self.arms),
                params,
                self.hypotheses,
                self.duration_h,
                step,
                self.endpoints,
                self.solver,
            )
            for s in range(0, n, chunk_size)
        ]

    def run(
        self,
        seed: int = 0,
        *,
        chunk_size: int = 200,
        workers: int | None = None,
        scheduler: str | None = None,
        store: RunStore | None = None,
        scenario_text: str = "",
        progress: Callable[[int, int], None] | None = None,
    ) -> TrialResult:
        """Run every chunk (here, on ``workers`` local Dask processes, or on ``scheduler``)."""
        whole_number(seed, "seed", 0, MAX_SEED)  # before anything runs: the results store holds 63 bits
        whole_number(chunk_size, "chunk_size")
        n_times = self.duration_h / self.series_step_h + 1
        n = len(self.population)
        check_memory("series_step", n_times * (n * SERIES_ROW_BYTES + min(n, chunk_size) * len(STATE_NAMES) * 8),
                     f"the MADRS series of {n:,} patients x {n_times:,.0f} times", "use a coarser series_step, "
                     "fewer patients, or a smaller chunk_size")  # fmt: skip
        if workers is not None and scheduler is not None:
            raise InputError("workers", "give either workers or scheduler, not both")
        chunks = self.chunks(seed, chunk_size)
        run_id = uuid.uuid4().hex[:12]
        params = self.params or default_parameters()
        acc = SeriesAccumulator()
        writer = None
        if store is not None:
            patients = self.population.frame().assign(arm=self.assignment(seed))
            if self.population.member_ratios is not None:  # so a stored run keeps its model uncertainty
                patients["member_ratios"] = [[float(x) for x in r] for r in self.population.member_ratios]
            writer = store.begin_run(run_id, seed, params.digest(), self.control_arm, scenario_text, patients)
        try:
            for i, (endpoints, series) in enumerate(execute(chunks, workers, scheduler)):
                checkpoint()  # an interrupt whose exception Python dropped (see _internal.signals) stops here
                acc.add(endpoints, series)
                if writer is not None:
                    writer.add(endpoints, series)
                if progress:
                    progress(i + 1, len(chunks))
            result = acc.result(run_id, self.control_arm, seed, self.population.member_ratios,
                                dose_times={a: dose_times(r) for a, r in self.arms.items()},
                                remission_threshold=self.endpoints.remission_threshold)  # fmt: skip
            if writer is not None:
                writer.commit(result)
        except BaseException:
            if writer is not None:
                writer.rollback()
            raise
        return result
