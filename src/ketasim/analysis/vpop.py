"""A calibrated virtual population: plausible patients, weighted so that trials come out as published.

The established QSP method (Allen et al. 2016, CPT Pharmacometrics Syst Pharmacol 5:140; Rieger et al.
2018, Prog Biophys Mol Biol 139:15), in three steps:

1. **Plausible patients.** Covariates and depression as the ``trd`` cohort draws them, and every
   uncertain per-patient parameter (network stiffness and threshold, rumination, drive gain, placebo
   responsiveness, acute and structural gains, time constants, ...) drawn log-uniformly over a wide
   range around its registry value. A patient is plausible if his network has a depressed state at
   his starting drive (mean item activation >= 0.5) and his baseline MADRS meets the entry minimum.
2. **Simulated calibration trials.** Every plausible patient goes through every arm of every
   calibration study (``reference.toml`` rows marked ``calibrated``), measured as that trial measured:
   screening and entry criteria, ratings with noise, the study's visits; ``noise_replicates`` times,
   each with a new mood path and new rating noise (with one life per patient the weights learn the
   luck of that life: outcomes drawn again from the weighted traits then regress away from the targets).
3. **Weights.** Maximum-entropy weights w_i ~ exp(phi_i . lambda) over the plausible patients, where
   phi_i are the patient's traits (the log of every varied parameter and its square, biotype, baseline
   severity, stress: never his noise, so a patient drawn again keeps the calibration), with lambda
   chosen to minimise the chi-square of every calibration statistic (means, SDs through
   effect sizes, response and remission rates, in every arm and at every visit) against its published
   value and standard error, plus a penalty on the distance from equal weights (so that no more is
   changed than the data ask for). Parameter uncertainty: ``ensemble`` more weight sets, each fitted
   to the published values redrawn from their own uncertainty; a prediction made with every member
   carries a prediction interval from what the calibration data leave open.

The result (the plausible patients that carry weight, the weights, the statistics reached, the
effective sample size and the provenance) is written as ``patients/vpop/<cohort>.parquet`` plus a
JSON provenance file; ``Population.sample(cohort="trd")`` then draws patients from it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import minimize
from scipy.special import expit

from ketasim._internal.checks import read_toml_config
from ketasim._internal.files import atomic_path, atomic_write_text
from ketasim._internal.meta import VERSION
from ketasim.analysis.validation import observed_se, reference_studies, study_endpoints, study_regimens
from ketasim.errors import InputError
from ketasim.model import assemble
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import BIOTYPES, ITEMS, NETWORK_VARIABILITY, Patient
from ketasim.patients.population import draw_fields
from ketasim.trials.runner import TrialChunk, run_chunk
from ketasim.units import parse_quantity

__all__ = [
    "Outcomes",
    "VPopConfig",
    "VPopResult",
    "calibrate_population",
    "fit_weights",
    "load_config",
    "outcome_tables",
    "plausible_patients",
    "statistics",
    "trait_features",
    "write_vpop",
]

#: Fractions: drawn on the logit scale (the spread factor applies to the odds), so they stay below 1.
_FRACTIONS = {"direct_share", "placebo_max_relief", "acute_max_relief", "ssri_max_relief"}
#: Per-patient factors that are not registry parameters: ``synaptic_share`` moves the biotype's share of
#: the drive carried by synapse loss (the model caps it below 1).
TRAITS = {"synaptic_share"}


class VPopConfig(BaseModel):
    """``calibration/vpop-trd.toml``: what to vary, how widely, and what to match."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    cohort: str = "trd"
    seed: int = Field(default=20261206, ge=0)
    n_plausible: int = Field(default=20000, ge=50, le=1_000_000)
    # parameter -> factor f: log-uniform over [value/f, value*f] (a fraction: its odds)
    spread: dict[str, float] = Field(min_length=1)
    studies: list[str] = Field(min_length=1)
    ensemble: int = Field(default=20, ge=0, le=200)
    entropy_weight: float = Field(default=0.02, ge=0)
    min_entry: float = Field(default=20, ge=0, le=60)
    chunk_size: int = Field(default=500, ge=10)
    # each plausible patient lives this many independent sets of days (mood path and rating noise), so
    # the weights fit what a patient's traits predict, not the luck of one realisation
    noise_replicates: int = Field(default=1, ge=1, le=20)


