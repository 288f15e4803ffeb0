"""``simulate``: one entry point from a regimen and patients to a ``Result``.

>>> res = simulate("zarate-2006-iv", patient=Patient(weight="70 kg"), duration="2 d", output_step="10 min")
>>> 130 < res.summary()["cmax_ng_ml"] < 200
True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

from ketasim._internal.checks import as_list, check_memory
from ketasim._internal.files import atomic_path
from ketasim.dosing import Regimen, protocols
from ketasim.engine import COMPILED, SolverOptions
from ketasim.errors import InputError
from ketasim.model import Hypotheses, output_units
from ketasim.model.assemble import STATE_NAMES, observer_columns, unpack_columns
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient, Population
from ketasim.simulation._stream import SeriesWriter, check_stream_path, summary_times
from ketasim.simulation.batch import run_batch
from ketasim.simulation.result import PEAKED, UNITS, Result
from ketasim.units import TIME_RESOLUTION_H, QuantityLike, parse_quantity

__all__ = ["CHUNK_BYTES", "MAX_DURATION_H", "simulate"]

#: The longest run any entry point accepts (two years: maintenance trials follow patients that long).
MAX_DURATION_H = 24.0 * 731

#: Memory budget for what one chunk of patients holds in flight: its kept outputs on the run's grid (the
#: compiled engine), or its state trajectories (the scipy path).
CHUNK_BYTES = 256 * 2**20


def simulate(
    regimen: Regimen | str,
    patient: Patient | None = None,
    *,
    population: Sequence[Patient] | Population | None = None,
    duration: QuantityLike = "7 d",
    output_step: QuantityLike | None = None,
    hypotheses: Hypotheses | None = None,
    params: ParameterSet | None = None,
    solver: SolverOptions | None = None,
    outputs: Sequence[str] | None = None,
    layers: Sequence[ModuleType] | None = None,
    fluctuation: bool = True,
    stream_to: str | Path | None = None,
) -> Result:
    """Simulate ``regimen`` (a Regimen or a protocol name) for one patient or a population.

    ``duration`` counts from time 0 (the first dose is usually at 0), at least 1 ms (the time
    resolution). ``output_step`` defaults to 1 min for one patient and 10 min for several (the run's
    duration if shorter), and may be no shorter than 1 ms. Outputs that would take more than half of
    this machine's memory are refused before anything runs. ``outputs`` keeps only the named variables (see
    ``ketasim.simulation.result.UNITS``; all by default), which bounds memory for large populations on fine grids.
    ``fluctuation=False`` turns the patients' day-to-day mood fluctuation off (the smooth course; a
    patient without a ``noise_seed`` has none anyway). ``layers`` runs a model with other layer modules
    (e.g. ``(*ketasim.model.LAYERS, my_layer)``; see "Extending the model" in the README).
    ``stream_to`` (a ``.parquet`` file) writes the series chunk by chunk to that file instead of holding
    them (long format, one row per patient and time; see ``simulation._stream``), so memory stays bounded
    whatever the population; the file appears only when complete, and the returned Result keeps the summary,
    with the series only at the times the summary reads.
    Returns a ``Result`` whose dataset has dims (patient, time) with time in hours.
    """
    if isinstance(regimen, str):
        regimen = protocols.get(regimen)
    if not isinstance(regimen, Regimen):
        raise InputError("regimen", "must be a ketasim.Regimen or a protocol name", got=type(regimen).__name__)
    if patient is not None and population is not None:
        raise InputError("patient", "give either patient or population, not both")
    patients = _patients(patient, population)
    _check_types(hypotheses=(hypotheses, Hypotheses), params=(params, ParameterSet), solver=(solver, SolverOptions))
    if not isinstance(fluctuation, bool):
        raise InputError("fluctuation", "must be true or false", got=repr(fluctuation)[:60])
    if layers is not None:
        layers = as_list(layers, "layers", "layer modules, e.g. (*ketasim.model.LAYERS, my_layer)")
        if not layers or not all(isinstance(m, ModuleType) and hasattr(m, "STATES") for m in layers):
            raise InputError("layers", "must be a non-empty list of layer modules (each with STATES, constants and "
                             "equations), e.g. (*ketasim.model.LAYERS, my_layer)")  # fmt: skip
    duration_h = parse_quantity(duration, "duration", "h", strictly_positive=True, maximum=MAX_DURATION_H,
                                unit_required=True)  # fmt: skip
    if duration_h < TIME_RESOLUTION_H:
        raise InputError("duration", "must be at least 1 ms (the time resolution)", got=repr(duration))
    if output_step is None:  # the default step, no longer than the run
        step_h = min(parse_quantity("1 min" if len(patients) == 1 else "10 min", "output_step", "h"), duration_h)
    else:
        step_h = parse_quantity(output_step, "output_step", "h", strictly_positive=True, maximum=duration_h,
                                unit_required=True)  # fmt: skip
        if step_h < TIME_RESOLUTION_H:
            raise InputError("output_step", "must be at least 1 ms (the time resolution)", got=repr(output_step))
    params = params or default_parameters()
    keep = _outputs(outputs, layers, params)
    hyp = hypotheses or Hypotheses()
    target = check_stream_path(stream_to) if stream_to is not None else None
    n_states = sum(len(m.STATES) for m in layers) if layers is not None else len(STATE_NAMES)
    n_values = sum(10 if k == "madrs_items" else 1 for k in (keep or _all_outputs(layers, params)))
    t = np.arange(0.0, duration_h + 1e-9, step_h)
    if t[-1] < duration_h - 1e-9:
        t = np.append(t, duration_h)
    # The summary's peaks, their times and the AUC come from a grid refined to 1 min over the first
    # hours after every dose and session, so they do not depend on output_step (the dataset keeps t).
    starts = {d.at_h for d in regimen} | {x.at_h for x in regimen.sessions}
    ends = {d.at_h + d.duration_h for d in regimen if d.duration_h}  # an infusion peaks as it ends
    fine = [s + _PEAK_GRID_H for s in sorted(starts)] + [e + _PEAK_GRID_H[_PEAK_GRID_H <= 2.0] for e in sorted(ends)]
    extra = np.unique(np.round(np.concatenate([np.empty(0), *fine]), 9))
    extra = extra[(extra >= 0) & (extra <= duration_h)]
    i = np.clip(np.searchsorted(t, extra), 1, t.size - 1)
    on_grid = np.minimum(np.abs(extra - t[i - 1]), np.abs(extra - t[i])) < 1e-9  # already an output time
    tf = np.union1d(t, extra[~on_grid])
    # Patients in chunks so that what a chunk holds in flight stays near CHUNK_BYTES (the compiled engine
    # holds only the outputs kept, computed in its loop; the scipy path every state); streaming, the
    # chunk's series too, as they are all that is held
    compiled = solver is None or solver.method in COMPILED
    size = max(1, CHUNK_BYTES // ((n_values if compiled else n_states) * tf.size * 8))
    if target is not None:
        size = max(1, min(size, CHUNK_BYTES // (n_values * t.size * 8)))
    # what the run holds: the outputs kept (one chunk's when streaming), and the states of a chunk in flight
    held = len(patients) if target is None else min(size, len(patients))
    check_memory("population" if len(patients) > 1 else "output_step",
                 8.0 * t.size * (held * n_values + n_states),
                 f"{held:,} patient(s) x {t.size:,} output times x {n_values} values",
                 "keep fewer variables with outputs=[...], use a coarser output_step, simulate fewer patients "
                 "at a time, or stream the series to a file (stream_to=...)")  # fmt: skip

    # The integration observes the outputs kept at the output times (the refined grid's extra times only
    # update the summary's peaks and AUC) and, in memory, writes them straight into the population's
    # arrays, so that chunks are neither copied nor joined.
    wanted = keep or _all_outputs(layers, params)
    peaked = [v for v in PEAKED if v in wanted]
    stored = np.isin(tf, t)
    whole = np.empty((len(patients), len(observer_columns(wanted)), t.size)) if compiled and target is None else None

    def chunks() -> Iterator[tuple[int, Result]]:
        for start in range(0, len(patients), size):
            batch = run_batch(regimen, patients[start : start + size], tf, params=params, hypotheses=hyp,
                              solver=solver, layers=layers, fluctuation=fluctuation, outputs=wanted, keep=stored,
                              peaks=peaked,
                              out=None if whole is None else whole[start : start + size])  # fmt: skip
            yield start, Result.from_batch(batch, regimen, keep, grid=t if tf.size > t.size else None)

    if target is None:
        parts = [part for _, part in chunks()]
        if whole is not None and len(parts) > 1:
            return Result.concat(parts, unpack_columns(wanted, np.transpose(whole, (1, 0, 2))))
    else:
        first_dose = float(min((d.at_h for d in regimen), default=0.0))
        at = summary_times(t, first_dose)
        parts = []
        with atomic_path(target) as tmp:
            writer = SeriesWriter(tmp)
            try:
                for start, part in chunks():
                    writer.add(part.dataset, start)
                    parts.append(Result(part.dataset.isel(time=at), part.regimen, part.peaks))
            finally:
                writer.close()
        for part in parts:
            part.dataset.attrs["streamed_to"] = str(target)
    return parts[0] if len(parts) == 1 else Result.concat(parts)


#: 1-min steps over the 2 h after each dose or session start (and after each infusion's end): every peak
#: of the chain (plasma, NMDA block, glutamate, CADSS, SBP) falls within them; then 15-min steps to 24 h
#: and hourly to 48 h (the AUC's tail).
_PEAK_GRID_H = np.r_[np.arange(0.0, 2.0, 1 / 60), np.arange(2.0, 24.0, 0.25), np.arange(24.0, 48.0 + 1e-9, 1.0)]


def _check_types(**given: tuple[object, type]) -> None:
    for name, (value, kind) in given.items():
        if value is not None and not isinstance(value, kind):
            raise InputError(name, f"must be a ketasim.{kind.__name__} or None", got=type(value).__name__)


def _all_outputs(layers: Sequence[ModuleType] | None, params: ParameterSet) -> tuple[str, ...]:
    return tuple(UNITS if layers is None else output_units(layers, params))


def _outputs(
    outputs: Sequence[str] | None, layers: Sequence[ModuleType] | None, params: ParameterSet
) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    known = UNITS if layers is None else output_units(layers, params)
    names = [outputs] if isinstance(outputs, str) else as_list(outputs, "outputs", f"names among: {', '.join(known)}")
    if not all(isinstance(o, str) for o in names):
        bad = next(o for o in names if not isinstance(o, str))
        raise InputError("outputs", f"must name variables (strings) among: {', '.join(known)}", got=repr(bad)[:60])
    unknown = [o for o in names if o not in known]
    if unknown or not names:
        raise InputError("outputs", f"must name variables among: {', '.join(known)}", got=", ".join(unknown) or "none")
    return tuple(dict.fromkeys(names))


def _patients(patient: Patient | None, population: Sequence[Patient] | Population | None) -> list[Patient]:
    if population is not None:
        pts = as_list(getattr(population, "patients", population), "population", "ketasim.Patient (or a Population)")
        if not pts or not all(isinstance(p, Patient) for p in pts):
            raise InputError("population", "must be a non-empty sequence of ketasim.Patient")
        return pts
    if patient is None:
        return [Patient()]
    if not isinstance(patient, Patient):
        raise InputError("patient", "must be a ketasim.Patient", got=type(patient).__name__)
    return [patient]
