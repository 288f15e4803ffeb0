"""The explorer's request and response types (pydantic): the JSON API's OpenAPI schema is generated from
these, and every request is checked against them before anything runs.

Limits keep a request answerable by a shared, single-process server: one patient for at most
``MAX_SIMULATE_DAYS`` days and ``MAX_OUTPUT_POINTS`` output times, and trials of at most
``Limits.trial_patients`` patients for at most ``Limits.trial_days`` days, run as cancellable jobs.
Quantities are numbers in fixed units (the field names carry them: ``weight_kg``, ``duration_min``;
a dose states its ``unit``) rather than unit strings, so a form field maps onto one JSON field and the
schema states every range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ketasim.patients.patient import BIOTYPES, CYP2B6_GENOTYPES, MAX_DRINKS_PER_DAY
from ketasim.trials.scenario import HypothesesSpec

__all__ = ["MAX_OUTPUT_POINTS", "MAX_SIMULATE_DAYS", "DoseSpec", "HypothesesSpec", "Limits", "PatientSpec",
           "RegimenSpec", "SimulateRequest", "TrialArmSpec", "TrialRequest"]  # fmt: skip

#: The longest single-patient run the explorer answers (days).
MAX_SIMULATE_DAYS = 180.0
#: The most output times of one single-patient run (1-min output over 7 days is 10,081).
MAX_OUTPUT_POINTS = 20_001
#: Most doses in one regimen after repeats are expanded (a daily oral drug for a year fits).
MAX_DOSES = 400
#: Most psychotherapy sessions of one patient.
MAX_SESSIONS = 200


@dataclass(frozen=True)
class Limits:
    """Per-server limits on trials (``ketasim serve --max-trial-patients``); the defaults keep a trial
    on this kind of machine to seconds (2,000 patients for 28 days is about 10 s on 2 cores)."""

    trial_patients: int = 3000
    trial_days: float = 84.0
    #: patients x days above this are refused: they would hold the server for minutes
    trial_patient_days: float = 3000 * 28.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DoseSpec(_Strict):
    """One dose, or ``repeat_count`` doses ``repeat_every_h`` apart: ``amount`` in ``unit`` (mg, or mg per
    kg of body weight; the unit is always stated, never assumed); an IV dose with ``duration_min`` is an
    infusion (other routes take no duration)."""

    drug: Literal["ketamine", "esketamine", "psilocybin", "escitalopram"] = "ketamine"
    route: Literal["iv", "intranasal", "oral", "im"] = "iv"
    amount: float = Field(gt=0, le=2000, description="in `unit`; at most 2000 mg or 20 mg/kg")
    unit: Literal["mg", "mg/kg"]
    duration_min: float | None = Field(default=None, ge=0, le=24 * 60, description="infusion length; IV only")
    at_h: float = Field(default=0.0, ge=0, le=MAX_SIMULATE_DAYS * 24)
    repeat_count: int = Field(default=1, ge=1, le=MAX_DOSES)
    repeat_every_h: float = Field(default=24.0, gt=0, le=24 * 90)

    @model_validator(mode="after")
    def _per_kg_bounded(self) -> DoseSpec:
        if self.unit == "mg/kg" and self.amount > 20:
            raise ValueError("amount: a dose per kg must be at most 20 mg/kg")
        return self


class RegimenSpec(_Strict):
    """Exactly one of: a named ``protocol``, a ``control`` (placebo sessions on the visit schedule of the
    protocol ``schedule``) or a list of ``doses``."""

    protocol: str | None = Field(default=None, max_length=80)
    control: Literal["saline", "midazolam", "placebo_spray"] | None = None
    schedule: str = Field(default="zarate-2006-iv", max_length=80, description="a control's visit schedule")
    doses: list[DoseSpec] = Field(default=[], max_length=20)

    @model_validator(mode="after")
    def _one_kind(self) -> RegimenSpec:
        given = [k for k in ("protocol", "control") if getattr(self, k)] + (["doses"] if self.doses else [])
        if len(given) != 1:
            raise ValueError("give exactly one of protocol, control or doses")
        if sum(d.repeat_count for d in self.doses) > MAX_DOSES:
            raise ValueError(f"doses: at most {MAX_DOSES} doses in all, repeats included")
        return self


class PatientSpec(_Strict):
    """The patient's covariates and modifiers (``ketasim.Patient``, same ranges)."""

    weight_kg: float = Field(default=70.0, ge=20, le=300)
    sex: Literal["male", "female"] = "male"
    age_y: float = Field(default=45.0, ge=18, le=100)
    cyp2b6: Literal[CYP2B6_GENOTYPES] = "*1/*1"  # type: ignore[valid-type]
    madrs_baseline: float = Field(default=32.0, ge=0, le=60)
    stress_load: float = Field(default=1.0, ge=0, le=3, description="0 none, 1 typical TRD")
    supportive_environment: float = Field(default=0.0, ge=0, le=1)
    psychotherapy_days: list[float] = Field(
        default=[], max_length=MAX_SESSIONS, description="session start times, days after the first dose"
    )
    alcohol_use_disorder: bool = False
    family_history_alcohol: bool = False
    drinks_per_day: float = Field(default=0.0, ge=0, le=MAX_DRINKS_PER_DAY)
    symptom_profile: float = Field(default=0.0, ge=-1, le=1, description="-1 anhedonic, +1 self-critical")
    biotype: Literal[BIOTYPES] = "synaptic"  # type: ignore[valid-type]
    ptsd_baseline: float = Field(default=0.0, ge=0, le=80, description="CAPS-5; 0 is no PTSD")
    noise_seed: int | None = Field(default=None, ge=0, le=2**31 - 1,
                                   description="day-to-day fluctuation; none gives the smooth course")  # fmt: skip

    @model_validator(mode="after")
    def _sessions_in_range(self) -> PatientSpec:
        for i, d in enumerate(self.psychotherapy_days):
            if not 0 <= d <= MAX_SIMULATE_DAYS:
                raise ValueError(f"psychotherapy_days[{i}]: must be within 0-{MAX_SIMULATE_DAYS:g} days")
        return self


