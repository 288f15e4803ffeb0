"""``Result``: the simulated trajectories (an xarray Dataset) plus headline metrics and plots.

Every engine and every entry point returns this one type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ketasim.dosing import Regimen
from ketasim.model import output_units
from ketasim.model.symptoms import ITEMS
from ketasim.simulation.batch import Batch
from ketasim.simulation.plot import plot_chain

__all__ = ["SUMMARY_KEYS", "UNITS", "Result"]


class _OutputUnits(Mapping[str, str]):
    """Every output of the shipped model -> the unit shown for it, read from the layers' declarations
    (``ketasim.model.output_units``) when first used."""

    @cached_property
    def _units(self) -> dict[str, str]:
        return output_units()

    def __getitem__(self, name: str) -> str:
        return self._units[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._units)

    def __len__(self) -> int:
        return len(self._units)


#: Output variable -> the unit shown for it (the shipped model).
UNITS: Mapping[str, str] = _OutputUnits()

SUMMARY_KEYS = (
    "cmax_ng_ml",
    "tmax_h",
    "auc_ng_h_ml",
    "peak_nmda_occupancy",
    "peak_glutamate_fold",
    "synapse_density_24h",
    "madrs_baseline",
    "madrs_24h",
    "madrs_7d",
    "cadss_peak",
    "sbp_change_peak_mmhg",
    "synapse_density_end",
)


@dataclass(frozen=True)
class Result:
    """Simulation output. ``dataset`` has dims (patient, time[h]) and ``madrs_items`` adds ``item``;
    ``regimen`` is the regimen that produced it (clinical tools read its sessions from here)."""

    dataset: xr.Dataset
    regimen: Regimen

    @classmethod
    def from_batch(cls, batch: Batch, regimen: Regimen, outputs: tuple[str, ...] | None = None) -> Result:
        """The Result of an integrated batch; ``outputs`` keeps only those variables."""
        model, t = batch.model, batch.t
        obs = batch.observe(only=outputs)
        units = output_units(model.layers, model.params)
        coords = {"patient": np.arange(model.n_patients), "time": t, "item": list(ITEMS)}
        data: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {
            k: (("patient", "item", "time") if k == "madrs_items" else ("patient", "time"), v, {"units": units[k]})
            for k, v in obs.items()
        }
        # The pre-dose state (before any bolus at time 0) defines the baselines.
        data["madrs_pre_dose"] = (("patient",), batch.pre_dose(["madrs"])["madrs"], {"units": units["madrs"]})
        ds = xr.Dataset(data, coords=coords)
        ds["time"].attrs["units"] = "h"
        ds.attrs.update(
            {
                "regimen": regimen.describe(),
                "protocol": regimen.name or "",
                "first_dose_h": float(min((d.at_h for d in regimen), default=0.0)),
                "parameter_set": model.params.digest(),
                "disinhibition": int(model.hypotheses.disinhibition),
                "rest_block": int(model.hypotheses.rest_block),
                "sampling": "venous plasma",
            }
        )
        return cls(ds, regimen)

    @classmethod
    def concat(cls, parts: list[Result]) -> Result:
        """Results of consecutive groups of patients (same regimen and grid) as one."""
        ds = xr.concat([p.dataset for p in parts], dim="patient", data_vars="minimal", coords="minimal",
                       compat="override", combine_attrs="override")  # fmt: skip
        return cls(ds.assign_coords(patient=np.arange(ds.sizes["patient"])), parts[0].regimen)

    @property
    def n_patients(self) -> int:
        return int(self.dataset.sizes["patient"])

    def per_patient(self) -> dict[str, np.ndarray]:
        """Every summary metric as an array over patients."""
        ds = self.dataset
        t = ds["time"].values
        t0 = float(ds.attrs.get("first_dose_h", 0.0))
        missing = np.full(self.n_patients, np.nan)

        def peak(var: str) -> np.ndarray:  # NaN where the variable was not kept (simulate(outputs=...))
            return ds[var].values.max(axis=1) if var in ds else missing

        ket = ds["ketamine_plasma"].values if "ketamine_plasma" in ds else None
        return {
            "cmax_ng_ml": peak("ketamine_plasma"),
            "tmax_h": missing if ket is None else t[ket.argmax(axis=1)] - t0,
            "auc_ng_h_ml": missing if ket is None else np.trapezoid(ket, t, axis=1),
            "peak_nmda_occupancy": peak("nmda_occupancy"),
            "peak_glutamate_fold": peak("glutamate"),
            "synapse_density_24h": self._at("synapse_density", t0 + 24.0),
            "madrs_baseline": ds["madrs_pre_dose"].values,
            "madrs_24h": self._at("madrs", t0 + 24.0),
            "madrs_7d": self._at("madrs", t0 + 168.0),
            "cadss_peak": peak("cadss"),
            "sbp_change_peak_mmhg": peak("sbp_change"),
            "synapse_density_end": ds["synapse_density"].values[:, -1] if "synapse_density" in ds else missing,
        }

    def summary(self) -> dict[str, float]:
        """Headline metrics; for a population, the mean over patients (NaN if outside the window).

        ``auc_ng_h_ml`` is ketamine AUC from time 0 to the end of the simulated window.
        """
        return {k: float(np.mean(v)) for k, v in self.per_patient().items()}

    def _at(self, var: str, time_h: float) -> np.ndarray:
        t = self.dataset["time"].values
        if var not in self.dataset or time_h > t[-1] + 1e-9 or time_h < t[0] - 1e-9:
            return np.full(self.n_patients, np.nan)
        return np.array([np.interp(time_h, t, row) for row in self.dataset[var].values])

    def plot(self, path: str | Path | None = None, *, patient: int | None = None) -> Any:
        """One panel per layer on a shared time axis; writes ``path`` (PNG, SVG, PDF) if given."""
        return plot_chain(self.dataset, path, patient=patient)

    def to_dict(self) -> Mapping[str, float]:
        return self.summary()
