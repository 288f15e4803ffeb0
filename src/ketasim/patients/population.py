"""Virtual patients in numbers: covariates, biotypes, symptom profiles and inter-individual variability.

Each patient draws from its own random stream, ``SeedSequence(seed).spawn(n)[i]``, so patient *i* is the
same whatever ``n``, chunk size or worker count.

**The ``trd`` cohort** stands for a treatment-resistant depression trial population: adults (18-75 y)
with a major depressive episode that has not responded to at least two adequate antidepressant trials,
MADRS >= 20 at entry. In the model that means depression driven by chronic stress (load around 1), a
biotype mix depleted of mostly-monoaminergic depressions (those are the ones monoaminergic drugs would
have helped), and covariates of the pooled esketamine development programme (Perez-Ruixo 2021).
``mdd`` is an unselected major-depression cohort (before any treatment failure): more of its
depressions are mostly monoaminergic; ``ketasim.trials.resistance.enrich_trd`` turns it into a TRD cohort the
way STAR*D-like sequences do, by simulating an adequate SSRI trial and keeping the non-remitters.
``healthy`` draws the same covariates with no stress and no depression (for PK studies).

>>> pop = Population.sample(5, seed=1)
>>> pop[2] == Population.sample(50, seed=1)[2]
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.checks import as_list, check_memory, is_number, whole_number
from ketasim._internal.streams import substream
from ketasim.errors import InputError
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients.patient import BIOTYPES, ITEMS, Patient

__all__ = ["COHORTS", "MAX_SEED", "NETWORK_VARIABILITY", "PD_VARIABILITY", "SWALLOWED_ABSORPTION", "Population"]

COHORTS = ("trd", "trd_prior", "mdd", "healthy")
# Pharmacodynamic parameters given log-normal variability with the population's default PD CV.
PD_VARIABILITY = (
    "eef2_bdnf_gain",
    "ampa_bdnf_gain",
    "protein_formation_gain",
    "acute_gain_ampa",
    "acute_gain_protein",
    "interneuron_sensitivity",
)
# Symptom-network traits given log-normal variability with their own CVs (``iiv_<name>_cv``).
NETWORK_VARIABILITY = ("network_stiffness", "symptom_threshold", "rumination_coupling")
# Fear-extinction traits (trauma layer) with the log-normal CV ``iiv_extinction_cv``.
TRAUMA_VARIABILITY = ("extinction_baseline", "pfc_extinction_exponent")
#: The absorption rates of a swallowed dose, which share one random effect per patient.
SWALLOWED_ABSORPTION = ("esk_ka_oral", "esk_ka_swallowed", "rac_ka_oral")
#: Seeds are 63-bit (what numpy and the results store hold).
MAX_SEED = 2**63 - 1
#: About what one sampled patient occupies in memory (covariates and some 60 random effects), bytes.
PATIENT_BYTES = 8_000
PATIENT_FIELDS = (
    "weight", "sex", "age", "cyp2b6", "ancestry", "madrs_baseline", "stress_load", "supportive_environment",
    "psychotherapy", "alcohol_use_disorder", "family_history_alcohol", "symptom_profile", "biotype", "noise_seed",
    "comedication", "drinks_per_day", "ptsd_baseline",
)  # fmt: skip


@dataclass(frozen=True)
class Population:
    """An immutable list of patients with the seed and cohort that produced it."""

    patients: tuple[Patient, ...]
    seed: int | None = None
    cohort: str = "custom"
    #: For a population drawn from a calibrated virtual population: per patient (rows), the weight of his
    #: plausible patient in every ensemble member relative to the member he was drawn with (columns). A
    #: statistic reweighted by column k is the trial as ensemble member k would have it (model uncertainty).
    member_ratios: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        patients = tuple(as_list(self.patients, "patients", "ketasim.Patient"))
        for i, p in enumerate(patients):
            if not isinstance(p, Patient):
                raise InputError(f"patients[{i}]", "must be a ketasim.Patient", got=type(p).__name__)
        object.__setattr__(self, "patients", patients)
        if self.seed is not None:
            whole_number(self.seed, "seed", 0, MAX_SEED)
        if not isinstance(self.cohort, str):
            raise InputError("cohort", "must be a string", got=type(self.cohort).__name__)

    def __len__(self) -> int:
        return len(self.patients)

    def __iter__(self) -> Iterator[Patient]:
        return iter(self.patients)

    def __getitem__(self, i: int) -> Patient:
        return self.patients[i]

    @classmethod
    def sample(
        cls,
        n: int,
        seed: int,
        cohort: str = "trd",
        *,
        params: ParameterSet | None = None,
        ensemble_member: int = 0,
        include: Mapping[str, Any] | None = None,
        **overrides: object,
    ) -> Population:
        """Draw ``n`` patients. ``overrides`` set Patient fields: one value for everyone (``weight="70 kg"``)
        or a distribution drawn per patient from his own stream (``age={"normal": [70, 5], "within": [65,
        90]}``; see ``draw_override``). ``include`` keeps only candidates that meet every criterion (a field
        within ``[low, high]``, or one of a list of values: ``{"age": [65, 90], "sex": ["female"]}``): the
        trial's inclusion criteria; patient i is then the i-th accepted candidate, whatever ``n``.

        ``cohort="trd"`` draws from the calibrated virtual population (``patients/vpop/trd.parquet``:
        plausible patients with weights fitted to the calibration trials); ``ensemble_member`` k > 0
        draws with the k-th weight set fitted to redrawn published values (parameter uncertainty).
        ``trd_prior`` draws the same cohort from its prior distributions, before calibration.
        """
        whole_number(n, "n", 1, 10_000_000)
        whole_number(seed, "seed", 0, MAX_SEED)
        check_memory("n", n * PATIENT_BYTES, f"{n:,} patients", "sample fewer")
        if cohort not in COHORTS:
            raise InputError("cohort", f"must be one of: {', '.join(COHORTS)}", got=repr(cohort))
        for key in overrides:
            if key not in PATIENT_FIELDS:
                raise InputError(key, f"is not a Patient field; overridable: {', '.join(PATIENT_FIELDS)}")
        criteria = _criteria(include)
        p = params or default_parameters()
        table = vpop_table(cohort) if cohort == "trd" else None
        base = "trd" if cohort == "trd_prior" else cohort
        if table is not None:
            frame, weights = table
            whole_number(ensemble_member, "ensemble_member", 0, weights.shape[0] - 1)
            cdf = np.cumsum(weights[ensemble_member])

        def candidate(j: int) -> tuple[Patient, int]:
            child = np.random.SeedSequence(seed, spawn_key=(j,))  # = SeedSequence(seed).spawn(j + 1)[j]
            fixed = _drawn_overrides(child, overrides)
            if table is None:
                return draw_patient(child, base, p, fixed), -1
            row = _vpop_row(cdf, child)
            return _from_vpop(frame, row, child, fixed), row

        if not criteria:
            drawn = [candidate(j) for j in range(n)]
        else:
            drawn, j = [], 0
            while len(drawn) < n:
                if j >= 1000 * n + 10_000:
                    raise InputError("include", f"only {len(drawn)} of {j:,} candidates met the inclusion "
                                     "criteria; widen them or change the cohort")  # fmt: skip
                pt, row = candidate(j)
                if all(ok(pt) for ok in criteria):
                    drawn.append((pt, row))
                j += 1
        patients = tuple(pt for pt, _ in drawn)
        if table is not None:
            rows = [row for _, row in drawn]
            ratios = (weights[:, rows] / weights[ensemble_member, rows]).T
            return cls(patients, seed, cohort, ratios)
        return cls(patients, seed, cohort)

    def frame(self) -> pd.DataFrame:
        """Covariates and depression characteristics, one row per patient."""
        rows = []
        for i, pt in enumerate(self.patients):
            rows.append(
                {
                    "patient": i,
                    "weight_kg": pt.weight_kg,
                    "sex": pt.sex,
                    "age_y": pt.age_y,
                    "cyp2b6": pt.cyp2b6,
                    "ancestry": pt.ancestry,
                    "comedication": "+".join(pt.comedication),  # "" without
                    "alcohol_use_disorder": pt.alcohol_use_disorder,
                    "family_history_alcohol": pt.family_history_alcohol,
                    "drinks_per_day": pt.drinks_per_day,
                    "ptsd_baseline": pt.ptsd_baseline,
                    "biotype": pt.biotype,
                    "symptom_profile": pt.symptom_profile,
                    "stress_load": pt.stress_load,
                    "madrs_baseline": pt.madrs_baseline,
                }
            )
        return pd.DataFrame(rows)


#: Patient attributes that ``include`` criteria read, by the name used to set them.
_ATTRIBUTE = {"weight": "weight_kg", "age": "age_y"}
_DISTRIBUTIONS = ("normal", "uniform", "lognormal", "choice")


def _criteria(include: Mapping[str, Any] | None) -> list[Callable[[Patient], bool]]:
    if include is None:
        return []
    if not isinstance(include, Mapping):
        raise InputError("include", "must be a mapping from a Patient field to [low, high] or a list of values")
    out: list[Callable[[Patient], bool]] = []
    for key, rule in include.items():
        if key not in PATIENT_FIELDS or key in ("noise_seed", "comedication", "psychotherapy"):
            raise InputError(f"include.{key}", "is not a Patient field a criterion can read")
        attr = _ATTRIBUTE.get(key, key)
        if (isinstance(rule, list | tuple) and len(rule) == 2 and all(is_number(x) for x in rule)
                and rule[0] <= rule[1]):  # fmt: skip
            lo, hi = float(rule[0]), float(rule[1])
            out.append(partial(_within, attr, lo, hi))
        elif isinstance(rule, list | tuple) and rule and not all(is_number(x) for x in rule):
            allowed = set(rule)
            out.append(partial(_one_of, attr, allowed))
        else:
            raise InputError(f"include.{key}", "must be [low, high] (numbers, low <= high) or a list of allowed "
                             "values", got=repr(rule)[:60])  # fmt: skip
    return out


def _within(attr: str, lo: float, hi: float, pt: Patient) -> bool:
    return lo <= float(getattr(pt, attr)) <= hi


def _one_of(attr: str, allowed: set[Any], pt: Patient) -> bool:
    return getattr(pt, attr) in allowed


def draw_override(spec: Mapping[str, Any], rng: np.random.Generator, field: str) -> object:
    """One value of a distribution override: ``{"normal": [mean, sd]}``, ``{"uniform": [low, high]}``,
    ``{"lognormal": [median, cv]}`` or ``{"choice": {value: probability, ...}}``, optionally with
    ``"within": [low, high]`` (truncation: drawn again until inside). Numbers are in the field's own unit
    (years, kg, MADRS points).

    >>> rng = np.random.default_rng(0)
    >>> all(65 <= draw_override({"normal": [70, 5], "within": [65, 90]}, rng, "age") <= 90 for _ in range(200))
    True
    """
    kinds = [k for k in spec if k in _DISTRIBUTIONS]
    extra = [k for k in spec if k not in (*_DISTRIBUTIONS, "within")]
    if len(kinds) != 1 or extra:
        raise InputError(field, f"a distribution is one of {', '.join(_DISTRIBUTIONS)} (optionally with within)",
                         got=repr(dict(spec))[:80])  # fmt: skip
    kind, args = kinds[0], spec[kinds[0]]
    within = spec.get("within")
    if within is not None and not (isinstance(within, list | tuple) and len(within) == 2
                                   and all(is_number(x) for x in within) and within[0] <= within[1]):  # fmt: skip
        raise InputError(f"{field}.within", "must be [low, high]", got=repr(within)[:60])
    if kind == "choice":
        if not isinstance(args, Mapping) or not args or not all(is_number(w) and w >= 0 for w in args.values()):
            raise InputError(f"{field}.choice", "must map values to probabilities", got=repr(args)[:60])
        keys, w = list(args), np.array(list(args.values()), float)
        if w.sum() <= 0:
            raise InputError(f"{field}.choice", "the probabilities must not all be zero")
        return keys[int(rng.choice(len(keys), p=w / w.sum()))]
    if not (isinstance(args, list | tuple) and len(args) == 2 and all(is_number(x) for x in args)):
        raise InputError(f"{field}.{kind}", "must be two numbers", got=repr(args)[:60])
    a, b = float(args[0]), float(args[1])
    for _ in range(1000):
        if kind == "normal":
            x = rng.normal(a, b)
        elif kind == "uniform":
            x = rng.uniform(a, b)
        else:
            x = _lognormal(rng, a, b)
        if within is None or within[0] <= x <= within[1]:
            return float(x)
    raise InputError(f"{field}.within", "the distribution almost never falls within these bounds", got=repr(within))


def _drawn_overrides(child: np.random.SeedSequence, overrides: Mapping[str, object]) -> dict[str, object]:
    """Overrides with every distribution drawn for this patient, each field from its own stream of the
    patient's seed (derived without spawning, so his other draws are unchanged)."""
    out: dict[str, object] = {}
    for k, (key, spec) in enumerate(sorted(overrides.items())):
        if isinstance(spec, Mapping):
            stream = substream(child, 0x0D15, k)
            out[key] = draw_override(spec, np.random.default_rng(stream), key)
        else:
            out[key] = spec
    return out


