"""Trial scenario files (TOML): parsed and validated before anything runs or is written.

A malformed file (unknown arm, negative dose, missing population size, wrong units) is refused with
one ``InputError`` naming the field, e.g. ``arms.ketamine.doses[0].amount: must be > 0 mg``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from ketasim._internal.checks import from_validation_error, parse_toml, read_text
from ketasim.dosing import Dose, Regimen, Session, protocols
from ketasim.errors import InputError
from ketasim.model import Hypotheses
from ketasim.patients import Population
from ketasim.trials.design import Trial
from ketasim.trials.endpoints import MAX_TIME_H, Endpoints
from ketasim.trials.phased import PhasedTrial
from ketasim.trials.phases import Criterion, DosingRule, Phase, PhaseArm, Transition
from ketasim.trials.reference import ReferenceValue, parse_reference
from ketasim.units import parse_quantity

__all__ = ["ArmSpec", "HypothesesSpec", "PhaseSpec", "Scenario", "load_scenario", "parse_scenario", "phased_trial",
           "regimen_from_spec"]  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationSpec(_Strict):
    n: int = Field(ge=1, le=10_000_000)
    cohort: Literal["trd", "healthy"] = "trd"
    overrides: dict[str, Any] = {}  # a value or a distribution per Patient field (Population.sample)
    include: dict[str, Any] | None = None  # inclusion criteria: field -> [low, high] or allowed values


class ArmSpec(_Strict):
    protocol: str | None = None
    control: Literal["saline", "midazolam", "placebo_spray"] | None = None
    schedule: str | None = None
    doses: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    background: str = "none"  # the oral antidepressant beside the study drug (BACKGROUND)
    background_dose: str | None = None  # a new antidepressant's daily dose (escitalopram-equivalent mg)


#: Background treatment an arm can have, and what the model does with it.
BACKGROUND = {
    "none": "no oral antidepressant",
    "new_antidepressant": "an oral antidepressant started on day 0 (its serotonergic adaptation builds up)",
    "ongoing_antidepressant": "an antidepressant taken since before screening and already failed: part of the "
    "baseline state, no new serotonergic adaptation, nothing added to the dynamics",
    "antipsychotic_augmentation": "an ongoing antidepressant (as above) with an atypical antipsychotic "
    "(aripiprazole-like) added on day 0",
}
#: Background treatment the model cannot represent, and why (an arm asking for it is refused).
UNREPRESENTABLE = {
    "tapered_antidepressant": "the model has no antidepressant discontinuation (withdrawal) biology",
    "lithium_augmentation": "the model has no lithium pharmacology",
    "standard_of_care": "usual care is not one treatment; write its parts (e.g. new_antidepressant plus "
    "clinic_visit sessions) instead",
}


class CriterionSpec(_Strict):
    """A rule on rated scores (``trials.phases.Criterion``)."""

    scale: str = "madrs"
    at_most: float | None = None
    at_least: float | None = None
    fraction_of_baseline: float | None = None
    above_fraction_of_baseline: float | None = None
    count: int = 1
    of_last: int | None = None


class RuleSpec(_Strict):
    """A dosing rule (``trials.phases.DosingRule``); dose levels with units, times with units."""

    levels: list[str] = []
    start_level: int = 0
    hold_when: str | None = None
    max_cadss: float | None = None
    max_sbp_rise: float | None = None
    reduce_to_every: str | None = None
    reduce_when: str | None = None


class PhaseArmSpec(ArmSpec):
    repeat_every: str | None = None  # repeat the arm's schedule with this period until the phase ends
    rule: RuleSpec | None = None


class TransitionSpec(_Strict):
    go: str
    when: str | None = None
    stratum: str | None = None


class PhaseSpec(_Strict):
    """One phase of a phased scenario (``trials.phases.Phase``); times relative to the phase start."""

    name: str
    duration: str
    arms: dict[str, PhaseArmSpec] = Field(min_length=1)
    visits: list[str] = []
    visit_every: str | None = None
    randomise: dict[str, int] | None = None
    stop_when: str | None = None
    then: list[TransitionSpec] = []
    control: str | None = None


class EndpointSpec(_Strict):
    visits: list[str] = ["24 h", "7 d"]
    remission_threshold: Literal[10, 12] = 10
    relapse_from: str | None = None
    rating_noise: bool = True
    sbp_threshold: float = Field(default=40.0, gt=0)
    screening: str = "0 h"
    entry_minimum: float | None = Field(default=None, ge=0, le=60)
    scales: list[str] = []  # rating scales besides the MADRS (trials.scales)
    dropout: bool = False  # patients may leave (trials.dropout); analyses in trials.estimands


class HypothesesSpec(_Strict):
    """The mechanism switches of ``ketasim.Hypotheses`` (a ``[hypotheses]`` table; defaults as there)."""

    disinhibition: StrictBool = True  # strict: a string such as "no" is refused, not read as a switch
    rest_block: StrictBool = True
    ssri_trkb: StrictBool = False
    reconsolidation: StrictBool = False


class Scenario(_Strict):
    name: str
    description: str = ""
    duration: str = "7 d"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    series_step: str = "6 h"
    control: str | None = None
    population: PopulationSpec
    randomisation: dict[str, int] | None = None
    arms: dict[str, ArmSpec] = {}
    phases: list[PhaseSpec] = []  # a phased design instead of arms (see trials.phases)
    criteria: dict[str, CriterionSpec] = {}
    endpoints: EndpointSpec = EndpointSpec()
    hypotheses: HypothesesSpec = HypothesesSpec()
    reference: dict[str, Any] = {}  # published results: schema in ketasim.trials.reference

    def reference_values(self) -> list[ReferenceValue]:
        """The ``[reference]`` table read by its schema (``trials.reference``); text entries are skipped."""
        return parse_reference(self.reference, self.arms)

    def regimens(self) -> dict[str, Regimen]:
        return {name: regimen_from_spec(name, arm) for name, arm in self.arms.items()}

    @property
    def phased(self) -> bool:
        return bool(self.phases)

    def trial(self, patients: int | None = None, seed: int | None = None) -> Trial | PhasedTrial:
        n = patients if patients is not None else self.population.n
        spec = self.population
        try:
            pop = Population.sample(
                n, self.seed if seed is None else seed, spec.cohort, include=spec.include, **spec.overrides
            )
        except InputError as exc:
            where = "population" if exc.field.startswith("include") else "population.overrides"
            raise InputError(f"{where}.{exc.field}", exc.message, exc.got) from None
        ep = self.endpoints
        hypotheses = Hypotheses(**self.hypotheses.model_dump())
        if self.phases:
            lead = parse_quantity(ep.screening, "endpoints.screening", "h", minimum=0, maximum=24 * 90)
            return phased_trial(self.phases, self.criteria, pop, screening_h=lead, entry_minimum=ep.entry_minimum,
                                rating_noise=ep.rating_noise, series_step=self.series_step,
                                dropout=ep.dropout, hypotheses=hypotheses)  # fmt: skip
        return Trial(
            arms=self.regimens(),
            population=pop,
            duration=self.duration,
            randomisation=self.randomisation,
            endpoints=Endpoints.make(
                ep.visits,
                ep.remission_threshold,
                ep.relapse_from,
                ep.rating_noise,
                ep.sbp_threshold,
                screening=ep.screening,
                entry_minimum=ep.entry_minimum,
                scales=ep.scales,
                dropout=ep.dropout,
            ),
            control=self.control,
            hypotheses=hypotheses,
            series_step=self.series_step,
        )


def regimen_from_spec(name: str, arm: ArmSpec) -> Regimen:
    """The regimen of arm ``name``; errors name the field as ``arms.NAME.FIELD``."""
    prefix = f"arms.{name}"
    given = [k for k in ("protocol", "control") if getattr(arm, k)]
    if arm.doses or "doses" in arm.model_fields_set:  # doses = [] is an arm with no drug (usual care)
        given.append("doses")
    if len(given) != 1:
        raise InputError(prefix, "give exactly one of protocol, control (+ schedule) or doses")
    try:
        if arm.protocol:
            reg = protocols.get(arm.protocol)
        elif arm.control:
            if not arm.schedule:
                raise InputError(f"{prefix}.schedule", "a control arm needs the protocol whose schedule it mimics")
            reg = protocols.get(arm.schedule).as_control(arm.control)
        else:
            reg = Regimen([_item(f"{prefix}.doses[{i}]", Dose, d) for i, d in enumerate(arm.doses)])
        extra = [_item(f"{prefix}.sessions[{i}]", Session, s) for i, s in enumerate(arm.sessions)]
        extra += background_sessions(arm, prefix)
    except InputError as exc:
        if exc.field.startswith(prefix):
            raise
        raise InputError(f"{prefix}.{exc.field}", exc.message, exc.got) from None
    return Regimen(
        list(reg.doses) + list(reg.sessions) + extra, name=name, source=reg.source, description=reg.description
    )


def background_sessions(arm: ArmSpec, prefix: str) -> list[Session]:
    """The sessions of the arm's background treatment; one it cannot represent is refused, naming why."""
    kind = arm.background
    if kind in UNREPRESENTABLE:
        raise InputError(f"{prefix}.background", f"{kind!r} cannot be simulated: {UNREPRESENTABLE[kind]}")
    if kind not in BACKGROUND:
        raise InputError(f"{prefix}.background", f"must be one of: {', '.join(BACKGROUND)}", got=repr(kind))
    if arm.background_dose is not None and kind != "new_antidepressant":
        raise InputError(f"{prefix}.background_dose", "only a new_antidepressant background takes a daily dose")
    if kind == "antipsychotic_augmentation":
        return [Session("antipsychotic_augmentation", at="0 d")]
    if kind != "new_antidepressant":
        return []
    try:
        return [Session("oral_antidepressant", at="0 d", daily_dose=arm.background_dose)]
    except InputError as exc:
        raise InputError(f"{prefix}.background_{exc.field.removeprefix('daily_')}", exc.message, exc.got) from None


