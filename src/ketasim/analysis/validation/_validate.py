"""Predicted beside observed for every published reference row (``reference.toml``).

Trial studies are simulated as virtual trials with the matching design and measured as the trial
measured them: ratings with rating noise in whole points, entry criteria at screening and baseline,
estimates over the analysis set. The tolerance combines the published study's own sampling
uncertainty with the virtual trial's Monte-Carlo error.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ketasim.dosing import Dose, Regimen, protocols
from ketasim.errors import InputError, ModelError
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient, Population
from ketasim.simulation import UNITS, simulate
from ketasim.trials import ArmSpec, Endpoints, Trial, level1_trial, regimen_from_spec
from ketasim.units import QuantityLike, parse_quantity

__all__ = ["Row", "markdown_table", "predict_study", "reference_studies", "site_output", "study_endpoints",
           "study_regimens", "update_readme", "validate"]  # fmt: skip


@cache
def reference_studies() -> tuple[dict[str, Any], ...]:
    text = resources.files("ketasim.analysis.validation").joinpath("reference.toml").read_text(encoding="utf-8")
    return tuple(tomllib.loads(text)["study"])


@dataclass(frozen=True)
class Row:
    study: str
    quantity: str
    arm: str | None
    observed: float
    predicted: float
    tolerance: float
    calibrated: bool
    definition: str
    citation: str
    observed_se: float
    band: tuple[float, float] | None = None  # 5-95% of the virtual subjects (population PK studies)
    site: str = ""  # where the published concentrations were sampled (PK studies)

    @property
    def error(self) -> float:
        return self.predicted - self.observed

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.predicted) and abs(self.error) <= self.tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "quantity": self.quantity,
            "arm": self.arm,
            "observed": self.observed,
            "predicted": None if not math.isfinite(self.predicted) else self.predicted,
            "error": None if not math.isfinite(self.predicted) else self.error,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "calibrated": self.calibrated,
            "definition": self.definition,
            "citation": self.citation,
            "predicted_p05": None if self.band is None else self.band[0],
            "predicted_p95": None if self.band is None else self.band[1],
            "site": self.site or None,
        }


def observed_se(row: Mapping[str, Any]) -> float:
    """Standard error of a published value from its SE, CI, SD and n, or binomial n."""
    if "se" in row:
        return float(row["se"])
    if "ci" in row:
        lo, hi = row["ci"]
        return (hi - lo) / (2 * 1.959964)
    if "sd" in row and "n" in row:
        return float(row["sd"]) / math.sqrt(row["n"])
    q = row["quantity"].split(":")[-1]
    rate = q.startswith(("response_", "remission_", "sbp_rise_")) or "_response_" in q or "_remission_" in q
    if rate and "n" in row:
        p = float(row["observed"])
        return math.sqrt(max(p * (1 - p), 0.01) / row["n"])
    return 0.0


# ------------------------------------------------------------------ PK studies


def _pk_quantity(q: str, regimen: Regimen, params: ParameterSet) -> float:
    if q == "cmax_ng_ml":
        return simulate(regimen, Patient(), duration="1 d", output_step="1 min", params=params).summary()["cmax_ng_ml"]
    if q == "bioavailability":
        dose = regimen.doses[0]
        iv = Regimen([Dose(dose.drug, "iv", "28 mg", duration="40 min")])
        f = dose.amount / 28.0
        auc = [_auc(r, params) for r in (regimen, iv)]
        return auc[0] / auc[1] / f
    if q == "tmax_after_last_device_min":
        res = simulate(regimen, Patient(), duration="6 h", output_step="0.5 min", params=params)
        dose = regimen.doses[0]
        last = dose.at_h + (dose.devices - 1) * params.value("device_interval", "h")
        return (res.summary()["tmax_h"] - (last - dose.at_h)) * 60
    if q == "sert_occupancy_day10_6h":
        res = simulate(regimen, Patient(), duration="10 d", output_step="1 h", params=params)
        return float(np.interp(9 * 24 + 6, res.dataset["time"].values, res.dataset["sert_occupancy"].values[0]))
    if q == "psilocin_cmax_ng_ml":
        res = simulate(regimen, Patient(), duration="12 h", output_step="5 min", params=params)
        return float(res.dataset["psilocin_plasma"].values.max())
    if q == "terminal_half_life_h":
        res = simulate(regimen, Patient(), duration="2 d", output_step="10 min", params=params)
        t = res.dataset["time"].values
        c = res.dataset["esketamine_plasma"].values[0]
        m = (t >= 12) & (t <= 48)
        slope = np.polyfit(t[m], np.log(c[m]), 1)[0]
        return float(np.log(2) / -slope)
    raise InputError("quantity", f"unknown PK quantity {q!r}")


def _auc(regimen: Regimen, params: ParameterSet) -> float:
    res = simulate(regimen, Patient(), duration="7 d", output_step="5 min", params=params)
    return float(np.trapezoid(res.dataset["esketamine_plasma"].values[0], res.dataset["time"].values))


#: What a population PK study's row can ask for (``quantity``), of its ``analyte`` (an output name).
PK_METRICS = ("cmax_ng_ml", "tmax_h", "clearance_l_h", "clearance_ml_min_kg", "half_life_h", "bioavailability",
              "auc_ng_h_ml", "concentration_ng_ml", "metabolite_ratio", "cv_cmax", "cv_auc")  # fmt: skip


Predictions = dict[tuple[str, str | None], tuple[float, ...]]


def site_output(analyte: str, site: str) -> str:
    """The output a row's ``analyte`` is compared with at the study's sampling ``site``: the ``_arterial``
    twin of a ``_plasma`` output where the study sampled arterial blood, the venous output otherwise."""
    if site != "arterial":
        return analyte
    if not analyte.endswith("_plasma"):
        raise InputError("analyte", "an arterial study's analyte must be a venous output (name ending _plasma)",
                         got=analyte)  # fmt: skip
    return analyte.removesuffix("_plasma") + "_arterial"


def row_label(study: Mapping[str, Any], row: Mapping[str, Any]) -> str | None:
    """What a row is matched and shown as: its ``arm``, or for a population PK row the output it is
    compared with (the ``_arterial`` twin of its analyte in an arterial study), else its ``analyte``."""
    if "arm" in row:
        return str(row["arm"])
    if study.get("kind") == "pk" and "doses" in study:
        return site_output(row.get("analyte", "ketamine_plasma"), str(study.get("site", "")))
    return row.get("analyte")


def _pk_population(study: Mapping[str, Any], seed: int, params: ParameterSet) -> Predictions:
    """A PK study given as its doses and subjects: every row's metric computed per virtual subject, the
    median as the prediction (value, 0, 5th, 95th percentile).

    ``subjects = {n, cohort, ...overrides}`` draws the subjects (default 100 from the ``healthy`` cohort,
    with the published inter-individual variability; ``cohort = "typical"``: the typical subject); a row's
    ``analyte`` names the output (default ``ketamine_plasma``; a study with ``site = "arterial"`` reads its
    ``_arterial`` twin), ``after`` the start of the window its peak is taken in. The metrics:

    - ``cmax_ng_ml``, ``tmax_h``: the peak and its time (from ``after``, default 0 h);
    - ``auc_ng_h_ml``: the AUC to infinity (the terminal phase extrapolated from ``terminal_from``, default
      8 h), or to ``until`` where the row gives it (as in AUC 0-8 h);
    - ``concentration_ng_ml``: the concentration at ``at`` (required, e.g. ``"2 h"``);
    - ``metabolite_ratio``: ``analyte`` over ``over`` (both outputs), of their AUCs (as ``auc_ng_h_ml``), or
      of the concentrations at ``at`` where the row gives ``at``;
    - ``clearance_l_h``, ``clearance_ml_min_kg``: the dose of the analyte (half a racemic dose for one
      enantiomer) over its AUC to infinity;
    - ``half_life_h``: ln 2 over the log-linear slope from ``terminal_from`` to the end;
    - ``bioavailability``: the AUC over that of the same amount given IV to the same subjects;
    - ``cv_cmax``, ``cv_auc``: SD / mean of the peak or of the AUC (as ``auc_ng_h_ml``) across all the
      subjects; its band: 5-95% of the CV in subsets of the published size (the row's ``n``, default 20).
    """
    subj = dict(study.get("subjects", {}))
    n, cohort = int(subj.pop("n", 100)), str(subj.pop("cohort", "healthy"))
    if cohort == "typical":  # the typical subject of the given covariates, without variability
        pop = Population(tuple(Patient(**subj) for _ in range(n)))
    else:
        pop = Population.sample(n, seed, cohort, params=params, **subj)
    regimen = Regimen([Dose(**d) for d in study["doses"]], name=study["id"])
    duration = study.get("duration", "2 d")
    site = str(study.get("site", ""))
    for row in study["row"]:
        if row["quantity"] not in PK_METRICS:
            raise InputError(f"{study['id']}.row.quantity", f"must be one of {', '.join(PK_METRICS)}",
                             got=row["quantity"])  # fmt: skip
    wanted = {r.get("analyte", "ketamine_plasma") for r in study["row"]}
    wanted |= {r["over"] for r in study["row"] if "over" in r}
    outputs = {a: site_output(a, site) for a in sorted(wanted)}
    missing = [o for o in outputs.values() if o not in UNITS]
    if missing:
        raise ModelError(f"study {study['id']} (site {site!r}) needs model output(s) {', '.join(missing)}, "
                         "which this model does not provide")  # fmt: skip
    res = simulate(regimen, population=pop, duration=duration, output_step="30 s", params=params,
                   outputs=sorted(set(outputs.values())))  # fmt: skip
    t = res.dataset["time"].values
    conc = {a: res.dataset[o].values for a, o in outputs.items()}
    weights = np.array([p.weight_kg for p in pop.patients], float)
    iv_auc: dict[str, np.ndarray] = {}
    out: Predictions = {}
    for row in study["row"]:
        q, analyte = row["quantity"], row.get("analyte", "ketamine_plasma")
        c = conc[analyte]
        field = f"{study['id']}.row({q}, {analyte})"
        # a peak is taken from ``after`` on (a second dose's peak)
        m = t >= parse_quantity(row.get("after", "0 h"), "after", "h", unit_required=True) - 1e-9
        if q in ("cmax_ng_ml", "tmax_h"):
            values = c[:, m].max(axis=1) if q == "cmax_ng_ml" else t[m][c[:, m].argmax(axis=1)] - t[m][0]
        elif q == "half_life_h":
            values = np.log(2) / _terminal_rate(t, c, row)
        elif q == "auc_ng_h_ml":
            values = _auc_to(t, c, row)
        elif q == "concentration_ng_ml":
            values = _concentration_at(t, c, row, field)
        elif q == "metabolite_ratio":
            if "over" not in row:
                raise InputError(f"{field}.over", "a metabolite ratio names its denominator output in 'over'")
            if "at" in row:
                values = _concentration_at(t, c, row, field) / _concentration_at(t, conc[row["over"]], row, field)
            else:
                values = _auc_to(t, c, row) / _auc_to(t, conc[row["over"]], row)
        elif q in ("cv_cmax", "cv_auc"):
            x = c[:, m].max(axis=1) if q == "cv_cmax" else _auc_to(t, c, row)
            lo, hi = _cv_band(x, int(row.get("n", 20)), seed)
            out[(q, row_label(study, row))] = (_cv(x), 0.0, lo, hi)
            continue
        else:
            auc = _auc_inf(t, c, row)
            if q == "bioavailability":
                if analyte not in iv_auc:
                    iv = Regimen([Dose(d["drug"], "iv", d["amount"], duration="1 min") for d in study["doses"]])
                    ref = simulate(iv, population=pop, duration=duration, output_step="30 s", params=params,
                                   outputs=[outputs[analyte]])  # fmt: skip
                    iv_auc[analyte] = _auc_inf(t, ref.dataset[outputs[analyte]].values, row)
                values = auc / iv_auc[analyte]
            else:
                dose_mg = _analyte_dose_mg(regimen, analyte, weights)
                values = dose_mg * 1e3 / auc  # mg / (ug h/L) x 1000 = L/h (ng/mL = ug/L)
                if q == "clearance_ml_min_kg":
                    values = values * 1000 / 60 / weights
        lo, med, hi = np.nanpercentile(values, [5, 50, 95])
        out[(q, row_label(study, row))] = (float(med), 0.0, float(lo), float(hi))
    return out


def _cv(values: np.ndarray) -> float:
    """Coefficient of variation across subjects: SD (n - 1) / mean."""
    return float(np.std(values, ddof=1) / np.mean(values))


def _cv_band(values: np.ndarray, n: int, seed: int, draws: int = 400) -> tuple[float, float]:
    """5th and 95th percentile of the CV of ``n`` subjects drawn (without replacement) from ``values``."""
    rng = np.random.default_rng(seed)
    k = min(max(n, 2), values.size)
    cvs = [_cv(rng.choice(values, size=k, replace=False)) for _ in range(draws)]
    lo, hi = np.percentile(cvs, [5, 95])
    return float(lo), float(hi)


def _concentration_at(t: np.ndarray, c: np.ndarray, row: Mapping[str, Any], field: str) -> np.ndarray:
    if "at" not in row:
        raise InputError(f"{field}.at", "a concentration at a fixed time needs 'at' (e.g. \"2 h\")")
    at = parse_quantity(row["at"], f"{field}.at", "h", unit_required=True)
    return np.array([np.interp(at, t, ci) for ci in c])


def _terminal_rate(t: np.ndarray, c: np.ndarray, row: Mapping[str, Any]) -> np.ndarray:
    start = parse_quantity(row.get("terminal_from", "8 h"), "terminal_from", "h", unit_required=True)
    m = (t >= start) & np.all(c > 0, axis=0)
    slopes = np.polyfit(t[m], np.log(c[:, m].T), 1)[0]
    return -slopes


def _auc_inf(t: np.ndarray, c: np.ndarray, row: Mapping[str, Any]) -> np.ndarray:
    return np.trapezoid(c, t, axis=1) + c[:, -1] / _terminal_rate(t, c, row)


def _auc_to(t: np.ndarray, c: np.ndarray, row: Mapping[str, Any]) -> np.ndarray:
    """The AUC to the row's ``until`` (the trapezoid over the simulated grid), else to infinity."""
    if "until" not in row:
        return _auc_inf(t, c, row)
    m = t <= parse_quantity(row["until"], "until", "h", unit_required=True) + 1e-9
    return np.trapezoid(c[:, m], t[m], axis=1)


#: The share of each product's dose that is the analyte (an enantiomer is half a racemic dose).
_DOSE_SHARE = {"ketamine_plasma": {"ketamine": 1.0, "esketamine": 1.0},
               "esketamine_plasma": {"ketamine": 0.5, "esketamine": 1.0},
               "arketamine_plasma": {"ketamine": 0.5, "esketamine": 0.0}}  # fmt: skip


def _analyte_dose_mg(regimen: Regimen, analyte: str, weights: np.ndarray) -> np.ndarray:
    """The amount of ``analyte`` the regimen gives (mg per subject): an enantiomer is half a racemic dose."""
    if analyte not in _DOSE_SHARE:
        raise InputError("analyte", f"clearance is defined for a dosed analyte only: one of {', '.join(_DOSE_SHARE)}",
                         got=analyte)  # fmt: skip
    share = _DOSE_SHARE[analyte]
    total = np.zeros(weights.shape)
    for d in regimen.doses:
        total = total + share[d.drug.value] * np.asarray(d.amount_mg(weights), float)
    return total


# ------------------------------------------------------------------ trial studies


def study_endpoints(study: Mapping[str, Any]) -> Endpoints:
    """The endpoints of a reference study's design: its visits, remission threshold and entry criteria."""
    return Endpoints.make(study["endpoints"], study.get("remission_threshold", 10),
                          screening=study.get("screening", 0.0), entry_minimum=study.get("entry_minimum"),
                          scales=tuple(study.get("scales", ())))  # fmt: skip


def study_regimens(study: Mapping[str, Any]) -> dict[str, Regimen]:
    return {name: regimen_from_spec(name, ArmSpec(**spec)) for name, spec in study["arms"].items()}


def _study_trial(study: Mapping[str, Any], n_per_arm: int, seed: int, params: ParameterSet) -> Trial:
    arms = study_regimens(study)
    n = n_per_arm * len(arms)
    return Trial(
        arms=arms,
        population=Population.sample(n, seed, params=params, **study.get("population", {})),
        duration=study["duration"],
        endpoints=study_endpoints(study),
        control=study.get("control"),
        params=params,
    )


def _trial_predictions(
    study: Mapping[str, Any], n_per_arm: int, seed: int, params: ParameterSet, keep: dict[str, Any] | None = None
) -> Predictions:
    """Each quantity as a virtual trial of the study's design measures it: ratings with noise, the entry
    criteria applied at screening and baseline, estimates over the analysis set (value, Monte-Carlo SE).
    ``keep`` receives the ``TrialResult`` under the study's id (for the predictive-check figures)."""
    trial = _study_trial(study, n_per_arm, seed, params)
    result = trial.run(seed)
    if keep is not None:
        keep[study["id"]] = result
    preds: Predictions = {}
    for arm, summary in result.arms.items():
        n = max(summary["n"]["estimate"], 1.0)
        for key, est in summary.items():
            value = est["estimate"]
            if key.startswith(("response_", "remission_", "sbp_rise_")):
                # Agresti-Coull: a rate estimated as 0 of 100 is not known to +-0 (small quick runs)
                tilde = (value * n + 2) / (n + 4)
                preds[(key, arm)] = (value, math.sqrt(tilde * (1 - tilde) / (n + 4)))
            elif key in ("n", "n_screened"):
                continue
            else:
                half = (est["upper"] - est["lower"]) / 2 if math.isfinite(est["upper"]) else 0.0
                preds[(key, arm)] = (value, half / 1.959964)
    for comp in result.comparisons:
        for key, stats in comp["endpoints"].items():
            for name in ("mean_difference", "hedges_g"):
                if name in stats:
                    d = stats[name]
                    preds[(f"{name}:{key}", comp["arm"])] = (d["estimate"], (d["upper"] - d["lower"]) / (2 * 1.959964))
    return preds


def _phased_predictions(study: Mapping[str, Any], n: int, seed: int, params: ParameterSet) -> Predictions:
    """A phased study (``kind = "phased"``: ``phases`` and ``criteria`` as in a scenario file) run as a
    ``PhasedTrial`` of ``n`` screened patients. Row quantities: ``entered:PHASE/STRATUM`` (with ``of =
    "EARLIER"``: the share of the patients who entered EARLIER that entered PHASE in STRATUM, binomial
    Monte-Carlo SE), ``log_hazard_ratio:PHASE/STRATUM`` (row ``arm`` vs the phase's control, Cox, on the log scale;
    SE from its CI, none when an arm has no events, so that such a row fails), ``median_time:PHASE/STRATUM``
    (the row ``arm``'s Kaplan-Meier median days to the phase's stop event, SE from its CI) and
    ``dose_share:PHASE/MG@K`` (the share of the row ``arm``'s patients given a K-th session in PHASE whose
    K-th session was MG mg, binomial SE). The value and its Monte-Carlo SE, keyed by (quantity, arm)."""
    from ketasim.trials.scenario import CriterionSpec, PhaseSpec, phased_trial

    pop = Population.sample(n, seed, params=params, **study.get("population", {}))
    lead = parse_quantity(study.get("screening", 0.0), "screening", "h", minimum=0, maximum=24 * 90)
    trial = phased_trial([PhaseSpec(**ph) for ph in study["phases"]],
                         {k: CriterionSpec(**v) for k, v in study.get("criteria", {}).items()}, pop,
                         screening_h=lead, entry_minimum=study.get("entry_minimum"), params=params)  # fmt: skip
    res = trial.run(seed)
    ep = res.endpoints
    preds: Predictions = {}
    for r in study["row"]:
        q = r["quantity"]
        kind, _, where = q.partition(":")
        phase, _, stratum = where.partition("/")
        if kind == "entered":
            base = int((ep[f"arm:{r['of']}"].astype(str) != "").sum())
            k = int(((ep[f"arm:{phase}"].astype(str) != "") & (ep[f"stratum:{phase}"] == stratum)).sum())
            value = k / max(base, 1)
            tilde = (k + 2) / (base + 4)
            preds[(q, r.get("arm"))] = (value, math.sqrt(tilde * (1 - tilde) / (base + 4)))
        elif kind == "log_hazard_ratio":  # on the log scale, where the Cox estimate is normal
            tab = res.time_to_event(phase, stratum or None).set_index("arm")
            hr = tab.loc[r["arm"]]
            with np.errstate(divide="ignore"):
                lo, mid, hi = np.log([hr["hr_lower"], hr["hr"], hr["hr_upper"]])
            se = (hi - lo) / (2 * 1.959964) if np.isfinite(hi - lo) else math.nan  # no events in an arm: no SE
            preds[(q, r["arm"])] = (float(mid), float(se))
        elif kind == "median_time":
            row = res.time_to_event(phase, stratum or None).set_index("arm").loc[r["arm"]]
            lo, hi = float(row["median_lower"]), float(row["median_upper"])
            se = (hi - lo) / (2 * 1.959964) if np.isfinite(hi - lo) else math.nan
            preds[(q, r["arm"])] = (float(row["median_days"]), se)
        elif kind == "dose_share":
            mg, _, k = stratum.partition("@")
            s = res.sessions
            s = s[(s["phase"] == phase) & (s["arm"] == r["arm"]) & s["given"].astype(bool)]
            kth = s.sort_values("time_h").groupby("patient").nth(int(k) - 1)
            base, hits = len(kth), int((kth["amount_mg"].round(6) == float(mg)).sum())
            tilde = (hits + 2) / (base + 4)
            preds[(q, r["arm"])] = (hits / max(base, 1), math.sqrt(tilde * (1 - tilde) / (base + 4)))
        else:
            raise InputError(f"{study['id']}.row.quantity", "a phased study's rows are entered:PHASE/STRATUM, "
                             "log_hazard_ratio:PHASE/STRATUM, median_time:PHASE/STRATUM or dose_share:PHASE/MG@K",
                             got=q)  # fmt: skip
    return preds


def _depletion_predictions(study: Mapping[str, Any], n: int, seed: int, params: ParameterSet) -> Predictions:
    """A tryptophan depletion challenge (``kind = "depletion"``): ``n`` patients of ``cohort`` on each arm's
    regimen (``arms = {ARM = {sessions = [...], doses = [...]}}``) until ``challenge_day``; rows
    ``relapse`` (the share of the arm's responders who relapse on the HAM-D17 after depletion, binomial
    SE) and ``hamd_change`` (their mean HAM-D17 change after depletion minus after sham, SE of the mean)."""
    from ketasim.trials.probes import depletion_challenge

    pop = Population.sample(n, seed, cohort=study.get("cohort", "mdd"), params=params)
    preds: Predictions = {}
    for arm, spec in study["arms"].items():
        out = depletion_challenge(pop, regimen_from_spec(arm, ArmSpec(**spec)), challenge_day=study["challenge_day"],
                                  params=params)  # fmt: skip
        r = out[out["responder"]]
        k, m = int(r["relapse"].sum()), len(r)
        tilde = (k + 2) / (m + 4)
        preds[("relapse", arm)] = (k / max(m, 1), math.sqrt(tilde * (1 - tilde) / (m + 4)))
        diff = (r["hamd_depleted"] - r["hamd_sham"]).to_numpy(float)
        preds[("hamd_change", arm)] = (float(diff.mean()) if m else math.nan,
                                       float(diff.std(ddof=1) / math.sqrt(m)) if m > 1 else math.nan)  # fmt: skip
    return preds


def _row_days(study: Mapping[str, Any]) -> list[int]:
    """The days a study's rows are read on: each quantity ends in ``_<D>d``."""
    return sorted({int(r["quantity"].rsplit("_", 1)[1].removesuffix("d")) for r in study["row"]})


def _abstinence_predictions(study: Mapping[str, Any], n: int, seed: int, params: ParameterSet) -> Predictions:
    """Abstinence in drinking patients (``kind = "abstinence"``): ``n`` patients of ``cohort`` with the study's
    population ``overrides`` (their drinking, their baseline) stop drinking on day 0; rows
    ``hamd_ratio_<D>d`` (mean HAM-D17 on day D over the mean on day 0, delta-method SE) and
    ``still_depressed_<D>d`` (the share of the patients with HAM-D17 >= 20 on day 0 who still score >= 20
    on day D, binomial SE)."""
    from ketasim.trials.alcohol import abstinence_course

    pop = Population.sample(n, seed, cohort=study.get("cohort", "mdd"), params=params, **study.get("overrides", {}))
    wanted = _row_days(study)
    df = abstinence_course(pop, days=[0, *wanted], params=params)
    wide = df.pivot(index="patient", columns="day", values="hamd")
    base = wide[0.0].to_numpy(float)
    depressed = base >= 20
    preds: Predictions = {}
    for d in wanted:
        later = wide[float(d)].to_numpy(float)
        ratio = later.mean() / base.mean()
        se = ratio * math.hypot(later.std(ddof=1) / later.mean(), base.std(ddof=1) / base.mean()) / math.sqrt(n)
        preds[(f"hamd_ratio_{d}d", None)] = (float(ratio), float(se))
        k, m = int((later[depressed] >= 20).sum()), int(depressed.sum())
        tilde = (k + 2) / (m + 4)
        preds[(f"still_depressed_{d}d", None)] = (k / max(m, 1), math.sqrt(tilde * (1 - tilde) / (m + 4)))
    return preds


#: IES-R subscales (items) read from the CAPS-5 clusters at the cluster's mean item score: intrusion (8) from
#: B (5 items), avoidance (8) from C (2), hyperarousal (6) from E (6); an assumption (no published crosswalk).
IESR_FROM_CAPS5 = {"caps5_b": 8 / 5, "caps5_c": 8 / 2, "caps5_e": 6 / 6}


def _ptsd_predictions(study: Mapping[str, Any], n: int, seed: int, params: ParameterSet) -> Predictions:
    """A PTSD trial (``kind = "ptsd"``): ``n`` patients of the PTSD cohort (``trials.ptsd.ptsd_cohort``), the
    same virtual patients in every arm (``arms`` as in a trial study; ``control``, if any, names the
    comparator). Rows: ``caps5_change_<D>d`` (an arm's mean change, SE of the mean; a single-arm study),
    ``mean_difference:caps5_change_<D>d`` and ``mean_difference:iesr_change_<D>d`` (arm minus control, SE of
    the paired mean), ``response_caps5_<D>d`` (a CAPS-5 fall of >= 30%, binomial SE)."""
    from ketasim.model.trauma import CLUSTERS
    from ketasim.trials.ptsd import ptsd_cohort

    pop = ptsd_cohort(n, seed, params=params)
    days = _row_days(study)
    outputs = ["caps5", *IESR_FROM_CAPS5]
    change: dict[str, dict[str, np.ndarray]] = {}
    for arm, regimen in study_regimens(study).items():
        res = simulate(regimen, population=pop, duration=f"{max(days)} d", output_step="1 h", outputs=outputs,
                       params=params)  # fmt: skip
        t = res.dataset["time"].values
        start = np.array([p.ptsd_baseline for p in pop.patients])
        # at the start each cluster holds its item share of the baseline
        iesr0 = start * sum(w * CLUSTERS[name.removeprefix("caps5_")] / sum(CLUSTERS.values())
                            for name, w in IESR_FROM_CAPS5.items())  # fmt: skip
        for d in days:
            i = int(np.searchsorted(t, 24.0 * d))
            caps = res.dataset["caps5"].values[:, i]
            iesr = sum(w * res.dataset[name].values[:, i] for name, w in IESR_FROM_CAPS5.items())
            change.setdefault(arm, {})[f"caps5_change_{d}d"] = caps - start
            change[arm][f"iesr_change_{d}d"] = iesr - iesr0
            change[arm][f"response_caps5_{d}d"] = (caps <= 0.7 * start).astype(float)
    preds: Predictions = {}
    control = study.get("control")
    for arm, values in change.items():
        for key, v in values.items():
            if key.startswith("response_caps5_"):
                tilde = (v.sum() + 2) / (v.size + 4)
                preds[(key, arm)] = (float(v.mean()), math.sqrt(tilde * (1 - tilde) / (v.size + 4)))
                continue
            preds[(key, arm)] = (float(v.mean()), float(v.std(ddof=1) / math.sqrt(n)))
            if control is not None and arm != control:
                diff = v - change[control][key]
                preds[(f"mean_difference:{key}", arm)] = (float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(n)))
    return preds


