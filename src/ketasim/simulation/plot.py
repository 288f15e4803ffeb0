"""The all-layer figure of one simulation: every layer of the causal chain on a shared time axis.

Layout and conventions (each is tested):

- One y-quantity per axis: every panel plots variables of one unit (plasma ng/mL, block fraction, fold of
  baseline, ...), so the synapse density and the plasticity window, and the dissociation (CADSS points)
  and the blood pressure (mmHg), have panels of their own.
- The time axis is ``asinh`` (``plotting.time_axis``): the first hour nearly linear, days logarithmic,
  and smooth in between. The earlier symlog axis switched from linear to logarithmic at 6 h, and every
  curve showed a kink there that was not in the model. A linear axis in days would squeeze the infusion,
  the glutamate pulse and the dissociation into a sliver; an inset would split the curves in two.
- Dose markers (triangles on the time axis) at every dose and control session of the regimen.
- The MADRS panel: the remission threshold (MADRS <= 10) and the response threshold, which is relative
  (a 50% fall from the patient's own baseline), drawn at 50% of the (mean) pre-dose rating and labelled so.
- With several patients each line is the median with the 5-95% band of the patients (a visual predictive
  check), and the legend says so.
- Published values (``ReferencePoint``: the validation reference of the protocol, see
  ``ketasim.analysis.validation.reference_points``) as points with their bars on the matching panel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ketasim.dosing import Regimen
from ketasim.plotting import finish_figure, mark_doses, mark_observed, mark_threshold, pyplot, time_axis

__all__ = ["CONTROL_SESSIONS", "PANELS", "ReferencePoint", "dose_times", "plot_chain"]

#: (title, y label: the one quantity of the panel, [(variable, legend label), ...])
PANELS = (
    ("1  Plasma (venous; total ketamine also arterial)", "plasma (ng/mL)",
     [("ketamine_plasma", "ketamine"), ("esketamine_plasma", "S-ketamine"), ("arketamine_plasma", "R-ketamine"),
      ("norketamine_plasma", "norketamine"), ("ketamine_arterial", "ketamine, arterial")]),
    ("2  NMDA receptor block", "fraction blocked",
     [("nmda_interneuron_block", "interneurons"), ("nmda_occupancy", "pyramidal cells")]),
    ("3  Circuit", "fold of baseline", [("pyramidal_rate", "pyramidal rate"), ("glutamate", "glutamate")]),
    ("4  Signalling", "fold of baseline",
     [("bdnf", "BDNF"), ("mtorc1", "mTORC1"), ("synaptic_protein", "synaptic proteins")]),
    ("5  Synapse density", "fraction of healthy", [("synapse_density", "synapse density")]),
    ("6  Plasticity window", "open fraction (0-1)", [("plasticity_window", "plasticity window")]),
    ("7  Depression (MADRS)", "MADRS (points)", [("madrs", "MADRS total")]),
    ("8  Dissociation (CADSS)", "CADSS (points)", [("cadss", "CADSS")]),
    ("9  Blood pressure", "systolic rise (mmHg)", [("sbp_change", "systolic rise")]),
)  # fmt: skip

#: Session kinds that stand in for a dose (controls), marked like doses.
CONTROL_SESSIONS = ("saline", "placebo_spray", "midazolam", "oral_antidepressant")


@dataclass(frozen=True)
class ReferencePoint:
    """A published value drawn on the headline figure: ``variable`` (a dataset variable) at ``time_h``
    (hours after the first dose), with a bar from ``lower`` to ``upper`` (NaN: none); ``label`` names
    the source, the quantity and what the bar is."""

    variable: str
    time_h: float
    value: float
    lower: float
    upper: float
    label: str


def dose_times(regimen: Regimen) -> list[float]:
    """Start times (h) of every dose of the regimen and of every control session standing in for one."""
    times = {d.at_h for d in regimen.doses} | {s.at_h for s in regimen.sessions if s.kind.value in CONTROL_SESSIONS}
    return sorted(times)


def plot_chain(
    ds: xr.Dataset,
    path: str | Path | None = None,
    *,
    patient: int | None = None,
    reference: Iterable[ReferencePoint] | None = None,
    regimen: Regimen | None = None,
    remission_threshold: float = 10.0,
) -> Any:
    """Draw each layer in its own panel (see the module doc); with several patients, the median and the
    5-95% band. ``reference``: published points to draw; ``regimen``: marks its doses on the time axis."""
    plt = pyplot()
    t = ds["time"].values
    n = 1 if patient is not None else int(ds.sizes["patient"])
    t0 = float(ds.attrs.get("first_dose_h", 0.0))
    refs = list(reference or [])
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(9, 1.75 * len(PANELS) + 0.6), sharex=True)
    for k, (ax, (title, ylabel, series)) in enumerate(zip(axes, PANELS, strict=True)):
        names = [v for v, _ in series]
        for var, label in series:
            if var not in ds:
                continue
            data = ds[var].values
            if patient is not None:
                data = data[patient : patient + 1]
            if np.nanmax(np.abs(data)) == 0 and var != "madrs" and not any(r.variable == var for r in refs):
                continue
            _draw_series(ax, ds, var, label, data, t, patient)
        if "madrs" in names and "madrs" in ds:
            pre = ds["madrs_pre_dose"].values if "madrs_pre_dose" in ds else ds["madrs"].values[:, 0]
            base = float(np.mean(pre if patient is None else pre[patient : patient + 1]))
            mark_threshold(ax, remission_threshold, f"remission: MADRS ≤ {remission_threshold:g}", style=":")
            who = "the patient's baseline" if n == 1 else "the mean baseline"
            mark_threshold(ax, 0.5 * base, f"response: 50% of {who} ({0.5 * base:.1f}); relative to each baseline")
            ax.set_ylim(bottom=0)
        here = [r for r in refs if r.variable in names]
        for r in here:
            mark_observed(ax, [t0 + r.time_h], [r.value], [r.lower], [r.upper], label=r.label, color="k")
        if regimen is not None:
            mark_doses(ax, [t0 + x for x in dose_times(regimen)], label="dose" if k == 0 else None)
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if n > 1 and handles:  # one proxy for the bands of every line of the panel
            from matplotlib.patches import Patch

            handles.append(Patch(color="0.5", alpha=0.3, lw=0))
            labels.append(f"shaded: 5-95% of the {n} patients")
        if handles:
            ax.legend(handles, labels, fontsize=6.5, loc="best")
    time_axis(axes[-1], float(t[0]), float(t[-1]))
    axes[-1].set_xlabel(
        "time since the first dose (asinh scale: nearly linear over the first hour, logarithmic over days, "
        "smooth in between)",
        fontsize=8,
    )
    who = f"patient {patient}" if patient is not None else (f"{n} patients" if n > 1 else "one patient")
    return finish_figure(fig, f"ketasim: {ds.attrs.get('protocol') or ds.attrs.get('regimen')} ({who})", path,
                         fontsize=11)  # fmt: skip


def _draw_series(ax: Any, ds: xr.Dataset, var: str, label: str, data: np.ndarray, t: np.ndarray,
                 patient: int | None) -> None:  # fmt: skip
    """One variable: the line (one patient) or the median with the 5-95% band (several), ``gid=var``."""
    tt: Sequence[float] | np.ndarray = t
    if var == "madrs" and "madrs_pre_dose" in ds:
        # start from the pre-dose rating (the summary's baseline): a session's expectancy acts at
        # its start, so the value at time 0 is already after it
        pre = ds["madrs_pre_dose"].values
        pre = pre[patient : patient + 1] if patient is not None else pre
        tt, data = np.r_[t[0], t], np.column_stack([pre, data])
    several = data.shape[0] > 1
    centre = np.median(data, axis=0) if several else data[0]
    (line,) = ax.plot(tt, centre, label=f"{label} (median)" if several else label, lw=1.6, gid=var)
    if tt is not t:  # the pre-dose rating, visible on the axis (the drop at time 0 lies on it)
        ax.plot(tt[:1], centre[:1], "o", ms=4, color=line.get_color(), clip_on=False, gid=var,
                label=f"before the first session ({centre[0]:.0f})")  # fmt: skip
    if several:
        lo, hi = np.percentile(data, [5, 95], axis=0)
        ax.fill_between(tt, lo, hi, color=line.get_color(), alpha=0.2, lw=0, gid=f"{var}:band")
