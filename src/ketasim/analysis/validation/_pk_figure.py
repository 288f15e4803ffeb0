"""The PK validation figure: every PK study (``kind = "pk"`` in ``reference.toml``) in one figure, one panel
per study.

Each panel shows the study's rows side by side: the published value with its error bar (the published
SD of the subjects where one is given, else its 95% CI, given or 1.96 x its SE; a value published
without uncertainty is a bare mark), the row's tolerance band shaded behind it, the model's median over
the study's virtual subjects with their 5-95% band (a typical-subject prediction has no band: a marker
only), filled where the row passes and open where it fails. The panel title names the study, the dose
and route the model gave (from ``doses``, else the head of ``design``) and the sampling site.

Scale. A study's rows carry different units (a clearance in L/h beside a half-life in h; a
bioavailability beside a Tmax in minutes), so every value is drawn as model / published on one log axis
shared by every panel. Separate small axes per row would give a 20-study grid some forty tiny axes, each
with its own scale to read; on the ratio axis 1 is agreement in every panel, a 2-fold over- and
under-prediction lie equally far from it, and the panels compare at a glance. What the ratio hides, the
published value and its unit, is written under each row.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ketasim.analysis.validation._validate import Row, reference_studies, row_label
from ketasim.plotting import check_figure_path, mark_observed, pyplot, save_figure

__all__ = ["PK_FIGURE", "pk_figure", "pk_rows", "plot_pk"]

#: the file name ``plot_validation`` gives the PK figure in its folder
PK_FIGURE = "pk.png"

#: a quantity's name on the figure and its unit
_QUANTITY = {
    "cmax_ng_ml": ("Cmax", "ng/mL"),
    "tmax_h": ("Tmax", "h"),
    "clearance_l_h": ("CL", "L/h"),
    "clearance_ml_min_kg": ("CL", "mL/min/kg"),
    "half_life_h": ("t½", "h"),
    "terminal_half_life_h": ("terminal t½", "h"),
    "bioavailability": ("F", ""),
    "tmax_after_last_device_min": ("Tmax after last device", "min"),
    "sert_occupancy_day10_6h": ("SERT occupancy", ""),
    "psilocin_cmax_ng_ml": ("psilocin Cmax", "ng/mL"),
}
_ANALYTE = {"esketamine_plasma": "S-ketamine", "arketamine_plasma": "R-ketamine", "ketamine_plasma": "ketamine",
            "esketamine_arterial": "S-ketamine, arterial", "arketamine_arterial": "R-ketamine, arterial",
            "ketamine_arterial": "ketamine, arterial"}  # fmt: skip
_DRUG = {"ketamine": "racemic ketamine"}
_ROUTE = {"iv": "IV", "im": "IM"}

#: the ratio axis's ticks
_TICKS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0)
_PASS, _FAIL = "tab:green", "tab:red"
_SD = "published mean ± SD of the subjects"
_CI = "published value, 95% CI (given, or 1.96 x SE)"
_BARE = "published value (no uncertainty given)"
_TOLERANCE = "tolerance band (the row passes if the model's value is inside)"
_BAND = "model: 5-95% of the virtual subjects"
_CV_BAND = "model: 5-95% of the CVs that studies of the published size would find"
_MEDIAN, _TYPICAL = "model: median of the virtual subjects", "model: one typical subject"
#: the legend's order (by how a label starts); a pass before a failure
_LEGEND_ORDER = (_SD, _CI, _BARE, _TOLERANCE, _BAND, _CV_BAND, _MEDIAN, _TYPICAL)


def pk_rows(rows: Iterable[Row], studies: Iterable[Mapping[str, Any]] | None = None) -> dict[str, list[Row]]:
    """The rows of the PK studies (``kind = "pk"`` in ``studies``, default ``reference.toml``) by study, in
    the order the rows come."""
    kinds = {s["id"]: s.get("kind") for s in (reference_studies() if studies is None else studies)}
    out: dict[str, list[Row]] = {}
    for r in rows:
        if kinds.get(r.study) == "pk":
            out.setdefault(r.study, []).append(r)
    return out


def plot_pk(rows: Iterable[Row], path: str | Path, studies: Iterable[Mapping[str, Any]] | None = None) -> Path | None:
    """Write ``pk_figure`` atomically to ``path`` (its suffix names the format); ``None`` (nothing
    written) when no row belongs to a PK study."""
    check_figure_path(path)
    fig = pk_figure(rows, studies)
    if fig is None:
        return None
    try:
        return save_figure(fig, path)
    finally:
        pyplot().close(fig)


def pk_figure(rows: Iterable[Row], studies: Iterable[Mapping[str, Any]] | None = None) -> Any:
    """One panel per PK study (see the module doc) on a grid of up to five columns; ``None`` when no row
    belongs to a PK study. ``studies``: the study records (default ``reference.toml``)."""
    meta = {s["id"]: s for s in (reference_studies() if studies is None else studies)}
    by_study = pk_rows(rows, meta.values())
    if not by_study:
        return None
    plt = pyplot()
    n = len(by_study)
    ncols = min(n, 5, max(3, math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncols)
    width, height = 3.5 * ncols, 3.1 * nrows + 1.5
    fig, grid = plt.subplots(nrows, ncols, figsize=(width, height), sharey=True, squeeze=False)
    axes = list(grid.flat)
    for ax in axes[n:]:  # the empty cells of the last grid row
        fig.delaxes(ax)
    lo, hi = _limits([r for rs in by_study.values() for r in rs], meta)
    for k, (ax, (study, rs)) in enumerate(zip(axes, by_study.items(), strict=False)):
        _panel(ax, rs, meta.get(study, {}), (lo, hi))
        if k % ncols == 0:
            ax.set_ylabel("model / published (log scale)", fontsize=8)
    ax0 = axes[0]
    ax0.set_yscale("log")
    ax0.set_ylim(lo, hi)
    _ratio_ticks(ax0, lo, hi)
    handles: dict[str, Any] = {}
    for ax in axes[:n]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    order = sorted(handles, key=lambda t: ([t.startswith(h) for h in _LEGEND_ORDER].index(True), "FAIL" in t))
    fig.legend([handles[label] for label in order], order, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fails = sum(not r.passed for rs in by_study.values() for r in rs)
    total = sum(len(rs) for rs in by_study.values())
    fig.suptitle(f"PK validation: {n} studies, {total - fails} of {total} rows within tolerance. Each row is drawn "
                 "as model / published value (1 = agreement); the published value and unit are under it.",
                 fontsize=9)  # fmt: skip
    fig.tight_layout(rect=(0, 1.1 / height, 1, 1 - 0.1 / height), h_pad=1.2)
    return fig


def _spread(r: Row, ref: Mapping[str, Any] | None) -> tuple[float, float, str]:
    """The published value's error bar (lower, upper; NaN: none) and its legend label."""
    ref = ref or {}
    if "sd" in ref:
        sd = float(ref["sd"])
        return r.observed - sd, r.observed + sd, _SD
    if "ci" in ref:
        ci_lo, ci_hi = ref["ci"]
        return float(ci_lo), float(ci_hi), _CI
    if r.observed_se > 0:
        half = 1.959964 * r.observed_se
        return r.observed - half, r.observed + half, _CI
    return math.nan, math.nan, _BARE


