"""Trial results: per-patient endpoints, per-arm estimates with CIs, and comparisons with the control arm."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.jsonable import jsonable
from ketasim.trials.plot import plot_trial
from ketasim.trials.scales import SCALES
from ketasim.trials.stats import (
    hazard_ratio,
    hedges_g,
    kaplan_meier_median,
    mean_ci,
    mean_difference,
    odds_ratio,
    proportion_ci,
    risk_difference,
)

__all__ = ["N_EXAMPLES", "SERIES_COLUMNS", "VPC_RESOLUTION", "SeriesAccumulator", "TrialResult"]


#: Individual trajectories kept per arm for figures (the first patients of the analysis set).
N_EXAMPLES = 12

#: The VPC quantiles of the series (``median``, ``p05``, ``p95``) are those of the MADRS values rounded to
#: this many points (0.1): each (arm, time) keeps a count per rounded value (at most 601 values within
#: 0-60), so memory stays bounded however many patients there are, and the quantiles are exactly numpy's
#: (linear interpolation) of the rounded values, within 0.05 points of those of the unrounded ones.
#: Integer values (e.g. whole-point ratings) are counted exactly.
VPC_RESOLUTION = 0.1
_PER_POINT = round(1 / VPC_RESOLUTION)
_QUANTILES = (("p05", 0.05), ("median", 0.5), ("p95", 0.95))
SERIES_COLUMNS = ["arm", "time_h", "mean", "lower", "upper", "sd", "n", "median", "p05", "p95", "synapse_density"]


class SeriesAccumulator:
    """Keeps endpoint rows (small), running per-arm sums of the coarse series and counts of its rounded
    MADRS values (bounded memory; ``VPC_RESOLUTION``), and the trajectories of a few patients per arm."""

    def __init__(self) -> None:
        self.endpoints: list[pd.DataFrame] = []
        self.sums: pd.DataFrame | None = None
        self.counts: pd.Series | None = None  # (arm, time_h, MADRS in units of VPC_RESOLUTION) -> patients
        self.examples: list[pd.DataFrame] = []
        self._kept: dict[str, set[int]] = {}

    def add(self, endpoints: pd.DataFrame, series: pd.DataFrame) -> None:
        self.endpoints.append(endpoints)
        if series.empty:
            return
        if "included" in series:  # the analysis set only
            series = series[series["included"].astype(bool)]
        for arm, g in series.groupby("arm", sort=False):
            kept = self._kept.setdefault(str(arm), set())
            new = [p for p in dict.fromkeys(g["patient"]) if p not in kept][: max(N_EXAMPLES - len(kept), 0)]
            if new:
                kept.update(new)
                self.examples.append(g[g["patient"].isin(new)][["patient", "arm", "time_h", "madrs"]])
        g = (
            series.assign(sq=series["madrs"] ** 2)
            .groupby(["arm", "time_h"])
            .agg(s=("madrs", "sum"), sq=("sq", "sum"), n=("madrs", "size"), dens=("synapse_density", "sum"))
        )
        self.sums = g if self.sums is None else self.sums.add(g, fill_value=0)
        rounded = np.round(series["madrs"].to_numpy(float) * _PER_POINT).astype(np.int64)
        c = series[["arm", "time_h"]].assign(value=rounded).groupby(["arm", "time_h", "value"]).size()
        self.counts = c if self.counts is None else self.counts.add(c, fill_value=0)

    def result(self, run_id: str, control: str, seed: int, member_ratios: np.ndarray | None = None,
               **design: Any) -> TrialResult:  # fmt: skip
        """The TrialResult; ``design`` (``dose_times``, ``remission_threshold``) is passed on to it."""
        ep = pd.concat(self.endpoints, ignore_index=True).sort_values("patient").reset_index(drop=True)
        examples = (pd.concat(self.examples, ignore_index=True) if self.examples
                    else pd.DataFrame(columns=["patient", "arm", "time_h", "madrs"]))  # fmt: skip
        series = _series_summary(self.sums, self.counts)
        return TrialResult.build(run_id, ep, series, control, seed, examples, member_ratios, **design)


def _series_summary(sums: pd.DataFrame | None, counts: pd.Series | None) -> pd.DataFrame:
    if sums is None or counts is None:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    s = sums.reset_index()
    mean = s["s"] / s["n"]
    var = (s["sq"] - s["n"] * mean**2) / (s["n"] - 1).clip(lower=1)
    half = 1.96 * np.sqrt(var.clip(lower=0) / s["n"])
    out = pd.DataFrame(
        {
            "arm": s["arm"],
            "time_h": s["time_h"],
            "mean": mean,
            "lower": mean - half,
            "upper": mean + half,
            "sd": np.sqrt(var.clip(lower=0)),
            "n": s["n"].astype(int),
            "synapse_density": s["dens"] / s["n"],
        }
    )
    q = pd.DataFrame(
        [(arm, t, *_count_quantiles(g)) for (arm, t), g in counts.sort_index().groupby(level=["arm", "time_h"])],
        columns=["arm", "time_h", *(name for name, _ in _QUANTILES)],
    )
    return out.merge(q, on=["arm", "time_h"], how="left")[SERIES_COLUMNS]


def _count_quantiles(counts: pd.Series) -> list[float]:
    """numpy's linear-interpolation percentiles of the values that ``counts`` (rounded value -> count,
    sorted) describes, computed from the counts alone."""
    values = counts.index.get_level_values("value").to_numpy() / _PER_POINT
    cum = np.cumsum(counts.to_numpy(np.int64))
    n = int(cum[-1])
    out = []
    for _, q in _QUANTILES:
        h = (n - 1) * q  # the virtual index of numpy's linear method
        lo = int(np.floor(h))
        a = values[np.searchsorted(cum, lo, side="right")]  # the lo-th smallest value (0-based)
        b = values[np.searchsorted(cum, min(lo + 1, n - 1), side="right")]
        g = h - lo
        out.append(float(a + (b - a) * g if g < 0.5 else b - (b - a) * (1 - g)))  # as numpy's _lerp
    return out


@dataclass(frozen=True)
class TrialResult:
    """Per-patient endpoints, per-arm summaries with CIs, comparisons against the control arm."""

    run_id: str
    endpoints: pd.DataFrame
    series: pd.DataFrame
    arms: dict[str, dict[str, dict[str, float]]]
    comparisons: list[dict[str, Any]]
    control: str
    seed: int
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)  # a few patients' trajectories per arm
    #: per arm, the start times (h after the first dose) of its doses and control sessions (for figures)
    dose_times: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    #: the trial's remission threshold (MADRS <= this)
    remission_threshold: float = 10.0

    @classmethod
    def build(cls, run_id: str, ep: pd.DataFrame, series: pd.DataFrame, control: str, seed: int,
              examples: pd.DataFrame | None = None, member_ratios: np.ndarray | None = None,
              dose_times: Mapping[str, Sequence[float]] | None = None,
              remission_threshold: float = 10.0) -> TrialResult:  # fmt: skip
        """Summaries over the analysis set (patients who met the entry criteria); ``n_screened`` counts all.

        ``series`` per (arm, time_h): the mean MADRS with its 95% CI (``lower``/``upper``), the SD, ``n``,
        and the VPC quantiles ``median``, ``p05``, ``p95`` of the patients (see ``VPC_RESOLUTION``).
        ``dose_times`` and ``remission_threshold`` describe the design for the figure.

        With ``member_ratios`` (``Population.member_ratios`` of a calibrated virtual population) every
        estimate also carries ``model_lower``/``model_upper``: the 2.5-97.5% range of that estimate over
        the ensemble's weight sets (the same simulated patients reweighted), i.e. the uncertainty the
        calibration data leave in the model, beside the Monte-Carlo CI (``lower``/``upper``).
        """
        analysed = ep[ep["included"].astype(bool)] if "included" in ep else ep
        arms: dict[str, dict[str, dict[str, float]]] = {}
        for arm, g in analysed.groupby("arm", sort=False):
            arms[str(arm)] = _arm_summary(g)
            screened = float((ep["arm"] == arm).sum())
            arms[str(arm)]["n_screened"] = {"estimate": screened, "lower": math.nan, "upper": math.nan}
        comparisons = [_compare(analysed, a, control) for a in arms if a != control and control in arms]
        if member_ratios is not None and member_ratios.shape[1] > 1:
            _model_intervals(analysed, member_ratios, arms, comparisons)
        doses = {str(a): tuple(float(x) for x in t) for a, t in (dose_times or {}).items()}
        return cls(run_id, ep, series, arms, comparisons, control, seed,
                   examples if examples is not None else pd.DataFrame(), doses, float(remission_threshold))  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """``{"run_id", "arms": {ARM: {ENDPOINT: value}}, "comparisons": [...]}`` (NaN -> None)."""
        counts = ("n", "n_screened")  # whole patients, written as integers
        arms = {a: {k: int(v["estimate"]) if k in counts else v["estimate"] for k, v in d.items()}
                for a, d in self.arms.items()}  # fmt: skip
        return jsonable(
            {
                "run_id": self.run_id,
                "seed": self.seed,
                "control": self.control,
                "arms": arms,
                "arms_ci": self.arms,
                "comparisons": self.comparisons,
                "design": {"dose_times_h": self.dose_times, "remission_threshold": self.remission_threshold},
            }
        )

    @classmethod
    def from_tables(cls, run_id: str, endpoints: pd.DataFrame, series: pd.DataFrame, control: str,
                    seed: int, member_ratios: np.ndarray | None = None, **design: Any) -> TrialResult:  # fmt: skip
        """Rebuild a result from its per-patient endpoint rows and coarse series (e.g. read from a store),
        through the same accumulator as the run, so the series (VPC quantiles included) are the run's."""
        acc = SeriesAccumulator()
        acc.add(endpoints, series)
        return acc.result(run_id, control, seed, member_ratios, **design)

    def plot(self, path: str | Path | None = None, *, reference: Mapping[str, Any] | None = None) -> Any:
        """The trial figure (``trials.plot.plot_trial``): MADRS per arm as a visual predictive check, rates
        per visit; ``reference``: a scenario's ``[reference]`` table, drawn as published points."""
        return plot_trial(self, path, reference=reference)


