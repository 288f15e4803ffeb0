"""The trial figure: MADRS over time per arm (mean with 95% CI, the spread of patients, a few patients'
own courses), and response rates per visit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ketasim.plotting import finish_figure, pyplot

__all__ = ["plot_trial"]


def plot_trial(result: Any, path: str | Path | None = None) -> Any:
    """MADRS per arm over time: mean with 95% CI (dark band), mean +- SD of the patients (light band) and
    a few patients' own courses (thin lines); response rates with CIs per visit."""
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    s = result.series
    examples = getattr(result, "examples", None)
    for arm, g in s.groupby("arm", sort=False):
        g = g.sort_values("time_h")
        days = g["time_h"].to_numpy() / 24
        (line,) = ax1.plot(days, g["mean"], lw=2, label=f"{arm} (n={int(g['n'].max())})")
        color = line.get_color()
        ax1.fill_between(days, g["lower"], g["upper"], color=color, alpha=0.35, lw=0)
        if "sd" in g:
            ax1.fill_between(days, g["mean"] - g["sd"], g["mean"] + g["sd"], color=color, alpha=0.1, lw=0)
        if examples is not None and not examples.empty:
            for _, one in examples[examples["arm"] == arm].groupby("patient"):
                one = one.sort_values("time_h")
                ax1.plot(one["time_h"] / 24, one["madrs"], color=color, lw=0.5, alpha=0.5)
    ax1.set_xlabel("days since first dose")
    ax1.set_ylabel("MADRS: mean (95% CI), +-SD, single patients")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    visits = sorted(
        {k.split("_", 1)[1] for d in result.arms.values() for k in d if k.startswith("response_")}, key=_visit_key
    )
    arms = list(result.arms)
    width = 0.8 / max(len(arms), 1)
    for i, arm in enumerate(arms):
        est = [result.arms[arm].get(f"response_{v}", {}).get("estimate", np.nan) for v in visits]
        lo = [result.arms[arm].get(f"response_{v}", {}).get("lower", np.nan) for v in visits]
        hi = [result.arms[arm].get(f"response_{v}", {}).get("upper", np.nan) for v in visits]
        x = np.arange(len(visits)) + i * width
        err = np.clip(np.array([np.subtract(est, lo), np.subtract(hi, est)]), 0.0, None)
        ax2.bar(x, est, width, yerr=err, capsize=3, label=arm)
    ax2.set_xticks(np.arange(len(visits)) + width * (len(arms) - 1) / 2)
    ax2.set_xticklabels(visits)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("response rate (>= 50% MADRS fall), 95% CI")
    ax2.legend(fontsize=8)
    return finish_figure(fig, f"ketasim trial {result.run_id} (seed {result.seed})", path)


def _visit_key(label: str) -> float:
    return float(label[:-1]) * (24 if label.endswith("d") else 1)