def _item(where: str, cls: type[Dose] | type[Session], spec: dict[str, Any]) -> Dose | Session:
    try:
        return cls(**spec)
    except InputError as exc:
        raise InputError(f"{where}.{exc.field}", exc.message, exc.got) from None
    except TypeError as exc:
        raise InputError(where, f"unexpected or missing keys ({exc})") from None


def load_scenario(path: str | Path) -> tuple[Scenario, str]:
    """Read and fully validate a scenario; returns it with its text (kept for provenance)."""
    text = read_text(path, "scenario")
    return parse_scenario(text), text


def parse_scenario(text: str) -> Scenario:
    """A scenario from its TOML text (e.g. the text a results store kept), fully validated."""
    data = parse_toml(text, "scenario")
    try:
        sc = Scenario(**data)
    except ValidationError as exc:
        raise from_validation_error(exc, "scenario") from None
    if bool(sc.arms) == bool(sc.phases):
        raise InputError("arms", "give either arms (a parallel-group trial) or phases (a phased design), not both")
    if sc.phases and (sc.randomisation is not None or sc.control is not None):
        field = "randomisation" if sc.randomisation is not None else "control"
        raise InputError(field, "a phased design randomises inside its phases (phases[i].randomise, .control)")
    if sc.phases and "duration" in sc.model_fields_set:
        raise InputError("duration", "a phased design lasts as long as its phases; give each phase a duration")
    if not sc.phases and sc.criteria:
        raise InputError("criteria", "criteria are read by phases; this scenario has none")
    sc.trial(patients=min(sc.population.n, 2))  # builds every arm, endpoint and randomisation check
    sc.reference_values()
    return sc


