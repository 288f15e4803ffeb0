"""Rating scales besides the MADRS: crosswalks from the model's MADRS, rater noise, response and remission.

The model's symptom network produces a true (noise-free) MADRS total. Another scale's true score is read
from it through a published linking table (``trials/scales.toml``): linear between the table's points,
the end segments extended beyond them, clipped to the scale's range. An observed rating adds rater noise,
the scale's standard error of measurement (``<scale>_rating_noise_sd`` in ``parameters/scales.toml``;
``rating_noise_sd`` for the MADRS), and is rounded to whole points, as ``runner._rate`` does for the MADRS.

>>> [float(x) for x in true_score("hamd17", np.array([0.0, 13.0, 26.0, 39.0]))]
[0.0, 10.0, 20.0, 30.0]
>>> float(rate("qids_sr16", np.array([32.0]), np.array([0.0]), default_parameters())[0])
20.0
>>> bool(remitted("hamd17", np.array([7.0]))[0]), get_scale("qids_sr16").remission_threshold
(True, 5.0)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

import numpy as np

from ketasim.errors import InputError, ParameterError
from ketasim.parameters import ParameterSet, default_parameters

__all__ = ["SCALES", "Crosswalk", "Scale", "crosswalk", "get_scale", "rate", "remitted", "responded", "true_score"]


@dataclass(frozen=True)
class Scale:
    """A depression rating scale as trials score it.

    ``remission_thresholds``: the published remission cut-offs (score <= threshold), the first the default.
    ``response_fraction``: response = a fall of at least this fraction from baseline, where that is the
    scale's published convention (None where it is not, e.g. the CGI-S, whose response is rated on the CGI-I).
    ``noise_parameter``: the parameter holding the SD of one rating's noise (the standard error of measurement).
    """

    name: str
    long_name: str
    low: float
    high: float
    integer: bool
    remission_thresholds: tuple[float, ...]
    remission_source: str
    response_fraction: float | None
    response_source: str
    noise_parameter: str
    rater: str

    @property
    def remission_threshold(self) -> float:
        return self.remission_thresholds[0]


SCALES: Mapping[str, Scale] = {
    s.name: s
    for s in (
        Scale("madrs", "Montgomery-Asberg Depression Rating Scale", 0, 60, True, (10.0, 12.0),
              "<= 10 and <= 12 are both in use (leucht2017); Endpoints' default is 10", 0.5,
              "fall >= 50% from baseline (leucht2017: CGI-I 'much improved' ~ a 48-57% fall)",
              "rating_noise_sd", "clinician"),
        Scale("hamd17", "Hamilton Rating Scale for Depression, 17 items", 0, 52, True, (7.0,),
              "HAMD-17 <= 7 (leucht2013; trivedi2006, STAR*D primary outcome)", 0.5,
              "fall >= 50% from baseline (leucht2013)", "hamd17_rating_noise_sd", "clinician"),
        Scale("qids_sr16", "Quick Inventory of Depressive Symptomatology, self-report, 16 items", 0, 27, True,
              (5.0,), "QIDS-SR16 <= 5 (trivedi2006)", 0.5, "fall >= 50% from baseline (trivedi2006)",
              "qids_sr16_rating_noise_sd", "self-report"),
        Scale("cgi_s", "Clinical Global Impression - Severity", 1, 7, True, (2.0,),
              "CGI-S <= 2: remission as MADRS < 8 corresponded to CGI-S 2, 'borderline mentally ill' (leucht2017)",
              None, "none: a fall on the CGI-S is not a published response definition (response is rated "
              "on the CGI-I)", "cgi_s_rating_noise_sd", "clinician"),
    )
}  # fmt: skip


def get_scale(name: str | Scale) -> Scale:
    """The scale registered under ``name`` (a ``Scale`` is returned as it is).

    >>> get_scale("hamd17").high
    52
    >>> get_scale("bdi")
    Traceback (most recent call last):
    ...
    ketasim.InputError: scale: must be one of madrs, hamd17, qids_sr16, cgi_s (got 'bdi')
    """
    if isinstance(name, Scale):
        return name
    if not isinstance(name, str) or name not in SCALES:
        raise InputError("scale", f"must be one of {', '.join(SCALES)}", got=repr(name)[:40])
    return SCALES[name]


@dataclass(frozen=True)
class Crosswalk:
    """A published linking table from scale ``source_scale`` to ``scale``, as interpolation points."""

    scale: str
    source_scale: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    assumed: tuple[bool, ...]
    source: str
    via: str
    bands: tuple[tuple[float, float, float], ...] = ()

    def __call__(self, score: np.ndarray) -> np.ndarray:
        """The target score of ``score``: linear between points, end segments extended, clipped to range."""
        s = np.asarray(score, dtype=float)
        x, y = np.asarray(self.x), np.asarray(self.y)
        out = np.interp(s, x, y)
        lo_slope = (y[1] - y[0]) / (x[1] - x[0])
        hi_slope = (y[-1] - y[-2]) / (x[-1] - x[-2])
        out = np.where(s < x[0], y[0] + (s - x[0]) * lo_slope, out)
        out = np.where(s > x[-1], y[-1] + (s - x[-1]) * hi_slope, out)
        target = SCALES[self.scale]
        return np.clip(out, target.low, target.high)


def _from_bands(bands: list[list[float]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Interpolation points from published bands [target, lowest source, highest source]: each target score at
    the middle of its band, the open-ended top band at its lowest score, targets sharing a band at their mean."""
    by_x: dict[float, list[float]] = {}
    for i, (target, lo, hi) in enumerate(bands):
        mid = lo if i == len(bands) - 1 else (lo + hi) / 2
        by_x.setdefault(mid, []).append(target)
    xs = sorted(by_x)
    return tuple(float(v) for v in xs), tuple(float(np.mean(by_x[v])) for v in xs)


