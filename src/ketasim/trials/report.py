"""A trial result as text tables: per-arm estimates with 95% CIs, and each comparison with the control.

Estimates read ``estimate [95% Monte-Carlo CI] {95% range over the virtual population's ensemble}``:
the first interval shrinks with more virtual patients, the second is what the calibration data leave
open about the model and does not.

Only the cell text is made here; drawing the tables (``ketasim trial`` and ``ketasim report`` use rich)
is left to the caller. Proportions (``response_*``, ``remission_*``, ``sbp_rise_*``) are shown as whole
percentages, other endpoints with two decimals; a missing or non-finite estimate is ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ketasim.trials.estimands import estimands
from ketasim.trials.result import TrialResult

__all__ = ["PERCENT_PREFIXES", "ReportTable", "comparison_tables", "endpoint_table", "estimand_table",
           "format_estimate"]  # fmt: skip

PERCENT_PREFIXES = ("response_", "remission_", "sbp_rise_", "dropout")


@dataclass(frozen=True)
class ReportTable:
    """One table: a ``title``, column headers and rows of cell text (one cell per column)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def format_estimate(value: Mapping[str, float], percent: bool = False) -> str:
    """``"estimate [lower, upper]"`` of an ``{"estimate", "lower", "upper"}`` mapping.

    The interval is left out when ``lower`` is missing or not finite; ``-`` when the estimate is. The
    ensemble range (model uncertainty, ``model_lower``/``model_upper``) follows in braces when present.

    >>> format_estimate({"estimate": 0.4567, "lower": 0.3, "upper": 0.61}, percent=True)
    '46% [30%, 61%]'
    >>> format_estimate({"estimate": -4.1, "lower": -6.0, "upper": -2.2, "model_lower": -5.3, "model_upper": -3.0})
    '-4.10 [-6.00, -2.20] {-5.30, -3.00}'
    >>> format_estimate({"estimate": -12.345, "lower": float("nan"), "upper": float("nan")})
    '-12.35'
    >>> format_estimate({})
    '-'
    """
    est, lo, hi = value.get("estimate", math.nan), value.get("lower", math.nan), value.get("upper", math.nan)
    fmt: Callable[[float], str] = (lambda x: f"{100 * x:.0f}%") if percent else (lambda x: f"{x:.2f}")
    if not math.isfinite(est):
        return "-"
    text = fmt(est) + (f" [{fmt(lo)}, {fmt(hi)}]" if math.isfinite(lo) else "")
    if math.isfinite(value.get("model_lower", math.nan)):
        text += f" {{{fmt(value['model_lower'])}, {fmt(value['model_upper'])}}}"
    return text


def endpoint_table(result: TrialResult, title: str) -> ReportTable:
    """Endpoints (rows) by arm (columns headed ``ARM (n=N)``), titled ``trial RUN_ID: title``."""
    arms = result.arms
    names = [k for k in next(iter(arms.values())) if k != "n"]
    columns = ("endpoint", *(f"{arm} (n={int(d['n']['estimate'])})" for arm, d in arms.items()))
    rows = tuple(
        (name, *(format_estimate(d.get(name, {}), name.startswith(PERCENT_PREFIXES)) for d in arms.values()))
        for name in names
    )
    return ReportTable(f"trial {result.run_id}: {title}", columns, rows)


def comparison_tables(result: TrialResult) -> list[ReportTable]:
    """One table per comparison ``ARM vs CONTROL``: endpoint, statistic, ``estimate [lower, upper]``.

    A time-to-event endpoint (one estimate rather than several statistics) is shown as ``hazard_ratio``.
    """
    tables = []
    for comp in result.comparisons:
        rows: list[tuple[str, ...]] = []
        ranged = False
        for ep, st in comp["endpoints"].items():
            items = st.items() if "estimate" not in st else [("hazard_ratio", st)]
            for sname, v in items:
                model = f" {{{v['model_lower']:.3g}, {v['model_upper']:.3g}}}" if "model_lower" in v else ""
                ranged |= bool(model)
                rows.append((ep, sname, f"{v['estimate']:.3g} [{v['lower']:.3g}, {v['upper']:.3g}]{model}"))
        columns = ("endpoint", "statistic", "estimate [95% CI]" + (" {model range}" if ranged else ""))
        tables.append(ReportTable(f"{comp['arm']} vs {comp['versus']}", columns, tuple(rows)))
    return tables


def estimand_table(result: TrialResult) -> ReportTable | None:
    """The last visit's MADRS change and response by each analysis of ``trials.estimands`` (method, arm),
    with the difference from the control; None when the run recorded no dropout."""
    if "dropout_at_h" not in result.endpoints:
        return None
    t = estimands(result)

    bounds = {"mean_change": "change", "response": "response", "difference": "difference"}

    def cell(r: object, key: str, percent: bool = False) -> str:
        b = bounds[key]
        d = {"estimate": getattr(r, key), "lower": getattr(r, f"{b}_lower"), "upper": getattr(r, f"{b}_upper")}
        return format_estimate(d, percent)

    rows = tuple(
        (str(r.method), str(r.arm), str(r.n), cell(r, "mean_change"), cell(r, "response", True),
         cell(r, "difference") if hasattr(r, "difference") else "-")
        for r in t.itertuples(index=False)
    )  # fmt: skip
    columns = ("analysis", "arm", "n", "MADRS change", "response", "difference vs control")
    return ReportTable(f"estimands at {t['visit'].iloc[0]} (dropout: trials.estimands)", columns, rows)