def load_config(path: str | Path) -> VPopConfig:
    cfg = read_toml_config(path, VPopConfig)
    defaults = default_parameters()
    for name, factor in cfg.spread.items():
        if name not in defaults and name not in TRAITS:
            raise InputError(
                f"spread.{name}", f"unknown parameter (see `ketasim params`) or trait ({', '.join(TRAITS)})"
            )
        if not 1.0 <= factor <= 20.0:
            raise InputError(f"spread.{name}", "must be a factor within 1-20", got=factor)
    known = {s["id"] for s in reference_studies()}
    for i, sid in enumerate(cfg.studies):
        if sid not in known:
            raise InputError(f"studies[{i}]", "unknown reference study (see `ketasim validate`)", got=sid)
    return cfg


# ------------------------------------------------------------------------------ plausible patients


def plausible_patients(cfg: VPopConfig, params: ParameterSet | None = None) -> list[Patient]:
    """``cfg.n_plausible`` plausible patients (see the module doc), reproducible from ``cfg.seed``."""
    p = params or default_parameters()
    out: list[Patient] = []
    batch = 0
    while len(out) < cfg.n_plausible:
        children = np.random.SeedSequence([cfg.seed, batch]).spawn(max(256, cfg.n_plausible // 4))
        candidates = [_candidate(child, cfg, p) for child in children]
        keep = _plausible(candidates, p, cfg.min_entry)
        out.extend(c for c, k in zip(candidates, keep, strict=True) if k)
        batch += 1
        if batch > 200:
            raise InputError("spread", "fewer than 1 in 50 candidates is plausible; narrow the spread")
    return out[: cfg.n_plausible]


def _candidate(child: np.random.SeedSequence, cfg: VPopConfig, params: ParameterSet) -> Patient:
    fields = draw_fields(child, cfg.cohort, params, {})
    rng = np.random.default_rng(child.spawn(2)[1])
    effects = dict(fields["random_effects"])
    for name, factor in cfg.spread.items():
        u = rng.uniform(-math.log(factor), math.log(factor))
        if name in _FRACTIONS:  # a fraction varies on the logit scale, so it stays within (0, 1) without piling up
            v = params.value(name)
            effects[name] = float(expit(math.log(v / (1 - v)) + u) / v)
        else:
            effects[name] = float(np.exp(u))
    return Patient(**{**fields, "random_effects": effects})  # (constructed once: drawing is per-patient Python)


def _with(patient: Patient, **changes: Any) -> Patient:
    fields = patient_fields(patient)
    fields.update(changes)
    return Patient(**fields)


def patient_fields(p: Patient) -> dict[str, Any]:
    """The constructor arguments that rebuild ``p``."""
    return {
        "weight": p.weight_kg, "sex": p.sex, "age": p.age_y, "cyp2b6": p.cyp2b6, "ancestry": p.ancestry,
        "madrs_baseline": p.madrs_baseline, "stress_load": [list(s) for s in p.stress_steps],
        "supportive_environment": p.supportive_environment, "psychotherapy": list(p.psychotherapy_h),
        "alcohol_use_disorder": p.alcohol_use_disorder, "family_history_alcohol": p.family_history_alcohol,
        "symptom_profile": p.symptom_profile, "biotype": p.biotype, "random_effects": dict(p.random_effects),
        "noise_seed": p.noise_seed, "comedication": list(p.comedication),
    }  # fmt: skip


def _plausible(patients: Sequence[Patient], params: ParameterSet, min_entry: float) -> np.ndarray:
    # only the model's constants are read: no mood path to draw (a quarter of the drawing time)
    model = assemble(params, patients, fluctuation=False)
    start = np.mean([model.constants[f"start_{item}"] for item in ITEMS], axis=0)
    baseline = np.array([p.madrs_baseline for p in patients])
    return (start >= 0.5) & (baseline >= min_entry)


# ------------------------------------------------------------------------------ outcomes


def outcome_tables(
    patients: Sequence[Patient],
    studies: Sequence[Mapping[str, Any]],
    params: ParameterSet,
    seed: int,
    chunk_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
    replicates: int = 1,
) -> dict[tuple[str, str], pd.DataFrame]:
    """Per-patient endpoints of every plausible patient in every arm of every study: {(study, arm): frame}.
    With ``replicates`` > 1 each patient is simulated again with a new mood path and new rating noise;
    the frame holds replicate r of patient i in row r * len(patients) + i."""
    from ketasim.model import Hypotheses

    n = len(patients)
    lives = []
    for r in range(replicates):
        if r == 0:
            lives.append((list(patients), np.random.SeedSequence([seed, 0x7015E]).spawn(n)))
            continue
        mood = np.random.SeedSequence([seed, 0x5EED, r]).spawn(n)
        again = [
            _with(pt, noise_seed=int(np.random.default_rng(m).integers(2**63 - 1)))
            for pt, m in zip(patients, mood, strict=True)
        ]
        lives.append((again, np.random.SeedSequence([seed, 0x7015E, r]).spawn(n)))
    jobs = [(s, arm, reg) for s in studies for arm, reg in study_regimens(s).items()]
    out: dict[tuple[str, str], pd.DataFrame] = {}
    done = 0
    for study, arm, regimen in jobs:
        ep = study_endpoints(study)
        duration = parse_quantity(study["duration"], "duration", "h", strictly_positive=True)
        frames = []
        for r, (pts, noise) in enumerate(lives):
            for s in range(0, n, chunk_size):
                chunk = TrialChunk(r * n + s, tuple(pts[s : s + chunk_size]), (arm,) * len(pts[s : s + chunk_size]),
                                   tuple(noise[s : s + chunk_size]), {arm: regimen}, params, Hypotheses(), duration,
                                   duration, ep)  # fmt: skip
                frames.append(run_chunk(chunk)[0])
            done += 1
            if progress:
                progress(done, len(jobs) * replicates)
        out[(study["id"], arm)] = pd.concat(frames, ignore_index=True)
    return out


# ------------------------------------------------------------------------------ statistics and weights


@dataclass(frozen=True)
class Target:
    """One calibration statistic: ``kind`` mean / rate / mean_difference / hedges_g of ``column``."""

    key: str
    study: str
    arm: str
    control: str | None
    kind: str
    column: str
    observed: float
    se: float


def targets(studies: Sequence[Mapping[str, Any]]) -> list[Target]:
    """The calibration rows of ``studies`` as statistics of the outcome tables."""
    out = []
    for s in studies:
        for r in s["row"]:
            if not r.get("calibrated") or "arm" not in r:
                continue
            q = r["quantity"]
            kind, col = (q.split(":", 1) if ":" in q else ("rate" if q.startswith(("response_", "remission_"))
                                                             else "mean", q))  # fmt: skip
            se = max(observed_se(r), float(r.get("min_tolerance", 0.0)) / 1.959964, 1e-3)
            key = ":".join([s["id"], q, r["arm"]])
            out.append(Target(key, s["id"], r["arm"], s.get("control"), kind, col, float(r["observed"]), se))
    return out


class Outcomes:
    """The outcome tables as arrays: the analysis-set flag of each (study, arm) and each column."""

    def __init__(self, tables: Mapping[tuple[str, str], pd.DataFrame], replicates: int = 1) -> None:
        self.replicates = replicates  # rows are replicate-major: row r * n + i is patient i's r-th life
        self.included = {k: f["included"].to_numpy(bool) for k, f in tables.items()}
        self.columns = {(k[0], k[1], c): f[c].to_numpy(float) for k, f in tables.items() for c in f.columns
                        if c not in ("patient", "arm")}  # fmt: skip

    def moments_and_gradients(
        self, study: str, arm: str, column: str, w: np.ndarray
    ) -> tuple[float, float, np.ndarray, np.ndarray]:
        """Weighted mean and variance over the analysis set (every replicate of a patient carries his
        weight), and their gradients with respect to w."""
        inc = self.included[(study, arm)]
        ww = np.tile(w, self.replicates) * inc
        total = ww.sum()
        x = self.columns[(study, arm, column)]
        mean = float((ww * x).sum() / total)
        dev2 = (x - mean) ** 2
        var = float((ww * dev2).sum() / total)
        shape = (self.replicates, w.size)
        dmean = (inc * (x - mean) / total).reshape(shape).sum(axis=0)
        dvar = (inc * (dev2 - var) / total).reshape(shape).sum(axis=0)
        return mean, var, dmean, dvar


def statistics(outcomes: Outcomes, tgts: Sequence[Target], w: np.ndarray) -> np.ndarray:
    """Each target's statistic in the population weighted by ``w`` (over the plausible patients)."""
    return np.array([_stat(outcomes, t, w)[0] for t in tgts])


def _stat(o: Outcomes, t: Target, w: np.ndarray) -> tuple[float, np.ndarray]:
    """One statistic and its gradient with respect to the weights (exact, so the fit converges)."""
    ma, va, dma, dva = o.moments_and_gradients(t.study, t.arm, t.column, w)
    if t.kind in ("mean", "rate"):
        return ma, dma
    mc, vc, dmc, dvc = o.moments_and_gradients(t.study, str(t.control), t.column, w)
    if t.kind == "mean_difference":
        return ma - mc, dma - dmc
    if t.kind == "hedges_g":
        pooled = max((va + vc) / 2, 1e-12)
        g = (ma - mc) / math.sqrt(pooled)
        return g, (dma - dmc) / math.sqrt(pooled) - g / (2 * pooled) * (dva + dvc) / 2
    raise InputError("quantity", f"cannot calibrate a population on {t.kind!r}")


def trait_features(patients: Sequence[Patient], cfg: VPopConfig) -> np.ndarray:
    """Per-patient traits the weights may tilt (standardised): each varied parameter's log-factor and its
    square, the network traits, the biotype, baseline MADRS and stress. Weights depend on traits only,
    never on one rating's noise or one mood path, so a patient drawn again with new noise keeps the
    calibration."""
    names = list(dict.fromkeys([*cfg.spread, *NETWORK_VARIABILITY]))
    cols = []
    for name in names:
        f = np.log([p.factor(name) for p in patients])
        cols += [f, f * f]
    for b in BIOTYPES[1:]:
        cols.append(np.array([p.biotype == b for p in patients], float))
    cols.append(np.array([p.madrs_baseline for p in patients]))
    cols.append(np.log([max(p.stress_load, 1e-3) for p in patients]))
    cols.append(np.array([p.symptom_profile for p in patients]))
    phi = np.array(cols).T
    sd = phi.std(axis=0)
    return (phi - phi.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def fit_weights(
    phi: np.ndarray,
    outcomes: Outcomes,
    tgts: Sequence[Target],
    observed: np.ndarray,
    se: np.ndarray,
    entropy_weight: float,
    lam0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-entropy weights w ~ exp(phi lambda): minimise sum(((stat(w) - observed) / se)^2) plus
    ``entropy_weight`` x n_targets x KL(w || uniform), with the exact gradient in lambda (L-BFGS with
    finite differences stops early on this objective). Returns (weights, lambda)."""
    n = phi.shape[0]
    penalty = entropy_weight * len(observed)

    def weights(lam: np.ndarray) -> np.ndarray:
        z = phi @ lam
        z -= z.max()
        e = np.exp(z)
        return e / e.sum()

    def objective(lam: np.ndarray) -> tuple[float, np.ndarray]:
        w = weights(lam)
        logw = np.log(np.maximum(w * n, 1e-300))
        value = penalty * float(np.sum(w * logw))
        grad_w = penalty * (logw + 1.0)
        for j, t in enumerate(tgts):
            s, ds = _stat(outcomes, t, w)
            r = (s - observed[j]) / se[j]
            value += r * r
            grad_w = grad_w + (2 * r / se[j]) * ds
        grad_z = w * (grad_w - float(np.dot(w, grad_w)))  # through the softmax
        return value, phi.T @ grad_z

    x0 = np.zeros(phi.shape[1]) if lam0 is None else lam0
    sol = minimize(objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-8})
    return weights(sol.x), sol.x


@dataclass(frozen=True)
class VPopResult:
    config: VPopConfig
    patients: list[Patient]
    weights: np.ndarray  # (1 + ensemble, n_plausible): member 0 fitted to the published values
    targets: list[Target]
    achieved: np.ndarray  # (1 + ensemble, n_targets)
    prior: np.ndarray  # (n_targets,) the statistics with equal weights

    @property
    def ess(self) -> float:
        """Effective number of patients of the calibrated weights (1 / sum w^2)."""
        return float(1.0 / np.sum(self.weights[0] ** 2))

    def report(self) -> list[dict[str, Any]]:
        rows = []
        for j, t in enumerate(self.targets):
            ens = self.achieved[1:, j] if self.achieved.shape[0] > 1 else self.achieved[:1, j]
            rows.append({
                "target": t.key, "observed": t.observed, "se": t.se, "prior": float(self.prior[j]),
                "calibrated": float(self.achieved[0, j]), "ensemble_lower": float(np.percentile(ens, 2.5)),
                "ensemble_upper": float(np.percentile(ens, 97.5)),
                "within_2se": bool(abs(self.achieved[0, j] - t.observed) <= 2 * t.se),
            })  # fmt: skip
        return rows


def calibrate_population(
    cfg: VPopConfig,
    params: ParameterSet | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> VPopResult:
    """Plausible patients, their calibration-trial outcomes, and the fitted weights (see the module doc)."""
    p = params or default_parameters()
    studies = [s for s in reference_studies() if s["id"] in set(cfg.studies)]
    patients = plausible_patients(cfg, p)
    tables = outcome_tables(patients, studies, p, cfg.seed, cfg.chunk_size,
                            progress=(lambda i, n: progress("trials", i, n)) if progress else None,
                            replicates=cfg.noise_replicates)  # fmt: skip
    tgts = targets(studies)
    outcomes = Outcomes(tables, cfg.noise_replicates)
    phi = trait_features(patients, cfg)
    observed = np.array([t.observed for t in tgts])
    se = np.array([t.se for t in tgts])

    def stat(w: np.ndarray) -> np.ndarray:
        return statistics(outcomes, tgts, w)

    uniform = np.full(len(patients), 1.0 / len(patients))
    w0, lam = fit_weights(phi, outcomes, tgts, observed, se, cfg.entropy_weight)
    members = [w0]
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0xE75]))
    for b in range(cfg.ensemble):
        drawn = observed + se * rng.standard_normal(se.size)
        members.append(fit_weights(phi, outcomes, tgts, drawn, se, cfg.entropy_weight, lam)[0])
        if progress:
            progress("ensemble", b + 1, cfg.ensemble)
    weights = np.array(members)
    achieved = np.array([stat(w) for w in weights])
    return VPopResult(cfg, patients, weights, tgts, achieved, stat(uniform))


# ------------------------------------------------------------------------------ writing


def write_vpop(result: VPopResult, folder: str | Path, config_text: str = "") -> Path:
    """``<folder>/<cohort>.parquet`` (patients with weight, weight columns w0...) and ``<cohort>.json``
    (provenance: config, seed, code version, targets reached, effective sample size)."""
    folder = Path(folder)
    cohort = result.config.cohort
    # patients weighing under 1% of the average in every member are dropped (their mass is reported)
    n = result.weights.shape[1]
    keep = result.weights.max(axis=0) * n >= 0.01
    rows = []
    for i in np.nonzero(keep)[0]:
        f = patient_fields(result.patients[i])
        row = {k: v for k, v in f.items() if k not in ("random_effects", "stress_load", "psychotherapy")}
        row["stress_load"] = float(result.patients[i].stress_load)
        row.update({f"re:{k}": v for k, v in f["random_effects"].items()})
        row.update({f"w{b}": float(result.weights[b, i]) for b in range(result.weights.shape[0])})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for b in range(result.weights.shape[0]):  # renormalise over the patients kept
        frame[f"w{b}"] /= frame[f"w{b}"].sum()
    with atomic_path(folder / f"{cohort}.parquet") as tmp:
        frame.to_parquet(tmp, index=False, compression="zstd")
    digest = hashlib.sha256(config_text.encode()).hexdigest()[:16] if config_text else ""
    provenance = {
        "cohort": cohort,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ketasim_version": VERSION,
        "parameter_set": default_parameters().digest(),
        "config": result.config.model_dump(),
        "config_sha256_16": digest,
        "n_plausible": len(result.patients),
        "n_kept": int(keep.sum()),
        "weight_dropped": float(result.weights[0, ~keep].sum()),
        "effective_sample_size": result.ess,
        "ensemble_members": int(result.weights.shape[0] - 1),
        "targets": result.report(),
    }
    atomic_write_text(folder / f"{cohort}.json", json.dumps(provenance, indent=1) + "\n")
    return folder / f"{cohort}.parquet"