def _endpoint_columns(ep: pd.DataFrame) -> list[str]:
    skip = {"patient", "arm", "responder_at_relapse_start", "relapsed", "included", "dropout_at_h"}
    return [c for c in ep.columns if (c not in skip and not c.startswith("madrs_") and not c.endswith("_baseline"))
            or c.startswith("madrs_change_")]  # fmt: skip


def _arm_summary(g: pd.DataFrame) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {"n": {"estimate": float(len(g)), "lower": math.nan, "upper": math.nan}}
    for col in _endpoint_columns(g):
        if col == "time_to_relapse_d":
            resp = g[g["responder_at_relapse_start"].astype(bool)]
            km = kaplan_meier_median(resp["time_to_relapse_d"], resp["relapsed"].astype(bool))
            out["median_time_to_relapse_d"] = {"estimate": km["median"], "lower": math.nan, "upper": math.nan}
            continue
        x = g[col].dropna()
        if x.dtype == bool:
            out[col] = proportion_ci(int(x.sum()), int(x.size))
        else:
            out[col] = mean_ci(x.to_numpy(float))
    return out


def _compare(ep: pd.DataFrame, arm: str, control: str) -> dict[str, Any]:
    a, c = ep[ep["arm"] == arm], ep[ep["arm"] == control]
    res: dict[str, Any] = {"arm": arm, "versus": control, "endpoints": {}}
    for col in _endpoint_columns(ep):
        if col == "time_to_relapse_d":
            both = ep[ep["arm"].isin([arm, control]) & ep["responder_at_relapse_start"].astype(bool)]
            hr = hazard_ratio(
                both["time_to_relapse_d"], both["relapsed"].astype(bool), (both["arm"] == arm).astype(int)
            )
            res["endpoints"]["relapse_hazard_ratio"] = hr
            continue
        x, y = a[col].dropna(), c[col].dropna()
        if len(x) < 2 or len(y) < 2:
            continue
        if x.dtype == bool:
            k1, n1, k2, n2 = int(x.sum()), len(x), int(y.sum()), len(y)
            res["endpoints"][col] = {
                "risk_difference": risk_difference(k1, n1, k2, n2),
                "odds_ratio": odds_ratio(k1, n1, k2, n2),
            }
        elif col.startswith(tuple(f"{s}_change_" for s in SCALES)):  # the MADRS and the other rating scales
            res["endpoints"][col] = {
                "mean_difference": mean_difference(x, y),
                "hedges_g": hedges_g(x, y),
            }
    return res


