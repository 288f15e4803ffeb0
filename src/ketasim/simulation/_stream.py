"""Series written to Parquet chunk by chunk (``simulate(..., stream_to=PATH)``), so that a population's
series on a fine grid never have to fit in memory at once.

The file is long, one row per patient and output time: ``patient`` (int64, the index in the population),
``time_h`` (float64), then one float64 column per kept output (``madrs_items`` as ``madrs_item_<item>``
columns); one row group per chunk of patients, in patient order. It is written to a hidden temporary
beside the target and renamed onto it only when every chunk is in (``_internal.files.atomic_path``): an
interrupt or a failure leaves no file, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr

from ketasim.errors import InputError
from ketasim.simulation.result import SUMMARY_READS_H

__all__ = ["SeriesWriter", "check_stream_path", "summary_times"]


def check_stream_path(path: object) -> Path:
    """The target of a streamed run: a ``.parquet`` file name."""
    if not isinstance(path, str | Path):
        raise InputError("stream_to", "must be a file name ending in .parquet", got=type(path).__name__)
    p = Path(path)
    if p.suffix.lower() != ".parquet":
        raise InputError("stream_to", "must be a file name ending in .parquet", got=str(path))
    return p


class SeriesWriter:
    """Appends each chunk's series to one Parquet file (open on a temporary path; see the module doc)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def add(self, ds: xr.Dataset, first_patient: int) -> None:
        n, t = ds.sizes["patient"], ds["time"].values
        columns: dict[str, np.ndarray] = {
            "patient": np.repeat(np.arange(first_patient, first_patient + n, dtype=np.int64), t.size),
            "time_h": np.tile(t, n),
        }
        for name, var in ds.data_vars.items():
            if "time" not in var.dims:
                continue  # per-patient values (the pre-dose baseline) stay in the returned Result
            if "item" in var.dims:
                for k, item in enumerate(ds["item"].values):
                    columns[f"madrs_item_{item}"] = var.values[:, k, :].reshape(-1)
            else:
                columns[str(name)] = var.values.reshape(-1)
        table = pa.table(columns)
        if self._writer is None:
            units = {str(k): str(v.attrs.get("units", "")) for k, v in ds.data_vars.items()}
            regimen = str(ds.attrs.get("regimen", ""))
            meta = {b"ketasim.units": json.dumps(units).encode(), b"ketasim.regimen": regimen.encode()}
            self._writer = pq.ParquetWriter(self._path, table.schema.with_metadata(meta), compression="zstd")
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def summary_times(t: np.ndarray, first_dose_h: float) -> np.ndarray:
    """Indices of the output times a streamed Result keeps: the first and last, and the two around each
    time the summary reads (``SUMMARY_READS_H`` after the first dose), so its interpolated values are exact."""
    keep = {0, t.size - 1}
    for when in (first_dose_h + h for h in SUMMARY_READS_H):
        i = int(np.searchsorted(t, when))
        keep.update(j for j in (i - 1, i) if 0 <= j < t.size)
    return np.array(sorted(keep))
