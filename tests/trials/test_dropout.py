"""Dropout as a model of its own (issue 17 item 2): two competing causes over the visit intervals.

Calibration target: Popova V et al. 2019, Am J Psychiatry 176:428-438 (TRANSFORM-2), abstract: "7% and
0.9% of patients in the respective treatment groups [esketamine + antidepressant, antidepressant +
placebo nasal spray] discontinued study drug because of an adverse event" over the 28-day double-blind
phase. calibration/dropout.py solves the adverse-event pair over the simulated patients of the
TRANSFORM-2 example (each with his own CADSS peaks); the unit tests below use a typical esketamine CADSS
peak of 10.25 in every week (ketasim's reference patient on spravato-induction-84mg) and 0 for placebo.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ketasim.errors import InputError
from ketasim.parameters import default_parameters
from ketasim.trials import DropoutParams, dropout, dropout_hazards, expected_dropout

ROOT = Path(__file__).resolve().parents[2]
WEEKS = [7.0, 7.0, 7.0, 7.0]  # four weekly visit intervals, 28 days
BASELINE = 37.0
ESKETAMINE_CADSS = 10.25
# a MADRS course that improves
COURSE = [26.0, 22.0, 19.0, 17.0]
ON = DropoutParams(ae_rate=0.002, ae_cadss_slope=0.15, loe_rate=0.004, loe_nonresponse_slope=2.0)


def _inputs(n, cadss, course=COURSE, baseline=BASELINE):
    return np.full((n, len(WEEKS)), float(cadss)), np.tile(np.asarray(course, float), (n, 1)), np.full(n, baseline)


def test_the_shipped_rates_reproduce_transform2_adverse_event_discontinuation():
    # the calibration script, rerun: the expected shares over the simulated TRANSFORM-2 arms are the published
    spec = importlib.util.spec_from_file_location("calib_dropout", ROOT / "calibration" / "dropout.py")
    calib = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calib)
    calib.N = 1500
    inputs = calib.interval_inputs()
    p = DropoutParams.from_parameters()
    for arm, published in (("esketamine", 0.070), ("placebo", 0.009)):
        e = expected_dropout(*inputs[arm], p)
        assert e["adverse_event"].mean() == pytest.approx(published, rel=0.08), arm
        assert 0 < e["lack_of_efficacy"].mean() < 0.05  # the assumed cause competes, a minority of dropout
    # the hazard is convex in the CADSS: the population's share exceeds that of its mean peak
    peaks = inputs["esketamine"][0]
    mean_peak = np.full_like(peaks, peaks.mean())
    at_mean = expected_dropout(mean_peak, *inputs["esketamine"][1:], p)["adverse_event"].mean()
    assert at_mean < expected_dropout(*inputs["esketamine"], p)["adverse_event"].mean()


def test_the_expectation_does_not_depend_on_how_the_days_are_cut():
    p = replace(DropoutParams.from_parameters(), loe_rate=0.0)
    esk = expected_dropout(*_inputs(1, ESKETAMINE_CADSS), WEEKS, p)
    # constant hazard: 28 days in other visit intervals, the same share
    visits = [1.0, 6.0, 7.0, 7.0, 7.0]  # TRANSFORM-2's days 2, 8, 15, 22, 28 (from day 1)
    alt = expected_dropout(np.full((1, 5), ESKETAMINE_CADSS), [[30, 26, 22, 19, 17]], [BASELINE], visits, p)
    assert alt["adverse_event"][0] == pytest.approx(esk["adverse_event"][0], rel=1e-12)


def test_the_draws_follow_the_expectation():
    p = replace(DropoutParams.from_parameters(), loe_rate=0.0)
    n = 20_000
    seeds = np.random.SeedSequence(17).spawn(n)
    for cadss in (ESKETAMINE_CADSS, 0.0):
        published = float(expected_dropout(*_inputs(1, cadss), WEEKS, p)["adverse_event"][0])
        out = dropout(*_inputs(n, cadss), WEEKS, seeds, p)
        rate = (out["cause"] == "adverse_event").mean()
        assert abs(rate - published) < 4 * np.sqrt(published * (1 - published) / n)
        assert set(out["cause"]) <= {"adverse_event", ""}
        assert ((out["dropout_visit"] >= 0) == (out["cause"] != "")).all()


def test_the_parameters_are_registered_with_their_provenance():
    p = default_parameters()
    for name in ("dropout_ae_rate", "dropout_ae_cadss_slope"):
        assert p[name].source == "popova2019" and p[name].calibration
    for name in ("dropout_loe_rate", "dropout_loe_nonresponse_slope"):
        assert p[name].assumption
    assert p.value("dropout_ae_rate", "1/h") == pytest.approx(p.value("dropout_ae_rate", "1/d") / 24)


def test_adverse_event_hazard_rises_with_dissociation():
    cadss = np.linspace(0, 40, 21)[:, None] * np.ones((1, 4))
    madrs = np.full((21, 4), 30.0)
    p_ae, p_loe = dropout_hazards(cadss, madrs, np.full(21, 30.0), WEEKS, ON)
    assert np.all(np.diff(p_ae[:, 0]) > 0)
    assert np.all(np.diff(p_loe[:, 0]) < 0)  # the competing cause's share falls as the adverse event rises
    leave = expected_dropout(cadss, madrs, np.full(21, 30.0), WEEKS, ON)
    assert np.all(np.diff(leave["adverse_event"]) > 0) and np.all(np.diff(leave["any"]) > 0)


def test_lack_of_efficacy_hazard_rises_with_non_response():
    ratio = np.linspace(0.0, 1.2, 13)  # MADRS at the last rating / baseline: 0 symptom-free, 1 unchanged
    madrs = BASELINE * ratio[:, None] * np.ones((1, 4))
    p_ae, p_loe = dropout_hazards(np.zeros((13, 4)), madrs, np.full(13, BASELINE), WEEKS, ON)
    # the first interval knows only the baseline; later ones the last rating
    assert np.allclose(p_loe[:, 0], p_loe[0, 0])
    assert np.all(np.diff(p_loe[:, 1]) > 0)
    assert np.all(np.diff(p_ae[:, 1]) < 0)
    leave = expected_dropout(np.zeros((13, 4)), madrs, np.full(13, BASELINE), WEEKS, ON)
    assert np.all(np.diff(leave["lack_of_efficacy"]) > 0)
    # non-responders leave for lack of efficacy more often than responders in the draws too
    n = 4000
    seeds = np.random.SeedSequence(5).spawn(2 * n)
    madrs2 = np.vstack([np.full((n, 4), BASELINE), np.full((n, 4), 0.3 * BASELINE)])
    out = dropout(np.zeros((2 * n, 4)), madrs2, np.full(2 * n, BASELINE), WEEKS, seeds, ON)
    loe = out["cause"] == "lack_of_efficacy"
    assert loe[:n].mean() > loe[n:].mean() + 0.03


def test_zero_rates_give_no_dropout():
    zero = DropoutParams(ae_rate=0.0, ae_cadss_slope=0.3, loe_rate=0.0, loe_nonresponse_slope=3.0)
    c, m, b = _inputs(300, 60.0, course=[60, 60, 60, 60], baseline=30.0)
    out = dropout(c, m, b, WEEKS, np.random.SeedSequence(1).spawn(300), zero)
    assert (out["dropout_visit"] == -1).all() and (out["cause"] == "").all()
    assert (expected_dropout(c, m, b, WEEKS, zero)["any"] == 0).all()


def test_a_patient_is_the_same_alone_and_in_a_batch_of_500():
    rng = np.random.default_rng(3)
    n = 500
    cadss = rng.uniform(0, 40, (n, 4))
    madrs = rng.uniform(5, 45, (n, 4))
    baseline = rng.uniform(25, 45, n)
    seeds = np.random.SeedSequence(2024).spawn(n)
    batch = dropout(cadss, madrs, baseline, WEEKS, seeds, ON)
    assert 0 < (batch["dropout_visit"] >= 0).sum() < n  # some leave, some stay: the check means something
    assert set(batch["cause"]) == {"adverse_event", "lack_of_efficacy", ""}
    for i in (0, 7, 123, 499):
        alone = dropout(cadss[i : i + 1], madrs[i : i + 1], baseline[i : i + 1], WEEKS, [seeds[i]], ON)
        assert alone["dropout_visit"][0] == batch["dropout_visit"][i]
        assert alone["cause"][0] == batch["cause"][i]
    # and a batch in another order gives each patient the same outcome
    order = rng.permutation(n)
    shuffled = dropout(cadss[order], madrs[order], baseline[order], WEEKS, [seeds[i] for i in order], ON)
    assert (shuffled["dropout_visit"].to_numpy() == batch["dropout_visit"].to_numpy()[order]).all()
    again = dropout(cadss, madrs, baseline, WEEKS, seeds, ON)
    assert again.equals(batch)


def test_output_frame():
    out = dropout(*_inputs(3, 5.0), WEEKS, np.random.SeedSequence(0).spawn(3), ON)
    assert list(out.columns) == ["patient", "dropout_visit", "cause"]
    assert out["patient"].tolist() == [0, 1, 2]
    assert out["dropout_visit"].between(-1, 3).all()


N, K = 4, 3
GOOD = {"cadss_peak": np.zeros((N, K)), "madrs": np.full((N, K), 20.0), "baseline": np.full(N, 30.0),
        "interval_days": np.full(K, 7.0)}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cadss_peak": np.zeros(N)}, "cadss_peak"),
        ({"cadss_peak": np.zeros((0, K))}, "cadss_peak"),
        ({"cadss_peak": -np.ones((N, K))}, "cadss_peak"),
        ({"cadss_peak": "high"}, "cadss_peak"),
        ({"madrs": np.zeros((N, K + 1))}, "madrs"),
        ({"madrs": np.zeros((N + 1, K))}, "madrs"),
        ({"madrs": np.full((N, K), np.nan)}, "madrs"),
        ({"baseline": np.full(N + 1, 30.0)}, "baseline"),
        ({"baseline": np.zeros(N)}, "baseline"),
        ({"interval_days": np.full(K + 1, 7.0)}, "interval_days"),
        ({"interval_days": np.zeros(K)}, "interval_days"),
        ({"seeds": np.random.SeedSequence(0).spawn(N - 1)}, "seeds"),
        ({"seeds": list(range(N))}, "seeds"),
        ({"seeds": np.random.SeedSequence(0)}, "seeds"),
        ({"params": {"ae_rate": 0.1}}, "params"),
    ],
)
def test_bad_input_is_an_input_error_naming_the_field(change, field):
    args = {**GOOD, "seeds": np.random.SeedSequence(0).spawn(N), "params": ON, **change}
    with pytest.raises(InputError) as info:
        dropout(**args)
    assert info.value.field == field


@pytest.mark.parametrize("field", ["ae_rate", "loe_rate"])
def test_negative_or_missing_rates_are_refused(field):
    good = {"ae_rate": 0.0, "ae_cadss_slope": 0.0, "loe_rate": 0.0, "loe_nonresponse_slope": 0.0}
    with pytest.raises(InputError) as info:
        DropoutParams(**{**good, field: -0.1})
    assert info.value.field == field
    with pytest.raises(InputError):
        DropoutParams(**{**good, field: float("nan")})
