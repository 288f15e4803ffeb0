"""The virtual patient: covariates, depression characteristics and individual random effects.

A ``Patient`` is the unit of variability. Every layer reads its per-patient parameter values from it.

>>> p = Patient(weight="82 kg", sex="female", alcohol_use_disorder=True)
>>> p.weight_kg, p.sex, p.madrs_baseline
(82.0, 'female', 32.0)
>>> Patient(weight="5 kg")
Traceback (most recent call last):
...
ketasim.InputError: weight: must be within 20-300 kg (got '5 kg')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np

from ketasim._internal.checks import as_list, is_number
from ketasim._internal.recording import Recorder
from ketasim.errors import InputError
from ketasim.units import QuantityLike, parse_quantity

__all__ = [
    "BIOTYPES", "COMEDICATIONS", "CYP2B6_GENOTYPES", "ITEMS", "MAX_DRINKS_PER_DAY", "MAX_TIME_H", "Patient",
    "factors", "recording_factors",
]  # fmt: skip

#: The latest time a patient's schedule (psychotherapy sessions, stress steps) may name: 2 years.
MAX_TIME_H = 24.0 * 366 * 2

#: The most drinking a patient may report: 40 standard drinks (560 g ethanol) a day, beyond heavy
#: dependence (drinking is validated, not capped silently).
MAX_DRINKS_PER_DAY = 40.0

CYP2B6_GENOTYPES = ("*1/*1", "*1/*6", "*6/*6")
ANCESTRIES = ("non_asian", "asian", "japanese")
BIOTYPES = ("synaptic", "monoaminergic", "inflammatory")
#: Co-medications with a published interaction study on S-ketamine (each one's multiplier on S-ketamine's
#: intrinsic hepatic clearance, either product, is the registry parameter ``comed_<name>``, pk.toml).
COMEDICATIONS = ("clarithromycin", "rifampicin", "st_johns_wort", "ticlopidine")
#: The 10 MADRS items (Montgomery & Asberg 1979), in the scale's order.
ITEMS = (
    "apparent_sadness",
    "reported_sadness",
    "inner_tension",
    "reduced_sleep",
    "reduced_appetite",
    "concentration_difficulties",
    "lassitude",
    "inability_to_feel",
    "pessimistic_thoughts",
    "suicidal_thoughts",
)


def _choice(value: object, field_name: str, allowed: Sequence[str]) -> str:
    allowed_l = [a.lower() for a in allowed]
    # only a string can name a choice (an array here would be compared element by element, found by hypothesis)
    v = value.strip().lower() if isinstance(value, str) else None
    if v not in allowed_l:
        raise InputError(field_name, f"must be one of: {', '.join(allowed)}", got=repr(value))
    return allowed[allowed_l.index(v)]


def _bool(value: object, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(field_name, "must be true or false", got=repr(value))
    return value


def _number(value: object, field_name: str, lo: float, hi: float) -> float:
    if not is_number(value):
        raise InputError(field_name, f"must be a number within {lo:g}-{hi:g}", got=repr(value)[:60])
    try:
        x = float(value) + 0.0  # -0.0 read as 0.0
    except OverflowError:
        x = math.inf
    if not lo <= x <= hi:
        raise InputError(field_name, f"must be within {lo:g}-{hi:g}", got=repr(value)[:60])
    return x


def _names(value: object, field_name: str, allowed: Sequence[str]) -> tuple[str, ...]:
    """Names from ``allowed`` (case-insensitive; one name may be given as a string), each kept once, in
    ``allowed``'s order, so that equal sets give equal patients."""
    items = [value] if isinstance(value, str) else as_list(value, field_name, f"names from: {', '.join(allowed)}")
    out = {_choice(item, field_name, allowed) for item in items}
    return tuple(a for a in allowed if a in out)


def _times(value: object, field_name: str) -> tuple[float, ...]:
    times = as_list(value, field_name, "times such as ['2 d', '9 d']")
    return tuple(parse_quantity(t, f"{field_name}[{i}]", "h", minimum=0, maximum=MAX_TIME_H)
                 for i, t in enumerate(times))  # fmt: skip


_FACTORS_READ = Recorder("ketasim_factors_read")


