"""Rating scales besides the MADRS: published crosswalk anchors, rater noise, response and remission."""

from __future__ import annotations

import tomllib
from importlib import resources

import numpy as np
import pytest

from ketasim.errors import InputError
from ketasim.parameters import default_parameters
from ketasim.trials import SCALES, get_scale, rate, remitted, responded, true_score
from ketasim.trials.scales import crosswalk

# Leucht et al. 2018 (abstract): HAM-D 10, 20, 30, 40 ~ MADRS 13, 26, 39, 52-53
LEUCHT2018 = [(13, 10), (26, 20), (39, 30), (52.5, 40)]
# the QIDS-SR16 <-> HRSD17 table (ids-qids.org, adapted from Rush et al. 2003): QIDS-SR16 -> HRSD17 band
QIDS_BANDS = {0: (0, 0), 1: (1, 2), 2: (3, 3), 3: (4, 4), 4: (5, 6), 5: (7, 7), 6: (8, 8), 7: (9, 10), 8: (11, 11),
              9: (12, 12), 10: (13, 13), 11: (14, 15), 12: (16, 16), 13: (17, 17), 14: (18, 19), 15: (18, 19),
              16: (20, 20), 17: (21, 22), 18: (23, 23), 19: (24, 24), 20: (25, 25), 21: (26, 27), 22: (28, 28),
              23: (29, 29), 24: (30, 31), 25: (32, 32), 26: (33, 35), 27: (36, 52)}  # fmt: skip


def test_registry_names_ranges_and_thresholds():
    assert list(SCALES) == ["madrs", "hamd17", "qids_sr16", "cgi_s"]
    ranges = {n: (s.low, s.high) for n, s in SCALES.items()}
    assert ranges == {"madrs": (0, 60), "hamd17": (0, 52), "qids_sr16": (0, 27), "cgi_s": (1, 7)}
    assert {n: s.remission_thresholds for n, s in SCALES.items()} == {
        "madrs": (10, 12), "hamd17": (7,), "qids_sr16": (5,), "cgi_s": (2,)}  # fmt: skip
    assert {n: s.response_fraction for n, s in SCALES.items()} == {
        "madrs": 0.5, "hamd17": 0.5, "qids_sr16": 0.5, "cgi_s": None}  # fmt: skip
    assert all(s.integer for s in SCALES.values())
    assert get_scale("qids_sr16").rater == "self-report"
    assert get_scale(SCALES["madrs"]) is SCALES["madrs"]


def test_unknown_scale_is_an_input_error_naming_the_allowed_ones():
    with pytest.raises(
        InputError, match=r"^scale: must be one of madrs, hamd17, qids_sr16, cgi_s \(got 'phq9'\)$"
    ) as e:
        get_scale("phq9")
    assert e.value.field == "scale"
    with pytest.raises(InputError, match="scale"):
        rate("bdi", np.zeros(1), np.zeros(1), default_parameters())
    with pytest.raises(InputError, match="scale"):
        get_scale(None)  # type: ignore[arg-type]


def test_madrs_maps_to_itself():
    m = np.linspace(0, 60, 121)
    assert np.array_equal(true_score("madrs", m), m)
    assert crosswalk("madrs") is None
    assert np.array_equal(rate("madrs", m, np.zeros_like(m), default_parameters()), np.round(m))


def test_hamd_crosswalk_reproduces_leucht_2018():
    cw = crosswalk("hamd17")
    assert cw is not None and cw.source == "leucht2018" and not any(cw.assumed)
    assert list(zip(cw.x, cw.y, strict=True)) == LEUCHT2018
    madrs = np.array([m for m, _ in LEUCHT2018])
    assert true_score("hamd17", madrs).tolist() == [10.0, 20.0, 30.0, 40.0]
    # the first segment (10/13 HAM-D points per MADRS point) extended to zero passes through the origin
    assert true_score("hamd17", np.array([0.0, 6.5]))[0] == pytest.approx(0.0, abs=1e-12)
    assert true_score("hamd17", np.array([6.5]))[0] == pytest.approx(5.0)
    # beyond 52.5 the last segment (10 per 13.5) goes on: MADRS 60 -> 40 + 7.5 * 10 / 13.5
    assert true_score("hamd17", np.array([60.0]))[0] == pytest.approx(45.5556, abs=1e-4)


def test_qids_crosswalk_reproduces_the_published_table():
    cw = crosswalk("qids_sr16")
    assert cw is not None and cw.source == "rush2003" and cw.source_scale == "hamd17"
    assert {int(b[0]): (b[1], b[2]) for b in cw.bands} == QIDS_BANDS
    # every QIDS-SR16 score sits at the middle of its HRSD17 band (14 and 15 share 18-19: 14.5 there; the
    # open-ended 27 at 36)
    hit = dict(zip(cw.x, cw.y, strict=True))
    for q, (lo, hi) in QIDS_BANDS.items():
        x = lo if q == 27 else (lo + hi) / 2
        assert hit[x] == (14.5 if q in (14, 15) else q), q
    # every whole HRSD17 score of the table rounds to a QIDS-SR16 score the table gives it
    for h in range(37):
        published = {q for q, (lo, hi) in QIDS_BANDS.items() if lo <= h <= hi}
        assert int(np.round(cw(np.array([float(h)]))[0])) in published, h
    assert cw(np.array([40.0, 52.0])).tolist() == [27.0, 27.0]


