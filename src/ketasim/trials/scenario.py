"""Trial scenario files (TOML): parsed and validated before anything runs or is written.

A malformed file (unknown arm, negative dose, missing population size, wrong units) is refused with
one ``InputError`` naming the field, e.g. ``arms.ketamine.doses[0].amount: must be > 0 mg``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ketasim._internal.checks import from_validation_error, parse_toml, read_text
from ketasim.dosing import Dose, Regimen, Session, protocols
from ketasim.errors import InputError
from ketasim.patients import Population
from ketasim.trials.design import Trial
from ketasim.trials.endpoints import Endpoints
from ketasim.trials.reference import ReferenceValue, parse_reference

__all__ = ["ArmSpec", "Scenario", "load_scenario", "parse_scenario", "regimen_from_spec"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationSpec(_Strict):
    n: int = Field(ge=1, le=10_000_000)
    cohort: Literal["trd", "healthy"] = "trd"
    overrides: dict[str, Any] = {}


class ArmSpec(_Strict):
    protocol: str | None = None
    control: Literal["saline", "midazolam", "placebo_spray"] | None = None
    schedule: str | None = None
    doses: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []


class EndpointSpec(_Strict):
    visits: list[str] = ["24 h", "7 d"]
    remission_threshold: Literal[10, 12] = 10
    relapse_from: str | None = None
    rating_noise: bool = True
    sbp_threshold: float = Field(default=40.0, gt=0)
    screening: str = "0 h"
    entry_minimum: float | None = Field(default=None, ge=0, le=60)


class Scenario(_Strict):
    name: str
    description: str = ""
    duration: str = "7 d"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    series_step: str = "6 h"
    control: str | None = None
    population: PopulationSpec
    randomisation: dict[str, int] | None = None
    arms: dict[str, ArmSpec] = Field(min_length=1)
    endpoints: EndpointSpec = EndpointSpec()
    reference: dict[str, Any] = {}  # published results: schema in ketasim.trials.reference

    def reference_values(self) -> list[ReferenceValue]:
        """The ``[reference]`` table read by its schema (``trials.reference``); text entries are skipped."""
        return parse_reference(self.reference, self.arms)

    def regimens(self) -> dict[str, Regimen]:
        return {name: regimen_from_spec(name, arm) for name, arm in self.arms.items()}

    def trial(self, patients: int | None = None, seed: int | None = None) -> Trial:
        n = patients if patients is not None else self.population.n
        pop = Population.sample(
            n, self.seed if seed is None else seed, self.population.cohort, **self.population.overrides
        )
        ep = self.endpoints
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
            ),
            control=self.control,
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
    except InputError as exc:
        if exc.field.startswith(prefix):
            raise
        raise InputError(f"{prefix}.{exc.field}", exc.message, exc.got) from None
    return Regimen(
        list(reg.doses) + list(reg.sessions) + extra, name=name, source=reg.source, description=reg.description
    )


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
    sc.trial(patients=min(sc.population.n, 2))  # builds every arm, endpoint and randomisation check
    sc.reference_values()
    return sc
