"""Dropout as a model of its own: discrete-time, two competing causes over a trial's visit intervals.

A trial's visits cut its course into ``k`` intervals (interval ``j`` ends at visit ``j``). In interval
``j`` a patient still in the trial leaves with two cause-specific hazards per day, constant within the
interval:

- adverse event: ``ae_rate * exp(ae_cadss_slope * c_j)``, ``c_j`` the peak CADSS of the interval's sessions;
- lack of efficacy: ``loe_rate * exp(loe_nonresponse_slope * (r_j - 1))``, ``r_j`` the MADRS at the last
  rating before the interval divided by the baseline MADRS (1: no improvement, 0: symptom-free; the rating
  of visit ``j - 1``, the baseline for the first interval).

The patient leaves in interval ``j`` with probability ``1 - exp(-(h_ae + h_loe) * days_j)``, and the cause is
the adverse event with probability ``h_ae / (h_ae + h_loe)``. ``dropout_visit = j`` means the patient left
during interval ``j``: the ratings of visit ``j`` onwards are missing. Each patient's draws come from its
own seed, so a patient's outcome does not depend on which other patients are in the batch.

The rates are in ``parameters/dropout.toml``; the adverse-event pair is solved from TRANSFORM-2's
discontinuation proportions (see there). ``expected_dropout`` is the exact expectation the draws follow.

>>> import numpy as np
>>> p = DropoutParams(ae_rate=0.01, ae_cadss_slope=0.0, loe_rate=0.0, loe_nonresponse_slope=0.0)
>>> e = expected_dropout(np.zeros((1, 4)), np.full((1, 4), 30.0), [30.0], [7, 7, 7, 7], p)
>>> round(float(e["adverse_event"][0]), 4)  # 1 - exp(-0.01 * 28)
0.2442
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.checks import is_number
from ketasim.errors import InputError
from ketasim.parameters import ParameterSet, default_parameters

__all__ = ["CAUSES", "DropoutParams", "draw_cause", "dropout", "dropout_hazards", "expected_dropout",
           "interval_probabilities"]  # fmt: skip

#: The causes, as written in the ``cause`` column (``""``: the patient stayed).
CAUSES = ("adverse_event", "lack_of_efficacy")


@dataclass(frozen=True)
class DropoutParams:
    """The four rates of the dropout model (per day, and per CADSS point / per unit MADRS ratio)."""

    ae_rate: float
    ae_cadss_slope: float
    loe_rate: float
    loe_nonresponse_slope: float

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not is_number(v) or not np.isfinite(v):
                raise InputError(f.name, "must be a finite number", got=repr(v)[:60])
        for name in ("ae_rate", "loe_rate"):
            if getattr(self, name) < 0:
                raise InputError(name, "must be >= 0 (a hazard per day)", got=getattr(self, name))

    @classmethod
    def from_parameters(cls, params: ParameterSet | None = None) -> DropoutParams:
        """The rates of ``params`` (the shipped set by default), in per-day units."""
        p = params or default_parameters()
        return cls(
            ae_rate=p.value("dropout_ae_rate", "1/d"),
            ae_cadss_slope=p.value("dropout_ae_cadss_slope", "1"),
            loe_rate=p.value("dropout_loe_rate", "1/d"),
            loe_nonresponse_slope=p.value("dropout_loe_nonresponse_slope", "1"),
        )


def _matrix(value: Any, field: str, shape: tuple[int, ...] | None) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError(field, "must be an array of numbers", got=type(value).__name__) from None
    if shape is not None and a.shape != shape:
        raise InputError(field, f"must have shape {shape}", got=f"shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InputError(field, "must be finite numbers (no NaN or infinity)")
    return a


def _check(cadss_peak: Any, madrs: Any, baseline: Any, interval_days: Any) -> tuple[np.ndarray, ...]:
    c = _matrix(cadss_peak, "cadss_peak", None)
    if c.ndim != 2 or c.shape[0] == 0 or c.shape[1] == 0:
        raise InputError("cadss_peak", "must be a (patients, intervals) array with at least one of each",
                         got=f"shape {c.shape}")  # fmt: skip
    n, k = c.shape
    m = _matrix(madrs, "madrs", (n, k))
    b = _matrix(baseline, "baseline", (n,))
    d = _matrix(interval_days, "interval_days", (k,))
    if np.any(c < 0):
        raise InputError("cadss_peak", "must not be negative (the CADSS total runs 0-92)", got=float(c.min()))
    if np.any(m < 0):
        raise InputError("madrs", "must not be negative (the MADRS total runs 0-60)", got=float(m.min()))
    if np.any(b <= 0):
        raise InputError("baseline", "must be > 0 (the non-response ratio divides by it)", got=float(b.min()))
    if np.any(d <= 0):
        raise InputError("interval_days", "must be > 0 days each", got=float(d.min()))
    return c, m, b, d


def _params(params: DropoutParams | None) -> DropoutParams:
    if params is None:
        return DropoutParams.from_parameters()
    if not isinstance(params, DropoutParams):
        raise InputError("params", "must be a DropoutParams (or None for the shipped rates)", got=type(params).__name__)
    return params


def dropout_hazards(cadss_peak: Any, madrs: Any, baseline: Any, interval_days: Any,
                    params: DropoutParams | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The cause-specific probabilities of leaving in each interval, for a patient still in the trial.

    Returns ``(p_adverse_event, p_lack_of_efficacy)``, each of shape (patients, intervals); their sum is
    the probability of leaving in the interval at all. Arguments as for ``dropout``.
    """
    c, m, b, d = _check(cadss_peak, madrs, baseline, interval_days)
    last = np.concatenate([b[:, None], m[:, :-1]], axis=1)  # the rating known at the start of each interval
    return interval_probabilities(c, last / b[:, None], d[None, :], _params(params))


