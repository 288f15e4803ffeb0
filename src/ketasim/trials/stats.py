"""Trial statistics on top of maintained libraries (scipy, statsmodels; statsmodels comes with the
``trials`` extra and is imported on first use).

>>> round(hedges_g([1, 2, 3, 4], [2, 3, 4, 5])["estimate"], 4)
-0.6736
>>> round(odds_ratio(10, 20, 5, 20)["estimate"], 4)
3.0
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from ketasim._internal.optional import require

__all__ = [
    "hazard_ratio",
    "hedges_g",
    "kaplan_meier_curve",
    "kaplan_meier_median",
    "mean_ci",
    "mean_difference",
    "odds_ratio",
    "proportion_ci",
    "risk_difference",
]


def _sm(submodule: str) -> Any:
    return require(f"statsmodels.{submodule}", "trial statistics")


def _arr(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, float)
    return a[np.isfinite(a)]


def mean_ci(x: Sequence[float] | np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Mean with a t-based confidence interval."""
    a = _arr(x)
    m = float(a.mean()) if a.size else float("nan")
    if a.size < 2:
        return {"estimate": m, "lower": float("nan"), "upper": float("nan"), "n": int(a.size)}
    if np.ptp(a) == 0:  # no spread: the interval collapses onto the mean
        return {"estimate": m, "lower": m, "upper": m, "n": int(a.size)}
    lo, hi = sps.t.interval(level, a.size - 1, loc=m, scale=sps.sem(a))
    return {"estimate": m, "lower": float(lo), "upper": float(hi), "n": int(a.size)}


def mean_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Difference in means a - b with Welch's confidence interval and p-value."""
    x, y = _arr(a), _arr(b)
    res = sps.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(level)
    return {
        "estimate": float(x.mean() - y.mean()),
        "lower": float(ci.low),
        "upper": float(ci.high),
        "p_value": float(res.pvalue),
    }


def hedges_g(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Standardised mean difference (Hedges' g, small-sample corrected) with a normal-approximation CI."""
    x, y = _arr(a), _arr(b)
    n1, n2 = x.size, y.size
    sp = np.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    d = (x.mean() - y.mean()) / sp
    j = 1 - 3 / (4 * (n1 + n2) - 9)
    g = j * d
    se = np.sqrt((n1 + n2) / (n1 * n2) + g * g / (2 * (n1 + n2)))
    z = sps.norm.ppf(0.5 + level / 2)
    return {"estimate": float(g), "lower": float(g - z * se), "upper": float(g + z * se)}


def proportion_ci(k: int, n: int, level: float = 0.95) -> dict[str, float]:
    """Proportion with a Wilson interval."""
    if n == 0:
        return {"estimate": float("nan"), "lower": float("nan"), "upper": float("nan"), "n": 0}
    lo, hi = _sm("stats.proportion").proportion_confint(k, n, alpha=1 - level, method="wilson")
    return {"estimate": k / n, "lower": float(lo), "upper": float(hi), "n": int(n)}


def risk_difference(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> dict[str, float]:
    """p1 - p2 with Newcombe's hybrid score interval."""
    lo, hi = _sm("stats.proportion").confint_proportions_2indep(
        k1, n1, k2, n2, method="newcomb", compare="diff", alpha=1 - level
    )
    return {"estimate": k1 / n1 - k2 / n2, "lower": float(lo), "upper": float(hi)}


def odds_ratio(k1: int, n1: int, k2: int, n2: int, level: float = 0.95) -> dict[str, float]:
    """Odds ratio of group 1 vs group 2 with a Woolf (log) interval; 0.5 added to every cell if one is 0."""
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], float)
    if (table == 0).any():
        table += 0.5
    t = _sm("stats.contingency_tables").Table2x2(table)
    lo, hi = t.oddsratio_confint(alpha=1 - level)
    return {
        "estimate": float(t.oddsratio),
        "lower": float(lo),
        "upper": float(hi),
        "p_value": float(t.oddsratio_pvalue()),
    }


def kaplan_meier_median(times: Sequence[float], events: Sequence[bool], level: float = 0.95) -> dict[str, float]:
    """Kaplan-Meier median time to event (NaN if not reached) with its confidence interval (statsmodels:
    the times whose log-log transformed survival band contains 0.5; an open end is infinite)."""
    t, e = np.asarray(times, float), np.asarray(events, int)
    nan = float("nan")
    if t.size == 0:
        return {"median": nan, "lower": nan, "upper": nan, "n": 0, "events": 0}
    sf = _sm("duration.survfunc").SurvfuncRight(t, e)
    med = sf.quantile(0.5)
    with np.errstate(divide="ignore", invalid="ignore"):  # the band's transform at survival 1 or 0
        lo, hi = (nan, nan) if e.sum() == 0 else sf.quantile_ci(0.5, alpha=1 - level)
    return {"median": float(med) if med is not None else nan, "lower": float(lo) if lo is not None else nan,
            "upper": float(hi) if hi is not None else nan, "n": int(t.size), "events": int(e.sum())}  # fmt: skip


def kaplan_meier_curve(times: Sequence[float], events: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan-Meier survival curve as step points (time 0 with survival 1 first), via statsmodels."""
    t, e = np.asarray(times, float), np.asarray(events, int)
    if t.size == 0:
        return np.zeros(1), np.ones(1)
    sf = _sm("duration.survfunc").SurvfuncRight(t, e)
    x = np.concatenate([[0.0], sf.surv_times, [t.max()]])
    y = np.concatenate([[1.0], sf.surv_prob, [sf.surv_prob[-1] if sf.surv_prob.size else 1.0]])
    return x, y


def hazard_ratio(
    times: Sequence[float], events: Sequence[bool], group: Sequence[int], level: float = 0.95
) -> dict[str, float]:
    """Cox proportional-hazards ratio of group 1 vs group 0 (statsmodels PHReg)."""
    t, e, g = np.asarray(times, float), np.asarray(events, int), np.asarray(group, float)
    if e.sum() == 0 or len(set(g.tolist())) < 2:
        return {"estimate": float("nan"), "lower": float("nan"), "upper": float("nan")}
    with warnings.catch_warnings():  # one group without events: the likelihood has no maximum (ratio -> 0)
        warnings.simplefilter("ignore", _sm("tools.sm_exceptions").ConvergenceWarning)
        res = _sm("duration.hazard_regression").PHReg(t, g[:, None], status=e).fit()
    beta, se = float(res.params[0]), float(res.bse[0])
    z = sps.norm.ppf(0.5 + level / 2)
    with np.errstate(over="ignore"):  # separated groups: an infinite ratio is the honest answer
        return {
            "estimate": float(np.exp(beta)),
            "lower": float(np.exp(beta - z * se)),
            "upper": float(np.exp(beta + z * se)),
        }
