"""Validation figures: per study, the published values with their CIs over the model's prediction band.

For a trial study the figure is a predictive check over time: the model's mean MADRS change per arm
with the band a trial of the published size would fall in (mean +- 1.96 x the published SE, or SD /
sqrt(50) where none was published), the published
changes with their CIs at their visits; and the model's response and remission rates at each visit
with their bands beside the published rates. Other studies get observed-versus-predicted points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ketasim.analysis.validation._validate import Row
from ketasim.plotting import pyplot, save_figure

__all__ = ["plot_validation"]


def plot_validation(rows: Iterable[Row], directory: str | Path, results: Mapping[str, Any] | None = None) -> list[Path]:
    """One figure per study (see the module doc); ``results``: the trial results ``validate`` kept."""
    plt = pyplot()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    by_study: dict[str, list[Row]] = {}
    for r in rows:
        by_study.setdefault(r.study, []).append(r)
    for study, rs in by_study.items():
        if results and study in results:
            p = out / f"{study}.png"
            _predictive_check(rs, results[study], p)
            paths.append(p)
            continue
        fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(rs) + 2), 3.6))
        x = np.arange(len(rs))
        obs = np.array([r.observed for r in rs])
        ax.errorbar(x - 0.1, obs, yerr=1.96 * np.array([r.observed_se for r in rs]), fmt="o", color="k", capsize=4,
                    label="observed (95% CI where published)")  # fmt: skip
        pred = np.array([r.predicted for r in rs])
        tol = np.array([r.tolerance for r in rs])
        ax.bar(x + 0.1, 2 * tol, bottom=obs - tol, width=0.35, alpha=0.15, color="tab:blue", label="tolerance band")
        colors = ["tab:green" if r.passed else "tab:red" for r in rs]
        ax.scatter(x + 0.1, pred, marker="D", c=colors, zorder=3, label="model")
        ax.set_xticks(x)
        ax.set_xticklabels([f"{r.quantity}\n{r.arm or ''}{' (cal.)' if r.calibrated else ''}" for r in rs], fontsize=7)
        ax.set_title(f"{study}: {rs[0].citation[:90]}", fontsize=8)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        p = out / f"{study}.png"
        save_figure(fig, p)
        plt.close(fig)
        paths.append(p)
    return paths


def _published_n(row: Row) -> float:
    """The size of the published arm, from its SE where the row gives one (else 50)."""
    return 50.0 if row.observed_se <= 0 else float(row.observed_se) ** -2


def _visit_hours(label: str) -> float:
    return float(label[:-1]) * (24 if label.endswith("d") else 1)


def _predictive_check(rows: list[Row], result: Any, path: Path) -> None:
    plt = pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    series = result.series
    colors: dict[str, str] = {}
    for arm, g in series.groupby("arm", sort=False):
        g = g.sort_values("time_h")
        t = g["time_h"].to_numpy()
        base = float(np.interp(0.0, t, g["mean"].to_numpy()))
        change = g["mean"].to_numpy() - base
        rows_arm = [r for r in rows if r.arm == arm and r.quantity.startswith("madrs_change_")]
        # a trial of the published size: the published SE where there is one, else n = 50
        se = rows_arm[0].observed_se if rows_arm and rows_arm[0].observed_se > 0 else None
        half = 1.96 * (np.full(t.size, se) if se else g["sd"].to_numpy() / np.sqrt(50.0))
        (line,) = ax1.plot(t / 24, change, lw=2, label=f"{arm}: model")
        colors[str(arm)] = line.get_color()
        ax1.fill_between(t / 24, change - half, change + half, color=line.get_color(), alpha=0.2, lw=0)
        for r in rows_arm:
            h = _visit_hours(r.quantity.rsplit("_", 1)[1])
            ax1.errorbar(h / 24, r.observed, yerr=1.96 * r.observed_se or None, fmt="o", color=line.get_color(),
                         mec="k", capsize=3)  # fmt: skip
    ax1.axhline(0, color="grey", lw=0.5)
    ax1.set_xlabel("days since first dose")
    ax1.set_ylabel("MADRS change (model mean, band for a trial of the published size)")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    rate_rows = [r for r in rows if r.quantity.startswith(("response_", "remission_"))]
    for k, r in enumerate(rate_rows):
        p, n = r.predicted, max(_published_n(r), 5.0)
        half = 1.96 * np.sqrt(max(p * (1 - p), 1e-4) / n)
        color = colors.get(str(r.arm), "tab:blue")
        ax2.bar(k, 2 * half, bottom=p - half, width=0.5, color=color, alpha=0.25)
        ax2.plot([k - 0.25, k + 0.25], [p, p], color=color, lw=2)
        ax2.errorbar(k, r.observed, yerr=1.96 * r.observed_se or None, fmt="o", color="k", capsize=3)
    ax2.set_xticks(range(len(rate_rows)))
    ax2.set_xticklabels([f"{r.quantity}\n{r.arm}" for r in rate_rows], fontsize=7, rotation=30)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("rate: model (band) vs published (95% CI)")
    ax2.grid(alpha=0.3)
    fig.suptitle(f"{rows[0].study}: {rows[0].citation[:110]}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