def interval_probabilities(cadss_peak: np.ndarray, last_ratio: np.ndarray, days: np.ndarray | float,
                           params: DropoutParams) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The cause-specific probabilities of leaving during one interval of ``days`` (arrays broadcast):
    ``cadss_peak`` the interval's peak CADSS, ``last_ratio`` the last rating before it over the baseline.
    The one place the hazards are written (``dropout_hazards`` and the phased runner use it)."""
    p = params
    h_ae = p.ae_rate * np.exp(p.ae_cadss_slope * np.asarray(cadss_peak, float))
    h_loe = p.loe_rate * np.exp(p.loe_nonresponse_slope * (np.asarray(last_ratio, float) - 1.0))
    total = h_ae + h_loe
    leave = -np.expm1(-total * np.asarray(days, float))
    share = np.divide(h_ae, total, out=np.zeros_like(total), where=total > 0)
    return leave * share, leave * (1.0 - share)


def expected_dropout(cadss_peak: Any, madrs: Any, baseline: Any, interval_days: Any,
                     params: DropoutParams | None = None) -> pd.DataFrame:  # fmt: skip
    """The exact probability that each patient leaves over all the intervals, by cause.

    One row per patient: ``patient``, ``adverse_event``, ``lack_of_efficacy`` and ``any`` (their sum),
    the cumulative incidences that ``dropout``'s draws follow.
    """
    p_ae, p_loe = dropout_hazards(cadss_peak, madrs, baseline, interval_days, params)
    stay = np.cumprod(1.0 - p_ae - p_loe, axis=1)
    at_risk = np.concatenate([np.ones((stay.shape[0], 1)), stay[:, :-1]], axis=1)
    ae = (at_risk * p_ae).sum(axis=1)
    loe = (at_risk * p_loe).sum(axis=1)
    return pd.DataFrame({"patient": np.arange(len(ae)), "adverse_event": ae, "lack_of_efficacy": loe,
                         "any": ae + loe})  # fmt: skip


def dropout(cadss_peak: Any, madrs: Any, baseline: Any, interval_days: Any,
            seeds: Sequence[np.random.SeedSequence], params: DropoutParams | None = None) -> pd.DataFrame:  # fmt: skip
    """Draw each patient's dropout: the interval it left in (or -1) and why.

    ``cadss_peak`` (patients, intervals): the peak CADSS of the sessions in each interval (0 without a
    session); ``madrs`` (patients, intervals): the MADRS rated at the visit ending each interval (the
    last column only counts for later analyses); ``baseline`` (patients,): the baseline MADRS;
    ``interval_days`` (intervals,): each interval's length in days; ``seeds``: one
    ``numpy.random.SeedSequence`` per patient (e.g. ``SeedSequence(run_seed).spawn(n)``); ``params``:
    ``DropoutParams`` (default: the shipped ``parameters/dropout.toml``).

    Returns one row per patient: ``patient`` (its row index), ``dropout_visit`` (the interval left in,
    -1 if it stayed to the end) and ``cause`` (``"adverse_event"``, ``"lack_of_efficacy"`` or ``""``).
    """
    p_ae, p_loe = dropout_hazards(cadss_peak, madrs, baseline, interval_days, params)
    n, k = p_ae.shape
    if isinstance(seeds, np.random.SeedSequence) or not isinstance(seeds, Sequence):
        raise InputError("seeds", "must be a list of numpy SeedSequence, one per patient", got=type(seeds).__name__)
    if len(seeds) != n:
        raise InputError("seeds", f"must hold one SeedSequence per patient ({n})", got=len(seeds))
    if not all(isinstance(s, np.random.SeedSequence) for s in seeds):
        raise InputError("seeds", "must be numpy SeedSequence objects (e.g. SeedSequence(seed).spawn(n))")
    visit = np.full(n, -1, dtype=np.int64)
    cause = np.full(n, "", dtype=object)
    for i, seed in enumerate(seeds):
        # always the same 2k uniforms from the patient's own stream, whatever the outcome
        u = np.random.default_rng(seed).random((2, k))
        for j in range(k):
            cause[i] = draw_cause(u[0, j], u[1, j], p_ae[i, j], p_loe[i, j])
            if cause[i]:
                visit[i] = j
                break
    return pd.DataFrame({"patient": np.arange(n), "dropout_visit": visit, "cause": cause.astype(str)})


def draw_cause(u_leave: float, u_cause: float, p_ae: float, p_loe: float) -> str:
    """Whether a patient at risk leaves in an interval, and why, from two uniforms: ``""`` (stays) unless
    ``u_leave`` falls below the probability of leaving at all; then the cause in proportion to the two
    (the one place the draw is written: ``dropout`` and the phased runner use it)."""
    total = p_ae + p_loe
    if u_leave >= total:
        return ""
    return CAUSES[0] if u_cause * total < p_ae else CAUSES[1]
