"""``Result``: the simulated trajectories (an xarray Dataset) plus headline metrics and plots.

Every engine and every entry point returns this one type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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
from ketasim.simulation.plot import ReferencePoint, plot_chain
from ketasim.units import TIME_RESOLUTION_H

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
    "cmax_arterial_ng_ml",
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


#: Variables whose peak the summary reports (and, for ketamine, its time and AUC): ``simulate`` has
#: the integration summarise them over its whole refined grid.
PEAKED = ("ketamine_plasma", "ketamine_arterial", "nmda_occupancy", "glutamate", "cadss", "sbp_change")
#: Every output the summary reads (a run that keeps only these still has every summary metric).
SUMMARY_OUTPUTS = (*PEAKED, "synapse_density", "madrs")


#: The times after the first dose (h) at which the summary reads series (24 h, 7 d); a streamed run keeps
#: its series only around these (``simulation._stream.summary_times``).
SUMMARY_READS_H = (24.0, 168.0)


@dataclass(frozen=True)
class Result:
    """Simulation output. ``dataset`` has dims (patient, time[h]) and ``madrs_items`` adds ``item``;
    ``regimen`` is the regimen that produced it (clinical tools read its sessions from here)."""

    dataset: xr.Dataset
    regimen: Regimen
    # per-patient peaks, their times and the AUC taken on the refined grid of the run (see from_batch);
    # kept apart from ``dataset`` so that the dataset holds exactly the model's outputs
    peaks: xr.Dataset | None = None

    @classmethod
    def from_batch(
        cls, batch: Batch, regimen: Regimen, outputs: tuple[str, ...] | None = None, grid: np.ndarray | None = None
    ) -> Result:
        """The Result of an integrated batch; ``outputs`` keeps only those variables. ``grid``: the output
        times to keep (a subset of ``batch.t``); the peaks, their times and the AUC of the summary are
        taken on all of ``batch.t`` (``simulate`` refines it around every dose), so they do not depend on
        the output step."""
        model, tf = batch.model, batch.t
        t = tf if grid is None else grid
        if batch.observed is not None:  # observed in the integration: the grid's series, the summary
            obs = batch.observe(outputs)
            if not np.array_equal(batch.observed.t, t):
                raise ValueError("the batch kept other times than the grid asked for")
            kept = [v for v in PEAKED if v in obs]
            missing = [v for v in kept if v not in batch.observed.peak]
            if missing:
                raise ValueError(f"the batch did not summarise {missing}")
            peak, peak_time, auc = batch.observed.peak, batch.observed.peak_time, batch.observed.auc
        else:
            assert batch.y is not None  # (run_batch sets one of the two)
            at = np.searchsorted(tf, t) if grid is not None else slice(None)
            obs = model.observe(t, batch.y[..., at], only=outputs)  # every output, on the grid asked for
            kept = [v for v in PEAKED if v in obs]
            fine = model.observe(tf, batch.y, only=kept) if grid is not None and kept else obs  # only what peaks
            peak = {v: fine[v].max(axis=1) for v in kept}
            peak_time = {v: tf[fine[v].argmax(axis=1)] for v in kept}
            auc = {v: np.trapezoid(fine[v], tf, axis=1) for v in kept}
        units = output_units(model.layers, model.params)
        coords = {"patient": np.arange(model.n_patients), "time": t, "item": list(ITEMS)}
        data: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {
            k: (("patient", "item", "time") if k == "madrs_items" else ("patient", "time"), v, {"units": units[k]})
            for k, v in obs.items()
        }
        # The pre-dose state (before any bolus at time 0) defines the baselines.
        data["madrs_pre_dose"] = (("patient",), batch.pre_dose(["madrs"])["madrs"], {"units": units["madrs"]})
        peaks: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]] = {
            var: (("patient",), peak[var], {"units": units[var]}) for var in kept
        }
        if "ketamine_plasma" in kept:
            peaks["time_of_ketamine_plasma"] = (("patient",), peak_time["ketamine_plasma"], {"units": "h"})
            peaks["auc_ketamine_plasma"] = (("patient",), auc["ketamine_plasma"], {"units": "ng*h/mL"})
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
        return cls(ds, regimen, xr.Dataset(peaks, coords={"patient": coords["patient"]}))

    @classmethod
    def concat(cls, parts: list[Result], series: Mapping[str, np.ndarray] | None = None) -> Result:
        """Results of consecutive groups of patients (same regimen and grid) as one. ``series``: the whole
        population's arrays of those variables, of which the parts hold consecutive views (``simulate``
        preallocates them): taken as they are instead of copied."""
        whole = dict(series or {})
        first = parts[0].dataset
        ds = xr.concat([p.dataset.drop_vars(list(whole)) for p in parts], dim="patient", data_vars="minimal",
                       coords="minimal", compat="override", combine_attrs="override")  # fmt: skip
        for name, values in whole.items():
            ds[name] = (first[name].dims, values, first[name].attrs)
        ds = ds[list(first.data_vars)]  # the parts' order of variables
        n = np.arange(ds.sizes["patient"])
        peaks = None
        if all(p.peaks is not None for p in parts):
            peaks = xr.concat([p.peaks for p in parts], dim="patient").assign_coords(patient=n)  # type: ignore[misc]
        return cls(ds.assign_coords(patient=n), parts[0].regimen, peaks)

    @property
    def n_patients(self) -> int:
        return int(self.dataset.sizes["patient"])

    def per_patient(self) -> dict[str, np.ndarray]:
        """Every summary metric as an array over patients."""
        ds = self.dataset
        t = ds["time"].values
        t0 = float(ds.attrs.get("first_dose_h", 0.0))
        missing = np.full(self.n_patients, np.nan)

        pk = self.peaks if self.peaks is not None else xr.Dataset()

        def peak(var: str) -> np.ndarray:  # NaN where the variable was not kept (simulate(outputs=...))
            if var in pk:  # taken on the refined grid (see from_batch)
                return pk[var].values
            return ds[var].values.max(axis=1) if var in ds else missing

        ket = ds["ketamine_plasma"].values if "ketamine_plasma" in ds else None
        if "time_of_ketamine_plasma" in pk:
            tmax, auc = pk["time_of_ketamine_plasma"].values - t0, pk["auc_ketamine_plasma"].values
        else:
            tmax = missing if ket is None else t[ket.argmax(axis=1)] - t0
            auc = missing if ket is None else np.trapezoid(ket, t, axis=1)
        cmax = peak("ketamine_plasma")
        # no ketamine in the run (none given, or the first dose after its end): no time of the peak. A dose
        # within the time resolution (1 ms) of another event is given with it, so its peak may come first.
        with np.errstate(invalid="ignore"):
            ok = (cmax > 0) & (tmax > -TIME_RESOLUTION_H) & (t0 <= t[-1])
            tmax = np.where(ok, np.maximum(tmax, 0.0), np.nan)
        return {
            "cmax_ng_ml": cmax,
            "cmax_arterial_ng_ml": peak("ketamine_arterial"),
            "tmax_h": tmax,
            "auc_ng_h_ml": auc,
            "peak_nmda_occupancy": peak("nmda_occupancy"),
            "peak_glutamate_fold": peak("glutamate"),
            "synapse_density_24h": self._at("synapse_density", t0 + SUMMARY_READS_H[0]),
            "madrs_baseline": ds["madrs_pre_dose"].values,
            "madrs_24h": self._at("madrs", t0 + SUMMARY_READS_H[0]),
            "madrs_7d": self._at("madrs", t0 + SUMMARY_READS_H[1]),
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

    def plot(self, path: str | Path | None = None, *, patient: int | None = None,
             reference: Iterable[ReferencePoint] | None = None) -> Any:  # fmt: skip
        """One panel per layer on a shared time axis, the regimen's doses marked on it; ``reference``:
        published points to draw over the prediction (``analysis.validation.reference_points``); writes
        ``path`` (PNG, SVG, PDF) if given."""
        return plot_chain(self.dataset, path, patient=patient, reference=reference, regimen=self.regimen)

    def to_dict(self) -> dict[str, Any]:
        """Everything in plain Python types (JSON-ready): the regimen, the summary (the mean over
        patients) and the data (``xarray.Dataset.to_dict``: coordinates, variables with their units)."""
        return {
            "regimen": self.regimen.describe(),
            "summary": self.summary(),
            "data": self.dataset.to_dict(data="list"),
        }
