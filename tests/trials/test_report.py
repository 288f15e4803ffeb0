"""A trial result as text tables (what `ketasim trial` and `ketasim report` print)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ketasim.trials import ReportTable, TrialResult, comparison_tables, endpoint_table, format_estimate

NAN = math.nan


def ci(est: float, lo: float = NAN, hi: float = NAN) -> dict[str, float]:
    return {"estimate": est, "lower": lo, "upper": hi}


def result() -> TrialResult:
    arms = {
        "ketamine": {
            "n": ci(40),
            "madrs_change_24h": ci(-16.456, -19.1, -13.8),
            "response_24h": ci(0.4567, 0.3, 0.612),
            "sbp_rise_ge_40": ci(0.05, 0.01, 0.17),
            "time_to_relapse_d": ci(NAN),
        },
        "midazolam": {"n": ci(20), "madrs_change_24h": ci(-8.8), "response_24h": ci(0.15, 0.05, 0.36)},
    }
    comparisons = [
        {
            "arm": "ketamine",
            "versus": "midazolam",
            "endpoints": {
                "madrs_change_24h": {"mean_difference": ci(-7.656, -11.2, -4.1), "hedges_g": ci(-0.9, -1.45, -0.35)},
                "relapse_hazard_ratio": ci(0.5123, 0.21, 1.25),
            },
        }
    ]
    return TrialResult("0123456789ab", pd.DataFrame(), pd.DataFrame(), arms, comparisons, "midazolam", 7)


@pytest.mark.parametrize(
    ("value", "percent", "text"),
    [
        (ci(-16.456, -19.1, -13.8), False, "-16.46 [-19.10, -13.80]"),
        (ci(0.4567, 0.3, 0.612), True, "46% [30%, 61%]"),
        (ci(2.0), False, "2.00"),  # no interval when the lower bound is not finite
        (ci(0.25, NAN, 0.5), True, "25%"),
        (ci(NAN, 1.0, 2.0), False, "-"),
        (ci(math.inf, 1.0, 2.0), False, "-"),
        ({"estimate": 1.5, "lower": 1.0}, False, "1.50 [1.00, nan]"),
        ({}, True, "-"),
    ],
)
def test_format_estimate(value, percent, text):
    assert format_estimate(value, percent) == text


def test_endpoint_table_has_one_column_per_arm_and_percent_rows():
    t = endpoint_table(result(), "murrough (stored in x.duckdb)")
    assert t == ReportTable(
        "trial 0123456789ab: murrough (stored in x.duckdb)",
        ("endpoint", "ketamine (n=40)", "midazolam (n=20)"),
        (
            ("madrs_change_24h", "-16.46 [-19.10, -13.80]", "-8.80"),
            ("response_24h", "46% [30%, 61%]", "15% [5%, 36%]"),
            ("sbp_rise_ge_40", "5% [1%, 17%]", "-"),  # an endpoint missing in one arm shows as "-"
            ("time_to_relapse_d", "-", "-"),
        ),
    )


def test_comparison_tables_list_statistics_and_a_hazard_ratio():
    (t,) = comparison_tables(result())
    assert t.title == "ketamine vs midazolam"
    assert t.columns == ("endpoint", "statistic", "estimate [95% CI]")
    assert t.rows == (
        ("madrs_change_24h", "mean_difference", "-7.66 [-11.2, -4.1]"),
        ("madrs_change_24h", "hedges_g", "-0.9 [-1.45, -0.35]"),
        ("relapse_hazard_ratio", "hazard_ratio", "0.512 [0.21, 1.25]"),
    )


def test_no_comparison_tables_without_comparisons():
    r = result()
    single = TrialResult(r.run_id, r.endpoints, r.series, {"ketamine": r.arms["ketamine"]}, [], "ketamine", 7)
    assert comparison_tables(single) == []
    assert endpoint_table(single, "x").columns == ("endpoint", "ketamine (n=40)")