def phased_trial(phases: list[PhaseSpec], criteria: dict[str, CriterionSpec], population: Population,
                 series_step: str = "1 d", **options: Any) -> PhasedTrial:  # fmt: skip
    """A ``PhasedTrial`` from the scenario's ``[[phases]]`` and ``[criteria]``; errors name the field."""
    crit: dict[str, Criterion] = {}
    for name, c in criteria.items():
        try:
            crit[name] = Criterion(**c.model_dump())
        except InputError as exc:
            raise InputError(f"criteria.{name}.{exc.field}", exc.message, exc.got) from None
    built = [_phase(i, spec) for i, spec in enumerate(phases)]
    step = parse_quantity(series_step, "series_step", "h", strictly_positive=True, maximum=MAX_TIME_H)
    try:
        return PhasedTrial(tuple(built), crit, population, series_step_h=step, **options)
    except InputError as exc:
        if exc.field.startswith(("phases", "population")):
            raise
        raise InputError(f"phases.{exc.field}", exc.message, exc.got) from None


def _phase(i: int, spec: PhaseSpec) -> Phase:
    where = f"phases[{i}]"
    dur = parse_quantity(spec.duration, f"{where}.duration", "h", strictly_positive=True, maximum=MAX_TIME_H)
    if spec.visits and spec.visit_every:
        raise InputError(f"{where}.visits", "give visits or visit_every, not both")
    if spec.visit_every:
        every = parse_quantity(spec.visit_every, f"{where}.visit_every", "h", strictly_positive=True, maximum=dur)
        visits = tuple(float(v) for v in np.arange(every, dur + 1e-9, every))
    else:
        visits = tuple(parse_quantity(v, f"{where}.visits[{k}]", "h", strictly_positive=True, maximum=dur)
                       for k, v in enumerate(spec.visits))  # fmt: skip
    arms = {name: _phase_arm(f"{where}.arms.{name}", name, arm, dur) for name, arm in spec.arms.items()}
    then = tuple(Transition(t.go, t.when, t.stratum) for t in spec.then)
    try:
        return Phase(spec.name, dur, arms, visits, spec.randomise, spec.stop_when, then, spec.control)
    except InputError as exc:
        raise InputError(f"{where}.{exc.field}", exc.message, exc.got) from None


