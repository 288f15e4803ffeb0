"""Figures: the whole causal chain of one simulation on a shared time axis."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ketasim.result import Result

__all__ = ["atomic_savefig", "finish_figure", "plot_chain", "plot_trial", "plot_validation"]

PANELS = (
    ("1  Plasma (venous)", [("ketamine_plasma", "ketamine"), ("esketamine_plasma", "S-ketamine"),
                            ("arketamine_plasma", "R-ketamine"), ("norketamine_plasma", "norketamine")], "ng/mL"),
    ("2  NMDA receptor block",
     [("nmda_interneuron_block", "interneurons"), ("nmda_occupancy", "pyramidal cells")], "fraction"),
    ("3  Circuit", [("pyramidal_rate", "pyramidal rate"), ("glutamate", "glutamate")], "fold"),
    ("4  Signalling", [("bdnf", "BDNF"), ("mtorc1", "mTORC1"), ("synaptic_protein", "synaptic proteins")], "fold"),
    ("5  Synapses", [("synapse_density", "density"), ("plasticity_window", "plasticity window")], "fraction"),
    ("6  Depression (MADRS)", [("madrs", "MADRS total")], "points"),
    ("7  Side effects", [("cadss", "CADSS"), ("sbp_change", "SBP rise (mmHg)")], "points / mmHg"),
)  # fmt: skip


def _mpl() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_chain(result: Result, path: str | Path | None = None, *, patient: int | None = None) -> Any:
    """Draw each layer in its own panel; with several patients, the mean and 5-95% band."""
    plt = _mpl()
    ds = result.dataset
    t = ds["time"].values
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(9, 2.0 * len(PANELS)), sharex=True)
    for ax, (title, series, unit) in zip(axes, PANELS, strict=True):
        for var, label in series:
            data = ds[var].values
            if patient is not None:
                data = data[patient : patient + 1]
            if np.nanmax(np.abs(data)) == 0 and var != "madrs":
                continue
            mean = data.mean(axis=0)
            (line,) = ax.plot(t, mean, label=label, lw=1.6)
            if data.shape[0] > 1:
                lo, hi = np.percentile(data, [5, 95], axis=0)
                ax.fill_between(t, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel(unit, fontsize=8)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper right")
    ax = axes[-1]
    ax.set_xscale("symlog", linthresh=6.0)  # first hours linear, days compressed: the chain spans both
    ticks = [x for x in (0, 1, 2, 4, 6, 12, 24, 48, 96, 168, 336, 672, 1344, 2688) if x <= t[-1]]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{x:g} h" if x < 48 else f"{x / 24:g} d" for x in ticks], fontsize=8)
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("time since start (hours, then days; axis linear up to 6 h, logarithmic after)")
    who = (
        f"patient {patient}"
        if patient is not None
        else (f"{ds.sizes['patient']} patients" if ds.sizes["patient"] > 1 else "one patient")
    )
    return finish_figure(fig, f"ketasim: {ds.attrs.get('protocol') or ds.attrs.get('regimen')} ({who})", path,
                         fontsize=11)  # fmt: skip


def finish_figure(fig: Any, title: str, path: str | Path | None, **title_kw: Any) -> Any:
    """Title and lay out ``fig``, write it atomically if ``path`` is given, release it; returns it."""
    plt = _mpl()
    fig.suptitle(title, **title_kw)
    fig.tight_layout()
    if path is not None:
        atomic_savefig(fig, path)
    plt.close(fig)
    return fig


def atomic_savefig(fig: Any, path: str | Path) -> None:
    """Write the figure to a temporary file and rename it, so no half-written file is ever visible."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def plot_trial(result: Any, path: str | Path | None = None) -> Any:
    """MADRS mean with 95% CI over time per arm, and response rates with CIs per visit."""
    plt = _mpl()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    s = result.series
    for arm, g in s.groupby("arm", sort=False):
        g = g.sort_values("time_h")
        days = g["time_h"].to_numpy() / 24
        (line,) = ax1.plot(days, g["mean"], label=f"{arm} (n={int(g['n'].max())})")
        ax1.fill_between(days, g["lower"], g["upper"], color=line.get_color(), alpha=0.2, lw=0)
    ax1.set_xlabel("days since first visit")
    ax1.set_ylabel("MADRS (mean, 95% CI; noise-free model scores)")
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


def plot_validation(rows: Any, directory: str | Path) -> list[Path]:
    """One figure per study: observed values with their tolerance band beside the model's prediction."""
    plt = _mpl()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    by_study: dict[str, list[Any]] = {}
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
        atomic_savefig(fig, p)
        plt.close(fig)
        paths.append(p)
    return paths
