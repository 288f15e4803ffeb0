"""Estimands of a trial with dropout: what it estimates when patients leave, and how.

A simulated trial knows every patient's ratings whether or not the patient stayed, so it can show what
the analyses of a real trial recover. With ``Endpoints(dropout=True)`` a patient who leaves misses every
later visit; ``estimands`` then compares, per arm and against the control arm, the MADRS change and
response at one visit by four methods (ICH E9(R1) names the estimand each one targets):

- ``hypothetical``: every randomised patient's simulated rating, as if no one had left: the
  hypothetical estimand ("had all patients stayed on treatment"), known here exactly, unknowable in a
  real trial. It equals the arm summaries of ``TrialResult``.
- ``observed``: the completers at that visit only (observed cases); biased when leaving depends on
  the course (lack of efficacy: the completers did better).
- ``locf``: all randomised, each patient's last observed rating carried forward (the baseline if none):
  the older convention, conservative for an arm whose patients leave early.
- ``mmrm``: a mixed model for repeated measures on the observed changes (fixed effects visit, arm, their
  interaction and the baseline MADRS; a random intercept per patient, i.e. compound symmetry rather than
  the unstructured covariance of a full MMRM, as statsmodels' ``MixedLM`` fits it). Valid under missing at
  random, it targets the hypothetical estimand; it gives the mean change only.

The treatment-policy estimand (outcomes whatever happened after leaving, off treatment) needs ratings
after dropout, which neither these trials nor the simulator's dropout model provide.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from ketasim._internal.optional import require
from ketasim.errors import InputError
from ketasim.trials.endpoints import label_hours, label_time
from ketasim.trials.result import TrialResult
from ketasim.trials.stats import mean_ci, mean_difference, proportion_ci, risk_difference
from ketasim.units import QuantityLike, parse_quantity

__all__ = ["METHODS", "estimands"]

#: The analyses, in the order of the table.
METHODS = ("hypothetical", "observed", "locf", "mmrm")


def _visits(ep: pd.DataFrame) -> list[str]:
    labels = [c.removeprefix("madrs_change_") for c in ep.columns if c.startswith("madrs_change_")]
    return sorted(labels, key=label_hours)


def estimands(result: TrialResult, visit: QuantityLike | None = None, level: float = 0.95) -> pd.DataFrame:
    """The MADRS change and response at ``visit`` (default: the last) by each method of ``METHODS``.

    One row per (method, arm): ``n`` (patients the estimate rests on), ``mean_change`` with
    ``change_lower``/``change_upper``, ``response`` with ``response_lower``/``response_upper`` (NaN for
    ``mmrm``), and for every arm but the control ``difference`` (mean change minus the control's) with
    ``difference_lower``/``difference_upper`` and ``response_difference`` (risk difference).
    """
    if not isinstance(result, TrialResult):
        raise InputError("result", "must be a TrialResult (Trial.run)", got=type(result).__name__)
    ep = result.endpoints
    ep = ep[ep["included"].astype(bool)] if "included" in ep else ep
    labels = _visits(ep)
    if not labels:
        raise InputError("result", "has no MADRS visits to analyse")
    if visit is None:
        lab = labels[-1]
    else:
        lab = label_time(parse_quantity(visit, "visit", "h", strictly_positive=True))
        if lab not in labels:
            raise InputError("visit", f"must be one of the trial's visits: {', '.join(labels)}", got=repr(visit))
    hours = {x: label_hours(x) for x in labels}
    left = ep["dropout_at_h"].to_numpy(float) if "dropout_at_h" in ep else np.full(len(ep), np.nan)
    seen = {x: np.isnan(left) | (hours[x] < left - 1e-9) for x in labels}

    # last observation carried forward: walk the visits up to the chosen one
    locf_score = ep["madrs_baseline"].to_numpy(float).copy()
    for x in labels[: labels.index(lab) + 1]:
        locf_score = np.where(seen[x], ep[f"madrs_{x}"].to_numpy(float), locf_score)
    base = ep["madrs_baseline"].to_numpy(float)
    frames = {
        "hypothetical": (ep[f"madrs_change_{lab}"].to_numpy(float), ep[f"response_{lab}"].to_numpy(bool),
                         np.ones(len(ep), bool)),
        "observed": (ep[f"madrs_change_{lab}"].to_numpy(float), ep[f"response_{lab}"].to_numpy(bool), seen[lab]),
        "locf": (locf_score - base, locf_score <= 0.5 * base, np.ones(len(ep), bool)),
    }  # fmt: skip
    arms = list(dict.fromkeys(ep["arm"].astype(str)))
    control = result.control if result.control in arms else arms[0]
    arm_of = ep["arm"].astype(str).to_numpy()
    rows: list[dict[str, Any]] = []
    for method, (change, resp, use) in frames.items():
        for arm in arms:
            m = use & (arm_of == arm)
            ci, pr = mean_ci(change[m], level), proportion_ci(int(resp[m].sum()), int(m.sum()), level)
            row = {"method": method, "arm": arm, "visit": lab, "n": int(m.sum()), "mean_change": ci["estimate"],
                   "change_lower": ci["lower"], "change_upper": ci["upper"], "response": pr["estimate"],
                   "response_lower": pr["lower"], "response_upper": pr["upper"]}  # fmt: skip
            if arm != control:
                c = use & (arm_of == control)
                d = mean_difference(change[m], change[c], level)
                rd = risk_difference(int(resp[m].sum()), int(m.sum()), int(resp[c].sum()), int(c.sum()), level)
                row |= {"difference": d["estimate"], "difference_lower": d["lower"],
                        "difference_upper": d["upper"], "response_difference": rd["estimate"]}  # fmt: skip
            rows.append(row)
    rows += _mmrm(ep, labels, seen, lab, arms, control, level)
    return pd.DataFrame(rows)


def _mmrm(ep: pd.DataFrame, labels: list[str], seen: dict[str, np.ndarray], lab: str, arms: list[str],
          control: str, level: float) -> list[dict[str, Any]]:  # fmt: skip
    """Mean change per arm at ``lab`` and the difference from the control, from a random-intercept mixed
    model of every observed change (statsmodels MixedLM, REML)."""
    mixed = require("statsmodels.regression.mixed_linear_model", "the MMRM analysis")
    patsy = require("patsy", "the MMRM analysis")
    long = pd.concat(
        [pd.DataFrame({"patient": ep["patient"].to_numpy()[seen[x]], "arm": ep["arm"].astype(str).to_numpy()[seen[x]],
                       "visit": x, "baseline": ep["madrs_baseline"].to_numpy(float)[seen[x]],
                       "change": ep[f"madrs_change_{x}"].to_numpy(float)[seen[x]]}) for x in labels],
        ignore_index=True,
    )  # fmt: skip
    nan = math.nan
    empty = [{"method": "mmrm", "arm": a, "visit": lab, "n": int((long["arm"].eq(a) & long["visit"].eq(lab)).sum()),
              "mean_change": nan, "change_lower": nan, "change_upper": nan, "response": nan,
              "response_lower": nan, "response_upper": nan} for a in arms]  # fmt: skip
    if long["patient"].nunique() < 4 or long.groupby("arm")["visit"].apply(lambda v: (v == lab).sum()).min() < 2:
        return empty
    arm_term = f"C(arm, Treatment({control!r}))"
    visit_term = f"C(visit, Treatment({lab!r}))"
    # the baseline as a covariate, unless it is one value for all (then it is the intercept)
    covariate = " + baseline" if long["baseline"].std() > 0 else ""
    formula = f"change ~ {visit_term} * {arm_term}{covariate}" if len(arms) > 1 else f"change ~ {visit_term}{covariate}"
    with warnings.catch_warnings():  # a boundary fit (no between-patient variance) is still a valid estimate
        warnings.simplefilter("ignore")
        y, x = patsy.dmatrices(formula, long, return_type="dataframe")
        fit = mixed.MixedLM(y, x, groups=long["patient"].to_numpy()).fit(reml=True)
    info = x.design_info
    mean_base = float(long["baseline"].mean())
    k_fe = fit.fe_params.size
    z = float(sps.norm.ppf(0.5 + level / 2))

    def row(arm: str) -> np.ndarray:
        new = pd.DataFrame({"arm": [arm], "visit": [lab], "baseline": [mean_base], "change": [0.0]})
        (x,) = patsy.build_design_matrices([info], new, return_type="dataframe")
        return np.concatenate([x.to_numpy(float)[0], np.zeros(fit.params.size - k_fe)])

    out = []
    for a, r in zip(arms, empty, strict=True):
        xa = row(a)
        est, se = float(xa @ fit.params), float(np.sqrt(xa @ fit.cov_params().to_numpy() @ xa))
        r |= {"mean_change": est, "change_lower": est - z * se, "change_upper": est + z * se}
        if a != control:
            d = xa - row(control)
            de, dse = float(d @ fit.params), float(np.sqrt(d @ fit.cov_params().to_numpy() @ d))
            r |= {"difference": de, "difference_lower": de - z * dse, "difference_upper": de + z * dse,
                  "response_difference": nan}  # fmt: skip
        out.append(r)
    return out
