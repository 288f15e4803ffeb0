"""Statistics reproduce textbook values on small fixed examples."""

from __future__ import annotations

import math

import pytest

from ketasim.trials import stats
from ketasim.trials.stats import hazard_ratio, kaplan_meier_curve, kaplan_meier_median


def test_welch_mean_difference():
    # Welch t-test on [1..5] vs [3..7]: difference -2, t = -2 (equal variances 2.5, n = 5), df = 8
    r = stats.mean_difference([1, 2, 3, 4, 5], [3, 4, 5, 6, 7])
    assert r["estimate"] == -2
    half = 2.306004 * 1.0  # t(0.975, 8) * SE, SE = sqrt(2.5/5 + 2.5/5) = 1
    assert r["lower"] == pytest.approx(-2 - half, abs=1e-5)
    assert r["upper"] == pytest.approx(-2 + half, abs=1e-5)
    assert r["p_value"] == pytest.approx(0.0805, abs=1e-4)


def test_hedges_g_small_sample_correction():
    # d = -1/sqrt(5/3) = -0.7746; J = 1 - 3/(4*8 - 9) = 0.8696; g = -0.6736
    assert stats.hedges_g([1, 2, 3, 4], [2, 3, 4, 5])["estimate"] == pytest.approx(-0.67357, abs=1e-5)


def test_odds_ratio_and_woolf_interval():
    r = stats.odds_ratio(10, 20, 5, 20)  # (10*15)/(10*5) = 3
    assert r["estimate"] == pytest.approx(3.0)
    se = math.sqrt(1 / 10 + 1 / 10 + 1 / 5 + 1 / 15)
    assert r["lower"] == pytest.approx(3 * math.exp(-1.959964 * se), rel=1e-5)


def test_risk_difference_newcombe():
    # Newcombe (1998) example 1: 56/70 vs 48/80 -> 0.2 with hybrid-score CI 0.0524 to 0.3339
    r = stats.risk_difference(56, 70, 48, 80)
    assert r["estimate"] == pytest.approx(0.2)
    assert r["lower"] == pytest.approx(0.0524, abs=5e-4)
    assert r["upper"] == pytest.approx(0.3339, abs=5e-4)


def test_wilson_interval():
    r = stats.proportion_ci(5, 10)
    assert (r["lower"], r["upper"]) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_kaplan_meier_median_and_hazard_ratio():
    km = stats.kaplan_meier_median([1, 2, 3, 4, 5], [1, 1, 1, 1, 1])
    assert km["median"] == 3
    t = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    e = [1] * 10
    g = [1, 1, 0, 1, 1, 0, 1, 0, 0, 0]  # group 1 tends to fail first
    hr = stats.hazard_ratio(t, e, g)
    assert hr["estimate"] > 1 and hr["lower"] < hr["estimate"] < hr["upper"]


# Freireich EJ et al. 1963, Blood 21:699-716: remission lengths (weeks) of 42 children with acute leukaemia
# on 6-mercaptopurine or placebo maintenance (the data Gehan 1965 and Cox 1972 analysed). Published numbers:
# the Kaplan-Meier table of Kleinbaum & Klein, Survival Analysis (6-MP: S = 0.8571, 0.8067, 0.7529, 0.6902,
# 0.6275, 0.5378, 0.4482 at 6, 7, 10, 13, 16, 22, 23 weeks), and Stata's stcox (Breslow ties, statsmodels'
# default) HR 0.2210887 (95% CI 0.0990706-0.4933877), as printed in G. Rodriguez's survival course notes.
SIX_MP = [6, 6, 6, 7, 10, 13, 16, 22, 23, 6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
SIX_MP_EVENT = [1] * 9 + [0] * 12  # 12 remissions still going at the end (censored)
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def test_kaplan_meier_and_cox_reproduce_the_freireich_textbook_example():
    t, s = kaplan_meier_curve(SIX_MP, SIX_MP_EVENT)
    published = {6: 0.8571, 7: 0.8067, 10: 0.7529, 13: 0.6902, 16: 0.6275, 22: 0.5378, 23: 0.4482}
    got = dict(zip(t[1:-1].tolist(), s[1:-1].tolist(), strict=True))
    assert list(got) == list(published)  # a step at every relapse time, none at a censored one
    for week, value in published.items():
        assert got[week] == pytest.approx(value, abs=5e-5)
    assert kaplan_meier_median(SIX_MP, SIX_MP_EVENT)["median"] == 23  # the first time S <= 0.5
    assert kaplan_meier_median(PLACEBO, [1] * 21)["median"] == 8  # S(5) = 12/21, S(8) = 8/21
    hr = hazard_ratio(SIX_MP + PLACEBO, SIX_MP_EVENT + [1] * 21, [1] * 21 + [0] * 21)
    assert hr["estimate"] == pytest.approx(0.2210887, abs=5e-7)
    assert (hr["lower"], hr["upper"]) == pytest.approx((0.0990706, 0.4933877), abs=5e-7)
