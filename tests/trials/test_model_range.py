"""Model uncertainty of a trial: the same simulated patients reweighted by each ensemble member."""

import numpy as np
import pandas as pd
import pytest

from ketasim import Population
from ketasim.trials.result import TrialResult


def _endpoints():
    change = np.array([-20.0, -10.0, -4.0, -2.0, -15.0, -5.0, -1.0, 0.0])
    return pd.DataFrame({
        "patient": np.arange(8), "arm": ["drug"] * 4 + ["placebo"] * 4, "included": True,
        "madrs_change_24h": change, "response_24h": change <= -10,
    })  # fmt: skip


def test_members_equal_to_the_drawing_weights_give_a_range_of_zero_width():
    res = TrialResult.build("x", _endpoints(), pd.DataFrame(), "placebo", 0, None, np.ones((8, 4)))
    est = res.arms["drug"]["madrs_change_24h"]
    assert est["model_lower"] == pytest.approx(est["estimate"]) == pytest.approx(est["model_upper"])
    diff = res.comparisons[0]["endpoints"]["madrs_change_24h"]["mean_difference"]
    assert diff["model_lower"] == pytest.approx(-9.0 - (-5.25))


def test_each_member_is_the_weighted_statistic_of_the_same_patients():
    ratios = np.ones((8, 3))
    ratios[:, 1] = [3, 1, 1, 1, 1, 1, 1, 1]  # member 1 triples the best responder
    ratios[:, 2] = [1, 1, 1, 3, 1, 1, 1, 3]  # member 2 triples the worst patients of both arms
    res = TrialResult.build("x", _endpoints(), pd.DataFrame(), "placebo", 0, None, ratios)
    m1 = (3 * -20 - 10 - 4 - 2) / 6
    m2 = (-20 - 10 - 4 - 3 * 2) / 6
    lo, hi = np.percentile([m1, m2], [2.5, 97.5])
    est = res.arms["drug"]["madrs_change_24h"]
    assert (est["model_lower"], est["model_upper"]) == pytest.approx((lo, hi))
    r1, r2 = 4 / 6, 2 / 6
    resp = res.arms["drug"]["response_24h"]
    assert (resp["model_lower"], resp["model_upper"]) == pytest.approx(tuple(np.percentile([r1, r2], [2.5, 97.5])))


def test_a_calibrated_population_carries_the_weights_of_every_member():
    pop = Population.sample(200, seed=3)
    assert pop.member_ratios is not None and pop.member_ratios.shape[0] == 200
    assert pop.member_ratios.shape[1] >= 11  # the fitted weights and at least 10 refits
    assert np.all(pop.member_ratios[:, 0] == 1.0)
    assert np.all(pop.member_ratios > 0)
    assert Population.sample(200, seed=3, cohort="trd_prior").member_ratios is None
