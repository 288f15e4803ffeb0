"""The trial figure as a visual predictive check (issue: observed data and visual predictive checks on
every figure): exact VPC quantiles in the run and through the store, labelled bands, published points
with their intervals, dose markers, the remission and response lines; the ``[reference]`` schema."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
import ketasim.trials.result as result_module
from ketasim.cli import main
from ketasim.errors import InputError
from ketasim.interop.store import Store
from ketasim.patients import Population
from ketasim.trials import Endpoints, Trial
from ketasim.trials.reference import parse_reference, wilson_interval
from ketasim.trials.result import SeriesAccumulator
from ketasim.trials.scenario import parse_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
Z = ks.protocols.get("murrough-2013-single-infusion")
TWICE = ks.Regimen.repeat(ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"), every="1 d", count=2)
REFERENCE = {
    "source": "a made-up study",
    "madrs_change_24h": {"ketamine": {"value": -10.0, "se": 2.0}, "midazolam": -5.0},
    "response_24h": {"ketamine": {"value": 0.5, "n": 40}, "midazolam": {"value": 0.2, "ci": [0.1, 0.35]}},
    "madrs_change_difference_24h": -5.0,
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A small two-arm trial (ketamine twice, remission <= 12) run into a store, and the stored series."""
    trial = Trial({"ketamine": TWICE, "midazolam": Z.as_control("midazolam")}, Population.sample(14, seed=5),
                  duration="2 d", endpoints=Endpoints.make(visits=["24 h"], remission_threshold=12))  # fmt: skip
    db = tmp_path_factory.mktemp("store") / "r.duckdb"
    with Store(db) as store:
        res = trial.run(seed=3, store=store)
        series = store.con.execute("SELECT patient, arm, time_h, madrs FROM series WHERE run_id = ?",
                                   [res.run_id]).df()  # fmt: skip
        loaded = store.load(res.run_id)
    return res, loaded, series


def test_vpc_quantiles_are_numpy_percentiles_of_the_patients(stored):
    res, _, series = stored
    s = res.series.set_index(["arm", "time_h"])
    assert len(s) == series.groupby(["arm", "time_h"]).ngroups
    for (arm, t), g in series.groupby(["arm", "time_h"]):
        v = g["madrs"].to_numpy()
        row = s.loc[(arm, t)]
        # exactly numpy's of the values at the documented resolution (0.1 points) ...
        expect = np.percentile(np.round(v * 10) / 10, [5, 50, 95])
        np.testing.assert_array_equal(row[["p05", "median", "p95"]].to_numpy(float), expect)
        # ... and within half of it of the unrounded values' percentiles
        np.testing.assert_allclose(row[["p05", "median", "p95"]].to_numpy(float), np.percentile(v, [5, 50, 95]),
                                   rtol=0, atol=0.05 + 1e-12)  # fmt: skip
        assert row["mean"] == pytest.approx(v.mean())


def test_store_path_gives_the_same_series_and_design(stored):
    res, loaded, _ = stored
    pd.testing.assert_frame_equal(res.series, loaded.series)
    assert list(res.series.columns) == list(loaded.series.columns)
    assert {"median", "p05", "p95"} <= set(res.series.columns)
    assert loaded.dose_times == res.dose_times == {"ketamine": (0.0, 24.0), "midazolam": (0.0,)}
    assert loaded.remission_threshold == res.remission_threshold == 12.0


@pytest.mark.parametrize("n", [1, 2, 3, 19, 20, 101])
def test_whole_point_ratings_give_exact_quantiles(n):
    rng = np.random.default_rng(n)
    v = rng.integers(0, 61, n).astype(float)
    acc = SeriesAccumulator()
    ep = pd.DataFrame({"patient": range(n), "arm": "a"})
    acc.add(ep, pd.DataFrame({"patient": range(n), "arm": "a", "time_h": 0.0, "madrs": v, "synapse_density": 0.8}))
    row = acc.result("r", "a", 0).series.iloc[0]
    assert [row["p05"], row["median"], row["p95"]] == list(np.percentile(v, [5, 50, 95]))


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_madrs_panel_is_a_labelled_vpc(stored):
    res, _, _ = stored
    fig = res.plot()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "MADRS (points)" and fig.axes[1].get_ylabel() == "fraction of patients"
    assert all(a.get_xscale() == "linear" for a in fig.axes)
    labels = _legend(ax)
    for arm in ("ketamine", "midazolam"):
        assert f"{arm}: 5-95% of virtual patients" in labels and f"{arm}: mean (95% CI)" in labels
    g = res.series[res.series["arm"] == "ketamine"].sort_values("time_h")
    median = next(line for line in ax.lines if line.get_gid() == "median")
    np.testing.assert_allclose(median.get_xdata(), g["time_h"] / 24)
    np.testing.assert_allclose(median.get_ydata(), g["median"])
    band = next(c for c in ax.collections if c.get_gid() == "vpc_band")
    verts = band.get_paths()[0].vertices
    assert verts[:, 1].min() == pytest.approx(g["p05"].min()) and verts[:, 1].max() == pytest.approx(g["p95"].max())


def test_a_few_patients_are_drawn_as_thin_lines(stored):
    """Individual courses beside the spread: the examples the run kept, one line each, labelled once."""
    res, loaded, _ = stored
    for result in (res, loaded):  # the run, and the same through the store
        ax = result.plot().axes[0]
        lines = [line for line in ax.lines if line.get_gid() == "patient"]
        assert len(lines) == result.examples["patient"].nunique() > 2
        for arm, ex in result.examples.groupby("arm"):
            first = ex[ex["patient"] == ex["patient"].iloc[0]].sort_values("time_h")
            assert any(np.allclose(line.get_xdata(), first["time_h"] / 24) and np.allclose(line.get_ydata(), first["madrs"])
                       for line in lines)  # fmt: skip
            n = ex["patient"].nunique()
            assert f"{arm}: {n} virtual patients, one line each" in _legend(ax)


