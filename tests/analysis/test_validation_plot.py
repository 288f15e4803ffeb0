"""Published points on the headline and validation figures (issue: observed data and visual predictive
checks on every figure)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer

import ketasim.simulation.result as result_module
from ketasim.analysis.validation import reference_points, study_figure, validate
from ketasim.cli import main


def test_reference_points_of_the_headline_protocol():
    pts = {p.variable: p for p in reference_points("zarate-2006-iv")}
    assert set(pts) == {"ketamine_plasma", "sbp_change"}
    cmax, sbp = pts["ketamine_plasma"], pts["sbp_change"]
    # Zarate 2006: 185 ng/mL at the end of the 40-min infusion; no CI published, so the +-25% tolerance
    assert (cmax.time_h, cmax.value, cmax.lower, cmax.upper) == pytest.approx((40 / 60, 185.0, 138.75, 231.25))
    assert "Zarate 2006" in cmax.label and "validation tolerance" in cmax.label
    # Riva-Posse 2018: +3.28 mmHg at 30 min (a trial arm that is exactly this protocol), +-3 mmHg floor
    assert (sbp.time_h, sbp.value, sbp.lower, sbp.upper) == pytest.approx((0.5, 3.28, 0.28, 6.28))
    assert "Riva-Posse 2018" in sbp.label
    assert reference_points("esketamine-84mg-single") == []  # its rows map to no panel


def test_cli_simulate_plot_passes_the_published_points(tmp_path, monkeypatch):
    seen = {}

    def fake(ds, path, **kw):
        seen.update(kw)

    monkeypatch.setattr(result_module, "plot_chain", fake)
    main(["simulate", "--protocol", "zarate-2006-iv", "--days", "1", "--plot", str(tmp_path / "h.png"), "--json"])
    assert {p.variable for p in seen["reference"]} == {"ketamine_plasma", "sbp_change"}
    assert seen["regimen"].name == "zarate-2006-iv"


@pytest.fixture(scope="module")
def murrough():
    results: dict = {}
    rows = validate(quick=True, studies=["murrough2013", "rivaposse2018"], results=results)
    return rows, results


def test_validation_figure_labels_its_bands_and_draws_published_points(murrough):
    rows, results = murrough
    rs = [r for r in rows if r.study == "murrough2013"]
    fig = study_figure(rs, results["murrough2013"])
    change, rates = fig.axes[:2]
    labels = [t.get_text() for t in change.get_legend().get_texts()]
    assert any("where a trial of the published size would fall" in t for t in labels)
    assert "ketamine: published (95% CI)" in labels
    (ket,) = [c for c in change.containers if c.get_label() == "ketamine: published (95% CI)"]
    row = next(r for r in rs if r.arm == "ketamine" and r.quantity == "madrs_change_24h")
    np.testing.assert_allclose(ket.lines[0].get_xydata(), [[1.0, row.observed]])
    (seg,) = ket.lines[2][0].get_segments()
    np.testing.assert_allclose(
        seg[:, 1], [row.observed - 1.96 * row.observed_se, row.observed + 1.96 * row.observed_se]
    )
    # a change-from-baseline panel: no threshold line, a note instead
    assert not [line for line in change.lines if line.get_gid() == "threshold"]
    assert "No response or remission line" in change.get_title(loc="left")
    assert [line.get_xdata().tolist() for line in change.lines if line.get_gid() == "dose"] == [[0.0], [0.0]]
    rate_labels = [t.get_text() for t in rates.get_legend().get_texts()]
    assert "published (95% CI)" in rate_labels and any("published size" in t for t in rate_labels)
    assert rates.get_ylabel() == "fraction of patients"


def test_validation_figure_rows_beyond_madrs_get_their_own_axis(murrough):
    rows, results = murrough
    rs = [r for r in rows if r.study == "rivaposse2018"]
    fig = study_figure(rs, results["rivaposse2018"])
    (sbp,) = [ax for ax in fig.axes if ax.get_ylabel() == "sbp_change_peak_mmhg"]
    (c,) = [x for x in sbp.containers if isinstance(x, ErrorbarContainer)]
    assert c.lines[0].get_xydata()[0, 1] == pytest.approx(3.28)
    pk = study_figure([r for r in validate(studies=["zarate2006"])])
    assert [ax.get_ylabel() for ax in pk.axes] == ["cmax_ng_ml"]