def _patient_quantity(res: Any, summary: Mapping[str, float], quantity: str) -> float:
    """A summary metric, or ``value_at:OUTPUT@TIME`` (an output of the run at a time, e.g. ``21 d``)."""
    if not quantity.startswith("value_at:"):
        return float(summary[quantity])
    name, _, at = quantity.removeprefix("value_at:").partition("@")
    if name not in res.dataset:
        raise InputError("row.quantity", f"value_at: names an output of the run, not {name!r}", got=quantity)
    t = parse_quantity(at, "row.quantity", "h", minimum=0.0)
    return float(np.interp(t, res.dataset["time"].values, res.dataset[name].values[0]))


def predict_study(
    study: Mapping[str, Any],
    *,
    n_per_arm: int | None = None,
    seed: int = 20261127,
    params: ParameterSet | None = None,
    keep: dict[str, Any] | None = None,
) -> Predictions:
    """Model predictions (value, Monte-Carlo SE[, 5th, 95th percentile]) for every quantity the study's rows
    ask for."""
    p = params or default_parameters()
    if study["kind"] == "pk" and "doses" in study:
        return _pk_population(study, seed, p)
    if study["kind"] == "pk":
        reg = protocols.get(study["protocol"])
        return {(r["quantity"], None): (_pk_quantity(r["quantity"], reg, p), 0.0) for r in study["row"]}
    if study["kind"] == "trial":
        return _trial_predictions(study, n_per_arm or study["n_per_arm"], seed, p, keep)
    if study["kind"] == "phased":
        # quick runs too need enough patients to reach the randomised phase with events in each stratum
        n = int(study["n"]) if n_per_arm is None else max(10 * n_per_arm, 1000)
        return _phased_predictions(study, n, seed, p)
    if study["kind"] == "level1":
        pop = Population.sample(n_per_arm or study["n_per_arm"], seed, cohort="mdd", params=p)
        rate = level1_trial(pop, params=p).remission_rate
        return {("remission", None): (rate, math.sqrt(rate * (1 - rate) / len(pop)))}
    if study["kind"] == "depletion":
        return _depletion_predictions(study, n_per_arm or study["n"], seed, p)
    if study["kind"] == "ptsd":
        return _ptsd_predictions(study, n_per_arm or study["n"], seed, p)
    if study["kind"] == "abstinence":
        return _abstinence_predictions(study, n_per_arm or study["n"], seed, p)
    if study["kind"] == "patient":
        res = simulate(protocols.get(study["protocol"]), Patient(), duration=study["duration"], params=p)
        s = res.summary()
        return {(r["quantity"], None): (_patient_quantity(res, s, r["quantity"]), 0.0) for r in study["row"]}
    raise InputError("kind", f"unknown study kind {study['kind']!r}")