def test_dose_markers_and_threshold_lines(stored):
    res, _, _ = stored
    ax = res.plot().axes[0]
    marks = {line.get_label(): line.get_xdata().tolist() for line in ax.lines if line.get_gid() == "dose"}
    assert marks == {"ketamine: dose / control-session times": [0.0, 1.0],
                     "midazolam: dose / control-session times": [0.0]}  # fmt: skip
    thresholds = {line.get_label(): line.get_ydata()[0] for line in ax.lines if line.get_gid() == "threshold"}
    assert thresholds["remission: MADRS ≤ 12"] == 12.0  # the trial's own threshold, not a fixed 10
    ep = res.endpoints[res.endpoints["included"]]
    (response,) = [v for k, v in thresholds.items() if k.startswith("response: 50% of the mean baseline")]
    assert response == pytest.approx(0.5 * ep["madrs_baseline"].mean())


def test_published_points_with_their_intervals(stored):
    res, _, _ = stored
    fig = res.plot(reference=REFERENCE)
    ax1, ax2 = fig.axes
    ep = res.endpoints[res.endpoints["included"]]
    base = ep[ep["arm"] == "ketamine"]["madrs_baseline"].mean()
    (ket,) = [c for c in ax1.containers if c.get_label().startswith("ketamine: published change (95% CI)")]
    assert "mean baseline" in ket.get_label()
    np.testing.assert_allclose(ket.lines[0].get_xydata(), [[1.0, base - 10.0]])
    (seg,) = ket.lines[2][0].get_segments()
    np.testing.assert_allclose(seg[:, 1], [base - 10 - 1.959964 * 2, base - 10 + 1.959964 * 2])
    (mid,) = [c for c in ax1.containers if c.get_label().startswith("midazolam: published change (no CI given)")]
    (seg,) = mid.lines[2][0].get_segments()
    assert seg[0, 1] == seg[1, 1]  # no bar
    rates = {c.get_label(): c for c in ax2.containers if c.get_label().endswith("published (95% CI)")}
    k = rates["ketamine: published (95% CI)"]
    assert k.lines[0].get_xydata()[0, 1] == 0.5
    (seg,) = k.lines[2][0].get_segments()
    np.testing.assert_allclose(seg[:, 1], wilson_interval(0.5, 40))  # binomial from n alone
    (seg,) = rates["midazolam: published (95% CI)"].lines[2][0].get_segments()
    np.testing.assert_allclose(seg[:, 1], [0.1, 0.35])
    assert "response\n24h" in [t.get_text() for t in ax2.get_xticklabels()]


def test_reference_schema_and_backward_compatibility():
    old = {"source": "x", "madrs_change_24h": {"ketamine": -16.5, "midazolam": -8.8},
           "response_24h": {"ketamine": 0.64, "midazolam": 0.28}, "madrs_change_difference_28d": -4.0}  # fmt: skip
    values = parse_reference(old, ["ketamine", "midazolam"])
    assert len(values) == 5 and all(math.isnan(v.lower) for v in values)
    assert [v.arm for v in values if v.endpoint == "madrs_change_difference_28d"] == [None]
    assert values[0].visit_h == 24.0
    v = parse_reference({"remission_7d": {"a": {"value": 0.3, "sd": 0.1, "n": 4}}}, ["a"])[0]
    assert (v.lower, v.upper, v.visit_h) == pytest.approx((0.3 - 1.959964 * 0.05, 0.3 + 1.959964 * 0.05, 168.0))
    bad = {
        "reference.response_24h.placebo": {"response_24h": {"placebo": 0.3}},
        "reference.response_24h.a": {"response_24h": {"a": 1.3}},
        "reference.response_24h.a.ci": {"response_24h": {"a": {"value": 0.3, "ci": [0.4, 0.2]}}},
        "reference.madrs_change_24h.a.sd": {"madrs_change_24h": {"a": {"value": -3, "sd": 9}}},
        "reference.madrs_change_24h.a.sem": {"madrs_change_24h": {"a": {"value": -3, "sem": 1}}},
    }
    for field, table in bad.items():
        with pytest.raises(InputError) as exc:
            parse_reference(table, ["a"])
        assert exc.value.field == field
    for name in ("murrough2013_ketamine_vs_midazolam.toml", "transform2_esketamine_induction.toml"):
        sc = parse_scenario((EXAMPLES / name).read_text(encoding="utf-8"))
        assert sc.reference_values()
    text = (EXAMPLES / "murrough2013_ketamine_vs_midazolam.toml").read_text(encoding="utf-8")
    with pytest.raises(InputError, match=r"reference\.response_7d\.placebo: unknown arm"):
        parse_scenario(text.replace("response_7d = { ketamine", "response_7d = { placebo"))


def test_cli_trial_and_report_pass_the_scenario_reference(tmp_path, monkeypatch):
    seen: list = []
    monkeypatch.setattr(result_module, "plot_trial", lambda res, path, reference=None: seen.append(reference))
    db = str(tmp_path / "r.duckdb")
    scenario = str(EXAMPLES / "murrough2013_ketamine_vs_midazolam.toml")
    main(["trial", scenario, "--patients", "4", "--db", db, "--plot", str(tmp_path / "t.png"), "--json"])
    with Store(db) as store:
        run_id = store.runs()["run_id"].iloc[0]
    main(["report", run_id, "--db", db, "--plot", str(tmp_path / "r.png"), "--json"])
    assert len(seen) == 2 and seen[0] == seen[1]
    assert seen[0]["response_24h"]["ketamine"] == {"value": 0.64, "n": 47}
