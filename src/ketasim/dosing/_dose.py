"""Doses and regimens: what is given, how, how much and when.

>>> d = Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")
>>> d.amount_mg(weight_kg=70)
35.0
>>> r = Regimen.repeat(d, every="2 d", count=3)
>>> [x.at_h for x in r]
[0.0, 48.0, 96.0]
>>> Dose("esketamine", "intranasal", "30 mg")
Traceback (most recent call last):
...
ketasim.InputError: amount: intranasal esketamine is given in whole 28 mg devices (28, 56, 84 mg) (got '30 mg')
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ketasim._internal.checks import as_list, is_number, whole_number
from ketasim.errors import InputError
from ketasim.units import QuantityLike, parse_dose_amount, parse_quantity

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEVICE_MG", "Dose", "Drug", "Regimen", "Route", "Session", "SessionKind"]

DEVICE_MG = 28.0  # esketamine base per nasal device (Spravato label); see parameters/pk.toml
MAX_TIME_H = 24.0 * 366 * 2


def _shifted_time(at_h: float, by_h: object, what: str) -> float:
    """``at_h + by_h``, refused (field ``by``) where it leaves 0..MAX_TIME_H: a dose moved before the start
    of the simulation would be silently left out of it."""
    if not is_number(by_h) or not math.isfinite(float(by_h)):
        raise InputError("by", "must be a finite number of hours", got=repr(by_h))
    t = at_h + float(by_h) + 0.0
    if not 0.0 <= t <= MAX_TIME_H:
        raise InputError("by", f"would move the {what} at {at_h:g} h to {t:g} h; times must stay within "
                         f"0-{MAX_TIME_H:g} h (0 = the start of the simulation)", got=repr(by_h))  # fmt: skip
    return t


def _sequence(value: object, field_name: str, what: str) -> list[Any]:
    return as_list(value, field_name, what)


class Drug(StrEnum):
    KETAMINE = "ketamine"  # racemic (R,S)-ketamine
    ESKETAMINE = "esketamine"  # S-ketamine
    PSILOCYBIN = "psilocybin"  # prodrug of psilocin; oral
    ESCITALOPRAM = "escitalopram"  # S-citalopram; oral, usually daily
    CITALOPRAM = "citalopram"  # racemate: half of it is S-citalopram; oral

    @property
    def is_ketamine(self) -> bool:
        return self in (Drug.KETAMINE, Drug.ESKETAMINE)

    @classmethod
    def parse(cls, value: object) -> Drug:
        aliases = {
            "ketamine": cls.KETAMINE,
            "racemic": cls.KETAMINE,
            "racemic ketamine": cls.KETAMINE,
            "racemic-ketamine": cls.KETAMINE,
            "rs-ketamine": cls.KETAMINE,
            "esketamine": cls.ESKETAMINE,
            "s-ketamine": cls.ESKETAMINE,
            "psilocybin": cls.PSILOCYBIN,
            "escitalopram": cls.ESCITALOPRAM,
            "citalopram": cls.CITALOPRAM,
        }
        key = str(value).strip().lower()
        if key not in aliases:
            allowed = "ketamine (racemic), esketamine, psilocybin, escitalopram, citalopram"
            raise InputError("drug", f"must be one of: {allowed}", got=repr(value))
        return aliases[key]


class Route(StrEnum):
    IV = "iv"
    INTRANASAL = "intranasal"
    ORAL = "oral"
    IM = "im"

    @classmethod
    def parse(cls, value: object) -> Route:
        aliases = {
            "iv": cls.IV,
            "intravenous": cls.IV,
            "in": cls.INTRANASAL,
            "intranasal": cls.INTRANASAL,
            "nasal": cls.INTRANASAL,
            "oral": cls.ORAL,
            "po": cls.ORAL,
            "im": cls.IM,
            "intramuscular": cls.IM,
        }
        key = str(value).strip().lower()
        if key not in aliases:
            raise InputError("route", "must be one of: iv, intranasal, oral, im", got=repr(value))
        return aliases[key]


@dataclass(frozen=True, init=False)
class Dose:
    """One administration.

    ``amount`` is absolute (``"56 mg"``) or per body weight (``"0.5 mg/kg"``). ``duration`` makes an IV
    dose an infusion (None: bolus); it is refused for the other routes. ``at`` is the start time
    relative to the simulation start (>= 0).
    """

    drug: Drug
    route: Route
    amount: float
    per_kg: bool
    duration_h: float | None
    at_h: float

    def __init__(
        self,
        drug: str,
        route: str,
        amount: QuantityLike,
        duration: QuantityLike | None = None,
        at: QuantityLike = "0 h",
    ) -> None:
        drug_ = Drug.parse(drug)
        route_ = Route.parse(route)
        amount_, per_kg = parse_dose_amount(amount, "amount")
        if amount_ > (20.0 if per_kg else 2000.0):
            limit = "20 mg/kg" if per_kg else "2000 mg"
            raise InputError("amount", f"must be > 0 and <= {limit}", got=repr(amount))
        duration_h: float | None = None
        if duration is not None:
            if route_ is not Route.IV:
                raise InputError("duration", "only IV doses can be infusions; leave it empty", got=repr(duration))
            duration_h = parse_quantity(duration, "duration", "h", strictly_positive=True, maximum=24 * 14)
        at_h = parse_quantity(at, "at", "h", minimum=0.0, maximum=MAX_TIME_H)
        if not drug_.is_ketamine and route_ is not Route.ORAL:
            raise InputError("route", f"{drug_.value} is modelled as an oral drug only", got=repr(route))
        if drug_ is Drug.ESKETAMINE and route_ is Route.INTRANASAL:
            if per_kg:
                raise InputError(
                    "amount", "intranasal esketamine is dosed in mg (28 mg devices), not mg/kg", got=repr(amount)
                )
            n = amount_ / DEVICE_MG
            if abs(n - round(n)) > 1e-9 or round(n) < 1:
                raise InputError(
                    "amount",
                    "intranasal esketamine is given in whole 28 mg devices (28, 56, 84 mg)",
                    got=repr(amount),
                )
        object.__setattr__(self, "drug", drug_)
        object.__setattr__(self, "route", route_)
        object.__setattr__(self, "amount", amount_)
        object.__setattr__(self, "per_kg", per_kg)
        object.__setattr__(self, "duration_h", duration_h)
        object.__setattr__(self, "at_h", at_h)

    def amount_mg(self, weight_kg: float | np.ndarray) -> float | np.ndarray:
        return self.amount * weight_kg if self.per_kg else self.amount

    def shifted(self, by_h: float) -> Dose:
        """The same dose ``by_h`` hours later (earlier if negative); refused if it would leave 0..2 years."""
        return _with(self, at_h=_shifted_time(self.at_h, by_h, "dose"))

    @property
    def devices(self) -> int:
        """Number of 28 mg nasal devices (intranasal esketamine only, else 0)."""
        if self.drug is Drug.ESKETAMINE and self.route is Route.INTRANASAL:
            return round(self.amount / DEVICE_MG)
        return 0

    def describe(self) -> str:
        unit = "mg/kg" if self.per_kg else "mg"
        how = f" over {self.duration_h * 60:g} min" if self.duration_h else ""
        return f"{self.drug.value} {self.amount:g} {unit} {self.route.value}{how} at {self.at_h:g} h"

    def to_dict(self) -> dict[str, Any]:
        # repr() round-trips floats exactly, so Dose(**d.to_dict()) == d
        return {
            "drug": self.drug.value,
            "route": self.route.value,
            "amount": f"{self.amount!r} {'mg/kg' if self.per_kg else 'mg'}",
            "duration": f"{self.duration_h!r} h" if self.duration_h else None,
            "at": f"{self.at_h!r} h",
        }


def _with(dose: Dose, **changes: object) -> Dose:
    new = object.__new__(Dose)
    for f in ("drug", "route", "amount", "per_kg", "duration_h", "at_h"):
        object.__setattr__(new, f, changes.get(f, getattr(dose, f)))
    return new


class SessionKind(StrEnum):
    SALINE = "saline"  # inert infusion or spray: expectancy only
    PLACEBO_SPRAY = "placebo_spray"
    MIDAZOLAM = "midazolam"  # active placebo: expectancy plus noticeable sedation, no NMDA effect
    ORAL_ANTIDEPRESSANT = "oral_antidepressant"  # daily SSRI from `at` on (escitalopram-equivalent mg/day)
    CLINIC_VISIT = "clinic_visit"  # a clinical contact (prescription, follow-up): expectancy only
    ASSESSMENT = "assessment"  # a rating visit: attention from the rater, a share of a session's expectancy
    PSYCHOTHERAPY = "psychotherapy"  # one session (e.g. CBT); strongest inside a plasticity window
    EXERCISE = "exercise"  # one bout; `intensity` 0-1 (1 = vigorous aerobic)
    KETOGENIC_DIET = "ketogenic_diet"  # started at `at`, kept from then on (nutritional ketosis)
    BHB_SUPPLEMENT = "bhb_supplement"  # one oral dose of a ketone (beta-hydroxybutyrate) supplement
    TRYPTOPHAN_DEPLETION = "tryptophan_depletion"  # a tryptophan-free amino-acid drink (a serotonin probe)
    SHAM_DEPLETION = "sham_depletion"  # the same drink with tryptophan (its control): a study visit only
    # from `at` on, the share `intensity` of the patient's drinks is replaced by an ethanol-free
    # alternative (1 = abstinence); to the model cutting down and replacing are the same: it sees ethanol
    ALCOHOL_ALTERNATIVE = "alcohol_alternative"
    ECT = "ect"  # one electroconvulsive treatment under brief anaesthesia (a generalised seizure)
    # one session of exposure-based trauma therapy (prolonged or written exposure): extinction learning
    EXPOSURE_THERAPY = "exposure_therapy"
    # an atypical antipsychotic (aripiprazole-like, titrated to an effective dose) added daily from `at` on
    ANTIPSYCHOTIC_AUGMENTATION = "antipsychotic_augmentation"


@dataclass(frozen=True, init=False)
class Session:
    """A treatment visit that is not a ketamine dose: a control, or the start of an oral antidepressant.

    >>> Session("midazolam", at="0 h").kind.value
    'midazolam'
    """

    kind: SessionKind
    at_h: float
    duration_h: float
    intensity: float
    daily_mg: float | None

    def __init__(
        self,
        kind: str,
        at: QuantityLike = "0 h",
        duration: QuantityLike = "40 min",
        intensity: float = 1.0,
        daily_dose: QuantityLike | None = None,
    ) -> None:
        try:
            kind_ = SessionKind(str(kind).strip().lower())
        except ValueError:
            allowed = ", ".join(k.value for k in SessionKind)
            raise InputError("kind", f"must be one of: {allowed}", got=repr(kind)) from None
        object.__setattr__(self, "kind", kind_)
        object.__setattr__(self, "at_h", parse_quantity(at, "at", "h", minimum=0.0, maximum=MAX_TIME_H))
        object.__setattr__(
            self, "duration_h", parse_quantity(duration, "duration", "h", strictly_positive=True, maximum=24.0)
        )
        if not is_number(intensity) or not 0 < intensity <= 1:
            raise InputError("intensity", "must be a number within 0-1 (0 excluded)", got=repr(intensity))
        object.__setattr__(self, "intensity", float(intensity))
        daily = None
        if daily_dose is not None:
            if kind_ is not SessionKind.ORAL_ANTIDEPRESSANT:
                msg = "only an oral_antidepressant session takes a daily dose"
                raise InputError("daily_dose", msg, got=repr(daily_dose))
            daily = parse_quantity(daily_dose, "daily_dose", "mg", strictly_positive=True, maximum=60)
        object.__setattr__(self, "daily_mg", daily)

    def shifted(self, by_h: float) -> Session:
        """The same session ``by_h`` hours later (earlier if negative); refused if it would leave 0..2 years."""
        dd = None if self.daily_mg is None else f"{self.daily_mg!r} mg"
        at = _shifted_time(self.at_h, by_h, f"{self.kind.value} session")
        return Session(self.kind, f"{at!r} h", f"{self.duration_h!r} h", self.intensity, dd)

    def describe(self) -> str:
        return f"{self.kind.value} session at {self.at_h:g} h"


@dataclass(frozen=True)
class Regimen:
    """An ordered, immutable collection of doses and non-drug sessions (controls, oral antidepressant).

    Regimens compose with ``+``; ``Regimen.repeat`` builds fixed-interval schedules.
    """

    doses: tuple[Dose, ...] = ()
    sessions: tuple[Session, ...] = ()
    name: str | None = None
    source: str | None = None
    description: str | None = field(default=None, compare=False)

    def __init__(
        self,
        doses: Iterable[Dose | Session] = (),
        name: str | None = None,
        source: str | None = None,
        description: str | None = None,
    ) -> None:
        items = tuple(_sequence(doses, "doses", "ketasim.Dose and ketasim.Session"))
        for i, d in enumerate(items):
            if not isinstance(d, Dose | Session):
                raise InputError(f"doses[{i}]", "must be a ketasim.Dose or ketasim.Session", got=type(d).__name__)
        for name_, value in (("name", name), ("source", source), ("description", description)):
            if value is not None and not isinstance(value, str):
                raise InputError(name_, "must be a string or None", got=repr(value)[:60])
        ds = [d for d in items if isinstance(d, Dose)]
        ss = [d for d in items if isinstance(d, Session)]
        object.__setattr__(self, "doses", tuple(sorted(ds, key=lambda d: d.at_h)))
        object.__setattr__(self, "sessions", tuple(sorted(ss, key=lambda d: d.at_h)))
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "description", description)

    def __iter__(self) -> Iterator[Dose]:
        return iter(self.doses)

    def __len__(self) -> int:
        return len(self.doses)

    def __bool__(self) -> bool:
        """True if anything is given: a control made only of sessions (saline, visits) counts."""
        return bool(self.doses or self.sessions)

    def __add__(self, other: Regimen) -> Regimen:
        if not isinstance(other, Regimen):
            return NotImplemented
        return Regimen(self.doses + self.sessions + other.doses + other.sessions)

    @classmethod
    def repeat(cls, dose: Dose, every: QuantityLike, count: int) -> Regimen:
        """``count`` copies of ``dose`` spaced ``every`` apart, the first at ``dose.at``."""
        _check_dose(dose)
        every_h = parse_quantity(every, "every", "h", strictly_positive=True, maximum=MAX_TIME_H)
        whole_number(count, "count", 1, 1000)
        last = dose.at_h + (count - 1) * every_h
        if last > MAX_TIME_H:
            raise InputError("count", f"the last dose would be at {last:g} h, past {MAX_TIME_H:g} h (2 years)",
                             got=repr(count))  # fmt: skip
        return cls(dose.shifted(i * every_h) for i in range(count))

    @classmethod
    def daily(cls, dose: Dose, days: int) -> Regimen:
        """``dose`` once a day for ``days`` days (e.g. an SSRI), the first at ``dose.at``."""
        whole_number(days, "days", 1, 1000)
        return cls.repeat(dose, every="24 h", count=days)

    @classmethod
    def at_times(cls, dose: Dose, times: Sequence[QuantityLike]) -> Regimen:
        """Copies of ``dose`` at the given times (the dose's own ``at`` is ignored)."""
        _check_dose(dose)
        hours = [parse_quantity(t, f"times[{i}]", "h", minimum=0.0, maximum=MAX_TIME_H)
                 for i, t in enumerate(_sequence(times, "times", "times such as '0 h', '3 d'"))]  # fmt: skip
        return cls(_with(dose, at_h=h) for h in hours)

    @classmethod
    def stepped_infusion(
        cls, drug: str, steps: Sequence[tuple[QuantityLike, QuantityLike]], at: QuantityLike = "0 h"
    ) -> Regimen:
        """A multi-step IV infusion from ``(rate, duration)`` pairs, e.g. ``("0.4 mg/kg/h", "15 min")``."""
        t = parse_quantity(at, "at", "h", minimum=0.0, maximum=MAX_TIME_H)
        pairs = _sequence(steps, "steps", "(rate, duration) pairs such as ('0.4 mg/kg/h', '15 min')")
        if not pairs:
            raise InputError("steps", "a stepped infusion needs at least one (rate, duration) step")
        doses = []
        for i, step in enumerate(pairs):
            if isinstance(step, str | bytes | dict) or not isinstance(step, Sequence) or len(step) != 2:
                raise InputError(f"steps[{i}]", "must be a (rate, duration) pair such as ('0.4 mg/kg/h', '15 min')",
                                 got=repr(step)[:60])  # fmt: skip
            rate, duration = step
            dur = parse_quantity(duration, f"steps[{i}].duration", "h", strictly_positive=True, maximum=24 * 14)
            amount = _rate_times(rate, dur, f"steps[{i}].rate")
            if t > MAX_TIME_H:
                raise InputError(f"steps[{i}]", f"would start at {t:g} h, past {MAX_TIME_H:g} h (2 years)")
            doses.append(Dose(drug, "iv", amount, duration=f"{dur!r} h", at=f"{t!r} h"))
            t += dur
        return cls(doses)

    def shifted(self, by: QuantityLike) -> Regimen:
        by_h = parse_quantity(by, "by", "h", minimum=-MAX_TIME_H, maximum=MAX_TIME_H)
        items = [d.shifted(by_h) for d in self.doses] + [s.shifted(by_h) for s in self.sessions]
        return Regimen(items, self.name, self.source, self.description)

    def as_control(self, kind: str) -> Regimen:
        """The same visit schedule with every dose replaced by a control session of ``kind``.

        >>> r = Regimen([Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")]).as_control("midazolam")
        >>> (len(r.doses), [s.kind.value for s in r.sessions])
        (0, ['midazolam'])
        """
        kind_ = Session(kind).kind  # refuses an unknown kind, naming the allowed ones
        visits = sorted({(d.at_h, d.duration_h or 40 / 60) for d in self.doses})
        keep = [s for s in self.sessions if s.kind is SessionKind.ORAL_ANTIDEPRESSANT]
        return Regimen(
            [Session(kind_, f"{t!r} h", f"{dur!r} h") for t, dur in visits] + keep,
            name=f"{self.name or 'regimen'}:{kind_.value}",
            description=f"{kind} control on the schedule of {self.name or 'the regimen'}",
        )

    @property
    def visit_times(self) -> list[float]:
        """Start times of treatment visits that raise expectancy: ketamine and psilocybin sessions and
        control sessions, each counted once (daily pills, exercise and diet are not visits)."""
        visit_kinds = {
            SessionKind.SALINE,
            SessionKind.PLACEBO_SPRAY,
            SessionKind.MIDAZOLAM,
            SessionKind.ORAL_ANTIDEPRESSANT,
            SessionKind.CLINIC_VISIT,
            SessionKind.TRYPTOPHAN_DEPLETION,
            SessionKind.SHAM_DEPLETION,
            SessionKind.ECT,
            SessionKind.ANTIPSYCHOTIC_AUGMENTATION,
        }
        doses = {d.at_h for d in self.doses if d.drug.is_ketamine or d.drug is Drug.PSILOCYBIN}
        return sorted(doses | {s.at_h for s in self.sessions if s.kind in visit_kinds})

    @property
    def end_h(self) -> float:
        return max((d.at_h + (d.duration_h or 0.0) for d in self.doses), default=0.0)

    def describe(self) -> str:
        parts = [d.describe() for d in self.doses] + [s.describe() for s in self.sessions]
        return "; ".join(parts) or "no doses"


def _check_dose(dose: object) -> None:
    if not isinstance(dose, Dose):
        raise InputError("dose", "must be a ketasim.Dose", got=type(dose).__name__)


def _rate_times(rate: QuantityLike, duration_h: float, field_name: str) -> str:
    """The amount a ``rate`` (mg/h or mg/kg/h) gives over ``duration_h``, as a Dose amount string."""
    from ketasim.units import Q_, to_quantity

    q = to_quantity(rate, field_name, "mg/h") * Q_(duration_h, "h")
    for unit in ("mg/kg", "mg"):
        try:
            x = float(q.to(unit).magnitude)
        except Exception:  # pint raises several unrelated exception types
            continue
        if not (math.isfinite(x) and x > 0):
            raise InputError(field_name, "must be a rate > 0 in mg/h or mg/kg/h", got=repr(rate))
        return f"{x!r} {unit}"
    raise InputError(field_name, "expected a rate in mg/h or mg/kg/h", got=repr(rate))