def rows_for(study: Mapping[str, Any], preds: Mapping[tuple[str, str | None], tuple[float, ...]]) -> list[Row]:
    out = []
    for r in study["row"]:
        key = (r["quantity"], row_label(study, r))  # a PK row is told apart by the output it is compared with
        found = preds.get(key, (math.nan, 0.0))
        pred, mc_se = found[0], found[1]
        band = (float(found[2]), float(found[3])) if len(found) == 4 else None
        obs = float(r["observed"])
        if "rel_tolerance" in r:
            tol = abs(obs) * float(r["rel_tolerance"])
        elif "abs_tolerance" in r:
            tol = float(r["abs_tolerance"])
        else:
            tol = max(1.959964 * math.hypot(observed_se(r), mc_se), float(r.get("min_tolerance", 0.0)))
        out.append(
            Row(
                study["id"],
                r["quantity"],
                key[1],
                obs,
                float(pred),
                float(tol),
                bool(r.get("calibrated", False)),
                r.get("definition", ""),
                study["citation"],
                observed_se(r),
                band,
                str(study.get("site", "")),
            )
        )
    return out


def validate(
    *,
    quick: bool = False,
    studies: Iterable[str] | None = None,
    params: ParameterSet | None = None,
    progress: Callable[[int, int], None] | None = None,
    results: dict[str, Any] | None = None,
) -> list[Row]:
    """Every reference row, predicted beside observed. ``quick`` uses 100 virtual patients per arm.
    ``results`` (a dict) receives each trial study's ``TrialResult`` (for ``plot_validation``)."""
    selected = [s for s in reference_studies() if studies is None or s["id"] in set(studies)]
    rows: list[Row] = []
    for i, study in enumerate(selected):
        n = 100 if quick else None
        rows.extend(rows_for(study, predict_study(study, n_per_arm=n, params=params, keep=results)))
        if progress:
            progress(i + 1, len(selected))
    return rows


