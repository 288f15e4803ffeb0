"""Calibration: fit named parameters to named reference rows, with uncertainty and provenance.

Weighted least squares (scipy ``least_squares``, bounded, in log-parameter space) on residuals
(predicted - observed) / SE_observed, plus a weak log-normal prior pulling each parameter towards its
registry value. Trial predictions use common random numbers (one seed for every evaluation) and
expected response rates, so the objective is smooth. Uncertainty: the Gauss-Newton covariance at the
optimum, reported as a 95% interval. The result is written as a new parameter-set folder; the shipped
default is never overwritten.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import least_squares

from ketasim._internal.checks import read_toml_config
from ketasim.analysis.validation import observed_se, predict_study, reference_studies
from ketasim.errors import InputError
from ketasim.parameters import ParameterSet, default_parameters

__all__ = ["CalibrationConfig", "CalibrationResult", "calibrate", "fit", "load_config", "write_parameter_set"]


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    lower: float = Field(gt=0)
    upper: float = Field(gt=0)
    # where the fit starts and its weak prior is centred; written in the config so that a rerun gives
    # the shipped value again whatever the registry holds now (default: the registry's current value)
    start: float | None = Field(default=None, gt=0)


class CalibrationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    seed: int = 20261127
    n_per_arm: int = Field(default=150, ge=5)
    prior_cv: float = Field(default=1.0, gt=0)
    parameters: list[ParamSpec] = Field(min_length=1)
    rows: list[str] = Field(min_length=1)
    max_evaluations: int = Field(default=60, ge=2)


@dataclass(frozen=True)
class CalibrationResult:
    config_name: str
    names: tuple[str, ...]
    initial: tuple[float, ...]
    values: tuple[float, ...]
    lower95: tuple[float, ...]
    upper95: tuple[float, ...]
    rows: tuple[str, ...]
    residuals: tuple[float, ...]
    cost: float
    evaluations: int

    def table(self) -> list[dict[str, Any]]:
        return [
            {"name": n, "initial": i, "fitted": v, "lower95": lo, "upper95": hi}
            for n, i, v, lo, hi in zip(self.names, self.initial, self.values, self.lower95, self.upper95, strict=True)
        ]


def load_config(path: str | Path) -> CalibrationConfig:
    cfg = read_toml_config(path, CalibrationConfig)
    defaults = default_parameters()
    for i, p in enumerate(cfg.parameters):
        if p.name not in defaults:
            raise InputError(f"parameters[{i}].name", "unknown parameter (see `ketasim params`)", got=p.name)
        start = defaults.value(p.name) if p.start is None else p.start
        if not p.lower < start < p.upper:
            what = "the current value" if p.start is None else "start"
            raise InputError(f"parameters[{i}]", f"bounds must bracket {what} {start:g}")
    known = {_row_key(s, r) for s in reference_studies() for r in s["row"]}
    for i, key in enumerate(cfg.rows):
        if key not in known:
            raise InputError(
                f"rows[{i}]", "unknown reference row; write study:quantity[:arm] (see `ketasim validate`)", got=key
            )
    return cfg


def _row_key(study: Mapping[str, Any], row: Mapping[str, Any]) -> str:
    return ":".join([study["id"], row["quantity"], *([row["arm"]] if row.get("arm") else [])])


def fit(
    predict: Callable[[ParameterSet], np.ndarray],
    observed: np.ndarray,
    se: np.ndarray,
    specs: Sequence[ParamSpec],
    *,
    base: ParameterSet | None = None,
    prior_cv: float = 1.0,
    max_evaluations: int = 60,
    name: str = "calibration",
    row_names: Sequence[str] = (),
) -> CalibrationResult:
    """Generic fit: ``predict(params)`` returns the model values for the observed vector."""
    base = base or default_parameters()
    names = tuple(s.name for s in specs)
    x0 = np.log([base.value(s.name) if s.start is None else s.start for s in specs])
    lo, hi = np.log([s.lower for s in specs]), np.log([s.upper for s in specs])
    sigma_prior = math.sqrt(math.log1p(prior_cv**2))

    def residuals(x: np.ndarray) -> np.ndarray:
        p = base.replace(**{n: float(np.exp(v)) for n, v in zip(names, x, strict=True)})
        r = (predict(p) - observed) / se
        return np.concatenate([r, (x - x0) / sigma_prior])

    sol = least_squares(residuals, x0, bounds=(lo, hi), diff_step=0.02, x_scale=1.0, max_nfev=max_evaluations)
    jac = sol.jac
    try:
        cov = np.linalg.inv(jac.T @ jac)
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        sd = np.full(len(names), np.nan)
    val = np.exp(sol.x)
    return CalibrationResult(
        name,
        names,
        tuple(float(v) for v in np.exp(x0)),
        tuple(float(v) for v in val),
        tuple(float(v) for v in np.exp(sol.x - 1.96 * sd)),
        tuple(float(v) for v in np.exp(sol.x + 1.96 * sd)),
        tuple(row_names),
        tuple(float(v) for v in sol.fun[: len(observed)]),
        float(sol.cost),
        int(sol.nfev),
    )


def calibrate(cfg: CalibrationConfig) -> CalibrationResult:
    """Fit ``cfg.parameters`` to ``cfg.rows`` of the reference data."""
    studies = {s["id"]: s for s in reference_studies()}
    wanted: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for key in cfg.rows:
        sid = key.split(":")[0]
        row = next(r for r in studies[sid]["row"] if _row_key(studies[sid], r) == key)
        wanted.append((studies[sid], row))
    observed = np.array([float(r["observed"]) for _, r in wanted])
    se = np.array([max(observed_se(r), float(r.get("min_tolerance", 0.0)) / 1.96, 1e-3) for _, r in wanted])
    needed = list(dict.fromkeys(s["id"] for s, _ in wanted))

    def predict(p: ParameterSet) -> np.ndarray:
        preds = {sid: predict_study(studies[sid], n_per_arm=cfg.n_per_arm, seed=cfg.seed, params=p) for sid in needed}
        return np.array([preds[s["id"]][(r["quantity"], r.get("arm"))][0] for s, r in wanted])

    return fit(predict, observed, se, cfg.parameters, prior_cv=cfg.prior_cv, max_evaluations=cfg.max_evaluations,
               name=cfg.name, row_names=cfg.rows)  # fmt: skip


def write_parameter_set(result: CalibrationResult, out: str | Path, config_text: str = "") -> Path:
    """Copy the shipped parameter files to ``out`` with the fitted values and their provenance."""
    out = Path(out)
    src = Path(str(resources.files("ketasim.parameters")))
    if out.resolve() == src.resolve():
        raise InputError("out", "refusing to overwrite the shipped default parameter set; choose another folder")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    fitted = {
        n: (v, lo, hi) for n, v, lo, hi in zip(result.names, result.values, result.lower95, result.upper95, strict=True)
    }
    for f in src.glob("*.toml"):
        lines = f.read_text(encoding="utf-8").splitlines()
        current = None
        for i, line in enumerate(lines):
            if line.startswith("[") and line.rstrip().endswith("]") and not line.startswith("[["):
                current = line.strip()[1:-1]
            elif current in fitted and line.startswith("value = "):
                v, lo, hi = fitted[current]
                lines[i] = f"value = {v:.6g}"
                note = f"ketasim calibrate {result.config_name}: fitted to {', '.join(result.rows)}"
                entry = f'calibration = "{note}; 95% CI {lo:.3g}-{hi:.3g}"'
                if i + 1 < len(lines) and lines[i + 1].startswith("calibration = "):
                    lines[i + 1] = entry  # a re-calibration replaces the earlier provenance
                else:
                    lines.insert(i + 1, entry)
                current = None
        (tmp / f.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    if config_text:
        (tmp / "CALIBRATION.txt").write_text(config_text, encoding="utf-8")
    from ketasim.parameters import load_parameter_set

    load_parameter_set(tmp)  # refuse to publish a set that does not load
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out
