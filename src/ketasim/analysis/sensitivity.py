"""Global variance-based (Sobol) sensitivity analysis with SALib on the compiled engine.

Each Saltelli sample is one virtual patient whose random effects set the sampled parameter values, so
a few thousand model evaluations are one batched (and optionally Dask-distributed) population run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.cluster import map_ordered
from ketasim.dosing import Regimen, protocols
from ketasim.errors import InputError
from ketasim.model import varied_parameters
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient
from ketasim.plotting import finish_figure, pyplot
from ketasim.simulation import simulate

__all__ = ["DEFAULT_OUTPUTS", "DEFAULT_PARAMETERS", "SobolResult", "sobol_analyze", "sobol_model"]

DEFAULT_PARAMETERS = (
    "ke0", "interneuron_sensitivity", "glutamate_gain", "tau_glutamate", "eef2_bdnf_gain", "ampa_bdnf_gain",
    "k_synaptic_protein", "tau_synaptic_protein", "protein_formation_gain", "elim_stable", "acute_gain_ampa",
    "acute_gain_protein", "tau_acute", "placebo_session", "cadss_ec50",
)  # fmt: skip
DEFAULT_OUTPUTS = ("madrs_change_24h", "madrs_change_7d", "cadss_peak", "synapse_density_24h")
#: An index whose 95% interval is wider than this (half-width) cannot be read: the CLI warns.
READABLE_CONF = 0.1


@dataclass(frozen=True)
class SobolResult:
    """First-order (S1) and total-order (ST) indices with 95% confidence half-widths, per output."""

    parameters: tuple[str, ...]
    indices: pd.DataFrame  # columns: output, parameter, S1, S1_conf, ST, ST_conf
    n_evaluations: int

    def to_json(self) -> list[dict[str, Any]]:
        return self.indices.to_dict("records")

    def widest_interval(self) -> tuple[float, str, str]:
        """(half-width, parameter, output) of the widest 95% interval of any index: too wide to read
        means the base sample ``n`` is too small (the Saltelli matrices of a small n are correlated)."""
        d = self.indices
        conf = np.maximum(d["S1_conf"].to_numpy(float), d["ST_conf"].to_numpy(float))
        i = int(np.nanargmax(conf))
        return float(conf[i]), str(d["parameter"].iloc[i]), str(d["output"].iloc[i])

    def plot(self, path: str | Path | None = None) -> Any:
        plt = pyplot()
        outs = list(dict.fromkeys(self.indices["output"]))
        fig, axes = plt.subplots(1, len(outs), figsize=(4 * len(outs), 0.35 * len(self.parameters) + 1.5), sharey=True)
        axes = np.atleast_1d(axes)
        y = np.arange(len(self.parameters))
        for ax, out in zip(axes, outs, strict=True):
            d = self.indices[self.indices["output"] == out].set_index("parameter").loc[list(self.parameters)]
            ax.barh(y - 0.2, d["S1"], 0.4, xerr=d["S1_conf"], label="first order (bar: 95% bootstrap CI)")
            ax.barh(y + 0.2, d["ST"], 0.4, xerr=d["ST_conf"], label="total order (bar: 95% bootstrap CI)")
            ax.set_title(out, fontsize=9)
            ax.set_xlabel("share of the output's variance", fontsize=8)
            ax.set_xlim(-0.05, 1.05)
            ax.grid(alpha=0.3)
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(self.parameters, fontsize=8)
        axes[0].legend(fontsize=7)
        return finish_figure(fig, f"Sobol indices ({self.n_evaluations} model evaluations)", path)


def sobol_analyze(
    problem: dict[str, Any], evaluate: Callable[[np.ndarray], np.ndarray], n: int, seed: int = 1
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Saltelli sampling + Sobol analysis for any vectorised ``evaluate(X) -> Y (rows, outputs)``."""
    from SALib.analyze import sobol as sobol_an
    from SALib.sample import sobol as sobol_sample

    X = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    Y = np.atleast_2d(np.asarray(evaluate(X), float).T).T
    results = [
        sobol_an.analyze(problem, Y[:, j], calc_second_order=False, conf_level=0.95, seed=seed)
        for j in range(Y.shape[1])
    ]
    return X, results


def sobol_model(
    parameters: Sequence[str] = DEFAULT_PARAMETERS,
    outputs: Sequence[str] = DEFAULT_OUTPUTS,
    *,
    n: int = 1024,
    regimen: Regimen | str = "zarate-2006-iv",
    fold: float = 2.0,
    seed: int = 1,
    chunk_size: int = 256,
    workers: int | None = None,
    params: ParameterSet | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SobolResult:
    """Sobol indices of ``outputs`` over ``parameters`` varied log-uniformly within /fold..xfold."""
    p = params or default_parameters()
    varied = varied_parameters(p)
    for name in parameters:
        if name not in p:
            raise InputError("parameters", "unknown parameter (see `ketasim params`)", got=name)
        if name not in varied:
            raise InputError("parameters", "is a structural constant that cannot vary per patient", got=name)
    for o in outputs:
        if o not in (
            "madrs_change_24h",
            "madrs_change_7d",
            "cadss_peak",
            "synapse_density_24h",
            "sbp_change_peak_mmhg",
        ):
            raise InputError("outputs", "unknown output", got=o)
    if not fold > 1:
        raise InputError("fold", "must be > 1", got=fold)
    reg = protocols.get(regimen) if isinstance(regimen, str) else regimen
    problem = {
        "num_vars": len(parameters),
        "names": list(parameters),
        "bounds": [[-np.log(fold), np.log(fold)]] * len(parameters),
    }

    def evaluate(X: np.ndarray) -> np.ndarray:
        patients = [Patient(random_effects=dict(zip(parameters, np.exp(row), strict=True))) for row in X]
        chunks = [patients[i : i + chunk_size] for i in range(0, len(patients), chunk_size)]
        results = _map(lambda c: _outputs(c, reg, outputs, p), chunks, workers, progress)
        return np.vstack(results)

    X, res = sobol_analyze(problem, evaluate, n, seed)
    rows = []
    for out, r in zip(outputs, res, strict=True):
        for i, name in enumerate(parameters):
            rows.append({"output": out, "parameter": name, "S1": float(r["S1"][i]), "S1_conf": float(r["S1_conf"][i]),
                         "ST": float(r["ST"][i]), "ST_conf": float(r["ST_conf"][i])})  # fmt: skip
    return SobolResult(tuple(parameters), pd.DataFrame(rows), int(X.shape[0]))


def _outputs(patients: list[Patient], reg: Regimen, outputs: Sequence[str], p: ParameterSet) -> np.ndarray:
    res = simulate(reg, population=patients, duration="7 d", output_step="30 min", params=p)
    pp = res.per_patient()
    cols = {
        "madrs_change_24h": pp["madrs_24h"] - pp["madrs_baseline"],
        "madrs_change_7d": pp["madrs_7d"] - pp["madrs_baseline"],
        "cadss_peak": pp["cadss_peak"],
        "synapse_density_24h": pp["synapse_density_24h"],
        "sbp_change_peak_mmhg": pp["sbp_change_peak_mmhg"],
    }
    return np.column_stack([cols[o] for o in outputs])


def _map(
    fn: Callable[[list[Patient]], np.ndarray],
    items: list[list[Patient]],
    workers: int | None,
    progress: Callable[[int, int], None] | None,
) -> list[np.ndarray]:
    if not workers:
        out = []
        for i, it in enumerate(items):
            out.append(fn(it))
            if progress:
                progress(i + 1, len(items))
        return out
    return map_ordered(fn, items, workers)
