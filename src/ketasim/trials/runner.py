"""Running a trial: patients in chunks through the one simulation pipeline, here or on a Dask cluster.

A chunk returns only endpoint values and a coarse MADRS series, so memory stays bounded however many
patients there are. Chunk boundaries depend only on the chunk size, never on the worker count, and
each patient's rating noise comes from its own seed, so results do not depend on either.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.cluster import map_unordered
from ketasim._internal.streams import substream
from ketasim.dosing import Regimen, Session
from ketasim.engine import SolverOptions
from ketasim.model import Hypotheses
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient
from ketasim.simulation import run_batch
from ketasim.trials.dropout import CAUSES, DropoutParams, dropout
from ketasim.trials.endpoints import Endpoints, label_time
from ketasim.trials.scales import SCALES, get_scale, rate, remitted, responded

__all__ = ["SAME_CONTACT_H", "TrialChunk", "execute", "run_chunk", "scale_stream", "substream"]


@dataclass(frozen=True)
class TrialChunk:
    """One chunk of a trial's patients with everything needed to simulate it (picklable, for Dask)."""

    start: int
    patients: tuple[Patient, ...]
    arms: tuple[str, ...]
    noise_seeds: tuple[np.random.SeedSequence, ...]
    regimens: Mapping[str, Regimen]
    params: ParameterSet
    hypotheses: Hypotheses
    duration_h: float
    series_step_h: float
    endpoints: Endpoints
    solver: SolverOptions | None = None


def _grid(regimen: Regimen, duration_h: float, step_h: float, visits: Iterable[float], lead: float) -> np.ndarray:
    """Absolute times (the run starts ``lead`` hours before the first dose): the coarse series grid, the
    screening and baseline ratings, the visits, and a 5-min grid over the first 4 h after every visit
    (``regimen`` is the shifted one, its visit times absolute)."""
    pts = set(np.round(lead + np.arange(0.0, duration_h + 1e-9, step_h), 9))
    pts.update(np.round(np.arange(0.0, lead, step_h), 9))
    pts.update(round(lead + v, 9) for v in visits if v <= duration_h)
    for t in regimen.visit_times:  # the regimen is already shifted by the lead: its times are absolute
        pts.update(np.round(t + np.arange(0.0, 4.0 + 1e-9, 5 / 60), 9))
    pts.update({0.0, round(lead + duration_h, 9)})
    if lead > 0:
        pts.add(lead - _BEFORE_DOSE_H)
    return np.array(sorted(p for p in pts if 0 <= p <= lead + duration_h))


#: The baseline rating of a trial with a screening period is taken this long before the first dose.
_BEFORE_DOSE_H = 1 / 60
#: Blood pressure is read at these times after the start of a session: the label's tail counts a rise
#: "in the first 1.5 hours after administration" and asks for a reading at about 40 min, then as needed.
_SBP_READ_H = (40 / 60, 1.0, 1.5)


#: Ratings this close to a treatment session or to another rating are the same clinical contact.
SAME_CONTACT_H = 12.0


def _assessments(reg: Regimen, visits: Iterable[float], lead: float, duration_h: float) -> Regimen:
    """The trial's rating-only visits (screening, and each visit not on the day of a session) as
    assessment sessions: contact with a rater is part of the placebo response (Posternak & Zimmerman
    2007), so a design with more visits has a larger one."""
    contacts = list(reg.visit_times)
    out = []
    for t in sorted(([0.0] if lead else []) + [lead + v for v in visits if v <= duration_h]):
        if all(abs(t - c) >= SAME_CONTACT_H for c in contacts):
            out.append(Session("assessment", at=f"{t!r} h"))
            contacts.append(t)
    return Regimen(out)


def scale_stream(name: str) -> int:
    """The noise stream of a patient's ratings on scale ``name`` (the MADRS uses the seed itself, blood
    pressure stream 1, the phased runner's MADRS stream 2, dropout ``DROPOUT_STREAM``)."""
    return 3 + list(SCALES).index(name)


#: The stream of a patient's seed that its dropout draws come from (after the scales' streams).
DROPOUT_STREAM = 16


def _rate(true: np.ndarray, noise: np.ndarray, rounded: bool) -> np.ndarray:
    """Observed MADRS: the true score plus rating noise, within 0-60, in whole points when rated."""
    obs = np.clip(true + noise, 0, 60)
    return np.round(obs) if rounded else obs