def _phase_arm(where: str, name: str, arm: PhaseArmSpec, duration_h: float) -> PhaseArm:
    # the background treatment starts once with the phase, never with each repeat of the schedule
    base = ArmSpec(**arm.model_dump(exclude={"repeat_every", "rule", "background", "background_dose"},
                                    exclude_unset=True))  # fmt: skip
    try:
        reg = regimen_from_spec(name, base)
        background = background_sessions(arm, f"arms.{name}")
    except InputError as exc:
        raise InputError(f"{where}.{exc.field.removeprefix(f'arms.{name}.').removeprefix(f'arms.{name}')}".rstrip("."),
                         exc.message, exc.got) from None  # fmt: skip
    if arm.repeat_every is not None:
        period = parse_quantity(arm.repeat_every, f"{where}.repeat_every", "h", strictly_positive=True,
                                maximum=duration_h)  # fmt: skip
        items: list[Dose | Session] = [*reg.doses, *reg.sessions]
        if any(x.at_h >= period for x in items):
            raise InputError(f"{where}.repeat_every", "the repeated schedule must fit inside one period")
        copies = [x.shifted(k * period) for k in range(int(np.ceil(duration_h / period)))
                  for x in items if x.at_h + k * period < duration_h]  # fmt: skip
        reg = Regimen(copies, name=reg.name, source=reg.source, description=reg.description)
    if background:
        reg = Regimen([*reg.doses, *reg.sessions, *background], name=reg.name, source=reg.source,
                      description=reg.description)  # fmt: skip
    rule = None
    if arm.rule is not None:
        r = arm.rule
        try:
            levels = tuple(parse_quantity(v, f"levels[{k}]", "mg", strictly_positive=True, maximum=2000)
                           for k, v in enumerate(r.levels))  # fmt: skip
            every = None
            if r.reduce_to_every is not None:
                every = parse_quantity(r.reduce_to_every, "reduce_to_every", "h", strictly_positive=True,
                                       maximum=duration_h)  # fmt: skip
            rule = DosingRule(levels, r.start_level, r.hold_when, r.max_cadss, r.max_sbp_rise, every, r.reduce_when)
        except InputError as exc:
            raise InputError(f"{where}.rule.{exc.field}", exc.message, exc.got) from None
    try:
        return PhaseArm(reg, rule)
    except InputError as exc:
        raise InputError(f"{where}.{exc.field}", exc.message, exc.got) from None
