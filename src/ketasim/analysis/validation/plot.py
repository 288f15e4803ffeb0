"""Validation figures: observed values with their tolerance band beside the model's prediction."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ketasim.analysis.validation._validate import Row
from ketasim.plotting import pyplot, save_figure

__all__ = ["plot_validation"]


def plot_validation(rows: Iterable[Row], directory: str | Path) -> list[Path]:
    """One figure per study: observed values with their tolerance band beside the model's prediction."""
    plt = pyplot()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    by_study: dict[str, list[Row]] = {}
    for r in rows:
        by_study.setdefault(r.study, []).append(r)
    for study, rs in by_study.items():
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