def recording_factors() -> AbstractContextManager[set[str]]:
    """Collect the name of every random effect that ``Patient.factor`` is asked for (the names a model
    reads; see ``ketasim.model.random_effect_names``)."""
    return _FACTORS_READ.recording()


@dataclass(frozen=True, init=False)
class Patient:
    """One virtual patient.

    Covariates (PK): ``weight`` (20-300 kg), ``sex``, ``age`` (18-100 y), ``cyp2b6`` genotype,
    ``ancestry`` (non_asian / asian / japanese; S-ketamine PK covariates of Perez-Ruixo 2021),
    ``comedication`` (names from ``COMEDICATIONS``: CYP3A4 / CYP2B6 inhibitors and inducers with a published
    interaction study on oral S-ketamine; several multiply; they act on S-ketamine's hepatic clearance,
    whether given as esketamine or in racemic ketamine, see ``ketasim.model.pk``; R-ketamine is not
    changed: no study measured it).

    Depression and modifiers: ``madrs_baseline`` (pre-treatment MADRS, 0-60; the model's scores start at
    its floor, ``madrs_floor`` = 2 points, what a healthy unstressed person scores, so a baseline below
    it is read as the floor), ``stress_load`` (chronic
    stress driving synapse loss: 0 none, 1 typical treatment-resistant depression, up to 3; or a list of
    ``(time, level)`` steps, the first level holding before the simulation starts),
    ``supportive_environment`` (0-1; lowers stress-driven synapse elimination), ``psychotherapy`` (session
    start times), ``alcohol_use_disorder`` and ``family_history_alcohol`` (tolerance to dissociation),
    ``symptom_profile`` (-1 anhedonic ... +1 self-critical/ruminative), ``biotype``, ``drinks_per_day``
    (current drinking in standard drinks of 14 g ethanol a day, averaged over the week, 0-40; or a list of
    ``(time, drinks)`` steps like ``stress_load``: the first level is the habit before the start, so a
    step to 0 is the start of abstinence; see ``ketasim.model.interventions``), ``ptsd_baseline``
    (CAPS-5 total before treatment, 0-80; 0, the default, is no PTSD; see ``ketasim.model.trauma``).

    ``random_effects`` maps parameter names to multiplicative factors (inter-individual variability).
    ``noise_seed`` seeds the patient's day-to-day mood fluctuation (an integer; None, the default, gives
    a patient without fluctuation: the smooth, noise-free course). ``Population.sample`` gives every
    patient its own.
    """

    weight_kg: float
    sex: str
    age_y: float
    cyp2b6: str
    ancestry: str
    madrs_baseline: float
    stress_steps: tuple[tuple[float, float], ...]
    supportive_environment: float
    psychotherapy_h: tuple[float, ...]
    alcohol_use_disorder: bool
    family_history_alcohol: bool
    symptom_profile: float
    biotype: str
    random_effects: Mapping[str, float] = field(default_factory=dict)
    noise_seed: int | None = None
    comedication: tuple[str, ...] = ()
    drinking_steps: tuple[tuple[float, float], ...] = ((0.0, 0.0),)
    ptsd_baseline: float = 0.0

    def __init__(
        self,
        weight: QuantityLike = "70 kg",
        sex: str = "male",
        age: QuantityLike = 45,
        cyp2b6: str = "*1/*1",
        ancestry: str = "non_asian",
        madrs_baseline: float = 32,
        stress_load: float | Sequence[tuple[QuantityLike, float]] = 1.0,
        supportive_environment: float = 0.0,
        psychotherapy: Sequence[QuantityLike] = (),
        alcohol_use_disorder: bool = False,
        family_history_alcohol: bool = False,
        symptom_profile: float = 0.0,
        biotype: str = "synaptic",
        random_effects: Mapping[str, float] | None = None,
        noise_seed: int | None = None,
        comedication: Sequence[str] = (),
        drinks_per_day: float | Sequence[tuple[QuantityLike, float]] = 0.0,
        ptsd_baseline: float = 0.0,
    ) -> None:
        s = object.__setattr__
        s(self, "weight_kg", parse_quantity(weight, "weight", "kg", minimum=20, maximum=300))
        s(self, "sex", _choice(sex, "sex", ("male", "female")))
        s(self, "age_y", parse_quantity(age, "age", "year", minimum=18, maximum=100))
        s(self, "cyp2b6", _choice(cyp2b6, "cyp2b6", CYP2B6_GENOTYPES))
        s(self, "ancestry", _choice(ancestry, "ancestry", ANCESTRIES))
        s(self, "madrs_baseline", _number(madrs_baseline, "madrs_baseline", 0, 60))
        s(self, "stress_steps", _steps(stress_load, "stress_load", 3, "1 = typical TRD"))
        s(self, "ptsd_baseline", _number(ptsd_baseline, "ptsd_baseline", 0, 80))
        s(self, "drinking_steps", _steps(drinks_per_day, "drinks_per_day", MAX_DRINKS_PER_DAY, "standard drinks a day"))
        s(self, "supportive_environment", _number(supportive_environment, "supportive_environment", 0, 1))
        s(self, "psychotherapy_h", tuple(sorted(_times(psychotherapy, "psychotherapy"))))
        s(self, "alcohol_use_disorder", _bool(alcohol_use_disorder, "alcohol_use_disorder"))
        s(self, "family_history_alcohol", _bool(family_history_alcohol, "family_history_alcohol"))
        s(self, "symptom_profile", _number(symptom_profile, "symptom_profile", -1, 1))
        s(self, "biotype", _choice(biotype, "biotype", BIOTYPES))
        if random_effects is not None and not isinstance(random_effects, Mapping):
            raise InputError("random_effects", "must be a mapping from a parameter name to a factor, e.g. "
                             "{'ke0': 1.2}", got=repr(random_effects)[:60])  # fmt: skip
        re: dict[str, float] = {}
        for k, v in (random_effects or {}).items():
            if not isinstance(k, str):
                raise InputError("random_effects", "names must be strings (parameter names)", got=repr(k)[:60])
            re[k] = _number(v, f"random_effects[{k}]", 1e-3, 1e3)
        s(self, "random_effects", re)
        if noise_seed is not None and not (isinstance(noise_seed, int | np.integer) and not isinstance(noise_seed, bool)
                                           and 0 <= noise_seed < 2**63):  # fmt: skip
            raise InputError("noise_seed", "must be an integer within 0 to 2**63 - 1, or None", got=repr(noise_seed))
        s(self, "noise_seed", None if noise_seed is None else int(noise_seed))
        s(self, "comedication", _names(comedication, "comedication", COMEDICATIONS))

    @property
    def stress_load(self) -> float:
        """Stress level before the simulation starts."""
        return self.stress_steps[0][1]

    @property
    def drinks_per_day(self) -> float:
        """Habitual drinking before the simulation starts (standard drinks a day)."""
        return self.drinking_steps[0][1]

    def factor(self, name: str) -> float:
        """The patient's multiplicative random effect on parameter ``name`` (1 if none)."""
        _FACTORS_READ.note(name)
        return float(self.random_effects.get(name, 1.0))


def factors(patients: Sequence[Patient], name: str) -> np.ndarray:
    """Each patient's ``factor(name)`` as one array (the name noted once, not once per patient)."""
    _FACTORS_READ.note(name)
    return np.fromiter((p.random_effects.get(name, 1.0) for p in patients), float, len(patients))


def _steps(value: object, name: str, high: float, unit: str) -> tuple[tuple[float, float], ...]:
    """A level held from before the start (a number), or ``(time, level)`` steps, the first level holding
    before the simulation starts."""
    if is_number(value):
        return ((0.0, _number(value, name, 0, high)),)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and value:
        steps = []
        for i, item in enumerate(value):
            if not (isinstance(item, Sequence) and not isinstance(item, str | bytes) and len(item) == 2):
                raise InputError(f"{name}[{i}]", "must be a (time, level) pair", got=repr(item)[:60])
            t = parse_quantity(item[0], f"{name}[{i}].time", "h", minimum=0, maximum=MAX_TIME_H)
            steps.append((t, _number(item[1], f"{name}[{i}].level", 0, high)))
        return tuple(sorted(steps))
    raise InputError(name, f"must be a number within 0-{high:g} ({unit}) or a list of (time, level) steps",
                     got=repr(value)[:60])  # fmt: skip