def _model_intervals(ep: pd.DataFrame, ratios: np.ndarray, arms: dict[str, dict[str, dict[str, float]]],
                     comparisons: list[dict[str, Any]]) -> None:  # fmt: skip
    """Add the ensemble range of every arm estimate and of every mean or risk difference (in place)."""
    w = ratios[ep["patient"].to_numpy(int), 1:]  # the refitted members; member 0 is the estimate itself
    by_arm = {str(a): (ep["arm"] == a).to_numpy() for a in arms}

    def members(arm: str, col: str) -> np.ndarray:
        x = ep[col].to_numpy(float)
        ok = by_arm[arm] & np.isfinite(x)
        ww = w[ok]
        return (ww * x[ok, None]).sum(axis=0) / ww.sum(axis=0)

    def put(target: dict[str, float], values: np.ndarray) -> None:
        target["model_lower"], target["model_upper"] = (float(v) for v in np.percentile(values, [2.5, 97.5]))

    for arm, summary in arms.items():
        for col in _endpoint_columns(ep):
            if col in summary:
                put(summary[col], members(arm, col))
    for comp in comparisons:
        for col, stats in comp["endpoints"].items():
            diff = members(comp["arm"], col) - members(comp["versus"], col) if col in ep else None
            if diff is None:
                continue
            key = "mean_difference" if "mean_difference" in stats else "risk_difference"
            if key in stats:
                put(stats[key], diff)
