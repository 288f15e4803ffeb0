"""In-silico randomised trials: arms, randomisation, endpoints, statistics, chunked and distributed runs.

Patients are simulated in chunks on the compiled engine; a chunk returns only endpoint values and a
coarse MADRS series, so memory stays bounded however many patients there are. Chunks can run in this
process or on a Dask cluster (local workers or an existing scheduler); chunk boundaries depend only on
``chunk_size``, never on the worker count.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ketasim import stats
from ketasim.dosing import Regimen
from ketasim.engine import SolverOptions, integrate
from ketasim.errors import InputError
from ketasim.model import Hypotheses, assemble
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patient import Patient
from ketasim.population import Population
from ketasim.units import parse_quantity

__all__ = ["Endpoints", "Trial", "TrialResult", "label_time"]


def label_time(hours: float) -> str:
    """Endpoint suffix for a visit time: '4h', '24h', '7d', '28d'.

    >>> [label_time(h) for h in (4, 24, 168, 672)]
    ['4h', '24h', '7d', '28d']
    """
    return f"{hours:g}h" if hours < 48 else f"{hours / 24:g}d"


@dataclass(frozen=True)
class Endpoints:
    """Endpoint definitions. Each implements a published convention (see README, Trials).

    - ``madrs_change_<t>``: MADRS at visit t minus the pre-treatment MADRS (negative = better).
    - ``response_<t>``: a fall of at least ``response_fraction`` (50%) from baseline.
    - ``remission_<t>``: MADRS <= ``remission_threshold`` (10 or 12 in the literature; selectable).
    - ``cadss_peak``; ``sbp_rise_ge_<x>``: any systolic rise >= ``sbp_threshold`` mmHg (label: 40).
    - ``time_to_relapse_d``: among responders at ``relapse_from``, days until the response is lost
      (fall < 50% of baseline), censored at the end of the run (``relapsed`` says which).
    Visit scores carry rating noise (``rating_noise_sd``, from the parameter set) unless turned off.
    """

    visits: tuple[float, ...] = (24.0, 168.0)
    response_fraction: float = 0.5
    remission_threshold: float = 10.0
    sbp_threshold: float = 40.0
    relapse_from: float | None = None
    rating_noise: bool = True

    @classmethod
    def make(
        cls,
        visits: Sequence[Any] = ("24 h", "7 d"),
        remission_threshold: float = 10.0,
        relapse_from: Any = None,
        rating_noise: bool = True,
        sbp_threshold: float = 40.0,
    ) -> Endpoints:
        hours = tuple(
            sorted({parse_quantity(v, f"visits[{i}]", "h", strictly_positive=True) for i, v in enumerate(visits)})
        )
        if remission_threshold not in (10, 12):
            raise InputError("remission_threshold", "must be 10 or 12 (MADRS)", got=remission_threshold)
        rf = None if relapse_from is None else parse_quantity(relapse_from, "relapse_from", "h", minimum=0)
        return cls(hours, 0.5, float(remission_threshold), float(sbp_threshold), rf, bool(rating_noise))


@dataclass(frozen=True)
class _Chunk:
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


def _grid(regimen: Regimen, duration_h: float, step_h: float, visits: Iterable[float]) -> np.ndarray:
    """Coarse series grid, the visits, and a 5-min grid over the first 4 h after every visit."""
    pts = set(np.arange(0.0, duration_h + 1e-9, step_h).round(9))
    pts.update(v for v in visits if v <= duration_h)
    for t in regimen.visit_times:
        pts.update(np.round(t + np.arange(0.0, 4.0 + 1e-9, 5 / 60), 9))
    pts.add(duration_h)
    return np.array(sorted(p for p in pts if 0 <= p <= duration_h))


def run_chunk(chunk: _Chunk) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        model = assemble(chunk.params, pts, chunk.hypotheses)
        t = _grid(regimen, chunk.duration_h, chunk.series_step_h, ep.visits)
        b, inf = model.events(regimen)
        y = integrate(model, model.initial(), b, inf, t, SolverOptions())
        obs = model.observe(t, y, only=("madrs", "cadss", "sbp_change", "synapse_density"))
        pre = model.observe(t[:1], model.initial()[:, :, None], only=["madrs"])["madrs"][:, 0]
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


@dataclass(frozen=True)
class Trial:
    """A randomised trial of regimens (controls are regimens of sessions: see ``Regimen.as_control``)."""

    arms: Mapping[str, Regimen]
    population: Population
    duration: Any = "7 d"
    randomisation: Mapping[str, int] | None = None
    endpoints: Endpoints = field(default_factory=Endpoints)
    control: str | None = None
    hypotheses: Hypotheses = field(default_factory=Hypotheses)
    params: ParameterSet | None = None
    series_step: Any = "6 h"

    def __post_init__(self) -> None:
        if not self.arms:
            raise InputError("arms", "a trial needs at least one arm")
        for name, reg in self.arms.items():
            if not isinstance(reg, Regimen):
                raise InputError(f"arms.{name}", "must be a ketasim.Regimen (controls: Regimen.as_control)")
        ratio = self.randomisation or {a: 1 for a in self.arms}
        for a, r in ratio.items():
            if a not in self.arms:
                raise InputError(f"randomisation.{a}", f"unknown arm; arms are {', '.join(self.arms)}")
            if isinstance(r, bool) or not isinstance(r, int) or r < 1:
                raise InputError(f"randomisation.{a}", "must be a whole number >= 1", got=r)
        if self.control is not None and self.control not in self.arms:
            raise InputError("control", f"unknown arm; arms are {', '.join(self.arms)}", got=self.control)

    @property
    def duration_h(self) -> float:
        return parse_quantity(self.duration, "duration", "h", strictly_positive=True, maximum=24 * 365)

    @property
    def control_arm(self) -> str:
        if self.control:
            return self.control
        no_drug = [a for a, r in self.arms.items() if not r.doses]
        return no_drug[0] if no_drug else next(iter(self.arms))

    def assignment(self, seed: int) -> list[str]:
        """Permuted-block randomisation (block = one round of the ratio), reproducible from the seed."""
        ratio = self.randomisation or {a: 1 for a in self.arms}
        block = [a for a, r in ratio.items() for _ in range(r)]
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x0A11]))
        n = len(self.population)
        out: list[str] = []
        while len(out) < n:
            out.extend(block[i] for i in rng.permutation(len(block)))
        return out[:n]

    def chunks(self, seed: int, chunk_size: int) -> list[_Chunk]:
        n = len(self.population)
        arms = self.assignment(seed)
        noise = np.random.SeedSequence([seed, 0x7015E]).spawn(n)
        params = self.params or default_parameters()
        step = parse_quantity(self.series_step, "series_step", "h", strictly_positive=True)
        return [
            _Chunk(
                s,
                tuple(self.population.patients[s : s + chunk_size]),
                tuple(arms[s : s + chunk_size]),
                tuple(noise[s : s + chunk_size]),
                dict(self.arms),
                params,
                self.hypotheses,
                self.duration_h,
                step,
                self.endpoints,
            )
            for s in range(0, n, chunk_size)
        ]

    def run(
        self,
        seed: int = 0,
        *,
        chunk_size: int = 200,
        workers: int | None = None,
        scheduler: str | None = None,
        store: Any = None,
        scenario_text: str = "",
        progress: Callable[[int, int], None] | None = None,
    ) -> TrialResult:
        """Run every chunk (here, on ``workers`` local Dask processes, or on ``scheduler``)."""
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise InputError("chunk_size", "must be a whole number >= 1", got=chunk_size)
        if workers is not None and scheduler is not None:
            raise InputError("workers", "give either workers or scheduler, not both")
        chunks = self.chunks(seed, chunk_size)
        run_id = uuid.uuid4().hex[:12]
        params = self.params or default_parameters()
        acc = _Accumulator()
        writer = store.begin_run(run_id, self, seed, params, scenario_text) if store is not None else None
        try:
            for i, (endpoints, series) in enumerate(_execute(chunks, workers, scheduler)):
                acc.add(endpoints, series)
                if writer is not None:
                    writer.add(endpoints, series)
                if progress:
                    progress(i + 1, len(chunks))
            result = acc.result(run_id, self, seed)
            if writer is not None:
                writer.commit(result)
        except BaseException:
            if writer is not None:
                writer.rollback()
            raise
        return result


def _execute(
    chunks: list[_Chunk], workers: int | None, scheduler: str | None
) -> Iterable[tuple[pd.DataFrame, pd.DataFrame]]:
    if workers is None and scheduler is None:
        for c in chunks:
            yield run_chunk(c)
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 256:
            raise InputError("workers", "must be a whole number within 1-256", got=workers)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster if cluster is not None else scheduler)
    try:
        futures = client.map(run_chunk, chunks, pure=False)
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class _Accumulator:
    """Keeps endpoint rows (small) and running per-arm sums of the coarse series (bounded memory)."""

    def __init__(self) -> None:
        self.endpoints: list[pd.DataFrame] = []
        self.sums: pd.DataFrame | None = None

    def add(self, endpoints: pd.DataFrame, series: pd.DataFrame) -> None:
        self.endpoints.append(endpoints)
        if series.empty:
            return
        g = (
            series.assign(sq=series["madrs"] ** 2)
            .groupby(["arm", "time_h"])
            .agg(s=("madrs", "sum"), sq=("sq", "sum"), n=("madrs", "size"), dens=("synapse_density", "sum"))
        )
        self.sums = g if self.sums is None else self.sums.add(g, fill_value=0)

    def result(self, run_id: str, trial: Trial, seed: int) -> TrialResult:
        ep = pd.concat(self.endpoints, ignore_index=True).sort_values("patient").reset_index(drop=True)
        return TrialResult.build(run_id, ep, _series_summary(self.sums), trial.control_arm, seed)


def _series_summary(sums: pd.DataFrame | None) -> pd.DataFrame:
    if sums is None:
        return pd.DataFrame(columns=["arm", "time_h", "mean", "lower", "upper", "n", "synapse_density"])
    s = sums.reset_index()
    mean = s["s"] / s["n"]
    var = (s["sq"] - s["n"] * mean**2) / (s["n"] - 1).clip(lower=1)
    half = 1.96 * np.sqrt(var.clip(lower=0) / s["n"])
    return pd.DataFrame(
        {
            "arm": s["arm"],
            "time_h": s["time_h"],
            "mean": mean,
            "lower": mean - half,
            "upper": mean + half,
            "n": s["n"].astype(int),
            "synapse_density": s["dens"] / s["n"],
        }
    )


@dataclass(frozen=True)
class TrialResult:
    """Per-patient endpoints, per-arm summaries with CIs, comparisons against the control arm."""

    run_id: str
    endpoints: pd.DataFrame
    series: pd.DataFrame
    arms: dict[str, dict[str, dict[str, float]]]
    comparisons: list[dict[str, Any]]
    control: str
    seed: int

    @classmethod
    def build(cls, run_id: str, ep: pd.DataFrame, series: pd.DataFrame, control: str, seed: int) -> TrialResult:
        arms: dict[str, dict[str, dict[str, float]]] = {}
        for arm, g in ep.groupby("arm", sort=False):
            arms[str(arm)] = _arm_summary(g)
        comparisons = [_compare(ep, a, control) for a in arms if a != control and control in arms]
        return cls(run_id, ep, series, arms, comparisons, control, seed)

    def to_json(self) -> dict[str, Any]:
        """``{"run_id", "arms": {ARM: {ENDPOINT: value}}, "comparisons": [...]}`` (NaN -> None)."""
        arms = {a: {k: v["estimate"] for k, v in d.items()} for a, d in self.arms.items()}
        return _clean(
            {
                "run_id": self.run_id,
                "seed": self.seed,
                "control": self.control,
                "arms": arms,
                "arms_ci": self.arms,
                "comparisons": self.comparisons,
            }
        )

    def plot(self, path: Any = None) -> Any:
        from ketasim.plotting import plot_trial

        return plot_trial(self, path)


def _endpoint_columns(ep: pd.DataFrame) -> list[str]:
    skip = {"patient", "arm", "responder_at_relapse_start", "relapsed"}
    return [c for c in ep.columns if (c not in skip and not c.startswith("madrs_")) or c.startswith("madrs_change_")]


def _arm_summary(g: pd.DataFrame) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {"n": {"estimate": float(len(g)), "lower": math.nan, "upper": math.nan}}
    for col in _endpoint_columns(g):
        if col == "time_to_relapse_d":
            resp = g[g["responder_at_relapse_start"].astype(bool)]
            km = stats.kaplan_meier_median(resp["time_to_relapse_d"], resp["relapsed"].astype(bool))
            out["median_time_to_relapse_d"] = {"estimate": km["median"], "lower": math.nan, "upper": math.nan}
            continue
        x = g[col].dropna()
        if x.dtype == bool:
            out[col] = stats.proportion_ci(int(x.sum()), int(x.size))
        else:
            out[col] = stats.mean_ci(x.to_numpy(float))
    return out


def _compare(ep: pd.DataFrame, arm: str, control: str) -> dict[str, Any]:
    a, c = ep[ep["arm"] == arm], ep[ep["arm"] == control]
    res: dict[str, Any] = {"arm": arm, "versus": control, "endpoints": {}}
    for col in _endpoint_columns(ep):
        if col == "time_to_relapse_d":
            both = ep[ep["arm"].isin([arm, control]) & ep["responder_at_relapse_start"].astype(bool)]
            hr = stats.hazard_ratio(
                both["time_to_relapse_d"], both["relapsed"].astype(bool), (both["arm"] == arm).astype(int)
            )
            res["endpoints"]["relapse_hazard_ratio"] = hr
            continue
        x, y = a[col].dropna(), c[col].dropna()
        if len(x) < 2 or len(y) < 2:
            continue
        if x.dtype == bool:
            k1, n1, k2, n2 = int(x.sum()), len(x), int(y.sum()), len(y)
            res["endpoints"][col] = {
                "risk_difference": stats.risk_difference(k1, n1, k2, n2),
                "odds_ratio": stats.odds_ratio(k1, n1, k2, n2),
            }
        elif col.startswith("madrs_change_"):
            res["endpoints"][col] = {
                "mean_difference": stats.mean_difference(x, y),
                "hedges_g": stats.hedges_g(x, y),
            }
    return res


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (np.floating, np.integer)):
        return _clean(x.item())
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x
