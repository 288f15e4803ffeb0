"""The trial figure: MADRS per arm over time as a visual predictive check, and the rates per visit.

Left, in MADRS points: per arm the median of the virtual patients (solid) with the band that holds 5-95%
of them, a few patients' own courses (thin lines), and the mean (dashed) with its 95% CI; the remission
threshold (an absolute score) and, since a response is a 50% fall from each patient's own baseline, a
line at 50% of the mean baseline, labelled as such; each arm's doses (and control sessions) as
triangles on the time axis; a scenario's published MADRS changes, drawn at the model arm's mean baseline
plus the change, with their 95% intervals. Right, as fractions of patients: the model's response and
remission rates per visit with their 95% Monte-Carlo CIs (bars), and the published rates with their
intervals (points; ``trials.reference`` says how they are obtained).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ketasim.plotting import finish_figure, mark_doses, mark_observed, mark_threshold, pyplot
from ketasim.trials.endpoints import label_hours
from ketasim.trials.reference import ReferenceValue, parse_reference

__all__ = ["mean_baselines", "plot_trial"]


def plot_trial(result: Any, path: str | Path | None = None,
               reference: Mapping[str, Any] | Iterable[ReferenceValue] | None = None) -> Any:  # fmt: skip
    """Draw the trial figure (see the module doc); ``reference``: a scenario's ``[reference]`` table (or
    its parsed values). Writes ``path`` if given; returns the Figure."""
    refs = _reference(reference, list(result.arms))
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6.2), gridspec_kw={"width_ratios": [3, 2]})
    colors = _madrs_panel(ax1, result, refs)
    _rates_panel(ax2, result, refs, colors)
    return finish_figure(fig, f"ketasim trial {result.run_id} (seed {result.seed})", path)


def _reference(reference: Mapping[str, Any] | Iterable[ReferenceValue] | None, arms: list[str]) -> list[ReferenceValue]:
    if reference is None:
        return []
    if isinstance(reference, Mapping):
        return parse_reference(reference, arms)
    return list(reference)


def mean_baselines(result: Any) -> dict[str, float]:
    """Each arm's mean baseline rating over the analysis set (what ``madrs_change_*`` is measured from)."""
    ep = result.endpoints
    if ep.empty or "madrs_baseline" not in ep:
        return {}
    if "included" in ep:
        ep = ep[ep["included"].astype(bool)]
    return {str(a): float(g.mean()) for a, g in ep.groupby("arm", sort=False)["madrs_baseline"]}


