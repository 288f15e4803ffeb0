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
    stress0: np.ndarray
    s_ptr: np.ndarray
    s_time: np.ndarray
    s_level: np.ndarray


def _csr(P: int, patient: np.ndarray, columns: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    order = np.lexsort((columns[0], patient))  # by patient, then by the first column (time)
    ptr = np.zeros(P + 1, np.int64)
    np.cumsum(np.bincount(patient, minlength=P), out=ptr[1:])
    return ptr, [np.ascontiguousarray(c[order]) for c in columns]


def per_patient(
    n_patients: int,
    boluses: Sequence[Bolus],
    infusions: Sequence[Infusion],
    stress_times: np.ndarray | None = None,
    stress_levels: np.ndarray | None = None,
) -> PatientEvents:
    """Regroup batch events by patient; zero amounts and rates are dropped (they change nothing).

    ``stress_times``/``stress_levels`` (P, K), padded with +inf times, give the piecewise-constant
    stress load; the first level holds from the start (as ``SynapseModel.stress``).
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
    if stress_times is None or stress_levels is None:
        stress0 = np.zeros(P)
        s_ptr, s_time, s_level = np.zeros(P + 1, np.int64), np.zeros(0), np.zeros(0)
    else:
        stress0 = np.ascontiguousarray(stress_levels[:, 0], float)
        later = np.isfinite(stress_times[:, 1:])
        pat = np.nonzero(later)[0]
        s_ptr, (s_time, s_level) = _csr(P, pat, [stress_times[:, 1:][later], stress_levels[:, 1:][later]])
    return PatientEvents(b_ptr, b_time, b_state, b_amount, i_ptr, i_start, i_stop, i_state, i_rate,
                         stress0, s_ptr, s_time, s_level)  # fmt: skip
