"""Post-dose monitoring: per-session dissociation and blood-pressure peaks, flags and discharge times.

``monitor(result, regimen)`` reads the simulated CADSS and systolic blood-pressure rise
(``sbp_change``) of every patient and returns one row per (patient, dosing session): when the session
started, what was given, the peaks within the session window (from the session start until the next
session starts, or the end of the simulation), the hours spent at or above each threshold, a flag
when a threshold was reached, and the earliest discharge time.

Clinical basis and the numbers used (``../shared/reference/clinical.md`` §3.3 unless stated):

* **Observation time.** The Spravato label asks for observation for at least 2 h after every
  session. ketasim counts the 2 h from the *end* of administration (the last 28 mg device), the
  conservative reading of "after administration". For an 84 mg session (devices 5 min apart) that
  is 2 h 10 min after the session start.
* **IV ketamine** has no label monitoring rule. *Assumption:* observe until 1 h after the end of the
  infusion and at least 2 h after its start (the esketamine rule as a floor). Other routes
  (intramuscular, oral, racemic intranasal): *assumption*, 2 h after the end of administration, by
  analogy with the esketamine label.
* **SBP threshold, 40 mmHg rise** and **DBP threshold, 25 mmHg rise**: the label's blood-pressure
  events (a rise of >= 40 mmHg systolic and/or >= 25 mmHg diastolic).
* **CADSS threshold, 4 points**: the esketamine programme counted dissociative or perceptual changes
  when the CADSS total was > 4 and had risen (J&J Medical Information, "Adverse Event of SPRAVATO -
  Dissociative Effects/Perceptual Disturbances", 2024, which also reports that CADSS peaks about
  40 min after dosing and generally resolves by 1.5 h). Using that cut-off as a *discharge* criterion
  is an assumption of ketasim.
* **Diastolic pressure.** The model has no diastolic output. By default the DBP threshold is
  therefore *not assessed* (its columns are NaN and it never flags or delays discharge). Passing
  ``dbp_ratio`` estimates the diastolic rise as ``dbp_ratio x`` the systolic rise; any such ratio is
  the caller's assumption (ketasim has no source for one).
* **Session grouping.** Doses whose start lies within 15 min of the end of the previous dose's
  administration belong to one session (*assumption*; nasal devices of one session are 5 min apart,
  visits are days apart). Only ketamine and esketamine doses form sessions; control sessions and other
  drugs do not.

A value "reaches" a threshold when it is >= the threshold; crossing times are interpolated linearly
between output samples, so a finer ``output_step`` gives finer times.

>>> import ketasim as ks
>>> reg = ks.protocols.get("esketamine-84mg-single")
>>> res = ks.simulate(reg, duration="6 h", output_step="5 min")
>>> table = monitor(res, reg)
>>> len(table), bool(table["discharge_h"].iloc[0] >= 2.0)
(1, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ketasim.clinical.limits import (
    CADSS_THRESHOLD,
    DBP_THRESHOLD_MMHG,
    MAX_CADSS,
    MAX_DBP_RISE_MMHG,
    MAX_SBP_RISE_MMHG,
    SBP_THRESHOLD_MMHG,
)
from ketasim.dosing import Dose, Drug, Regimen, Route
from ketasim.errors import InputError
from ketasim.simulation import Result
from ketasim.units import QuantityLike, parse_positive_number, parse_quantity

__all__ = [
    "CADSS_THRESHOLD",
    "DBP_THRESHOLD_MMHG",
    "ESKETAMINE_OBSERVATION_H",
    "IV_OBSERVATION_AFTER_INFUSION_H",
    "OTHER_OBSERVATION_H",
    "SBP_THRESHOLD_MMHG",
    "SESSION_GAP_H",
    "DosingSession",
    "discharge_summary",
    "monitor",
    "sessions",
]

ESKETAMINE_OBSERVATION_H = 2.0  # Spravato label: observe >= 2 h after every session
IV_OBSERVATION_AFTER_INFUSION_H = 1.0  # assumption (no label for IV ketamine); floor of 2 h after start
OTHER_OBSERVATION_H = 2.0  # assumption for IM / oral / racemic intranasal, by analogy with the label
SESSION_GAP_H = 0.25  # assumption: doses within 15 min of the previous administration end are one session
DEVICE_INTERVAL_H = 5.0 / 60.0  # Spravato label: wait 5 min between devices (parameters: device_interval)

_MAX_OBSERVATION_H = 48.0

COLUMNS = (
    "patient",
    "session",
    "start_h",
    "window_end_h",
    "drug",
    "route",
    "dose",
    "administration_end_h",
    "min_observation_h",
    "cadss_peak",
    "cadss_peak_h",
    "sbp_rise_peak_mmhg",
    "sbp_peak_h",
    "dbp_rise_peak_mmhg",
    "hours_cadss_above",
    "hours_sbp_above",
    "hours_dbp_above",
    "flag_cadss",
    "flag_sbp",
    "flag_dbp",
    "flag",
    "discharge_h",
    "discharge_at_h",
    "discharge_limited_by",
)


@dataclass(frozen=True)
class DosingSession:
    """Doses given at one visit. Times in hours from the simulation start."""

    start_h: float
    administration_end_h: float
    doses: tuple[Dose, ...]

    @property
    def drug(self) -> str:
        return "+".join(sorted({d.drug.value for d in self.doses}))

    @property
    def route(self) -> str:
        return "+".join(sorted({d.route.value for d in self.doses}))

    @property
    def dose_text(self) -> str:
        per_kg = {d.per_kg for d in self.doses}
        if len(per_kg) == 1 and len({(d.drug, d.route) for d in self.doses}) == 1:
            unit = "mg/kg" if per_kg.pop() else "mg"
            text = f"{sum(d.amount for d in self.doses):g} {unit}"
            dur = [d.duration_h for d in self.doses if d.duration_h]
            if dur:
                text += f" over {(self.administration_end_h - self.start_h) * 60:g} min"
            return text
        return "; ".join(d.describe() for d in self.doses)

    def default_observation_h(self) -> float:
        """Minimum observation, in hours after the session start (see the module docstring)."""
        after_end = self.administration_end_h - self.start_h
        if any(d.drug is Drug.ESKETAMINE and d.route is Route.INTRANASAL for d in self.doses):
            return after_end + ESKETAMINE_OBSERVATION_H
        if all(d.route is Route.IV for d in self.doses):
            return max(after_end + IV_OBSERVATION_AFTER_INFUSION_H, ESKETAMINE_OBSERVATION_H)
        return after_end + OTHER_OBSERVATION_H


def _administration_end(dose: Dose) -> float:
    if dose.duration_h:
        return dose.at_h + dose.duration_h
    if dose.devices > 1:
        return dose.at_h + (dose.devices - 1) * DEVICE_INTERVAL_H
    return dose.at_h


def sessions(regimen: Regimen) -> list[DosingSession]:
    """Group the ketamine and esketamine doses of ``regimen`` into sessions (visits).

    >>> import ketasim as ks
    >>> [round(s.start_h) for s in sessions(ks.protocols.get("spravato-induction-56mg"))][:3]
    [0, 72, 168]
    """
    if not isinstance(regimen, Regimen):
        raise InputError("regimen", "must be a ketasim.Regimen", got=type(regimen).__name__)
    doses = sorted(
        (d for d in regimen.doses if d.drug in (Drug.KETAMINE, Drug.ESKETAMINE)),
        key=lambda d: (d.at_h, _administration_end(d)),
    )
    out: list[DosingSession] = []
    for d in doses:
        if out and d.at_h <= out[-1].administration_end_h + SESSION_GAP_H:
            last = out[-1]
            out[-1] = DosingSession(
                last.start_h, max(last.administration_end_h, _administration_end(d)), (*last.doses, d)
            )
        else:
            out.append(DosingSession(d.at_h, _administration_end(d), (d,)))
    return out


def monitor(
    result: Result,
    regimen: Regimen | None = None,
    *,
    sbp_threshold: QuantityLike = SBP_THRESHOLD_MMHG,
    dbp_threshold: QuantityLike = DBP_THRESHOLD_MMHG,
    cadss_threshold: float = CADSS_THRESHOLD,
    min_observation_h: QuantityLike | None = None,
    dbp_ratio: float | None = None,
) -> pd.DataFrame:
    """One row per (patient, dosing session): peaks, hours above thresholds, flags and discharge time.

    ``regimen`` defaults to the regimen that produced ``result`` (``Result.regimen``); pass another only
    to group the sessions differently.

    Thresholds: ``sbp_threshold`` (mmHg rise, within 0-200, default 40), ``dbp_threshold`` (mmHg rise,
    within 0-150, default 25; only assessed when ``dbp_ratio`` is given), ``cadss_threshold`` (CADSS
    points, within 0-92, default 4); zero is refused. ``min_observation_h`` (hours after the session
    start, within 0-48) replaces the per-route default observation time for every session.
    ``dbp_ratio`` (0-2, zero excluded): estimate the diastolic rise as this times the systolic rise.

    Columns: ``patient``, ``session`` (0-based per patient), ``start_h`` and ``window_end_h``
    (simulation hours), ``drug``, ``route``, ``dose``, ``administration_end_h``,
    ``min_observation_h`` (hours after start), ``cadss_peak`` and ``cadss_peak_h`` (hours after start),
    ``sbp_rise_peak_mmhg`` and ``sbp_peak_h``, ``dbp_rise_peak_mmhg`` (NaN unless ``dbp_ratio``),
    ``hours_cadss_above`` / ``hours_sbp_above`` / ``hours_dbp_above``, ``flag_cadss`` / ``flag_sbp`` /
    ``flag_dbp`` and ``flag`` (any), ``discharge_h`` (hours after the session start) and
    ``discharge_at_h`` (simulation hours), ``discharge_limited_by`` (``"observation"``, ``"cadss"``,
    ``"sbp"``, ``"dbp"``, or ``"window"`` when undetermined). Discharge is the earliest time at which the minimum
    observation has passed and every assessed measure stays below its threshold for the rest of the
    window; NaN when that does not happen inside the window (next session or end of simulation).
    Sessions starting at or after the end of the simulated window are left out.
    """
    ds = _dataset(result)
    sbp_thr = _threshold(sbp_threshold, "sbp_threshold", "mmHg", MAX_SBP_RISE_MMHG)
    dbp_thr = _threshold(dbp_threshold, "dbp_threshold", "mmHg", MAX_DBP_RISE_MMHG)
    cadss_thr = parse_positive_number(cadss_threshold, "cadss_threshold", MAX_CADSS)
    obs_override = None
    if min_observation_h is not None:
        obs_override = parse_quantity(
            min_observation_h, "min_observation_h", "h", strictly_positive=True, maximum=_MAX_OBSERVATION_H
        )
    ratio = None if dbp_ratio is None else parse_positive_number(dbp_ratio, "dbp_ratio", 2.0)
    sess = sessions(result.regimen if regimen is None else regimen)

    t = np.asarray(ds["time"].values, float)
    cadss = np.asarray(ds["cadss"].values, float)
    sbp = np.asarray(ds["sbp_change"].values, float)
    t_end = float(t[-1])
    sess = [s for s in sess if s.start_h < t_end]
    rows: list[dict[str, Any]] = []
    for p in range(cadss.shape[0]):
        for k, s in enumerate(sess):
            w_end = sess[k + 1].start_h if k + 1 < len(sess) else t_end
            tw = _window_times(t, s.start_h, w_end)
            c = np.interp(tw, t, cadss[p])
            b = np.interp(tw, t, sbp[p])
            obs = obs_override if obs_override is not None else s.default_observation_h()
            measures = [("cadss", c, cadss_thr), ("sbp", b, sbp_thr)]
            row: dict[str, Any] = {
                "patient": int(ds["patient"].values[p]),
                "session": k,
                "start_h": s.start_h,
                "window_end_h": w_end,
                "drug": s.drug,
                "route": s.route,
                "dose": s.dose_text,
                "administration_end_h": s.administration_end_h,
                "min_observation_h": obs,
                "cadss_peak": float(c.max()),
                "cadss_peak_h": float(tw[c.argmax()] - s.start_h),
                "sbp_rise_peak_mmhg": float(b.max()),
                "sbp_peak_h": float(tw[b.argmax()] - s.start_h),
                "hours_cadss_above": _hours_above(tw, c, cadss_thr),
                "hours_sbp_above": _hours_above(tw, b, sbp_thr),
                "flag_cadss": bool(c.max() >= cadss_thr),
                "flag_sbp": bool(b.max() >= sbp_thr),
            }
            if ratio is not None:
                d = ratio * b
                measures.append(("dbp", d, dbp_thr))
                row.update(
                    dbp_rise_peak_mmhg=float(d.max()),
                    hours_dbp_above=_hours_above(tw, d, dbp_thr),
                    flag_dbp=bool(d.max() >= dbp_thr),
                )
            else:
                row.update(dbp_rise_peak_mmhg=math.nan, hours_dbp_above=math.nan, flag_dbp=False)
            row["flag"] = bool(row["flag_cadss"] or row["flag_sbp"] or row["flag_dbp"])
            limits = [("observation", s.start_h + obs)] + [(n, _clear_time(tw, v, thr)) for n, v, thr in measures]
            reason, clear = max(limits, key=lambda item: item[1])  # ties: the first (observation) wins
            at = clear if clear <= w_end + 1e-9 else math.nan
            row["discharge_at_h"] = at
            row["discharge_h"] = at - s.start_h
            row["discharge_limited_by"] = reason if math.isfinite(at) else "window"
            rows.append(row)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table.attrs.update(
        {
            "sbp_threshold_mmhg": sbp_thr,
            "dbp_threshold_mmhg": dbp_thr,
            "cadss_threshold": cadss_thr,
            "dbp_assessed": ratio is not None,
            "dbp_ratio": ratio,
        }
    )
    return table


def discharge_summary(table: pd.DataFrame) -> dict[str, float | int | bool]:
    """Headline numbers of a ``monitor`` table.

    ``discharge_h``: first session's discharge time (hours after its start), mean over patients (NaN
    if any patient's first-session discharge is undetermined); ``discharge_h_max``: its maximum over
    patients; ``discharge_h_all_max``: the latest discharge over all sessions; flag counts by measure
    (rows), ``n_patients_flagged`` and ``n_undetermined`` (rows without a discharge time).

    >>> import ketasim as ks
    >>> res = ks.simulate("zarate-2006-iv", duration="4 h", output_step="5 min")
    >>> discharge_summary(monitor(res))["n_sessions"]
    1
    """
    if not isinstance(table, pd.DataFrame) or not set(COLUMNS) <= set(table.columns):
        raise InputError("table", "must be the pandas.DataFrame returned by ketasim.clinical.monitoring.monitor")
    first = table[table["session"] == 0]["discharge_h"].to_numpy(float)
    alld = table["discharge_h"].to_numpy(float)
    return {
        "n_patients": int(table["patient"].nunique()),
        "n_sessions": len(table),
        "discharge_h": float(first.mean()) if first.size else math.nan,
        "discharge_h_max": float(first.max()) if first.size else math.nan,
        "discharge_h_all_max": float(alld.max()) if alld.size else math.nan,
        "n_flagged": int(table["flag"].sum()),
        "n_flag_cadss": int(table["flag_cadss"].sum()),
        "n_flag_sbp": int(table["flag_sbp"].sum()),
        "n_flag_dbp": int(table["flag_dbp"].sum()),
        "n_patients_flagged": int(table.loc[table["flag"], "patient"].nunique()),
        "n_undetermined": int(np.isnan(alld).sum()),
        "dbp_assessed": bool(table.attrs.get("dbp_assessed", False)),
    }


# ---------------------------------------------------------------- helpers


def _dataset(result: object) -> xr.Dataset:
    ds = result.dataset if isinstance(result, Result) else None
    if ds is None or not {"cadss", "sbp_change"} <= set(ds.data_vars):
        raise InputError("result", "must be a ketasim.Result with cadss and sbp_change", got=type(result).__name__)
    if ds.sizes.get("time", 0) < 2:
        raise InputError("result", "needs at least two time points", got=ds.sizes.get("time", 0))
    return ds


def _threshold(value: QuantityLike, field: str, unit: str, maximum: float) -> float:
    return parse_quantity(value, field, unit, strictly_positive=True, maximum=maximum)


def _window_times(t: np.ndarray, start: float, end: float) -> np.ndarray:
    inner = t[(t > start) & (t < end)]
    return np.concatenate([[start], inner, [end]]) if end > start else np.array([start, start])


def _hours_above(t: np.ndarray, v: np.ndarray, thr: float) -> float:
    """Time with v >= thr under linear interpolation between samples."""
    a, b = v[:-1] - thr, v[1:] - thr
    dt = np.diff(t)
    both = (a >= 0) & (b >= 0)
    total = float(dt[both].sum())
    cross = (a >= 0) != (b >= 0)
    if np.any(cross):
        ac, bc, dc = a[cross], b[cross], dt[cross]
        frac = np.where(ac >= 0, ac, bc) / np.abs(bc - ac)  # part of the segment above
        total += float((frac * dc).sum())
    return total


def _clear_time(t: np.ndarray, v: np.ndarray, thr: float) -> float:
    """Earliest time after which v stays below thr within the window (inf if it never does)."""
    above = np.nonzero(v >= thr)[0]
    if above.size == 0:
        return float(t[0])
    i = int(above[-1])
    if i == v.size - 1:
        return math.inf
    # linear crossing between samples i (>= thr) and i+1 (< thr)
    return float(t[i] + (v[i] - thr) / (v[i] - v[i + 1]) * (t[i + 1] - t[i]))