def _madrs_panel(ax: Any, result: Any, refs: list[ReferenceValue]) -> dict[str, str]:
    colors: dict[str, str] = {}
    base = mean_baselines(result)
    for i, (arm, g) in enumerate(result.series.groupby("arm", sort=False)):
        arm = str(arm)
        g = g.sort_values("time_h")
        days = g["time_h"].to_numpy(float) / 24
        if {"p05", "p95", "median"} <= set(g):
            (line,) = ax.plot(days, g["median"], lw=2.2, label=f"{arm} (n={int(g['n'].max())}): median", gid="median")
            color = line.get_color()
            ax.fill_between(days, g["p05"], g["p95"], color=color, alpha=0.15, lw=0, gid="vpc_band",
                            label=f"{arm}: 5-95% of virtual patients")  # fmt: skip
        else:  # a result built before the quantiles were kept
            (line,) = ax.plot([], [])
            color = line.get_color()
        _patients(ax, result, arm, color)
        ax.plot(days, g["mean"], color=color, lw=1.2, ls="--", gid="mean", label=f"{arm}: mean (95% CI)")
        ax.fill_between(days, g["lower"], g["upper"], color=color, alpha=0.35, lw=0, gid="mean_ci")
        colors[arm] = color
        times = result.dose_times.get(arm, ()) if hasattr(result, "dose_times") else ()
        if times:
            mark_doses(ax, [t / 24 for t in times], color=color, row=i,
                       label=f"{arm}: dose / control-session times")  # fmt: skip
        if arm in base:  # the rated baseline, before the first session (the series start after its start)
            ax.plot([0], [base[arm]], "o", color=color, mfc="w", mew=1.5, ms=6, clip_on=False, gid="baseline",
                    label=f"{arm}: mean baseline rating ({base[arm]:.1f})")  # fmt: skip
        pts = [r for r in refs if r.arm == arm and r.endpoint.startswith("madrs_change_") and r.visit_h is not None]
        if pts and arm in base:
            b = base[arm]
            has_ci = any(math.isfinite(r.lower) for r in pts)
            mark_observed(ax, [r.visit_h / 24 for r in pts if r.visit_h is not None], [b + r.value for r in pts],
                          [b + r.lower for r in pts], [b + r.upper for r in pts], color=color,
                          label=f"{arm}: published change {'(95% CI) ' if has_ci else '(no CI given) '}"
                                f"drawn at the mean baseline ({b:.1f}) + change")  # fmt: skip
    remission = float(getattr(result, "remission_threshold", 10.0))
    mark_threshold(ax, remission, f"remission: MADRS ≤ {remission:g}", style=":")
    if base:
        ep = result.endpoints
        ep = ep[ep["included"].astype(bool)] if "included" in ep else ep
        half = 0.5 * float(ep["madrs_baseline"].mean())
        mark_threshold(ax, half, f"response: 50% of the mean baseline ({half:.1f}); each patient's own counts")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=-0.02 * max(ax.get_xlim()[1], 1.0))  # the markers at day 0 stay clear of the spine
    ax.set_xlabel("days since first dose")
    ax.set_ylabel("MADRS (points)")
    ax.set_title("MADRS per arm: visual predictive check", loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    return colors


def _patients(ax: Any, result: Any, arm: str, color: str) -> None:
    """A few of the arm's virtual patients as thin lines: individual courses, not only their spread."""
    ex = getattr(result, "examples", None)
    if ex is None or ex.empty:
        return
    mine = ex[ex["arm"].astype(str) == arm]
    n = mine["patient"].nunique()
    for k, (_, p) in enumerate(mine.groupby("patient", sort=False)):
        p = p.sort_values("time_h")
        ax.plot(p["time_h"].to_numpy(float) / 24, p["madrs"], color=color, lw=0.6, alpha=0.45, gid="patient",
                label=f"{arm}: {n} virtual patients, one line each" if k == 0 else None)  # fmt: skip


def _rates_panel(ax: Any, result: Any, refs: list[ReferenceValue], colors: Mapping[str, str]) -> None:
    rate_refs = [r for r in refs if r.arm is not None and r.endpoint.startswith(("response_", "remission_"))]
    keys = {k for d in result.arms.values() for k in d if k.startswith(("response_", "remission_"))}
    keys |= {r.endpoint for r in rate_refs}
    groups = sorted(keys, key=lambda k: (k.startswith("remission_"), label_hours(k.split("_", 1)[1])))
    arms = list(result.arms)
    width = 0.8 / max(len(arms), 1)
    for i, arm in enumerate(arms):
        x = np.arange(len(groups)) + i * width
        est = [result.arms[arm].get(k, {}).get("estimate", np.nan) for k in groups]
        lo = [result.arms[arm].get(k, {}).get("lower", np.nan) for k in groups]
        hi = [result.arms[arm].get(k, {}).get("upper", np.nan) for k in groups]
        err = np.nan_to_num(np.clip(np.array([np.subtract(est, lo), np.subtract(hi, est)]), 0.0, None))
        ax.bar(x, est, width, yerr=err, capsize=3, color=colors.get(arm), alpha=0.55, ecolor="0.3",
               label=f"{arm}: model (95% Monte-Carlo CI)", gid="model_rate")  # fmt: skip
        pts = [(groups.index(r.endpoint), r) for r in rate_refs if r.arm == arm]
        if pts:
            has_ci = any(math.isfinite(r.lower) for _, r in pts)
            mark_observed(ax, [x[j] + width / 4 for j, _ in pts], [r.value for _, r in pts], [r.lower for _, r in pts],
                          [r.upper for _, r in pts], color=colors.get(arm, "k"),
                          label=f"{arm}: published{' (95% CI)' if has_ci else ''}")  # fmt: skip
    ax.set_xticks(np.arange(len(groups)) + width * (len(arms) - 1) / 2)
    ax.set_xticklabels([k.replace("_", "\n", 1) for k in groups], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of patients")
    ax.set_title("response (≥ 50% fall) and remission per visit", loc="left", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
