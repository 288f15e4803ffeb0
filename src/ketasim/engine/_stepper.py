"""Compiled stepping: each patient integrated on its own, with numba, patients across threads.

A patient has its own step size and error control (so its result does not depend on who else is in
the batch) and its own dosing segments: boluses are added at segment boundaries and infusion rates
are constant within a segment, as in the reference path. Within a segment the linear block (the PK
amounts the doses can reach and the states driven linearly by them, the effect sites) is solved
exactly from its modes (``_modes``), and the remaining states are stepped with Dormand-Prince 5(4);
outputs are written only on the requested grid, from the method's 4th-order dense output (the
interpolant of scipy's RK45, whose tableau is used unchanged): every state, or, where the caller named
its outputs, only those, computed at each output time by the generated observer (so a fine grid holds
a few series per patient rather than every state). A patient whose linear block has no
usable eigenbasis is stepped whole.

The right-hand side comes from the model's generated kernel (``ketasim.model._codegen``), which this
module reads as the global ``kernel``. This file is therefore not compiled where it lies: ``_compiled``
copies it next to each generated kernel, sets ``kernel`` there, and numba caches the compiled copy in
that folder, so each version of the model has its own compiled engine.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import njit, prange

from ketasim.engine._events import PatientEvents

__all__ = ["MESSAGES", "Observer", "PackedModel", "solve_all"]

#: The generated kernel module (set by ``_compiled.stepper`` before anything here is compiled).
kernel: Any = None
_FASTMATH = {"reassoc", "contract", "arcp", "nsz"}  # as the kernel: no nnan/ninf, NaN keeps its meaning


class PackedModel(NamedTuple):
    """Arrays the compiled right-hand side reads: constants (P, n_fields) and the sparse PK matrix as
    one shared pattern (``rows``, ``cols``) with per-patient values (P, nnz)."""

    par: np.ndarray
    k_values: np.ndarray
    k_rows: np.ndarray
    k_cols: np.ndarray


class Observer(NamedTuple):
    """What the stepper writes at each output time: the states (``observe`` false), or the generated
    observer's outputs (statements ``need``, columns ``cols``, from the states ``reads``) at the times
    ``store`` gives a column (-1: not stored), with the outputs ``pcols`` summarised (peak, time, AUC)."""

    observe: bool
    need: np.ndarray
    cols: np.ndarray
    reads: np.ndarray
    store: np.ndarray
    pcols: np.ndarray


# Dormand & Prince (1980) 5(4) with Shampine's dense output, exactly as scipy's RK45 (a test checks
# every coefficient against scipy); written out so that importing ketasim does not import scipy.integrate.
_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1])
_A = np.array([
    [0, 0, 0, 0, 0],
    [1 / 5, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
])  # fmt: skip
_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
_P = np.array([
    [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0, 0, 0, 0],
    [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
])  # fmt: skip
_N_STAGES = 6
_ERR_EXP = -1.0 / 5  # -1 / (error estimator order + 1)
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0  # scipy's step-size controller constants
_MAX_STEPS = 5_000_000

# status codes per patient
OK, STEP_TOO_SMALL, TOO_MANY_STEPS, NOT_FINITE = 0, 1, 2, 3
MESSAGES = {
    STEP_TOO_SMALL: "step size fell below the floating-point resolution of time",
    TOO_MANY_STEPS: f"more than {_MAX_STEPS:,} steps",
    NOT_FINITE: "the state became NaN or infinite",
}


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _rms(x: np.ndarray, scale: np.ndarray) -> float:  # pragma: no cover - compiled
    s = 0.0
    for i in range(x.shape[0]):
        v = x[i] / scale[i]
        s += v * v
    return math.sqrt(s / x.shape[0])


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _modal_pk(tau: float, lam: np.ndarray, za: np.ndarray, w: np.ndarray, z: np.ndarray) -> None:  # pragma: no cover
    """Modal coordinates ``tau`` hours into a segment: z = e^(lam tau) za + (e^(lam tau) - 1)/lam w."""
    for j in range(lam.shape[0]):
        if za[j] == 0.0 and w[j] == 0.0:  # an empty mode with no input stays empty
            z[j] = 0.0
            continue
        em1 = math.expm1(lam[j] * tau)  # one transcendental per mode: e^x = 1 + expm1(x)
        phi = tau if lam[j] == 0.0 else em1 / lam[j]
        z[j] = (1.0 + em1) * za[j] + phi * w[j]


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _from_modes(
    V: np.ndarray, z: np.ndarray, act: np.ndarray, target: np.ndarray, reads: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Write the linear block's states (V z) into ``target`` at the indices ``act`` that ``reads`` flags."""
    for q in range(act.shape[0]):
        if not reads[act[q]]:
            continue
        acc = 0.0
        for j in range(act.shape[0]):
            acc += V[q, j] * z[j]
        target[act[q]] = acc


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _emit(
    y: np.ndarray,
    ext: np.ndarray,
    par: np.ndarray,
    observe: bool,
    need: np.ndarray,
    cols: np.ndarray,
    buf: np.ndarray,
    out: np.ndarray,
    k: int,
    t: float,
    store: np.ndarray,
    pcols: np.ndarray,
    summ: np.ndarray,
    prev: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Output time ``k`` (at ``t``): the states into row k of ``out`` (T, n), or (``observe``) the requested
    outputs, computed from them by the generated observer, into column ``store[k]`` of ``out`` (n_outputs,
    T_kept) where ``store[k] >= 0``: a fine grid then never holds every state of every patient, and each
    output's series is contiguous. At every output time, stored or not, the outputs ``pcols`` update
    their summary ``summ`` (n_peaks, 3): the peak, its (first) time and the trapezoidal AUC from the
    first output time, as numpy's max, argmax and trapezoid over the same times would give."""
    if not observe:
        for i in range(y.shape[0]):
            out[k, i] = y[i]
        return
    kernel.observe_point(y, ext, par, need, cols, buf)
    slot = store[k]
    if slot >= 0:
        for j in range(out.shape[0]):
            out[j, slot] = buf[j]
    for q in range(pcols.shape[0]):
        v = buf[pcols[q]]
        if k == 0:
            summ[q, 0] = v
            summ[q, 1] = t
            summ[q, 2] = 0.0
        else:
            summ[q, 2] += 0.5 * (v + prev[q]) * (t - prev[pcols.shape[0]])
            if v > summ[q, 0] or (math.isnan(v) and not math.isnan(summ[q, 0])):
                summ[q, 0] = v
                summ[q, 1] = t
        prev[q] = v
    prev[pcols.shape[0]] = t


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _fail(code: int, out: np.ndarray, k: int, observe: bool, store: np.ndarray) -> int:  # pragma: no cover
    """A failed patient's unwritten output times are NaN (``out`` is allocated uninitialised)."""
    if not observe:
        out[k:, :] = np.nan
        return code
    for kk in range(k, store.shape[0]):
        if store[kk] >= 0:
            out[:, store[kk]] = np.nan
    return code


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _f(
    y: np.ndarray,
    u: np.ndarray,
    tau: float,
    ext: np.ndarray,
    modal: bool,
    lam: np.ndarray,
    G: np.ndarray,
    za: np.ndarray,
    w: np.ndarray,
    z: np.ndarray,
    lin: np.ndarray,
    par: np.ndarray,
    kv: np.ndarray,
    kr: np.ndarray,
    kc: np.ndarray,
    dy: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """The right-hand side at ``tau`` into the segment: the full model, or in modal mode the states after
    the linear block, with effect sites and plasma signals from its exact solution."""
    if not modal:
        kernel.rhs(y, u, ext, par, kv, kr, kc, dy)
        return
    _modal_pk(tau, lam, za, w, z)
    n_block = kernel.N_LINEAR - kernel.N_PK
    for k in range(G.shape[0]):
        acc = 0.0
        for j in range(lam.shape[0]):
            acc += G[k, j] * z[j]
        if k < n_block:
            y[kernel.N_PK + k] = acc  # linear states after PK (effect sites), read by pd_rhs
        else:
            lin[k - n_block] = acc  # interface signals (e.g. psilocin plasma)
    kernel.pd_rhs(y, u, lin, ext, par, dy)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _solve_one(
    y: np.ndarray,
    t_out: np.ndarray,
    bt: np.ndarray,
    bs: np.ndarray,
    ba: np.ndarray,
    i0: np.ndarray,
    i1: np.ndarray,
    ist: np.ndarray,
    ir: np.ndarray,
    ext: np.ndarray,
    st: np.ndarray,
    sl: np.ndarray,
    par: np.ndarray,
    kv: np.ndarray,
    kr: np.ndarray,
    kc: np.ndarray,
    modal: bool,
    act: np.ndarray,
    lam: np.ndarray,
    V: np.ndarray,
    Vi: np.ndarray,
    G: np.ndarray,
    rtol: float,
    atol: float,
    max_step: float,
    ob: Observer,
    out: np.ndarray,
    summ: np.ndarray,
    counts: np.ndarray,
) -> int:  # pragma: no cover - compiled; checked against the scipy path in tests
    observe, need, cols, reads, store, pcols = ob.observe, ob.need, ob.cols, ob.reads, ob.store, ob.pcols
    n = y.shape[0]
    yo = np.zeros(n)  # the states at an output time, before they are written or observed
    block_read = False  # does any requested output read a state of the exactly solved block?
    for q in range(act.shape[0]):
        block_read = block_read or reads[act[q]]
    buf = np.empty(out.shape[0] if observe else 1)
    every = np.ones(n, np.bool_)  # (a segment's end needs every state of the block)
    prev = np.empty(pcols.shape[0] + 1)  # the previous output's peaked values and its time
    m = act.shape[0]
    lo = kernel.N_LINEAR if modal else 0  # modal: pk and effect sites solved exactly, the rest stepped
    za = np.zeros(m)
    w = np.zeros(m)
    z = np.zeros(m)
    lin = np.zeros(max(kernel.N_INTERFACE, 1))
    T = t_out.shape[0]
    t0, t_end = t_out[0], t_out[T - 1]
    K = np.empty((_N_STAGES + 1, n))
    u = np.zeros(n)
    y_new = np.empty(n)
    y_stage = np.empty(n)
    scale = np.empty(n)
    err = np.empty(n)
    Q = np.empty((n, 4))
    kb = 0
    while kb < bt.shape[0] and bt[kb] < t0:  # inputs before the window are not part of it
        kb += 1
    ks = 0
    while ks < st.shape[0] and st[ks] <= t0:
        ext[:] = sl[ks]
        ks += 1
    k_out = 0
    t = t0
    steps = 0
    while True:
        # inputs at t, then the outputs at t (values are right-continuous)
        while kb < bt.shape[0] and bt[kb] <= t:
            y[bs[kb]] += ba[kb]
            kb += 1
        while ks < st.shape[0] and st[ks] <= t:
            ext[:] = sl[ks]
            ks += 1
        for i in range(n):
            u[i] = 0.0
        for j in range(i0.shape[0]):
            if i0[j] <= t < i1[j]:
                u[ist[j]] += ir[j]
        while k_out < T and t_out[k_out] <= t:
            _emit(y, ext, par, observe, need, cols, buf, out, k_out, t, store, pcols, summ, prev)
            k_out += 1
        for i in range(n):
            if not math.isfinite(y[i]):
                return _fail(NOT_FINITE, out, k_out, observe, store)
        if t >= t_end:
            return OK
        # the segment ends at the next input, step of an external input (stress, mood) or the window end
        b = t_end
        if kb < bt.shape[0] and bt[kb] < b:
            b = bt[kb]
        if ks < st.shape[0] and st[ks] < b:
            b = st[ks]
        for j in range(i0.shape[0]):
            if t < i0[j] < b:
                b = i0[j]
            if t < i1[j] < b:
                b = i1[j]

        if modal:
            for j in range(m):
                acc_z = 0.0
                acc_w = 0.0
                for q in range(m):
                    acc_z += Vi[j, q] * y[act[q]]
                    acc_w += Vi[j, q] * u[act[q]]
                za[j] = acc_z
                w[j] = acc_w
        a = t
        # initial step (Hairer, Norsett & Wanner; as scipy's select_initial_step)
        _f(y, u, 0.0, ext, modal, lam, G, za, w, z, lin, par, kv, kr, kc, K[0])
        for i in range(lo, n):
            scale[i] = atol + abs(y[i]) * rtol
        d0 = _rms(y[lo:], scale[lo:])
        d1 = _rms(K[0, lo:], scale[lo:])
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h0 = min(h0, b - t)
        for i in range(lo, n):
            y_stage[i] = y[i] + h0 * K[0, i]
        _f(y_stage, u, h0, ext, modal, lam, G, za, w, z, lin, par, kv, kr, kc, K[1])
        for i in range(lo, n):
            err[i] = K[1, i] - K[0, i]
        d2 = _rms(err[lo:], scale[lo:]) / h0
        h1 = max(1e-06, h0 * 0.001) if d1 <= 1e-15 and d2 <= 1e-15 else (0.01 / max(d1, d2)) ** (-_ERR_EXP)
        h = min(100 * h0, h1, b - t, max_step)

        rejected = False
        while t < b:
            steps += 1
            if steps > _MAX_STEPS:
                return _fail(TOO_MANY_STEPS, out, k_out, observe, store)
            h = min(h, max_step)
            if h < 10 * np.spacing(max(abs(t), 1.0)):
                return _fail(STEP_TOO_SMALL, out, k_out, observe, store)
            t_new = t + h
            if t_new >= b or b - t_new < 1e-12 * max(abs(b), 1.0):
                t_new = b
            hh = t_new - t
            for s in range(1, _N_STAGES):
                for i in range(lo, n):
                    acc = 0.0
                    for r in range(s):
                        acc += _A[s, r] * K[r, i]
                    y_stage[i] = y[i] + hh * acc
                _f(y_stage, u, t - a + _C[s] * hh, ext, modal, lam, G, za, w, z, lin, par, kv, kr, kc, K[s])
            for i in range(lo, n):
                acc = 0.0
                for r in range(_N_STAGES):
                    acc += _B[r] * K[r, i]
                y_new[i] = y[i] + hh * acc
            _f(y_new, u, t_new - a, ext, modal, lam, G, za, w, z, lin, par, kv, kr, kc, K[_N_STAGES])
            for i in range(lo, n):
                acc = 0.0
                for r in range(_N_STAGES + 1):
                    acc += _E[r] * K[r, i]
                err[i] = hh * acc
                scale[i] = atol + max(abs(y[i]), abs(y_new[i])) * rtol
            en = _rms(err[lo:], scale[lo:])
            if not math.isfinite(en):
                en = 1e300  # shrink the step; a genuinely infinite state is caught below
            if en < 1.0:
                # dense output on the requested grid strictly inside (t, b)
                if k_out < T and t_out[k_out] <= t_new and t_out[k_out] < b:
                    for i in range(lo, n):
                        for j in range(4):
                            acc = 0.0
                            for r in range(_N_STAGES + 1):
                                acc += K[r, i] * _P[r, j]
                            Q[i, j] = acc
                    while k_out < T and t_out[k_out] <= t_new and t_out[k_out] < b:
                        x = (t_out[k_out] - t) / hh
                        for i in range(lo, n):
                            if reads[i]:  # (the states no requested output reads are left stale)
                                yo[i] = y[i] + hh * x * (Q[i, 0] + x * (Q[i, 1] + x * (Q[i, 2] + x * Q[i, 3])))
                        if modal:
                            for i in range(kernel.N_LINEAR):
                                yo[i] = y[i]  # pk states outside the active set stay as they are
                            if block_read:
                                _modal_pk(t_out[k_out] - a, lam, za, w, z)
                                _from_modes(V, z, act, yo, reads)
                        tk = t_out[k_out]
                        _emit(yo, ext, par, observe, need, cols, buf, out, k_out, tk, store, pcols, summ, prev)
                        k_out += 1
                for i in range(lo, n):
                    y[i] = y_new[i]
                    K[0, i] = K[_N_STAGES, i]
                t = t_new
                factor = _MAX_FACTOR if en == 0.0 else min(_MAX_FACTOR, _SAFETY * en**_ERR_EXP)
                if rejected:
                    factor = min(1.0, factor)
                h = hh * factor
                rejected = False
                counts[0] += 1
            else:
                h = hh * max(_MIN_FACTOR, _SAFETY * en**_ERR_EXP)
                rejected = True
                counts[1] += 1
        if modal:  # the exact linear block at the segment end
            _modal_pk(b - a, lam, za, w, z)
            _from_modes(V, z, act, y, every)


@njit(cache=True, parallel=True)
def solve_all(
    y0: np.ndarray,
    t_out: np.ndarray,
    ev: PatientEvents,
    pk: PackedModel,
    md: Any,
    rtol: float,
    atol: float,
    max_step: float,
    ob: Observer,
    out: np.ndarray,
    summ: np.ndarray,
    status: np.ndarray,
    counts: np.ndarray,
) -> None:  # pragma: no cover - compiled
    for p in prange(y0.shape[0]):
        y = y0[p].copy()
        b0, b1, j0, j1 = ev.b_ptr[p], ev.b_ptr[p + 1], ev.i_ptr[p], ev.i_ptr[p + 1]
        s0, s1 = ev.s_ptr[p], ev.s_ptr[p + 1]
        status[p] = _solve_one(
            y, t_out, ev.b_time[b0:b1], ev.b_state[b0:b1], ev.b_amount[b0:b1],
            ev.i_start[j0:j1], ev.i_stop[j0:j1], ev.i_state[j0:j1], ev.i_rate[j0:j1],
            ev.ext0[p].copy(), ev.s_time[s0:s1], ev.s_level[s0:s1],
            pk.par[p], pk.k_values[p], pk.k_rows, pk.k_cols,
            md.ok[p], md.active, md.lam[p], md.V[p], md.Vi[p], md.G[p],
            rtol, atol, max_step, ob, out[p], summ[p], counts[p],
        )  # fmt: skip
