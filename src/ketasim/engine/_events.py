"""Dosing inputs regrouped per patient, the form a per-patient integrator reads.

``Model.events`` gives boluses and infusions as lists over the whole batch (one amount per patient);
here each patient gets only its own, non-zero inputs, as flat arrays indexed by ``ptr`` (CSR style),
so that a patient is never cut by another patient's events.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ketasim.model.pk import Bolus, Infusion

__all__ = ["PatientEvents", "per_patient"]


class PatientEvents(NamedTuple):
    """Boluses (``b_*``, sorted by time) and infusions (``i_*``) of every patient, plus stress steps.

    Patient ``p`` owns ``b_*[b_ptr[p]:b_ptr[p + 1]]`` and likewise for infusions and stress.
    """

    b_ptr: np.ndarray
    b_time: np.ndarray
    b_state: np.ndarray
    b_amount: np.ndarray
    i_ptr: np.ndarray
    i_start: np.ndarray
    i_stop: np.ndarray
    i_state: np.ndarray
    i_rate: np.ndarray
    ext0: np.ndarray  # (P, n_ext): external inputs at the start
    s_ptr: np.ndarray
    s_time: np.ndarray
    s_level: np.ndarray  # (steps, n_ext)


def _csr(P: int, patient: np.ndarray, columns: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    order = np.lexsort((columns[0], patient))  # by patient, then by the first column (time)
    ptr = np.zeros(P + 1, np.int64)
    np.cumsum(np.bincount(patient, minlength=P), out=ptr[1:])
    return ptr, [np.ascontiguousarray(c[order]) for c in columns]


def per_patient(
    n_patients: int,
    boluses: Sequence[Bolus],
    infusions: Sequence[Infusion],
    ext_times: np.ndarray | None = None,
    ext_levels: np.ndarray | None = None,
) -> PatientEvents:
    """Regroup batch events by patient; zero amounts and rates are dropped (they change nothing).

    ``ext_times`` (P, K), padded with +inf, and ``ext_levels`` (P, K, n_ext) give the piecewise-constant
    external inputs (stress load, mood fluctuation); the first levels hold from the start (as
    ``Model.exogenous``).
    """
    P = n_patients
    bp, bt, bs, ba = [], [], [], []
    for b in boluses:
        amount = np.broadcast_to(np.asarray(b.amount, float), (P,))
        (idx,) = np.nonzero(amount)
        bp.append(idx)
        bt.append(np.full(idx.size, float(b.time)))
        bs.append(np.full(idx.size, b.state, np.int64))
        ba.append(amount[idx])
    ip, i0, i1, ist, ir = [], [], [], [], []
    for f in infusions:
        rate = np.broadcast_to(np.asarray(f.rate, float), (P,))
        (idx,) = np.nonzero(rate)
        ip.append(idx)
        i0.append(np.full(idx.size, float(f.start)))
        i1.append(np.full(idx.size, float(f.stop)))
        ist.append(np.full(idx.size, f.state, np.int64))
        ir.append(rate[idx])

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    b_ptr, (b_time, b_state, b_amount) = _csr(P, cat(bp, np.int64), [cat(bt, float), cat(bs, np.int64), cat(ba, float)])
    i_ptr, (i_start, i_stop, i_state, i_rate) = _csr(
        P, cat(ip, np.int64), [cat(i0, float), cat(i1, float), cat(ist, np.int64), cat(ir, float)]
    )
    if ext_times is None or ext_levels is None:
        ext0 = np.zeros((P, 1))
        s_ptr, s_time, s_level = np.zeros(P + 1, np.int64), np.zeros(0), np.zeros((0, 1))
    else:
        ext0 = np.ascontiguousarray(ext_levels[:, 0], float)
        later = np.isfinite(ext_times[:, 1:])
        pat = np.nonzero(later)[0]
        times, levels = ext_times[:, 1:][later], ext_levels[:, 1:][later]
        order = np.lexsort((times, pat))
        s_ptr = np.zeros(P + 1, np.int64)
        np.cumsum(np.bincount(pat, minlength=P), out=s_ptr[1:])
        s_time, s_level = np.ascontiguousarray(times[order]), np.ascontiguousarray(levels[order], float)
    return PatientEvents(b_ptr, b_time, b_state, b_amount, i_ptr, i_start, i_stop, i_state, i_rate,
                         ext0, s_ptr, s_time, s_level)  # fmt: skip
