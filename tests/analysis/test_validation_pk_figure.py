"""The PK validation figure (issue 16 part 5): one panel per PK study, published values with their error
bars over the model's median and 5-95% band, pass/fail marked. Built from synthetic rows: no model runs."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer, ErrorbarContainer

import ketasim.analysis.validation as validation
from _cli import cli
from ketasim.analysis.validation import PK_FIGURE, Row, pk_figure, plot_pk, plot_validation
from ketasim.errors import InputError, OutputError
from ketasim.plotting import pyplot


def row(study, quantity="clearance_l_h", arm="esketamine_plasma", observed=100.0, predicted=110.0, tolerance=30.0,
        band=(80.0, 150.0), se=0.0, site="venous"):  # fmt: skip
    return Row(study, quantity, arm, observed, predicted, tolerance, False, "", "a citation", se, band, site)


def pk_study(sid, rows=(), **kw):
    return {"id": sid, "kind": "pk", "citation": "c", "site": "venous", "row": list(rows), **kw}


SD_ROW = {"quantity": "clearance_l_h", "analyte": "esketamine_plasma", "observed": 100.0, "sd": 20.0, "n": 16}
CI_ROW = {"quantity": "clearance_l_h", "analyte": "ketamine_plasma", "observed": 79.0, "ci": [69, 90]}
DOSES = [{"drug": "ketamine", "route": "iv", "amount": "0.5 mg/kg", "duration": "40 min"}]

STUDIES = [
    pk_study("popsd", [SD_ROW, {**SD_ROW, "quantity": "half_life_h"}], doses=DOSES, site="arterial"),
    pk_study("popci", [CI_ROW], doses=DOSES),
    pk_study(
        "typical",
        [{"quantity": "cmax_ng_ml", "observed": 185, "rel_tolerance": 0.25}],
        design="racemic ketamine 0.5 mg/kg IV over 40 min, 70 kg adult, venous plasma",
    ),
    {"id": "atrial", "kind": "trial", "citation": "c", "row": []},
]
ROWS = [
    # an arterial study: its rows are shown as the output they are compared with (rows_for's label)
    row("popsd", arm="esketamine_arterial"),  # passes: 110 within 100 +- 30
    row(
        "popsd", "half_life_h", arm="esketamine_arterial", observed=5.0, predicted=8.0, tolerance=1.5, band=(6.0, 10.0)
    ),  # fails
    row("popci", arm="ketamine_plasma", observed=79.0, predicted=90.0, tolerance=23.7, band=(67.0, 115.0), se=5.36),
    row("typical", "cmax_ng_ml", arm=None, observed=185.0, predicted=160.0, tolerance=46.25, band=None),
    row("atrial", "madrs_change_24h", arm="ketamine", observed=-10.0, predicted=-9.0, tolerance=3.0, band=None),
]


@pytest.fixture
def fig():
    f = pk_figure(ROWS, STUDIES)
    yield f
    pyplot().close(f)


def panel(f, study):
    (ax,) = [ax for ax in f.axes if ax.get_title().startswith(study)]
    return ax


def legend_labels(f):
    (legend,) = f.legends
    return [t.get_text() for t in legend.get_texts()]


def test_one_panel_per_pk_study_titled_with_dose_and_site(fig):
    assert len(fig.axes) == 3  # the trial study gets none
    title = panel(fig, "popsd").get_title()
    assert "racemic ketamine 0.5 mg/kg IV over 40 min" in title and "site: arterial" in title
    # no doses: the head of the design
    assert "racemic ketamine 0.5 mg/kg IV over 40 min\n" in panel(fig, "typical").get_title()
    assert all(ax.get_yscale() == "log" for ax in fig.axes)


def test_every_band_drawn_is_labelled_in_the_legend(fig):
    labels = legend_labels(fig)
    model = [c for ax in fig.axes for c in ax.collections if c.get_gid() == "model-band"]
    tolerance = [c for ax in fig.axes for c in ax.containers if isinstance(c, BarContainer)]
    assert len(model) == 3  # the typical-subject row has none
    assert len(tolerance) == 4 and all(p.get_gid() == "tolerance" for c in tolerance for p in c.patches)
    assert {b.get_label() for b in [*model, *tolerance]} <= set(labels)
    assert "model: 5-95% of the virtual subjects" in labels
    # the error bar says what it is: SD where the study gave one, 95% CI where it gave a CI
    assert "published mean ± SD of the subjects" in labels
    assert "published value, 95% CI (given, or 1.96 x SE)" in labels
    assert "published value (no uncertainty given)" in labels


def test_values_are_drawn_as_model_over_published(fig):
    ax = panel(fig, "popsd")
    (sd_bar, _) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    (seg,) = sd_bar.lines[2][0].get_segments()
    np.testing.assert_allclose(seg[:, 1], [0.8, 1.2])  # 100 +- SD 20, over 100
    (band, _) = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_gid() == "model-band"]
    np.testing.assert_allclose(band.get_segments()[0][:, 1], [0.8, 1.5])
    (ci,) = [c for c in panel(fig, "popci").containers if isinstance(c, ErrorbarContainer)]
    np.testing.assert_allclose(ci.lines[2][0].get_segments()[0][:, 1], [69 / 79, 90 / 79])


def test_a_failing_row_is_an_open_red_marker_and_its_study_says_so(fig):
    ax = panel(fig, "popsd")
    (passed,) = [line for line in ax.lines if line.get_gid() == "model-pass"]
    (failed,) = [line for line in ax.lines if line.get_gid() == "model-fail"]
    assert passed.get_markerfacecolor() == passed.get_markeredgecolor()  # filled
    assert failed.get_markerfacecolor() == "white" and failed.get_markeredgecolor() == "tab:red"  # open
    np.testing.assert_allclose(failed.get_ydata(), [8.0 / 5.0])
    assert "1 of 2 rows FAIL" in ax.get_title() and ax.title.get_color() == "tab:red"
    assert "FAIL" not in panel(fig, "popci").get_title()
    assert any("FAIL (open)" in t for t in legend_labels(fig))


def test_a_row_without_a_band_is_a_marker_only(fig):
    ax = panel(fig, "typical")
    assert not [c for c in ax.collections if c.get_gid() == "model-band"]
    (m,) = [line for line in ax.lines if line.get_gid() == "model-pass"]
    assert m.get_marker() == "^"
    assert "model: one typical subject: pass (filled)" in legend_labels(fig)


def test_many_studies_fill_a_grid_of_a_few_columns():
    studies = [pk_study(f"s{k}", [SD_ROW]) for k in range(13)]
    f = pk_figure([row(f"s{k}") for k in range(13)], studies)
    try:
        assert len(f.axes) == 13
        columns = {round(ax.get_position().x0, 3) for ax in f.axes}
        assert len(columns) == 4
    finally:
        pyplot().close(f)


def test_plot_pk_writes_atomically_and_refuses_a_bad_path(tmp_path):
    with pytest.raises(InputError, match="figure format"):
        plot_pk(ROWS, tmp_path / "pk.txt", STUDIES)
    assert list(tmp_path.iterdir()) == []
    p = plot_pk(ROWS, tmp_path / "pk.png", STUDIES)
    assert p == tmp_path / "pk.png" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [x.name for x in tmp_path.iterdir()] == ["pk.png"]  # no temporary left beside it
    assert plot_pk(ROWS[-1:], tmp_path / "none.png", STUDIES) is None  # no PK row: nothing written
    assert not (tmp_path / "none.png").exists()


def real_rows():
    """Synthetic rows under reference.toml's PK study ids (drawn with the real designs and error bars)."""
    return [row("hasan2021"), row("kamp2020", arm="ketamine_plasma", observed=79.0, se=5.36),
            row("zarate2006", "cmax_ng_ml", arm=None, observed=185.0, predicted=160.0, tolerance=46.25, band=None)]  # fmt: skip


