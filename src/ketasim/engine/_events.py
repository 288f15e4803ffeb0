"""Dosing inputs regrouped per patient, the form a per-patient integrator reads.

``Model.events`` gives boluses and infusions as lists over the whole batch (one amount per patient);
here each patient gets only its own, non-zero inputs, as flat arrays indexed by ``ptr`` (CSR style),
so that a patient is never cut by another patient's events.

Event times closer together than ``TIME_RESOLUTION_H`` (1 ms) are given at the same instant (the earlier;
near the end of the window, at its end): the stepper cannot take a step shorter than a few units of
floating-point resolution, so two doses 1e-15 h apart would stop it. An infusion whose start or stop
moves keeps its amount (its rate is rescaled to the new interval), and one whose interval closes is
given whole as a bolus: every dose is delivered exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ketasim.model.pk import Bolus, Infusion
from ketasim.units import TIME_RESOLUTION_H

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
    window: tuple[float, float] | None = None,
) -> PatientEvents:
    """Regroup batch events by patient; zero amounts and rates are dropped (they change nothing).

    ``ext_times`` (P, K), padded with +inf, and ``ext_levels`` (P, K, n_ext) give the piecewise-constant
    external inputs (stress load, mood fluctuation); the first levels hold from the start (as
    ``Model.exogenous``). ``window``: the integration's first and last times; event times in it closer
    together than the time resolution are merged (see the module doc).
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

    bolus = [cat(bp, np.int64), cat(bt, float), cat(bs, np.int64), cat(ba, float)]
    infusion = [cat(ip, np.int64), cat(i0, float), cat(i1, float), cat(ist, np.int64), cat(ir, float)]
    if window is not None:
        ext_times = _merge_close_times(window, bolus, infusion, ext_times)
    b_ptr, (b_time, b_state, b_amount) = _csr(P, bolus[0], bolus[1:])
    i_ptr, (i_start, i_stop, i_state, i_rate) = _csr(P, infusion[0], infusion[1:])
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


def _merge_close_times(
    window: tuple[float, float], bolus: list[np.ndarray], infusion: list[np.ndarray], ext_times: np.ndarray | None
) -> np.ndarray | None:
    """Move event times in ``window`` that lie within the time resolution of an earlier one onto it (and
    those just before the window's end onto the end), in place for ``bolus`` (patient, time, state,
    amount) and ``infusion`` (patient, start, stop, state, rate); returns the external input times."""
    t0, t_end = window
    ext = ext_times[np.isfinite(ext_times)] if ext_times is not None else np.zeros(0)
    every = np.concatenate([[t0, t_end], bolus[1], infusion[1], infusion[2], ext])
    u = np.unique(every[(every >= t0) & (every <= t_end)])
    if u.size < 2 or np.diff(u).min() >= TIME_RESOLUTION_H:
        return ext_times  # the common case: nothing to merge
    merged = u.copy()
    anchor = u[0]
    for k in range(1, u.size):
        if u[k] - anchor < TIME_RESOLUTION_H:
            merged[k] = anchor
        else:
            anchor = u[k]
    if merged[-1] != u[-1] and merged[-1] != u[0]:  # the end fell onto an anchor just before it
        merged[merged == merged[-1]] = u[-1]

    def move(x: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(u, x), 0, u.size - 1)
        return np.where(u[i] == x, merged[i], x)

    bolus[1] = move(bolus[1])
    start, stop = move(infusion[1]), move(infusion[2])
    amount = infusion[4] * (infusion[2] - infusion[1])  # inf for an infusion that never stops
    closed = stop <= start
    with np.errstate(invalid="ignore", divide="ignore"):
        infusion[4] = np.where(np.isfinite(amount) & ~closed, amount / (stop - start), infusion[4])
    if closed.any():  # given whole as a bolus
        bolus[0] = np.concatenate([bolus[0], infusion[0][closed]])
        bolus[1] = np.concatenate([bolus[1], start[closed]])
        bolus[2] = np.concatenate([bolus[2], infusion[3][closed]])
        bolus[3] = np.concatenate([bolus[3], amount[closed]])
        infusion[:] = [c[~closed] for c in (infusion[0], start, stop, infusion[3], infusion[4])]
    else:
        infusion[1], infusion[2] = start, stop
    if ext_times is None:
        return None
    out = ext_times.copy()
    finite = np.isfinite(out)
    out[finite] = move(out[finite])
    return out
