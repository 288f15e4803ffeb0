"""The headline figure (issue: observed data and visual predictive checks on every figure): a kink-free
time axis, one y-quantity per axis, dose markers, the MADRS thresholds, published points with their
bars, and labelled bands for several patients."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.plotting import pyplot
from ketasim.simulation import ReferencePoint
from ketasim.simulation.plot import PANELS

TWO_DOSES = ks.Regimen.repeat(ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"), every="2 d", count=2)


@pytest.fixture(scope="module")
def one() -> ks.Result:
    return ks.simulate(TWO_DOSES, ks.Patient(), duration="4 d", output_step="10 min")


@pytest.fixture(scope="module")
def several() -> ks.Result:
    pop = ks.Population.sample(5, seed=3)
    return ks.simulate("zarate-2006-iv", population=pop, duration="2 d", output_step="30 min")


def _axis(fig, title: str):
    return next(a for a in fig.axes if title in a.get_title(loc="left"))


def _slope_jumps(ax, start: float, end: float) -> float:
    """Largest relative change of d(display x)/d(time) between neighbouring points of a fine grid: a kink
    in the axis transform shows up as a jump, a smooth transform as ~0."""
    x = np.linspace(start, end, 40001)
    disp = ax.transData.transform(np.column_stack([x, np.zeros_like(x)]))[:, 0]
    d = np.diff(disp) / np.diff(x)
    return float(np.max(np.abs(d[1:] / d[:-1] - 1)))


def test_time_axis_is_not_symlog_and_has_no_kink(one):
    fig = one.plot()
    assert all(ax.get_xscale() != "symlog" for ax in fig.axes)
    assert _slope_jumps(fig.axes[-1], 0.0, 96.0) < 0.01
    # the check sees the kink the old symlog axis had at 6 h
    plt = pyplot()
    old, ax = plt.subplots()
    ax.set_xscale("symlog", linthresh=6.0)
    ax.set_xlim(0, 96)
    assert _slope_jumps(ax, 0.0, 96.0) > 0.5  # the slope falls 2.6-fold at 6 h
    plt.close(old)


def test_one_y_quantity_per_axis(one):
    fig = one.plot()
    ds = one.dataset
    for ax in fig.axes:
        variables = {line.get_gid() for line in ax.lines if line.get_gid() in ds}
        units = {ds[v].attrs["units"].split(" (")[0] for v in variables}
        assert len(units) <= 1, (ax.get_title(loc="left"), units)
        assert ax.get_ylabel()
    cadss, sbp = _axis(fig, "CADSS"), _axis(fig, "Blood pressure")
    assert cadss is not sbp
    assert "CADSS" in cadss.get_ylabel() and "mmHg" in sbp.get_ylabel()
    assert _axis(fig, "Synapse density") is not _axis(fig, "Plasticity window")
    assert len(fig.axes) == len(PANELS)


def test_dose_markers_on_the_time_axis_at_every_dose(one):
    fig = one.plot()
    for ax in fig.axes:
        (marks,) = [line for line in ax.lines if line.get_gid() == "dose"]
        np.testing.assert_allclose(marks.get_xdata(), [0.0, 48.0])
    assert "dose" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_madrs_panel_has_remission_and_response_lines(one):
    ax = _axis(one.plot(), "MADRS")
    lines = {line.get_label(): line for line in ax.lines if line.get_gid() == "threshold"}
    (remission,) = [v for k, v in lines.items() if k.startswith("remission")]
    (response,) = [v for k, v in lines.items() if k.startswith("response")]
    assert remission.get_ydata()[0] == 10.0
    base = float(one.dataset["madrs_pre_dose"].values[0])
    assert response.get_ydata()[0] == pytest.approx(0.5 * base)
    assert "50% of the patient's baseline" in response.get_label()
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("remission: MADRS ≤ 10" in t for t in legend) and any("response: 50%" in t for t in legend)


def test_published_points_on_their_panel_with_their_bars(one):
    pts = [ReferencePoint("ketamine_plasma", 0.5, 150.0, 120.0, 190.0, "study A: Cmax (95% CI)"),
           ReferencePoint("sbp_change", 1.0, 3.0, float("nan"), float("nan"), "study B: SBP")]  # fmt: skip
    fig = one.plot(reference=pts)
    plasma, sbp = _axis(fig, "Plasma"), _axis(fig, "Blood pressure")
    (c,) = plasma.containers
    assert c.get_label() == "study A: Cmax (95% CI)"
    np.testing.assert_allclose(c.lines[0].get_xydata(), [[0.5, 150.0]])
    (seg,) = c.lines[2][0].get_segments()
    np.testing.assert_allclose(seg, [[0.5, 120.0], [0.5, 190.0]])  # asymmetric: -30, +40
    (c2,) = sbp.containers
    np.testing.assert_allclose(c2.lines[0].get_xydata(), [[1.0, 3.0]])
    (seg2,) = c2.lines[2][0].get_segments()
    np.testing.assert_allclose(seg2, [[1.0, 3.0], [1.0, 3.0]])  # NaN bounds: no bar
    assert not _axis(fig, "NMDA").containers


def test_several_patients_median_and_labelled_band(several):
    fig = several.plot()
    ax = _axis(fig, "Plasma")
    data = several.dataset["ketamine_plasma"].values
    (line,) = [x for x in ax.lines if x.get_gid() == "ketamine_plasma"]
    np.testing.assert_allclose(line.get_ydata(), np.median(data, axis=0))
    (band,) = [c for c in ax.collections if c.get_gid() == "ketamine_plasma:band"]
    top = np.percentile(data, 95, axis=0)
    verts = band.get_paths()[0].vertices
    assert np.isclose(verts[:, 1].max(), top.max())
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "shaded: 5-95% of the 5 patients" in legend and "ketamine (median)" in legend