class SimulateRequest(_Strict):
    regimen: RegimenSpec = RegimenSpec(protocol="zarate-2006-iv")
    patient: PatientSpec = PatientSpec()
    hypotheses: HypothesesSpec = HypothesesSpec()
    duration_days: float = Field(default=7.0, gt=0, le=MAX_SIMULATE_DAYS)
    output_step_min: float = Field(default=10.0, ge=1, le=24 * 60)
    time_grid: Literal["uniform", "log"] = Field(
        default="uniform",
        description="log: at most 600 times spaced evenly in log time from the first minute, plus every 5 min "
        "over the 2 h after each dose starts and each infusion ends (so every peak is drawn), picked from a "
        "1-min grid or the finest one the output limit allows; output_step_min is then unused",
    )

    @model_validator(mode="after")
    def _points_bounded(self) -> SimulateRequest:
        if self.time_grid == "log":
            return self
        points = self.duration_days * 24 * 60 / self.output_step_min + 1
        if points > MAX_OUTPUT_POINTS:
            raise ValueError(f"output_step_min: {points:,.0f} output times; at most {MAX_OUTPUT_POINTS:,} "
                             "(a longer output step or a shorter run)")  # fmt: skip
        return self


class TrialArmSpec(_Strict):
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")
    regimen: RegimenSpec


class TrialRequest(_Strict):
    """A small randomised trial in the TRD cohort (``ketasim trial``), equal allocation."""

    arms: list[TrialArmSpec] = Field(min_length=1, max_length=4)
    control: str | None = Field(default=None, max_length=40, description="the arm the others are compared with")
    patients: int = Field(default=200, ge=2)
    duration_days: float = Field(default=7.0, gt=0)
    visits_days: list[float] = Field(default=[1.0, 7.0], min_length=1, max_length=20)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    hypotheses: HypothesesSpec = HypothesesSpec()

    @model_validator(mode="after")
    def _consistent(self) -> TrialRequest:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arms: arm names must differ")
        if self.control is not None and self.control not in names:
            raise ValueError(f"control: must name an arm ({', '.join(names)})")
        for i, v in enumerate(self.visits_days):
            if not 0 < v <= self.duration_days:
                raise ValueError(f"visits_days[{i}]: must be within the trial, 0-{self.duration_days:g} days")
        return self


class ErrorBody(BaseModel):
    """What every refused request answers: ``message`` names the field and the allowed range."""

    message: str
    field: str
    detail: list[dict[str, object]] = []
