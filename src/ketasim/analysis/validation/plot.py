"""Validation figures: per study, the published values with their CIs over the model's prediction band.

For a trial study the figure is a predictive check over time: the model's mean MADRS change per arm
with the band a trial of the published size would fall in (mean +- 1.96 x the published SE, or SD /
sqrt(50) where none was published), the published changes with their CIs at their visits, and the
arms' doses marked on the time axis; the model's response and remission rates at each visit with
their bands beside the published rates; and one small panel per other row (effect sizes, blood
pressure). Every band is named in the legend. The MADRS panel is a change from each arm's mean baseline
rating (as the endpoint is), on which response (a 50% fall from each patient's baseline) and remission
(an absolute score) have no line: the panel says so instead. Other studies get one small panel per row,
published value (95% CI) beside the model and the row's tolerance band, each on its own y-axis (a
bioavailability and a half-life share no scale).

Beside them, ``plot_validation`` writes ``pk.png``: every PK study in one figure, one panel per study, each
row as model / published value on a shared log axis (``pk_figure``, in ``_pk_figure``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ketasim.analysis.validation._pk_figure import PK_FIGURE, pk_figure, plot_pk
from ketasim.analysis.validation._validate import Row
from ketasim.errors import OutputError
from ketasim.plotting import mark_doses, mark_observed, pyplot, save_figure
from ketasim.trials.endpoints import label_hours
from ketasim.trials.plot import mean_baselines

__all__ = ["PK_FIGURE", "pk_figure", "plot_pk", "plot_validation", "study_figure"]


def plot_validation(rows: Iterable[Row], directory: str | Path, results: Mapping[str, Any] | None = None) -> list[Path]:
    """One figure per study (``study_figure``) written into ``directory``, and ``pk.png`` (``pk_figure``,
    where some row is of a PK study); ``results``: the trial results ``validate`` kept."""
    plt = pyplot()
    out = Path(directory)
    if out.exists() and not out.is_dir():
        raise OutputError(out, "is a file; give a folder for the validation figures")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, exc.strerror or type(exc).__name__) from None
    paths = []
    rows = list(rows)
    by_study: dict[str, list[Row]] = {}
    for r in rows:
        by_study.setdefault(r.study, []).append(r)
    for study, rs in by_study.items():
        p = out / f"{study}.png"
        fig = study_figure(rs, (results or {}).get(study))
        save_figure(fig, p)
        plt.close(fig)
        paths.append(p)
    pk = plot_pk(rows, out / PK_FIGURE)
    if pk is not None:
        paths.append(pk)
    return paths


def study_figure(rows: list[Row], result: Any = None) -> Any:
    """The figure of one study's rows (see the module doc); ``result``: its virtual trial, if it is one."""
    if result is not None:
        return _predictive_check(rows, result)
    plt = pyplot()
    fig, axes = plt.subplots(1, len(rows), figsize=(max(4.5, 2.6 * len(rows)), 4.4), squeeze=False)
    for k, (ax, r) in enumerate(zip(axes[0], rows, strict=True)):
        _row_panel(ax, r, legend=k == 0)
    site = f"\nsampled: {rows[0].site}" if rows[0].site else ""
    fig.suptitle(f"{rows[0].study}: {rows[0].citation[:110]}{site}", fontsize=8)
    fig.tight_layout()
    return fig


#: legends go below their panel, clear of the data
_BELOW: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (0.0, -0.2), "frameon": False}