@cache
def vpop_table(cohort: str) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The shipped calibrated virtual population of ``cohort`` (patients, weights (members, rows)), or None."""
    ref = resources.files("ketasim.patients").joinpath("vpop", f"{cohort}.parquet")
    if not ref.is_file():
        return None
    with resources.as_file(ref) as path:
        frame = pd.read_parquet(path)
    members = sorted((c for c in frame.columns if c[0] == "w" and c[1:].isdigit()), key=lambda c: int(c[1:]))
    return frame, frame[members].to_numpy(float).T


def _vpop_row(cdf: np.ndarray, child: np.random.SeedSequence) -> int:
    """The plausible patient drawn, by weight, from the patient's own stream."""
    u = np.random.default_rng(child).random() * cdf[-1]
    return int(min(np.searchsorted(cdf, u, side="right"), cdf.size - 1))


def _from_vpop(frame: pd.DataFrame, index: int, child: np.random.SeedSequence,
               overrides: Mapping[str, object]) -> Patient:  # fmt: skip
    """Plausible patient ``index`` of the virtual population with his own mood-fluctuation seed (so the
    same plausible patient drawn twice does not repeat his days)."""
    row = frame.iloc[index]
    effects = {c[3:]: float(row[c]) for c in frame.columns if c.startswith("re:") and np.isfinite(row[c])}
    fields: dict[str, Any] = {k: row[k] for k in ("weight", "sex", "age", "cyp2b6", "ancestry", "madrs_baseline",
                                                  "stress_load", "supportive_environment", "alcohol_use_disorder",
                                                  "family_history_alcohol", "symptom_profile", "biotype")}  # fmt: skip
    fields = {k: (v.item() if hasattr(v, "item") else v) for k, v in fields.items()}
    fields["random_effects"] = effects
    fields["noise_seed"] = int(np.random.default_rng(child.spawn(1)[0]).integers(2**63 - 1))
    fields.update(overrides)
    return Patient(**fields)


