"""Running a trial: patients in chunks through the one simulation pipeline, here or on a Dask cluster.

A chunk returns only endpoint values and a coarse MADRS series, so memory stays bounded however many
patients there are. Chunk boundaries depend only on the chunk size, never on the worker count, and
each patient's rating noise comes from its own seed, so results do not depend on either.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.cluster import map_unordered
from ketasim.dosing import Regimen
from ketasim.engine import SolverOptions
from ketasim.model import Hypotheses
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient
from ketasim.simulation import run_batch
from ketasim.trials.endpoints import Endpoints, label_time

__all__ = ["TrialChunk", "execute", "run_chunk"]


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


def _grid(regimen: Regimen, duration_h: float, step_h: float, visits: Iterable[float]) -> np.ndarray:
    """Coarse series grid, the visits, and a 5-min grid over the first 4 h after every visit."""
    pts = set(np.arange(0.0, duration_h + 1e-9, step_h).round(9))
    pts.update(v for v in visits if v <= duration_h)
    for t in regimen.visit_times:
        pts.update(np.round(t + np.arange(0.0, 4.0 + 1e-9, 5 / 60), 9))
    pts.add(duration_h)
    return np.array(sorted(p for p in pts if 0 <= p <= duration_h))


def run_chunk(chunk: TrialChunk) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one chunk; return (endpoints, coarse series) frames. Pure: same chunk, same numbers."""
    ep = chunk.endpoints
    frames: list[pd.DataFrame] = []
    series: list[pd.DataFrame] = []
    noise_sd = chunk.params.value("rating_noise_sd") if ep.rating_noise else 0.0
    n_draws = len(ep.visits) + 1
    for arm, regimen in chunk.regimens.items():
        idx = [i for i, a in enumerate(chunk.arms) if a == arm]
        if not idx:
            continue
        pts = [chunk.patients[i] for i in idx]
        t = _grid(regimen, chunk.duration_h, chunk.series_step_h, ep.visits)
        batch = run_batch(regimen, pts, t, params=chunk.params, hypotheses=chunk.hypotheses, solver=chunk.solver)
        obs = batch.observe(only=("madrs", "cadss", "sbp_change", "synapse_density"))
        pre = batch.pre_dose(["madrs"])["madrs"]
        madrs = obs["madrs"]
        coarse = np.isclose((t / chunk.series_step_h) % 1, 0) | np.isclose((t / chunk.series_step_h) % 1, 1)
        pid = chunk.start + np.array(idx)
        # each patient's rating noise comes from its own seed, so chunking cannot change it
        noise = (
            np.stack([np.random.default_rng(chunk.noise_seeds[i]).normal(0.0, noise_sd, n_draws) for i in idx])
            if noise_sd
            else np.zeros((len(idx), n_draws))
        )
        base = np.clip(pre + noise[:, 0], 0, 60)
        cols: dict[str, Any] = {"patient": pid, "arm": arm, "madrs_baseline": base}
        for k, v in enumerate(ep.visits):
            if v > chunk.duration_h + 1e-9:
                continue
            lab = label_time(v)
            score = np.clip(_at(v, t, madrs) + noise[:, k + 1], 0, 60)
            cols[f"madrs_{lab}"] = score
            cols[f"madrs_change_{lab}"] = score - base
            cols[f"response_{lab}"] = score <= (1 - ep.response_fraction) * base
            cols[f"remission_{lab}"] = score <= ep.remission_threshold
        cols["cadss_peak"] = obs["cadss"].max(axis=1)
        cols["sbp_change_peak_mmhg"] = obs["sbp_change"].max(axis=1)
        cols[f"sbp_rise_ge_{ep.sbp_threshold:g}"] = cols["sbp_change_peak_mmhg"] >= ep.sbp_threshold
        frame = pd.DataFrame(cols)
        if ep.relapse_from is not None:
            relapse = [_relapse(t, madrs[j], pre[j], ep.relapse_from, ep.response_fraction) for j in range(len(idx))]
            frame = pd.concat([frame, pd.DataFrame(relapse)], axis=1)
        frames.append(frame)
        n_t = int(coarse.sum())
        series.append(
            pd.DataFrame(
                {
                    "patient": np.repeat(pid, n_t),
                    "arm": arm,
                    "time_h": np.tile(t[coarse], len(idx)),
                    "madrs": madrs[:, coarse].ravel(),
                    "synapse_density": obs["synapse_density"][:, coarse].ravel(),
                }
            )
        )
    endpoints = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return endpoints, pd.concat(series, ignore_index=True) if series else pd.DataFrame()


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