def test_qids_is_chained_through_the_hamd():
    # MADRS 13, 26, 39 -> HAM-D 10, 20, 30 -> QIDS-SR16 between the points (9.5, 7)-(11, 8), at (20, 16), and
    # between (29, 23)-(30.5, 24); the table gives HRSD17 10, 20, 30 the QIDS-SR16 scores 7, 16 and 24
    q = true_score("qids_sr16", np.array([13.0, 26.0, 39.0]))
    assert q.tolist() == [pytest.approx(v) for v in (7 + 0.5 / 1.5, 16.0, 23 + 1 / 1.5)]
    assert np.round(q).tolist() == [7.0, 16.0, 24.0]


def test_cgi_crosswalk_keeps_the_verified_point_and_flags_the_assumed_ends():
    cw = crosswalk("cgi_s")
    assert cw is not None and cw.source == "leucht2017"
    assert list(zip(cw.x, cw.y, strict=True)) == [(0, 1), (7, 2), (60, 7)]
    assert cw.assumed == (True, False, True)
    # Leucht 2017: MADRS totals < 8 correspond to CGI-S 2
    assert true_score("cgi_s", np.array([7.0])).tolist() == [2.0]
    assert rate("cgi_s", np.arange(8.0), np.zeros(8), default_parameters()).max() == 2.0


@pytest.mark.parametrize("name", ["hamd17", "qids_sr16", "cgi_s"])
def test_crosswalks_are_monotone_and_within_range(name):
    m = np.linspace(-5, 65, 1401)
    t = true_score(name, m)
    s = get_scale(name)
    assert np.all(np.diff(t) >= 0)
    assert t.min() == s.low and t.max() <= s.high
    inside = t[(m >= 0) & (m <= 60) & (t < s.high)]
    assert np.all(np.diff(inside) > 0)  # strictly rising from MADRS 0 until the scale's ceiling


def test_sources_of_tables_and_noise_parameters_are_in_the_bibliography():
    p = default_parameters()
    raw = tomllib.loads(resources.files("ketasim.trials").joinpath("scales.toml").read_text(encoding="utf-8"))
    assert set(raw) == {"hamd17", "qids_sr16", "cgi_s"}
    for t in raw.values():
        assert t["source"] in p.sources and t["via"]
    assert p.value("hamd17_rating_noise_sd") == 1.25  # Morriss 2008: SEM 1.25 published
    assert p.value("qids_sr16_rating_noise_sd") == pytest.approx(4.8 * np.sqrt(1 - 0.86), abs=0.005)
    assert p.value("cgi_s_rating_noise_sd") == pytest.approx(1.0 * np.sqrt(1 - 0.768), abs=0.005)
    assert p.citation("hamd17_rating_noise_sd").key == "morriss2008"
    assert p["cgi_s_rating_noise_sd"].assumption  # the CGI-S SD was not found: an assumption, said so
    for s in SCALES.values():
        assert p.value(s.noise_parameter) > 0


@pytest.mark.parametrize("name", ["madrs", "hamd17", "qids_sr16", "cgi_s"])
def test_rating_noise_matches_the_parameter(name):
    p = default_parameters()
    s = get_scale(name)
    n = 40_000
    true_madrs = np.full(n, 30.0)  # mid-range: no clipping at the ends
    noise = np.random.default_rng(20261207).standard_normal(n)
    obs = rate(s, true_madrs, noise, p)
    assert np.all(obs == np.round(obs)) and obs.min() >= s.low and obs.max() <= s.high
    sd = p.value(s.noise_parameter)
    # rounding to whole points adds the variance of a uniform error, 1/12
    assert obs.std() == pytest.approx(np.sqrt(sd**2 + 1 / 12), rel=0.03)
    assert obs.mean() == pytest.approx(true_score(s, np.array([30.0]))[0], abs=0.05)
    # unrounded, the noise is exactly noise x SD
    assert np.allclose(true_score(s, true_madrs) + noise * sd - true_score(s, true_madrs), noise * sd)


def test_rating_is_clipped_to_the_scale():
    p = default_parameters()
    assert rate("hamd17", np.array([0.0, 60.0]), np.array([-50.0, 50.0]), p).tolist() == [0.0, 52.0]
    assert rate("cgi_s", np.array([0.0, 60.0]), np.array([-50.0, 50.0]), p).tolist() == [1.0, 7.0]
    assert rate("madrs", np.array([0.0, 60.0]), np.array([-50.0, 50.0]), p).tolist() == [0.0, 60.0]


def test_remission_thresholds():
    assert remitted("madrs", np.array([10, 11, 12, 13])).tolist() == [True, False, False, False]
    assert remitted("madrs", np.array([10, 11, 12, 13]), threshold=12).tolist() == [True, True, True, False]
    assert remitted("hamd17", np.array([7, 8])).tolist() == [True, False]
    assert remitted("qids_sr16", np.array([5, 6])).tolist() == [True, False]
    assert remitted("cgi_s", np.array([2, 3])).tolist() == [True, False]
    with pytest.raises(InputError, match=r"remission_threshold: must be 7 \(hamd17\) \(got 10\)"):
        remitted("hamd17", np.array([5]), threshold=10)


def test_response_is_a_fall_of_half_where_published():
    base = np.array([30.0, 30.0, 30.0])
    assert responded("madrs", np.array([15, 16, 0]), base).tolist() == [True, False, True]
    assert responded("hamd17", np.array([11, 12]), np.array([22, 22])).tolist() == [True, False]
    assert responded("qids_sr16", np.array([8, 9]), np.array([16, 16])).tolist() == [True, False]
    with pytest.raises(InputError, match="cgi_s has no published percent-fall response definition"):
        responded("cgi_s", np.array([2]), np.array([5]))