def _lognormal(rng: np.random.Generator, median: float, cv: float) -> float:
    return float(median * np.exp(rng.normal(0.0, np.sqrt(np.log1p(cv * cv)))))


def draw_patient(
    child: np.random.SeedSequence, cohort: str, p: ParameterSet, overrides: Mapping[str, object]
) -> Patient:
    """One patient from its own stream; the order of draws is fixed, so streams stay comparable."""
    return Patient(**draw_fields(child, cohort, p, overrides))


def draw_fields(
    child: np.random.SeedSequence, cohort: str, p: ParameterSet, overrides: Mapping[str, object]
) -> dict[str, Any]:
    """The constructor arguments of ``draw_patient``'s patient (for a caller that changes some of them
    before the one construction, e.g. the virtual population's wider spread)."""
    rng = np.random.default_rng(child)
    v = p.value
    female = rng.random() < v("female_fraction")
    age = float(np.clip(rng.normal(v("age_median", "year"), v("age_sd", "year")), 18, 75))
    median_w = v("weight_median_female", "kg") if female else v("weight_median_male", "kg")
    weight = float(np.clip(_lognormal(rng, median_w, v("weight_cv")), 40, 170))
    u_anc = rng.random()
    asian_share = v("asian_fraction")
    ancestry = "non_asian" if u_anc >= asian_share else ("japanese" if u_anc < asian_share * 72 / 112 else "asian")
    q = v("cyp2b6_star6_frequency_asian") if ancestry != "non_asian" else v("cyp2b6_star6_frequency")
    n_star6 = int(rng.random() < q) + int(rng.random() < q)
    cyp = ("*1/*1", "*1/*6", "*6/*6")[n_star6]
    aud = bool(rng.random() < v("aud_history_fraction"))
    fh = bool(rng.random() < v("family_history_alcohol_fraction"))
    prefix = "mdd_biotype_share" if cohort == "mdd" else "biotype_share"
    shares = np.array([v(f"{prefix}_{b}") for b in BIOTYPES])
    biotype = BIOTYPES[int(rng.choice(len(BIOTYPES), p=shares / shares.sum()))]
    profile = float(np.clip(rng.normal(0.0, 0.5), -1, 1))
    stress = float(np.clip(_lognormal(rng, 1.0, v("stress_cv")), 0.2, 3.0))
    mean = v("mdd_madrs_baseline_mean") if cohort == "mdd" else v("madrs_baseline_mean")
    madrs = float(np.clip(rng.normal(mean, v("madrs_baseline_sd")), v("madrs_entry_minimum"), 60))
    effects: dict[str, float] = {}
    for name, cv in p.iiv():  # PK variability: every parameter with a published iiv_cv
        effects[name] = _lognormal(rng, 1.0, cv)
    pd_cv = v("iiv_pd_cv")
    for name in PD_VARIABILITY:
        effects[name] = _lognormal(rng, 1.0, pd_cv)
    effects["placebo_session"] = _lognormal(rng, 1.0, v("iiv_placebo_cv"))
    effects["cadss_ec50"] = _lognormal(rng, 1.0, v("iiv_cadss_cv"))
    effects["sbp_emax"] = _lognormal(rng, 1.0, v("iiv_sbp_cv"))
    for name in NETWORK_VARIABILITY:  # the symptom network: how stiff, how deep, how ruminative
        effects[name] = _lognormal(rng, 1.0, v(f"iiv_{name}_cv"))
    for item in ITEMS:  # and which items stay active in recovery (residual symptoms)
        effects[f"item_threshold_{item}"] = _lognormal(rng, 1.0, v("iiv_item_threshold_cv"))
    for name in TRAUMA_VARIABILITY:  # drawn after the others, so that they are what they were before PTSD
        effects[name] = _lognormal(rng, 1.0, v("iiv_extinction_cv"))
    # drawn last for the same reason: how fast a swallowed dose is absorbed (Perez-Ruixo 2021 estimated
    # one CV for the oral solution and the swallowed part of a nasal dose), the same gut for both enantiomers
    swallowed = _lognormal(rng, 1.0, v("iiv_ka_swallowed_cv"))
    for name in SWALLOWED_ABSORPTION:
        effects[name] = swallowed
    if cohort == "healthy":
        stress, madrs = 0.0, 0.0
    fields: dict[str, Any] = {
        "weight": weight,
        "sex": "female" if female else "male",
        "age": age,
        "cyp2b6": cyp,
        "ancestry": ancestry,
        "madrs_baseline": madrs,
        "stress_load": stress,
        "alcohol_use_disorder": aud,
        "family_history_alcohol": fh,
        "symptom_profile": profile,
        "biotype": biotype,
        "random_effects": effects,
        # the day-to-day mood fluctuation: its own stream, so the draws above are unchanged by it
        "noise_seed": int(np.random.default_rng(child.spawn(1)[0]).integers(2**63 - 1)),
    }
    fields.update(overrides)
    return fields
