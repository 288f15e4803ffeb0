"""The compiled engine, host side: pack a model, decompose its linear block, run the stepper.

The stepping code (``_stepper``) is compiled once per version of the model: it is copied next to the
model's generated kernel (``Model.code.directory``), its ``kernel`` global is set to that kernel, and
numba caches the compiled copy there (the first run on a machine compiles for about half a minute).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

from ketasim._internal.files import atomic_write_text
from ketasim.engine import _stepper
from ketasim.engine._events import PatientEvents, per_patient
from ketasim.engine._modes import Modes, linear_modes, no_modes
from ketasim.engine._stepper import DOPRI5, EXPRK4, MESSAGES, Observer, PackedModel
from ketasim.errors import InputError
from ketasim.model import Model
from ketasim.model.assemble import Observation
from ketasim.model.pk import Bolus, Infusion

__all__ = ["MESSAGES", "PackedModel", "integrate_compiled", "modes_for", "pack", "stepper"]


def stepper(model: Model) -> ModuleType:
    """The compiled stepping module for ``model``'s generated kernel (see the module doc)."""
    code = model.code
    name = f"ketasim_generated_{code.key}_stepper"
    if name in sys.modules:
        return sys.modules[name]
    source = Path(_stepper.__file__).read_text(encoding="utf-8")
    target = code.directory / "stepper.py"
    fresh = not any((code.directory / "__pycache__").glob("stepper.solve_all-*.nbi"))
    if fresh and not os.environ.get("NUMBA_CACHE_DIR"):  # (numba keeps its cache elsewhere then)
        # numba compiles on the first call and caches on disk: say so, or the first run looks hung
        print(f"ketasim: compiling the model for this machine (once; about 25 s; cached in {code.directory})",
              file=sys.stderr, flush=True)  # fmt: skip
    if not target.is_file() or target.read_text(encoding="utf-8") != source:
        atomic_write_text(target, source)
    spec = importlib.util.spec_from_file_location(name, target)
    if spec is None or spec.loader is None:  # pragma: no cover - a file we just wrote
        raise ImportError(f"cannot load {target}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__dict__["kernel"] = code.kernel()  # resolved by numba when the stepper is first compiled
    sys.modules[name] = module
    return module


def pack(model: Model) -> PackedModel:
    """The model's constants (P, n_fields) and its sparse PK matrices, as the compiled code reads them."""
    K = model.pk.K
    nz = np.any(K != 0.0, axis=0)  # the pattern is structural, so shared by every patient
    rows, cols = np.nonzero(nz)
    return PackedModel(
        par=np.ascontiguousarray(model.par.T),
        k_values=np.ascontiguousarray(K[:, rows, cols]),
        k_rows=rows.astype(np.int64),
        k_cols=cols.astype(np.int64),
    )


def modes_for(model: Model, events: PatientEvents, y0: np.ndarray) -> Modes:
    """The linear block's modes, restricted to the PK states that this run's doses can reach."""
    code = model.code
    n_pk = code.N_PK
    sources = np.zeros(n_pk, bool)
    sources[events.b_state[events.b_state < n_pk]] = True
    sources[events.i_state[events.i_state < n_pk]] = True
    sources |= np.any(y0[:n_pk] != 0, axis=1)
    jac = np.moveaxis(code.linear_jacobian(model.par), -1, 0)  # (P, n_block, n_linear)
    signals = np.moveaxis(code.linear_signal_matrix(model.par), -1, 0)
    rows = [code.LINEAR_SIGNALS.index(name) for name in code.INTERFACE]
    return linear_modes(model.pk.K, n_pk, jac, signals[:, rows], sources)


def integrate_compiled(
    model: Model,
    y0: np.ndarray,
    boluses: list[Bolus],
    infusions: list[Infusion],
    t_out: np.ndarray,
    rtol: float,
    atol: float,
    max_step_h: float,
    *,
    modal: bool = True,
    observation: Observation | None = None,
    keep: np.ndarray | None = None,
    out: np.ndarray | None = None,
    method: str = "compiled",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """States at ``t_out`` as (P, T, n), a status code per patient (0 = success), the accepted and
    rejected step counts per patient (P, 2), and an empty summary.

    With ``observation`` (``Model.observation``): instead of the states, the observer's outputs (P, k,
    T_kept) computed at each output time inside the compiled loop, at the times ``keep`` flags (all by
    default), written into ``out`` if given (a preallocated (P, k, T_kept) array, e.g. a slice of a whole
    population's); and the summary (P, n_peaks, 3) of ``observation.peaks`` over all of ``t_out``: peak,
    time of the peak, trapezoidal AUC.

    ``y0`` is (n, P) as everywhere else in ketasim; ``modal=False`` steps every state explicitly;
    ``method`` ``"exponential"`` steps with the exponential Runge-Kutta method, else Dormand-Prince.
    """
    n, P = y0.shape
    if n != model.n_states:
        raise InputError("y0", f"the compiled engine integrates the full model ({model.n_states} states), got {n}")
    t_out = np.ascontiguousarray(t_out, float)
    events = per_patient(P, boluses, infusions, model.ext_times, model.ext_levels, (float(t_out[0]), float(t_out[-1])))
    code = model.code
    modes = modes_for(model, events, y0) if modal else no_modes(P, len(code.LINEAR_STATES) - code.N_PK
                                                                   + len(code.INTERFACE))  # fmt: skip
    kept = np.ones(t_out.size, bool) if keep is None else np.asarray(keep, bool)
    store = np.where(kept, np.cumsum(kept) - 1, -1).astype(np.int64)
    # uninitialised: every output time is written, a failing patient's unreached ones as NaN
    if observation is None:
        need, cols, pcols = np.zeros(1, bool), np.full(1, -1, np.int64), np.zeros(0, np.int64)
        reads = np.ones(n, bool)
        out = np.empty((P, t_out.size, n))
    else:
        need, cols, pcols, reads = observation.need, observation.cols, observation.peak_columns, observation.reads
        shape = (P, len(observation.names), int(kept.sum()))
        if out is None:
            out = np.empty(shape)
        elif out.shape != shape or out.dtype != np.float64 or not out.flags.c_contiguous:
            raise InputError("out", f"must be a C-contiguous float64 array of shape {shape}", got=str(out.shape))
    summ = np.empty((P, pcols.size, 3))
    status = np.zeros(P, np.int64)
    counts = np.zeros((P, 2), np.int64)
    stepper(model).solve_all(
        np.ascontiguousarray(y0.T, float), t_out, events, pack(model), modes, float(rtol), float(atol),
        float(max_step_h), EXPRK4 if method == "exponential" else DOPRI5,
        Observer(observation is not None, need, cols, reads, store, pcols), out, summ, status, counts,
    )  # fmt: skip
    return out, status, counts, summ
