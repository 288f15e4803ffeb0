"""The all-layer figure of one simulation: every layer of the causal chain on a shared time axis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ketasim.plotting import finish_figure, pyplot

__all__ = ["PANELS", "plot_chain"]

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


def plot_chain(ds: xr.Dataset, path: str | Path | None = None, *, patient: int | None = None) -> Any:
    """Draw each layer in its own panel; with several patients, the mean and 5-95% band."""
    plt = pyplot()
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
            tt = t
            if var == "madrs" and "madrs_pre_dose" in ds:
                # start from the pre-dose rating (the summary's baseline): a session's expectancy acts at
                # its start, so the value at time 0 is already after it
                pre = ds["madrs_pre_dose"].values
                pre = pre[patient : patient + 1] if patient is not None else pre
                tt, mean, data = np.r_[t[0], t], np.r_[pre.mean(), mean], np.column_stack([pre, data])
            (line,) = ax.plot(tt, mean, label=label, lw=1.6)
            if tt is not t:  # the pre-dose rating, visible on the axis (the drop at time 0 lies on it)
                ax.plot(tt[:1], mean[:1], "o", ms=4, color=line.get_color(), clip_on=False,
                        label=f"before the first session ({mean[0]:.0f})")  # fmt: skip
            if data.shape[0] > 1:
                lo, hi = np.percentile(data, [5, 95], axis=0)
                ax.fill_between(tt, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
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