def rows_frame(rows: Iterable[Row]) -> pd.DataFrame:
    return pd.DataFrame([r.to_dict() for r in rows])


def parse_n(value: QuantityLike) -> int:
    return int(parse_quantity(value, "n", "1", minimum=1))


def markdown_table(rows: Iterable[Row]) -> str:
    """The validation table as Markdown (what the README shows, generated by `ketasim validate --readme`)."""
    lines = [
        "| study | quantity | arm | observed | predicted | error | tolerance | result | used for calibration |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.study} | {r.quantity} | {r.arm or ''} | {r.observed:.3g} | {r.predicted:.3g} | {r.error:+.3g} | "
            f"{r.tolerance:.3g} | {'pass' if r.passed else '**fail**'} | {'yes' if r.calibrated else 'held out'} |"
        )
    return "\n".join(lines)


START, END = "<!-- validation-table:start -->", "<!-- validation-table:end -->"


def update_readme(path: str | Path, rows: Iterable[Row], note: str) -> None:
    """Replace the README's generated validation table (between the two markers) atomically."""
    from ketasim._internal.files import atomic_write_text

    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise InputError("readme", f"no {START} ... {END} markers", got=str(p))
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    atomic_write_text(p, f"{head}{START}\n{note}\n\n{markdown_table(rows)}\n{END}{tail}")