def test_plot_validation_writes_the_pk_figure_beside_the_study_figures(tmp_path):
    paths = plot_validation(real_rows(), tmp_path)
    assert tmp_path / PK_FIGURE in paths
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hasan2021.png", "kamp2020.png", "pk.png", "zarate2006.png"]
    with pytest.raises(OutputError, match="is a file"):
        plot_validation(real_rows(), tmp_path / "pk.png")


def test_cli_validate_plots_writes_pk_png(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(validation, "validate", lambda **kw: real_rows())
    code, _, err = cli(capsys, "validate", "--quick", "--plots", str(tmp_path / "figs"))
    assert code == 0, err
    assert (tmp_path / "figs" / "pk.png").exists()
    # a file where the folder should be: said before validating, in one line
    (tmp_path / "f").write_text("x")
    code, _, err = cli(capsys, "validate", "--plots", str(tmp_path / "f"))
    assert code == 2 and "is a file" in err and "Traceback" not in err
    code, out, _ = cli(capsys, "validate", "--help")
    assert code == 0 and "pk.png" in out


def test_a_cv_rows_band_is_named_as_the_spread_of_studies_not_of_subjects():
    """A CV's band is the CV that studies of the published size would find, not the subjects' spread."""
    study = pk_study("cvs", [{"quantity": "cv_auc", "analyte": "ketamine_plasma", "observed": 0.23}], doses=DOSES)
    f = pk_figure([row("cvs", "cv_auc", arm="ketamine_plasma", observed=0.23, predicted=0.2, tolerance=0.15,
                       band=(0.12, 0.3))], [study])  # fmt: skip
    try:
        labels = {t.get_text() for t in f.legends[0].get_texts()}
        assert any("CVs that studies of the published size" in t for t in labels)
        assert not any(t.startswith("model: 5-95% of the virtual subjects") for t in labels)
    finally:
        pyplot().close(f)