def run_chunk(chunk: TrialChunk) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one chunk; return (endpoints, coarse series) frames. Pure: same chunk, same numbers."""
    ep = chunk.endpoints
    frames: list[pd.DataFrame] = []
    series: list[pd.DataFrame] = []
    noise_sd = chunk.params.value("rating_noise_sd") if ep.rating_noise else 0.0
    lead = ep.screening
    n_draws = len(ep.visits) + 2  # screening, baseline, visits
    for arm, regimen in chunk.regimens.items():
        idx = [i for i, a in enumerate(chunk.arms) if a == arm]
        if not idx:
            continue
        pts = [chunk.patients[i] for i in idx]
        reg = regimen.shifted(f"{lead} h") if lead else regimen
        reg = reg + _assessments(reg, ep.visits, lead, chunk.duration_h)
        t = _grid(reg, chunk.duration_h, chunk.series_step_h, ep.visits, lead)
        batch = run_batch(reg, pts, t, params=chunk.params, hypotheses=chunk.hypotheses, solver=chunk.solver,
                          outputs=("madrs", "cadss", "sbp_change", "synapse_density"))  # fmt: skip
        obs = batch.observe()
        madrs = obs["madrs"]
        pre = batch.pre_dose(["madrs"])["madrs"] if not lead else _at(lead - _BEFORE_DOSE_H, t, madrs)
        rel = t - lead  # times relative to the first dose
        coarse = (rel >= -1e-9) & (
            np.isclose((rel / chunk.series_step_h) % 1, 0) | np.isclose((rel / chunk.series_step_h) % 1, 1)
        )
        pid = chunk.start + np.array(idx)
        # each patient's rating noise comes from its own seed, so chunking cannot change it
        noise = (
            np.stack([np.random.default_rng(chunk.noise_seeds[i]).normal(0.0, noise_sd, n_draws) for i in idx])
            if noise_sd
            else np.zeros((len(idx), n_draws))
        )
        rounded = bool(noise_sd)
        base = _rate(pre, noise[:, 1], rounded)
        cols: dict[str, Any] = {"patient": pid, "arm": arm, "madrs_baseline": base}
        included = np.ones(len(idx), bool)
        if lead:
            screen = _rate(madrs[:, 0], noise[:, 0], rounded)
            cols["madrs_screening"] = screen
            if ep.entry_minimum is not None:
                included &= screen >= ep.entry_minimum
        if ep.entry_minimum is not None:
            included &= base >= ep.entry_minimum
        cols["included"] = included
        for k, v in enumerate(ep.visits):
            if v > chunk.duration_h + 1e-9:
                continue
            lab = label_time(v)
            score = _rate(_at(lead + v, t, madrs), noise[:, k + 2], rounded)
            cols[f"madrs_{lab}"] = score
            cols[f"madrs_change_{lab}"] = score - base
            cols[f"response_{lab}"] = score <= (1 - ep.response_fraction) * base
            cols[f"remission_{lab}"] = score <= ep.remission_threshold
        for name in ep.scales:  # other scales: their own rater noise, from their own stream of each patient
            z = (np.stack([np.random.default_rng(substream(chunk.noise_seeds[i], scale_stream(name))).normal(
                0.0, 1.0, n_draws) for i in idx]) if ep.rating_noise else np.zeros((len(idx), n_draws)))  # fmt: skip
            s_base = rate(name, pre, z[:, 1], chunk.params)
            cols[f"{name}_baseline"] = s_base
            scale = get_scale(name)
            for k, v in enumerate(ep.visits):
                if v > chunk.duration_h + 1e-9:
                    continue
                lab = label_time(v)
                score = rate(name, _at(lead + v, t, madrs), z[:, k + 2], chunk.params)
                cols[f"{name}_change_{lab}"] = score - s_base
                if scale.response_fraction is not None:
                    cols[f"{name}_response_{lab}"] = responded(name, score, s_base)
                cols[f"{name}_remission_{lab}"] = remitted(name, score)
        after = rel >= 0
        if ep.dropout:
            cols.update(_dropout(chunk, idx, ep, rel, obs["cadss"], cols, base))
        cols["cadss_peak"] = obs["cadss"][:, after].max(axis=1)
        cols["sbp_change_peak_mmhg"] = obs["sbp_change"][:, after].max(axis=1)
        # blood pressure as the label measures it: readings at 40 min, 1 h and 1.5 h after each session,
        # each compared with the one reading before it (every reading with its own noise); a rise at any
        # reading of any session counts
        visits = [v for v in reg.visit_times if v <= lead + chunk.duration_h - _SBP_READ_H[-1]]
        if visits and ep.rating_noise:
            bp_sd = chunk.params.value("sbp_reading_sd", "mmHg")
            streams = [np.random.default_rng(substream(chunk.noise_seeds[i], 1)) for i in idx]
            shape = (len(visits), 1 + len(_SBP_READ_H))
            e = np.stack([g.normal(0.0, bp_sd, shape) for g in streams])  # (patient, visit, pre + readings)
            true = np.stack([np.stack([_at(v + d, t, obs["sbp_change"]) for d in _SBP_READ_H], axis=1)
                             for v in visits], axis=1)  # fmt: skip
            readings = true + e[:, :, 1:] - e[:, :, :1]
            cols[f"sbp_rise_ge_{ep.sbp_threshold:g}"] = (readings >= ep.sbp_threshold).any(axis=(1, 2))
        else:
            cols[f"sbp_rise_ge_{ep.sbp_threshold:g}"] = cols["sbp_change_peak_mmhg"] >= ep.sbp_threshold
        frame = pd.DataFrame(cols)
        if ep.relapse_from is not None:
            relapse = [_relapse(rel[after], madrs[j][after], pre[j], ep.relapse_from, ep.response_fraction)
                       for j in range(len(idx))]  # fmt: skip
            frame = pd.concat([frame, pd.DataFrame(relapse)], axis=1)
        frames.append(frame)
        n_t = int(coarse.sum())
        series.append(
            pd.DataFrame(
                {
                    "patient": np.repeat(pid, n_t),
                    "arm": arm,
                    "time_h": np.tile(rel[coarse], len(idx)),
                    "madrs": madrs[:, coarse].ravel(),
                    "synapse_density": obs["synapse_density"][:, coarse].ravel(),
                    "included": np.repeat(included, n_t),
                }
            )
        )
    endpoints = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return endpoints, pd.concat(series, ignore_index=True) if series else pd.DataFrame()


def _dropout(chunk: TrialChunk, idx: list[int], ep: Endpoints, rel: np.ndarray, cadss: np.ndarray,
             cols: Mapping[str, Any], base: np.ndarray) -> dict[str, Any]:  # fmt: skip
    """Each patient's dropout over the visit intervals (first dose to visit 1, visit 1 to visit 2, ...):
    the interval's peak CADSS and the rating of the visit before it drive ``trials.dropout``'s hazards."""
    visits = [v for v in ep.visits if v <= chunk.duration_h + 1e-9]
    n = len(idx)
    if not visits:  # no interval to leave in: the same columns, nobody left
        return {"dropout": np.zeros(n, bool), **{f"dropout_{c}": np.zeros(n, bool) for c in CAUSES},
                "dropout_at_h": np.full(n, np.nan)}  # fmt: skip
    bounds = [0.0, *visits]
    peaks = np.stack([np.where((rel >= a - 1e-9) & (rel < b - 1e-9), cadss, 0.0).max(axis=1)
                      for a, b in itertools.pairwise(bounds)], axis=1)  # fmt: skip
    ratings = np.stack([cols[f"madrs_{label_time(v)}"] for v in visits], axis=1)
    days = np.diff(bounds) / 24.0
    seeds = [substream(chunk.noise_seeds[i], DROPOUT_STREAM) for i in idx]
    out = dropout(peaks, ratings, np.maximum(base, 1.0), days, seeds, DropoutParams.from_parameters(chunk.params))
    k = out["dropout_visit"].to_numpy()
    res: dict[str, Any] = {f"cadss_peak_{label_time(v)}": peaks[:, j] for j, v in enumerate(visits)}
    res["dropout"] = k >= 0
    for cause in CAUSES:
        res[f"dropout_{cause}"] = (out["cause"] == cause).to_numpy()
    res["dropout_at_h"] = np.where(k >= 0, np.asarray(visits)[np.maximum(k, 0)], np.nan)
    return res


def _at(time_h: float, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row of ``rows`` (patients x t) linearly interpolated at ``time_h`` (as np.interp)."""
    return np.array([np.interp(time_h, t, r) for r in rows])


def _relapse(t: np.ndarray, madrs: np.ndarray, base: float, start: float, fraction: float) -> dict[str, Any]:
    if start > t[-1] or np.interp(start, t, madrs) > (1 - fraction) * base:
        return {"responder_at_relapse_start": False, "time_to_relapse_d": math.nan, "relapsed": False}
    after = t >= start
    lost = after & (madrs > (1 - fraction) * base)
    if lost.any():
        return {
            "responder_at_relapse_start": True,
            "time_to_relapse_d": float((t[lost][0] - start) / 24),
            "relapsed": True,
        }
    return {"responder_at_relapse_start": True, "time_to_relapse_d": float((t[-1] - start) / 24), "relapsed": False}


def execute(
    chunks: list[TrialChunk], workers: int | None = None, scheduler: str | None = None
) -> Iterable[tuple[pd.DataFrame, pd.DataFrame]]:
    """Run every chunk here, on ``workers`` local Dask processes, or on ``scheduler`` (completion order)."""
    if workers is None and scheduler is None:
        for c in chunks:
            yield run_chunk(c)
        return
    yield from map_unordered(run_chunk, chunks, workers, scheduler)
