"""Trials in phases: induction, optimisation, randomised withdrawal, follow-up, with rules on the ratings.

A ``PhasedTrial`` is a graph of ``Phase`` objects on one clock. Each phase has its arms (a regimen whose
times are relative to the phase start, and optionally a ``DosingRule``), its rating visits, an optional
randomisation of the patients who enter it, an optional stopping event (e.g. relapse, which ends the
patient's follow-up and is recorded as a time to event), and its transitions: at the end of the phase
each patient goes to the first target whose ``Criterion`` holds on the ratings so far (another phase,
with an optional stratum, or ``exit``). Criteria are evaluated on the *rated* scores (true score plus
rater noise), as a clinician sees them, never on the model's noise-free state.

How it runs (``trials.phased_runner``): a chunk of patients is integrated segment by segment between
the decision times (phase starts, and the sessions of arms with a dosing rule); at each decision the
rules read the ratings and session peaks recorded so far, and the patients' plans grow. Patients who
take no decision-dependent path get exactly what one integration of the whole schedule gives (tested).

Randomisation inside a phase uses an allocation list drawn before the trial over every patient slot
(permuted blocks of the phase's weights, reproducible from the seed), and a patient who enters takes
their own slot: results do not depend on chunking or on which other patients entered, and arms are
balanced in expectation among entrants (exactly among all slots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ketasim._internal.checks import is_number, whole_number
from ketasim.dosing import Regimen, SessionKind
from ketasim.errors import InputError
from ketasim.trials.scales import SCALES

__all__ = ["END", "EXIT", "Criterion", "DosingRule", "Phase", "PhaseArm", "Transition", "check_phase_graph"]

#: Transition targets that are not phases: leave the study now, or finish it normally.
EXIT = "exit"
END = "end"
#: Rating scales a criterion may read: the MADRS the symptom layer produces, and the scales
#: ``trials.scales`` derives from it (each rated with its own noise).
CRITERION_SCALES = tuple(SCALES)


@dataclass(frozen=True)
class Criterion:
    """A rule on the rated scores at visits, e.g. relapse = MADRS >= 22 on 2 consecutive visits.

    Exactly one threshold: ``at_most`` or ``at_least`` (absolute score), ``fraction_of_baseline``
    (score <= fraction x baseline: 0.5 is a response) or ``above_fraction_of_baseline`` (score > fraction x
    baseline: 0.5 is a lost response). It holds at a visit when at least ``count`` of
    the last ``of_last`` rated visits (default ``count``: consecutive) meet the threshold.

    >>> c = Criterion(at_least=22, count=2)
    >>> c.holds(np.array([[25.0, 20, 23, 24]]), np.array([30.0])).tolist()
    [[False, False, False, True]]
    """

    scale: str = "madrs"
    at_most: float | None = None
    at_least: float | None = None
    fraction_of_baseline: float | None = None
    above_fraction_of_baseline: float | None = None
    count: int = 1
    of_last: int | None = None

    def __post_init__(self) -> None:
        if self.scale not in CRITERION_SCALES:
            raise InputError(
                "scale", f"unknown rating scale; criteria can read: {', '.join(CRITERION_SCALES)}", got=repr(self.scale)
            )
        kinds = ("at_most", "at_least", "fraction_of_baseline", "above_fraction_of_baseline")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise InputError("at_most", "give exactly one of at_most, at_least, fraction_of_baseline or "
                             "above_fraction_of_baseline")  # fmt: skip
        value = getattr(self, given[0])
        top = 1.0 if "fraction" in given[0] else 60.0
        if not is_number(value) or not 0 <= value <= top:
            raise InputError(given[0], f"must be a number within 0-{top:g}", got=repr(value))
        whole_number(self.count, "count", 1, 52)
        if self.of_last is not None:
            whole_number(self.of_last, "of_last", self.count, 104)

    @property
    def window(self) -> int:
        return self.of_last if self.of_last is not None else self.count

    def meets(self, scores: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """Whether each rating meets the threshold (a missing rating, NaN, never does)."""
        with np.errstate(invalid="ignore"):
            if self.at_most is not None:
                return scores <= self.at_most
            if self.at_least is not None:
                return scores >= self.at_least
            if self.above_fraction_of_baseline is not None:
                return scores > self.above_fraction_of_baseline * np.asarray(baseline, float)[:, None]
            return scores <= self.fraction_of_baseline * np.asarray(baseline, float)[:, None]

    def holds(self, scores: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        """(patients, visits) -> whether the criterion holds at each visit, reading that visit and the
        ``window - 1`` before it."""
        ok = self.meets(np.asarray(scores, float), baseline).astype(np.int64)
        csum = np.concatenate([np.zeros((ok.shape[0], 1), np.int64), np.cumsum(ok, axis=1)], axis=1)
        j = np.arange(ok.shape[1])
        lo = np.maximum(j + 1 - self.window, 0)
        return (csum[:, j + 1] - csum[:, lo]) >= self.count


@dataclass(frozen=True)
class DosingRule:
    """How a clinician adjusts the sessions of an arm at each session, from what was observed so far.

    Titration (``levels_mg``, e.g. (56, 84)): the first session gives ``levels_mg[start_level]``; each
    later one steps up a level, unless ``hold_when`` holds at the latest rating (e.g. the patient already
    responds) or the previous session was not tolerated. A session is not tolerated when its peak CADSS
    exceeded ``max_cadss`` or its systolic rise exceeded ``max_sbp_rise`` (mmHg): the next session steps
    down a level and the dose never again exceeds that level.

    Frequency (``reduce_to_every_h`` with ``reduce_when``): while ``reduce_when`` holds at the latest
    rating, a scheduled session is skipped if the last session given was less than ``reduce_to_every_h``
    ago (weekly -> every other week in remission, as in the esketamine label's maintenance).
    """

    levels_mg: tuple[float, ...] = ()
    start_level: int = 0
    hold_when: str | None = None
    max_cadss: float | None = None
    max_sbp_rise: float | None = None
    reduce_to_every_h: float | None = None
    reduce_when: str | None = None

    def __post_init__(self) -> None:
        levels = tuple(self.levels_mg)
        for i, v in enumerate(levels):
            if not is_number(v) or not 0 < v <= 2000:
                raise InputError(f"levels_mg[{i}]", "must be a dose in mg within 0-2000 (0 excluded)", got=repr(v))
        if list(levels) != sorted(set(levels)):
            raise InputError("levels_mg", "must be increasing dose levels, e.g. [56, 84]", got=repr(levels))
        object.__setattr__(self, "levels_mg", tuple(float(v) for v in levels))
        if levels:
            whole_number(self.start_level, "start_level", 0, len(levels) - 1)
        for name, top in (("max_cadss", 92.0), ("max_sbp_rise", 200.0)):
            v = getattr(self, name)
            if v is not None and (not is_number(v) or not 0 < v <= top):
                raise InputError(name, f"must be a number within 0-{top:g} (0 excluded)", got=repr(v))
        if (self.reduce_to_every_h is None) != (self.reduce_when is None):
            raise InputError("reduce_when", "a frequency rule needs both reduce_to_every and reduce_when")
        every = self.reduce_to_every_h
        if every is not None and not (is_number(every) and every > 0):
            raise InputError("reduce_to_every", "must be a positive time", got=repr(self.reduce_to_every_h))
        if not levels and (self.hold_when or self.max_cadss is not None or self.max_sbp_rise is not None):
            raise InputError("levels_mg", "titration (hold_when, max_cadss, max_sbp_rise) needs dose levels")

    @property
    def criteria(self) -> list[str]:
        return [c for c in (self.hold_when, self.reduce_when) if c]


@dataclass(frozen=True)
class PhaseArm:
    """What patients in one arm of a phase receive (times relative to the phase start)."""

    regimen: Regimen
    rule: DosingRule | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.regimen, Regimen):
            raise InputError("regimen", "must be a ketasim.Regimen", got=type(self.regimen).__name__)
        if self.rule is not None and self.rule.levels_mg:
            if not self.regimen.doses:
                raise InputError("rule.levels_mg", "a titration rule needs doses to titrate")
            if len({(d.drug, d.route, d.per_kg) for d in self.regimen.doses}) != 1 or self.regimen.doses[0].per_kg:
                raise InputError("rule.levels_mg", "titration needs the arm's doses to be one drug by one route, in mg")

    def treatment_times(self) -> list[float]:
        """Session start times (relative): doses and control sessions, not daily pills or assessments."""
        return [t for t in self.regimen.visit_times if t not in self._pill_times()]

    def _pill_times(self) -> set[float]:
        doses = {d.at_h for d in self.regimen.doses}
        return {s.at_h for s in self.regimen.sessions if s.kind is SessionKind.ORAL_ANTIDEPRESSANT} - doses


@dataclass(frozen=True)
class Transition:
    """At the end of a phase, patients for whom ``when`` holds (always, if None) go to ``go``."""

    go: str
    when: str | None = None
    stratum: str | None = None


@dataclass(frozen=True)
class Phase:
    """One phase of a trial: arms, visits (hours after the phase start), randomisation, stop event, exits."""

    name: str
    duration_h: float
    arms: Mapping[str, PhaseArm]
    visits_h: tuple[float, ...] = ()
    randomisation: Mapping[str, int] | None = None
    stop_when: str | None = None
    then: tuple[Transition, ...] = ()
    control: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or self.name in (EXIT, END):
            raise InputError("name", f"a phase needs a name other than {EXIT!r} and {END!r}", got=repr(self.name))
        if not is_number(self.duration_h) or not self.duration_h > 0:
            raise InputError("duration", "must be a positive time", got=repr(self.duration_h))
        if not self.arms:
            raise InputError("arms", "a phase needs at least one arm")
        visits = tuple(sorted(float(v) for v in self.visits_h))
        if any(not 0 < v <= self.duration_h + 1e-9 for v in visits):
            raise InputError("visits", "visits must fall after the phase start and no later than its end")
        object.__setattr__(self, "visits_h", visits)
        if self.randomisation is not None:
            for a, w in self.randomisation.items():
                if a not in self.arms:
                    raise InputError(f"randomise.{a}", f"unknown arm; this phase's arms are {', '.join(self.arms)}")
                whole_number(w, f"randomise.{a}", 1, 1000)
            missing = [a for a in self.arms if a not in self.randomisation]
            if missing:
                raise InputError(f"randomise.{missing[0]}", "every arm of a randomised phase needs a weight")
        if self.control is not None and self.control not in self.arms:
            raise InputError("control", f"unknown arm; this phase's arms are {', '.join(self.arms)}")
        for i, arm in enumerate(self.arms.values()):
            late = [t for t in arm.regimen.visit_times if t >= self.duration_h]
            if late:
                raise InputError(
                    f"arms.{list(self.arms)[i]}",
                    f"a session at {late[0]:g} h is not inside the phase ({self.duration_h:g} h)",
                )

    @property
    def control_arm(self) -> str:
        return self.control or next(iter(self.arms))


def check_phase_graph(phases: Sequence[Phase], criteria: Mapping[str, Criterion]) -> dict[str, float]:
    """Validate the graph of phases; return each phase's start (hours after the first phase starts).

    Refused, naming the field: duplicate names, an unknown target or criterion, a circular transition,
    a phase reached at two different times, a phase whose arms cannot receive the arms patients arrive
    with (no randomisation, several arms, and an incoming arm name it lacks).
    """
    names = [p.name for p in phases]
    if not phases:
        raise InputError("phases", "a phased trial needs at least one phase")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"phases.{dup[0]}", "phase names must be unique")
    by = {p.name: p for p in phases}
    for p in phases:
        for used, where in (
            (p.stop_when, "stop_when"),
            *((t.when, "then") for t in p.then),
            *((c, "rules") for a in p.arms.values() if a.rule for c in a.rule.criteria),
        ):
            if used is not None and used not in criteria:
                known = ", ".join(criteria) or "none defined"
                raise InputError(f"phases.{p.name}.{where}", f"unknown criterion {used!r}; criteria: {known}")
        for t in p.then:
            if t.go not in by and t.go not in (EXIT, END):
                raise InputError(
                    f"phases.{p.name}.then",
                    f"unknown phase {t.go!r}; phases: {', '.join(names)} (or {EXIT!r}, {END!r})",
                )
    nxt = {p.name: _targets(p, phases) for p in phases}
    # circular transitions: depth-first search from the first phase (and every phase, for unreachable loops)
    state: dict[str, int] = {}

    def visit(n: str, trail: list[str]) -> None:
        state[n] = 1
        for m in nxt[n]:
            if m in (EXIT, END):
                continue
            if state.get(m) == 1:
                loop = " -> ".join([*trail[trail.index(m) :], m]) if m in trail else f"{n} -> {m}"
                raise InputError(f"phases.{n}.then", f"circular transition ({loop}); a phase runs once per patient")
            if m not in state:
                visit(m, [*trail, m])
        state[n] = 2

    for p in phases:
        if p.name not in state:
            visit(p.name, [p.name])
    start: dict[str, float] = {phases[0].name: 0.0}
    arriving: dict[str, set[str]] = {phases[0].name: set()}
    for p in _topological(phases, nxt):
        if p.name not in start:
            raise InputError(f"phases.{p.name}", "no patient can reach this phase (no transition leads to it)")
        end = start[p.name] + p.duration_h
        out_arms = set(p.arms)
        for m in nxt[p.name]:
            if m in (EXIT, END):
                continue
            if m in start and abs(start[m] - end) > 1e-6:
                raise InputError(
                    f"phases.{m}",
                    f"reached at two different times ({start[m]:g} h and {end:g} h after "
                    "the first phase starts); the phases leading to it must last equally long",
                )
            start[m] = end
            arriving.setdefault(m, set()).update(out_arms)
    for p in phases:
        if p.randomisation is None and len(p.arms) > 1:
            lacking = sorted(arriving.get(p.name, set()) - set(p.arms))
            if lacking or p.name == phases[0].name:
                raise InputError(
                    f"phases.{p.name}.randomise",
                    "a phase with several arms needs a randomisation, "
                    "unless every arm patients arrive in has an arm of the same name here"
                    + (f" (missing: {lacking[0]})" if lacking else ""),
                )
    return start


def _targets(p: Phase, phases: Sequence[Phase]) -> list[str]:
    if p.then:
        return [t.go for t in p.then]
    i = [q.name for q in phases].index(p.name)
    return [phases[i + 1].name] if i + 1 < len(phases) else [END]


def _topological(phases: Sequence[Phase], nxt: Mapping[str, list[str]]) -> list[Phase]:
    by = {p.name: p for p in phases}
    indeg = {p.name: 0 for p in phases}
    for ms in nxt.values():
        for m in set(ms):
            if m in indeg:
                indeg[m] += 1
    order, ready = [], [p.name for p in phases if indeg[p.name] == 0]
    while ready:
        n = ready.pop(0)
        order.append(by[n])
        for m in dict.fromkeys(nxt[n]):
            if m in indeg:
                indeg[m] -= 1
                if indeg[m] == 0:
                    ready.append(m)
    return order