def _row_panel(ax: Any, r: Row, *, legend: bool) -> None:
    """One row: the published value with its 95% CI, the tolerance band around it, the model's value."""
    half = 1.96 * r.observed_se if r.observed_se > 0 else np.nan
    ax.bar(0.1, 2 * r.tolerance, bottom=r.observed - r.tolerance, width=0.35, alpha=0.15, color="tab:blue",
           label="tolerance band (pass if the model is inside)")  # fmt: skip
    mark_observed(ax, [-0.1], [r.observed], [r.observed - half], [r.observed + half], color="k",
                  label="published (95% CI where published)")  # fmt: skip
    if r.band is not None:  # a population PK study: the spread of its virtual subjects (of a CV: of studies)
        what = "CVs of studies of the published size" if r.quantity.startswith("cv_") else "virtual subjects"
        ax.vlines(0.1, *r.band, color="tab:gray", lw=6, alpha=0.5, zorder=6, label=f"model: 5-95% of {what}")
    ax.scatter([0.1], [r.predicted], marker="D", c="tab:green" if r.passed else "tab:red", zorder=7,
               label="model (median where a band is drawn; green: pass, red: fail)")  # fmt: skip
    ax.set_xlim(-0.6, 0.6)
    ax.set_xticks([0])
    ax.set_xticklabels([f"{r.arm or ''}{' (cal.)' if r.calibrated else ''}"], fontsize=7)
    ax.set_ylabel(r.quantity, fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    if legend:
        ax.legend(fontsize=6.5, **_BELOW)


def _published_n(row: Row) -> float:
    """The size of the published arm, from its SE where the row gives one (else 50)."""
    return 50.0 if row.observed_se <= 0 else float(row.observed_se) ** -2


def _predictive_check(rows: list[Row], result: Any) -> Any:
    plt = pyplot()
    rate_rows = [r for r in rows if r.quantity.startswith(("response_", "remission_"))]
    other = [r for r in rows if r not in rate_rows and not r.quantity.startswith("madrs_change_")]
    ratios = [3.0] + ([2.0] if rate_rows else []) + [0.9] * len(other)
    fig, axes = plt.subplots(1, len(ratios), figsize=(7 + 2.5 * bool(rate_rows) + 1.6 * len(other), 6.0),
                             gridspec_kw={"width_ratios": ratios}, squeeze=False)  # fmt: skip
    ax1 = axes[0][0]
    colors = _change_panel(ax1, rows, result)
    if rate_rows:
        _rates_panel(axes[0][1], rate_rows, colors)
    for k, r in enumerate(other):
        _row_panel(axes[0][1 + bool(rate_rows) + k], r, legend=k == 0)
    fig.suptitle(f"{rows[0].study}: {rows[0].citation[:110]}", fontsize=8)
    fig.tight_layout()
    return fig


def _change_panel(ax1: Any, rows: list[Row], result: Any) -> dict[str, str]:
    colors: dict[str, str] = {}
    baselines = mean_baselines(result)
    for arm, g in result.series.groupby("arm", sort=False):
        g = g.sort_values("time_h")
        t = g["time_h"].to_numpy()
        base = baselines.get(str(arm), float(np.interp(0.0, t, g["mean"].to_numpy())))
        change = g["mean"].to_numpy() - base
        rows_arm = [r for r in rows if r.arm == arm and r.quantity.startswith("madrs_change_")]
        # a trial of the published size: the published SE where there is one, else n = 50
        se = rows_arm[0].observed_se if rows_arm and rows_arm[0].observed_se > 0 else None
        half = 1.96 * (np.full(t.size, se) if se else g["sd"].to_numpy() / np.sqrt(50.0))
        (line,) = ax1.plot(t / 24, change, lw=2, label=f"{arm}: model mean")
        color = line.get_color()
        colors[str(arm)] = color
        size = "published SE" if se else "SD / sqrt(50)"
        ax1.fill_between(t / 24, change - half, change + half, color=color, alpha=0.2, lw=0,
                         label=f"{arm}: where a trial of the published size would fall (±1.96 x {size})")  # fmt: skip
        if rows_arm:
            hours = [label_hours(r.quantity.rsplit("_", 1)[1]) for r in rows_arm]
            obs = [r.observed for r in rows_arm]
            half_obs = [1.96 * r.observed_se if r.observed_se > 0 else np.nan for r in rows_arm]
            mark_observed(ax1, [h / 24 for h in hours], obs, np.subtract(obs, half_obs), np.add(obs, half_obs),
                          color=color, label=f"{arm}: published (95% CI)")  # fmt: skip
        times = getattr(result, "dose_times", {}).get(str(arm), ())
        if times:
            mark_doses(ax1, [x / 24 for x in times], color=color, row=len(colors) - 1,
                       label=f"{arm}: dose / control-session times")  # fmt: skip
    ax1.axhline(0, color="grey", lw=0.5)
    ax1.set_xlabel("days since first dose")
    ax1.set_ylabel("MADRS change from the mean baseline rating (points)", fontsize=8)
    ax1.set_title("MADRS change. No response or remission line: a response is a 50% fall from each patient's\n"
                  "own baseline and remission an absolute score, neither a fixed change", loc="left", fontsize=7,
                  color="0.3")  # fmt: skip
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=6.5, **_BELOW)
    return colors


def _rates_panel(ax2: Any, rate_rows: list[Row], colors: Mapping[str, str]) -> None:
    for k, r in enumerate(rate_rows):
        p, n = r.predicted, max(_published_n(r), 5.0)
        half = 1.96 * np.sqrt(max(p * (1 - p), 1e-4) / n)
        color = colors.get(str(r.arm), "tab:blue")
        first = k == 0
        ax2.bar(k, 2 * half, bottom=p - half, width=0.5, color=color, alpha=0.25,
                label="model: where a trial of the published size would fall (95%)" if first else None)  # fmt: skip
        ax2.plot([k - 0.25, k + 0.25], [p, p], color=color, lw=2, label="model rate" if first else None)
        h_obs = 1.96 * r.observed_se if r.observed_se > 0 else np.nan
        mark_observed(ax2, [k], [r.observed], [r.observed - h_obs], [r.observed + h_obs], color="k",
                      label="published (95% CI)" if first else None)  # fmt: skip
    ax2.set_xticks(range(len(rate_rows)))
    ax2.set_xticklabels([f"{r.quantity}\n{r.arm}" for r in rate_rows], fontsize=7, rotation=30)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("fraction of patients")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=6.5, **_BELOW)