@cache
def _crosswalks() -> dict[str, Crosswalk]:
    text = resources.files("ketasim.trials").joinpath("scales.toml").read_text(encoding="utf-8")
    out: dict[str, Crosswalk] = {}
    for name, t in tomllib.loads(text).items():
        if "bands" in t:
            x, y = _from_bands(t["bands"])
            assumed = (False,) * len(x)
            bands = tuple((float(b[0]), float(b[1]), float(b[2])) for b in t["bands"])
        else:
            x = tuple(float(p[0]) for p in t["points"])
            y = tuple(float(p[1]) for p in t["points"])
            assumed = tuple(i in t.get("assumed", ()) for i in range(len(x)))
            bands = ()
        if len(x) < 2 or any(b <= a for a, b in pairwise(x)) or any(b < a for a, b in pairwise(y)):
            raise ParameterError(f"trials/scales.toml [{name}]: points must rise in both scores")
        out[name] = Crosswalk(name, t["from"], x, y, assumed, t["source"], t["via"], bands)
    return out


def crosswalk(scale: str | Scale) -> Crosswalk | None:
    """The linking table into ``scale`` (None for the MADRS, the model's own scale)."""
    s = get_scale(scale)
    return None if s.name == "madrs" else _crosswalks()[s.name]


def true_score(scale: str | Scale, true_madrs: Any) -> np.ndarray:
    """The scale's noise-free score for the model's true MADRS total (chained through the HAM-D where the
    published table links the scale to the HAM-D17)."""
    s = get_scale(scale)
    m = np.clip(np.asarray(true_madrs, dtype=float), 0, 60)
    cw = crosswalk(s)
    if cw is None:
        return m
    return cw(true_score(cw.source_scale, m))


def rate(scale: str | Scale, true_madrs: Any, noise: Any, params: ParameterSet | None = None) -> np.ndarray:
    """Observed ratings: the scale's true score plus ``noise`` (standard-normal draws) times the scale's
    rating-noise SD, clipped to the scale's range and rounded to whole points."""
    s = get_scale(scale)
    p = params if params is not None else default_parameters()
    obs = true_score(s, true_madrs) + np.asarray(noise, dtype=float) * p.value(s.noise_parameter)
    obs = np.clip(obs, s.low, s.high)
    return np.round(obs) if s.integer else obs


def responded(scale: str | Scale, score: Any, baseline: Any) -> np.ndarray:
    """Response: a fall of at least the scale's published fraction (50%) from ``baseline``."""
    s = get_scale(scale)
    if s.response_fraction is None:
        raise InputError("scale", f"{s.name} has no published percent-fall response definition ({s.response_source})")
    return np.asarray(score, dtype=float) <= (1 - s.response_fraction) * np.asarray(baseline, dtype=float)


def remitted(scale: str | Scale, score: Any, threshold: float | None = None) -> np.ndarray:
    """Remission: ``score`` at or below ``threshold`` (one of the scale's published cut-offs; default the first)."""
    s = get_scale(scale)
    if threshold is None:
        threshold = s.remission_threshold
    elif threshold not in s.remission_thresholds:
        allowed = " or ".join(f"{t:g}" for t in s.remission_thresholds)
        raise InputError("remission_threshold", f"must be {allowed} ({s.name})", got=repr(threshold))
    return np.asarray(score, dtype=float) <= threshold