def _reference_row(r: Row, study: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ``reference.toml`` row that ``r`` came from (matched as ``rows_for`` keys it)."""
    for ref in study.get("row", ()):
        if ref.get("quantity") == r.quantity and row_label(study, ref) == r.arm:
            return dict(ref)
    return None


def _limits(rows: Sequence[Row], meta: Mapping[str, Mapping[str, Any]]) -> tuple[float, float]:
    """The shared y range: every ratio drawn, with room around it; at least 0.5-2, at most 0.02-50."""
    ratios = [1.0]
    for r in rows:
        if r.observed <= 0:
            continue
        lo, hi, _ = _spread(r, _reference_row(r, meta.get(r.study, {})))
        for v in (r.predicted, lo, hi, r.observed - r.tolerance, r.observed + r.tolerance, *(r.band or ())):
            if math.isfinite(v) and v > 0:
                ratios.append(v / r.observed)
    lo, hi = max(min(0.5, min(ratios) / 1.1), 0.02), min(max(2.0, max(ratios) * 1.1), 50.0)
    return max(t for t in _TICKS if t <= lo), min(t for t in _TICKS if t >= hi)  # a labelled tick at each end


def _ratio_ticks(ax: Any, lo: float, hi: float) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    ticks = [t for t in _TICKS if lo <= t <= hi]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))


def _dose_text(study: Mapping[str, Any]) -> str:
    """The dose and route the model gave: from ``doses``, else the head of ``design``."""
    if study.get("doses"):
        parts = []
        for d in study["doses"]:
            route = str(d.get("route", ""))
            text = f"{_DRUG.get(d['drug'], d['drug'])} {d['amount']} {_ROUTE.get(route, route)}"
            if d.get("duration") and route == "iv":
                text += f" over {d['duration']}"
            parts.append(text)
        return " + ".join(parts)
    head = str(study.get("design", "")).split(", ")[0].split(" (")[0].split(";")[0]
    return head if len(head) <= 52 else head[:51] + "…"


def _label(r: Row) -> str:
    name, unit = _QUANTITY.get(r.quantity, (r.quantity, ""))
    analyte = _ANALYTE.get(r.arm or "", r.arm or "")
    head = f"{name}\n{analyte}" if analyte else name
    return f"{head}\n{r.observed:.3g} {unit}".rstrip() + (" (cal.)" if r.calibrated else "")


def _panel(ax: Any, rows: list[Row], study: Mapping[str, Any], limits: tuple[float, float]) -> None:
    lo_lim, hi_lim = limits
    ax.set_yscale("log")
    ax.axhline(1.0, color="0.5", lw=0.8, zorder=1)
    for k, r in enumerate(rows):
        obs = r.observed if r.observed > 0 else math.nan  # a ratio needs a positive published value
        tol_lo = max((r.observed - r.tolerance) / obs, lo_lim)
        tol_hi = min((r.observed + r.tolerance) / obs, hi_lim)
        ax.bar(k, tol_hi - tol_lo, bottom=tol_lo, width=0.8, color="tab:blue", alpha=0.13, zorder=2,
               gid="tolerance", label=_TOLERANCE)  # fmt: skip
        e_lo, e_hi, kind = _spread(r, _reference_row(r, study))
        marker = {_SD: "o", _CI: "s", _BARE: "_"}[kind]
        cont = mark_observed(ax, [k - 0.17], [1.0], [max(e_lo / obs, lo_lim)], [min(e_hi / obs, hi_lim)],
                             marker=marker, color="k", label=kind)  # fmt: skip
        if kind == _BARE:  # a bare value: a wide dash, as wide as the error bars' caps
            cont.lines[0].set(markersize=12, markeredgewidth=2)
        color = _PASS if r.passed else _FAIL
        verdict = "pass (filled)" if r.passed else "FAIL (open)"
        if r.band is not None:
            ax.vlines(k + 0.17, max(r.band[0] / obs, lo_lim), min(r.band[1] / obs, hi_lim), color="tab:gray", lw=7,
                      alpha=0.55, zorder=4, gid="model-band",
                      label=_CV_BAND if r.quantity.startswith("cv_") else _BAND)  # fmt: skip
        what = _MEDIAN if r.band is not None else _TYPICAL
        ratio = r.predicted / obs
        if not math.isfinite(ratio):
            ax.text(k + 0.17, 1.0, "no\nprediction", color=_FAIL, fontsize=6, ha="center", va="center", zorder=7)
            continue
        ax.plot([k + 0.17], [min(max(ratio, lo_lim), hi_lim)], "D" if r.band is not None else "^", ms=7,
                linestyle="none", mfc=color if r.passed else "white", mec=color, mew=1.8, zorder=7, clip_on=False,
                gid="model-pass" if r.passed else "model-fail", label=f"{what}: {verdict}")  # fmt: skip
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([_label(r) for r in rows], fontsize=6.5)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(alpha=0.3, axis="y")
    fails = sum(not r.passed for r in rows)
    verdict = f"  ({fails} of {len(rows)} rows FAIL)" if fails else ""
    site = textwrap.fill(f"site: {study.get('site') or rows[0].site or 'not stated'}", 60)
    ax.set_title(f"{rows[0].study}{verdict}\n{_dose_text(study)}\n{site}", fontsize=7,
                 color=_FAIL if fails else "k")  # fmt: skip
