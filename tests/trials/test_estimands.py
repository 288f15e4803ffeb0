"""Dropout in a trial run, and the estimands of a trial with dropout (trials.estimands)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ketasim as ks
from _cli import cli
from ketasim.errors import InputError
from ketasim.parameters import default_parameters
from ketasim.trials import Endpoints, Trial, TrialResult
from ketasim.trials.estimands import METHODS, estimands

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _synthetic() -> TrialResult:
    """Two arms of four patients, visits at 7 and 14 days; patient 3 of each arm leaves before day 14."""
    base = np.full(8, 30.0)
    d7 = np.array([20, 22, 24, 26, 27, 28, 29, 28], float)
    d14 = np.array([10, 12, 14, 40, 25, 26, 27, 26], float)
    ep = pd.DataFrame({
        "patient": np.arange(8), "arm": ["drug"] * 4 + ["placebo"] * 4, "included": True,
        "madrs_baseline": base, "madrs_7d": d7, "madrs_change_7d": d7 - base, "madrs_14d": d14,
        "madrs_change_14d": d14 - base, "response_7d": d7 <= 15, "response_14d": d14 <= 15,
        "dropout_at_h": [np.nan, np.nan, np.nan, 336.0, np.nan, np.nan, np.nan, 336.0],
    })  # fmt: skip
    return TrialResult.build("synthetic", ep, pd.DataFrame(), "placebo", 0)


def test_each_method_reads_the_ratings_it_should():
    t = _synthetic()
    table = estimands(t).set_index(["method", "arm"])
    assert list(dict.fromkeys(table.index.get_level_values(0))) == list(METHODS)
    drug = {m: table.loc[(m, "drug")] for m in METHODS}
    # hypothetical: every simulated rating, the leaver's 40 included
    assert drug["hypothetical"]["mean_change"] == pytest.approx(np.mean([10, 12, 14, 40]) - 30)
    assert drug["hypothetical"]["n"] == 4
    # observed cases: the three who stayed
    assert drug["observed"]["mean_change"] == pytest.approx(np.mean([10, 12, 14]) - 30)
    assert drug["observed"]["n"] == 3
    # LOCF: the leaver's day-7 rating (26) carried forward
    assert drug["locf"]["mean_change"] == pytest.approx(np.mean([10, 12, 14, 26]) - 30)
    assert drug["locf"]["response"] == pytest.approx(0.75)
    assert drug["locf"]["difference"] == pytest.approx(np.mean([10, 12, 14, 26]) - np.mean([25, 26, 27, 28]))
    assert np.isnan(drug["mmrm"]["response"])
    # at day 7 nobody had left: every method but the model agrees exactly
    day7 = estimands(t, "7 d").set_index(["method", "arm"])
    for m in ("hypothetical", "observed", "locf"):
        assert day7.loc[(m, "drug"), "mean_change"] == pytest.approx(np.mean([20, 22, 24, 26]) - 30)


def test_mmrm_equals_the_difference_of_means_with_complete_balanced_data():
    rng = np.random.default_rng(0)
    n = 60
    base = np.full(2 * n, 30.0)
    d7 = np.concatenate([rng.normal(20, 4, n), rng.normal(25, 4, n)])
    d14 = d7 + rng.normal(-3, 2, 2 * n)
    ep = pd.DataFrame({
        "patient": np.arange(2 * n), "arm": ["a"] * n + ["b"] * n, "included": True, "madrs_baseline": base,
        "madrs_7d": d7, "madrs_change_7d": d7 - base, "madrs_14d": d14, "madrs_change_14d": d14 - base,
        "response_7d": d7 <= 15, "response_14d": d14 <= 15,
    })  # fmt: skip
    t = estimands(TrialResult.build("x", ep, pd.DataFrame(), "b", 0)).set_index(["method", "arm"])
    # a saturated visit-by-arm model with one baseline for all: the cell means are the raw means
    assert t.loc[("mmrm", "a"), "mean_change"] == pytest.approx(d14[:n].mean() - 30, abs=1e-6)
    assert t.loc[("mmrm", "a"), "difference"] == pytest.approx(t.loc[("hypothetical", "a"), "difference"], abs=1e-6)
    lo, hi = t.loc[("mmrm", "a"), ["difference_lower", "difference_upper"]]
    assert lo < t.loc[("mmrm", "a"), "difference"] < hi


def test_bad_visit_or_result_names_the_field():
    with pytest.raises(InputError) as exc:
        estimands(_synthetic(), "21 d")
    assert exc.value.field == "visit" and "7d, 14d" in str(exc.value)
    with pytest.raises(InputError) as exc:
        estimands("a result")
    assert exc.value.field == "result"


def _trial(dropout: bool, params=None, n: int = 160, weeks: int = 2) -> Trial:
    days = [d for w in range(weeks) for d in (7 * w, 7 * w + 3)]
    reg = ks.Regimen([ks.Dose("racemic", "iv", "0.5 mg/kg", duration="40 min", at=f"{d} d") for d in days])
    ctl = ks.Regimen([ks.Session("saline", at=f"{d} d") for d in days])
    return Trial(arms={"ketamine": reg, "saline": ctl}, population=ks.Population.sample(n, seed=4),
                 duration=f"{7 * weeks} d", control="saline", params=params,
                 endpoints=Endpoints.make([f"{7 * w} d" for w in range(1, weeks + 1)], dropout=dropout))  # fmt: skip


def test_dropout_leaves_the_ratings_unchanged_and_does_not_depend_on_chunking():
    off = _trial(False, n=40).run(2).endpoints
    on = _trial(True, n=40).run(2).endpoints
    assert np.array_equal(off["madrs_14d"].to_numpy(), on["madrs_14d"].to_numpy())
    again = _trial(True, n=40).run(2, chunk_size=7).endpoints.sort_values("patient", ignore_index=True)
    on = on.sort_values("patient", ignore_index=True)
    pd.testing.assert_series_equal(on["dropout_at_h"], again["dropout_at_h"])
    assert (on["dropout"] == on["dropout_adverse_event"] | on["dropout_lack_of_efficacy"]).all()
    assert on.loc[on["dropout"], "dropout_at_h"].isin([168.0, 336.0]).all()
    assert (on["cadss_peak_7d"] > 0).groupby(on["arm"]).mean()["ketamine"] > 0.9  # sessions in the interval
    assert (on.loc[on["arm"] == "saline", "cadss_peak_7d"] == 0).all()


def test_completers_look_better_than_all_randomised_when_non_responders_leave():
    # lack-of-efficacy dropout made strong, so the bias it causes stands out of the Monte-Carlo noise
    strong = default_parameters().replace(dropout_loe_rate=0.03)
    res = _trial(True, strong, n=400, weeks=4).run(0)
    t = estimands(res).set_index(["method", "arm"])
    for arm, margin in (("ketamine", 0.3), ("saline", 1.0)):  # measured: 0.9 and 1.8 points
        assert t.loc[("observed", arm), "n"] < t.loc[("hypothetical", arm), "n"]
        # the completers improved more than everyone randomised did, LOCF shows less than they did
        assert t.loc[("observed", arm), "mean_change"] < t.loc[("hypothetical", arm), "mean_change"] - margin
        assert t.loc[("locf", arm), "mean_change"] > t.loc[("hypothetical", arm), "mean_change"] + 1.0
    # the saline arm loses more patients for lack of efficacy than the ketamine arm
    ep = res.endpoints
    loe = ep.groupby("arm")["dropout_lack_of_efficacy"].mean()
    assert loe["saline"] > loe["ketamine"]
    # the mixed model, valid under missing at random, lands nearer the hypothetical truth than completers
    truth = t.loc[("hypothetical", "saline"), "mean_change"]
    assert abs(t.loc[("mmrm", "saline"), "mean_change"] - truth) < abs(
        t.loc[("observed", "saline"), "mean_change"] - truth
    )


def test_the_cli_prints_the_estimands_of_a_scenario_with_dropout(capsys, tmp_path):
    text = (EXAMPLES / "transform2_esketamine_induction.toml").read_text(encoding="utf-8")
    path = tmp_path / "t2.toml"
    path.write_text(text.replace('visits = ["24 h", "28 d"]', 'visits = ["24 h", "14 d", "28 d"]\ndropout = true'))
    code, out, err = cli(capsys, "trial", str(path), "--patients", "60")
    assert code == 0, err
    assert "estimands at 28d" in out and "mmrm" in out and "locf" in out
    assert "dropout_adverse_event" in out
    # without dropout there is nothing to analyse differently
    code, out, _ = cli(capsys, "trial", str(EXAMPLES / "transform2_esketamine_induction.toml"), "--patients", "20")
    assert code == 0 and "estimands" not in out
