"""compare(): the variants of one simulation in one call (issue 14, "switching hypotheses" tutorial)."""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks

VARIANTS = {"both": ks.Hypotheses(), "no disinhibition": ks.Hypotheses(disinhibition=False)}


@pytest.fixture(scope="module")
def cmp():
    return ks.compare("zarate-2006-iv", hypotheses=VARIANTS, duration="1 d", output_step="10 min")


def test_each_variant_equals_its_own_simulation(cmp):
    for name, hyp in VARIANTS.items():
        alone = ks.simulate("zarate-2006-iv", hypotheses=hyp, duration="1 d", output_step="10 min")
        np.testing.assert_array_equal(cmp.results[name].dataset["glutamate"].values, alone.dataset["glutamate"].values)
    s = cmp.summary()
    assert list(s.index) == list(VARIANTS)
    assert s.loc["both", "cmax_ng_ml"] == pytest.approx(
        s.loc["no disinhibition", "cmax_ng_ml"], rel=1e-12
    )  # PK unchanged
    # the switch cuts the AMPA route to BDNF, not the glutamate pulse itself (that comes from the circuit)
    assert s.loc["no disinhibition", "peak_glutamate_fold"] == pytest.approx(
        s.loc["both", "peak_glutamate_fold"], rel=1e-5
    )
    bdnf = {name: float(cmp.results[name].dataset["bdnf"].max()) for name in VARIANTS}
    assert bdnf["no disinhibition"] < bdnf["both"] - 0.1
    assert s.loc["no disinhibition", "madrs_24h"] > s.loc["both", "madrs_24h"]


def test_the_overlay_has_one_line_per_variant_in_every_panel(cmp, tmp_path):
    fig = cmp.plot(tmp_path / "overlay.png", variables=("glutamate", "madrs"))
    assert (tmp_path / "overlay.png").stat().st_size > 10_000
    axes = fig.axes
    assert len(axes) == 2
    for ax, var in zip(axes, ("glutamate", "madrs"), strict=True):
        lines = ax.get_lines()
        assert len(lines) == 2
        np.testing.assert_allclose(lines[1].get_ydata(), cmp.results["no disinhibition"].dataset[var].values[0])
        assert var in ax.get_ylabel()
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == list(VARIANTS)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "compare"),
        ({"hypotheses": VARIANTS, "params": {"a": None}}, "compare"),
        ({"hypotheses": {}}, "hypotheses"),
        ({"hypotheses": [ks.Hypotheses()]}, "hypotheses"),
    ],
)
def test_bad_variants_are_refused_naming_the_field(kwargs, field):
    with pytest.raises(ks.InputError) as err:
        ks.compare("zarate-2006-iv", duration="1 h", **kwargs)
    assert err.value.field == field


def test_unknown_plot_variables_are_refused(cmp):
    with pytest.raises(ks.InputError, match="variables"):
        cmp.plot(variables=("no_such_thing",))
