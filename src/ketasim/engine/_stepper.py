"""Compiled stepping: each patient integrated on its own, with numba, patients across threads.

A patient has its own step size and error control (so its result does not depend on who else is in
the batch) and its own dosing segments: boluses are added at segment boundaries and infusion rates
are constant within a segment, as in the reference path. Within a segment the linear block (the PK
amounts the doses can reach and the states driven linearly by them, the effect sites) is solved
exactly from its modes (``_modes``), and the remaining states are stepped with Dormand-Prince 5(4)
(``DOPRI5``; or, on request, the exponential Runge-Kutta method ``EXPRK4``, see its constants);
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

__all__ = ["DOPRI5", "EXPRK4", "MESSAGES", "Observer", "PackedModel", "Rhs", "solve_all"]

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


class Rhs(NamedTuple):
    """What the right-hand side of the stepped states reads besides the states: the modal solution of
    the linear block (``modal``; eigenvalues ``lam``, output map ``G``, the segment's modal start ``za``
    and input ``w``, the modes ``z`` at the time ``memo[0]``), the interface signals ``lin``, the
    constants ``par`` and the sparse PK matrix (``kv`` at ``kr``, ``kc``) of the fully stepped path."""

    modal: bool
    lam: np.ndarray
    G: np.ndarray
    za: np.ndarray
    w: np.ndarray
    z: np.ndarray
    memo: np.ndarray
    lin: np.ndarray
    par: np.ndarray
    kv: np.ndarray
    kr: np.ndarray
    kc: np.ndarray


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

# The exponential alternative: Hochbruck & Ostermann's explicit exponential Runge-Kutta method of stiff
# order 4 (SIAM J Numer Anal 2005, 43:1069; five stages at c = 0, 1/2, 1/2, 1, 1/2) with the linear part
# L = the diagonal of the stepped states' Jacobian (generated: ``kernel.pd_diagonal``), frozen per step
# and integrated exactly through the scalar phi-functions of each state; the embedded solution puts the
# weight of stage 5 on the mean of stages 2 and 3 (same node, and the two stages' stiff order
# defects cancel in the mean), which keeps stiff order 3 and needs no extra stage.
DOPRI5, EXPRK4 = 0, 1
_EXP_ERR_EXP = -1.0 / 4
_INV_FACTORIAL = np.array([1.0 / math.factorial(k) for k in range(20)])

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
def _phi(z: float, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """e^z, phi_1(z), phi_2(z), phi_3(z) into out[0:4] (phi_k(z) = sum_j z^j / (j + k)!; phi_0 = e^z).

    Near 0 from phi_3's series (17 terms: exact to rounding for |z| < 1) and phi_k = 1/k! + z phi_(k+1)
    upwards; elsewhere from e^z downwards (phi_(k+1) = (phi_k - 1/k!) / z loses at most one digit)."""
    if abs(z) < 1.0:
        p3 = _INV_FACTORIAL[19]
        for j in range(18, 2, -1):
            p3 = p3 * z + _INV_FACTORIAL[j]
        out[3] = p3
        out[2] = 0.5 + z * p3
        out[1] = 1.0 + z * out[2]
        out[0] = 1.0 + z * out[1]
        return
    out[0] = math.exp(z)
    out[1] = (out[0] - 1.0) / z  # (no cancellation for |z| >= 1)
    out[2] = (out[1] - 1.0) / z
    out[3] = (out[2] - 0.5) / z


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _modal_pk(tau: float, lam: np.ndarray, za: np.ndarray, w: np.ndarray, z: np.ndarray) -> None:  # pragma: no cover
    """Modal coordinates ``tau`` hours into a segment: z = e^(lam tau) za + (e^(lam tau) - 1)/lam w."""
    for j in range(lam.shape[0]):
        if za[j] == 0.0 and w[j] == 0.0:  # an empty mode with no input stays empty
            z[j] = 0.0
            continue
        z[j] = _mode(math.expm1(lam[j] * tau), tau, lam[j], za[j], w[j])  # one transcendental per mode


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _mode(em1: float, tau: float, lam: float, za: float, w: float) -> float:  # pragma: no cover - compiled
    """A mode ``tau`` into the segment from em1 = expm1(lam tau): e^(lam tau) za + (e^(lam tau) - 1)/lam w."""
    return (1.0 + em1) * za + (tau if lam == 0.0 else em1 / lam) * w


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _modal_pk_chained(
    tau: float,
    lam: np.ndarray,
    za: np.ndarray,
    w: np.ndarray,
    z: np.ndarray,
    ez: np.ndarray,
    dz: np.ndarray,
    at: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """``_modal_pk`` at a later time ``tau`` of the same segment, from the exponentials the previous call
    left: ``ez`` = expm1(lam t) at its time t = at[0] (< 0: none) and ``dz`` = expm1(lam d) for its
    increment d = at[1]. On a regular output grid each increment equals the last one to rounding, so an
    output time costs no exponential: expm1(x + y) = expm1(x) + expm1(y) + expm1(x) expm1(y) exactly,
    and the increment's rounding residual q enters as expm1(lam q) = lam q (|lam q| < 1e-9)."""
    delta = tau - at[0]
    if at[0] < 0.0 or delta < 0.0:
        for j in range(lam.shape[0]):
            ez[j] = math.expm1(lam[j] * tau)
    elif abs(delta - at[1]) <= 1e-9 * at[1]:
        q = delta - at[1]
        for j in range(lam.shape[0]):
            e = ez[j] + dz[j] + ez[j] * dz[j]
            x = lam[j] * q
            ez[j] = max(e + x + e * x, -1.0)
    else:
        for j in range(lam.shape[0]):
            dz[j] = math.expm1(lam[j] * delta)
            ez[j] = max(ez[j] + dz[j] + ez[j] * dz[j], -1.0)
        at[1] = delta
    at[0] = tau
    for j in range(lam.shape[0]):
        z[j] = _mode(ez[j], tau, lam[j], za[j], w[j])


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
    vbuf: np.ndarray,
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
    outputs, computed from them by the generated observer (``cols``: their sources; ``vbuf``: its
    scratch), into column ``store[k]`` of ``out`` (n_outputs, T_kept) where ``store[k] >= 0``: a fine grid
    then never holds every state of every patient, and each output's series is contiguous. At every
    output time, stored or not, the outputs ``pcols`` update their summary ``summ`` (n_peaks, 3): the
    peak, its (first) time and the trapezoidal AUC from the first output time, as numpy's max, argmax
    and trapezoid over the same times would give."""
    if not observe:
        for i in range(y.shape[0]):
            out[k, i] = y[i]
        return
    kernel.observe_point(y, ext, par, need, cols, vbuf, buf)
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
def _f(y: np.ndarray, u: np.ndarray, tau: float, ext: np.ndarray, r: Rhs, dy: np.ndarray) -> None:  # pragma: no cover
    """The right-hand side at ``tau`` into the segment: the full model, or in modal mode the states after
    the linear block, with effect sites and plasma signals from its exact solution (the modes ``z`` are
    recomputed only if ``tau`` is not the time ``memo[0]`` they hold: stages may share a time)."""
    if not r.modal:
        kernel.rhs(y, u, ext, r.par, r.kv, r.kr, r.kc, dy)
        return
    if tau != r.memo[0]:
        _modal_pk(tau, r.lam, r.za, r.w, r.z)
        r.memo[0] = tau
    n_block = kernel.N_LINEAR - kernel.N_PK
    for k in range(r.G.shape[0]):
        acc = 0.0
        for j in range(r.lam.shape[0]):
            acc += r.G[k, j] * r.z[j]
        if k < n_block:
            y[kernel.N_PK + k] = acc  # linear states after PK (effect sites), read by pd_rhs
        else:
            r.lin[k - n_block] = acc  # interface signals (e.g. psilocin plasma)
    kernel.pd_rhs(y, u, r.lin, ext, r.par, dy)


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
    scheme: int,
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
    vbuf = np.empty(max(kernel.N_STATEMENTS, 1))  # the observer's statement values
    every = np.ones(n, np.bool_)  # (a segment's end needs every state of the block)
    prev = np.empty(pcols.shape[0] + 1)  # the previous output's peaked values and its time
    m = act.shape[0]
    lo = kernel.N_LINEAR if modal else 0  # modal: pk and effect sites solved exactly, the rest stepped
    za = np.zeros(m)
    w = np.zeros(m)
    z = np.zeros(m)
    memo = np.full(1, np.nan)
    ez, dz, at = np.zeros(m), np.zeros(m), np.full(2, -1.0)  # the dense output's chained exponentials
    lin = np.zeros(max(kernel.N_INTERFACE, 1))
    rhs = Rhs(modal, lam, G, za, w, z, memo, lin, par, kv, kr, kc)
    T = t_out.shape[0]
    t0, t_end = t_out[0], t_out[T - 1]
    K = np.empty((_N_STAGES + 1, n))
    u = np.zeros(n)
    y_new = np.empty(n)
    y_stage = np.empty(n)
    scale = np.empty(n)
    err = np.empty(n)
    Q = np.empty((n, 4))
    # the exponential method: the frozen diagonal, and e^z, phi_1..3 at z = h L and at h L / 2
    dg = np.zeros(n)
    ph = np.empty((n, 4))
    ph2 = np.empty((n, 4))
    pt = np.empty(4)
    exponential = scheme == EXPRK4
    err_exp = _EXP_ERR_EXP if exponential else _ERR_EXP
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
            _emit(y, ext, par, observe, need, cols, vbuf, buf, out, k_out, t, store, pcols, summ, prev)
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
        memo[0] = np.nan  # new modal coordinates
        at[0] = -1.0
        a = t
        # initial step (Hairer, Norsett & Wanner; as scipy's select_initial_step)
        _f(y, u, 0.0, ext, rhs, K[0])
        for i in range(lo, n):
            scale[i] = atol + abs(y[i]) * rtol
        d0 = _rms(y[lo:], scale[lo:])
        d1 = _rms(K[0, lo:], scale[lo:])
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h0 = min(h0, b - t)
        for i in range(lo, n):
            y_stage[i] = y[i] + h0 * K[0, i]
        _f(y_stage, u, h0, ext, rhs, K[1])
        for i in range(lo, n):
            err[i] = K[1, i] - K[0, i]
        d2 = _rms(err[lo:], scale[lo:]) / h0
        h1 = max(1e-06, h0 * 0.001) if d1 <= 1e-15 and d2 <= 1e-15 else (0.01 / max(d1, d2)) ** (-err_exp)
        h = min(100 * h0, h1, b - t, max_step)

        rejected = False
        fresh = True  # (exponential) f and the diagonal at y are still to be evaluated
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
            if exponential:
                en = _exp_step(y, u, ext, rhs, t - a, hh, t_new - a, lo, fresh, dg, ph, ph2, K, y_stage, y_new, err,
                               scale, rtol, atol)  # fmt: skip
                fresh = False
            else:
                for s_ in range(1, _N_STAGES):
                    for i in range(lo, n):
                        acc = 0.0
                        for r in range(s_):
                            acc += _A[s_, r] * K[r, i]
                        y_stage[i] = y[i] + hh * acc
                    tau = t_new - a if _C[s_] == 1.0 else t - a + _C[s_] * hh  # (same time as the next f)
                    _f(y_stage, u, tau, ext, rhs, K[s_])
                for i in range(lo, n):
                    acc = 0.0
                    for r in range(_N_STAGES):
                        acc += _B[r] * K[r, i]
                    y_new[i] = y[i] + hh * acc
                _f(y_new, u, t_new - a, ext, rhs, K[_N_STAGES])
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
                    if not exponential:
                        for i in range(lo, n):
                            for j in range(4):
                                acc = 0.0
                                for r in range(_N_STAGES + 1):
                                    acc += K[r, i] * _P[r, j]
                                Q[i, j] = acc
                    while k_out < T and t_out[k_out] <= t_new and t_out[k_out] < b:
                        x = (t_out[k_out] - t) / hh
                        if exponential:
                            _exp_dense(x, hh, y, dg, K, reads, lo, pt, yo)
                        else:
                            for i in range(lo, n):
                                if reads[i]:  # (the states no requested output reads are left stale)
                                    yo[i] = y[i] + hh * x * (Q[i, 0] + x * (Q[i, 1] + x * (Q[i, 2] + x * Q[i, 3])))
                        if modal:  # (inline: a call per output time is measurable at 1-minute output)
                            for i in range(kernel.N_LINEAR):
                                yo[i] = y[i]  # pk states outside the active set stay as they are
                            if block_read:
                                _modal_pk_chained(t_out[k_out] - a, lam, za, w, z, ez, dz, at)
                                memo[0] = np.nan
                                _from_modes(V, z, act, yo, reads)
                        tk = t_out[k_out]
                        _emit(yo, ext, par, observe, need, cols, vbuf, buf, out, k_out, tk, store, pcols, summ, prev)
                        k_out += 1
                for i in range(lo, n):
                    y[i] = y_new[i]
                    K[0, i] = K[_N_STAGES, i]
                t = t_new
                fresh = True
                factor = _MAX_FACTOR if en == 0.0 else min(_MAX_FACTOR, _SAFETY * en**err_exp)
                if rejected:
                    factor = min(1.0, factor)
                h = hh * factor
                rejected = False
                counts[0] += 1
            else:
                h = hh * max(_MIN_FACTOR, _SAFETY * en**err_exp)
                rejected = True
                counts[1] += 1
        if modal:  # the exact linear block at the segment end
            _modal_pk(b - a, lam, za, w, z)
            _from_modes(V, z, act, y, every)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _exp_dense(
    x: float,
    hh: float,
    y: np.ndarray,
    dg: np.ndarray,
    K: np.ndarray,
    reads: np.ndarray,
    lo: int,
    pt: np.ndarray,
    yo: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """The exponential method's dense output at ``x`` of the step into ``yo`` (the states ``reads`` flags):
    u(t + x h) = e^(x Z) y + h [b1(x) N1 + b4(x) N4 + b5(x) N5], whose weights integrate the quadratic
    through N1, N5 and N4 (at 0, 1/2 and 1) exactly against e^((x h - s) L) (stiff order 3)."""
    for i in range(lo, y.shape[0]):
        if not reads[i]:
            continue
        _phi(x * hh * dg[i], pt)
        p1, p2, p3 = x * pt[1], x * x * pt[2], x * x * x * pt[3]
        yo[i] = pt[0] * y[i] + hh * ((p1 - 3.0 * p2 + 4.0 * p3) * K[0, i] + (4.0 * p3 - p2) * K[3, i]
                                     + (4.0 * p2 - 8.0 * p3) * K[4, i])  # fmt: skip


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _exp_step(
    y: np.ndarray,
    u: np.ndarray,
    ext: np.ndarray,
    r: Rhs,
    tau: float,
    hh: float,
    tau_new: float,
    lo: int,
    fresh: bool,
    dg: np.ndarray,
    ph: np.ndarray,
    ph2: np.ndarray,
    K: np.ndarray,
    U: np.ndarray,
    y_new: np.ndarray,
    err: np.ndarray,
    scale: np.ndarray,
    rtol: float,
    atol: float,
) -> float:  # pragma: no cover - compiled
    """One step of the exponential Runge-Kutta method (see ``EXPRK4``) from ``y`` at ``tau`` into the
    segment: ``y_new``, the stages' N_j = f(U_j) - L U_j in K[0..4] (the dense output reads N1, N4,
    N5), and the error norm. f(y) and L are evaluated only when ``y`` is new (not after a rejection)."""
    n = y.shape[0]
    if fresh:
        _f(y, u, tau, ext, r, K[5])
        if not r.modal:
            kernel.lin_signals(y, r.par, r.lin)
        kernel.pd_diagonal(y, u, r.lin, ext, r.par, dg)
        for i in range(lo, n):
            if not (dg[i] < 0.0):  # only decay is treated exactly (and a NaN is left to the stages)
                dg[i] = 0.0
    for i in range(lo, n):
        K[0, i] = K[5, i] - dg[i] * y[i]
        _phi(hh * dg[i], ph[i])
        _phi(0.5 * hh * dg[i], ph2[i])
    half = tau + 0.5 * hh
    # stage 2: U2 = e^(Z/2) y + h/2 phi1(Z/2) N1
    for i in range(lo, n):
        U[i] = ph2[i, 0] * y[i] + hh * 0.5 * ph2[i, 1] * K[0, i]
    _f(U, u, half, ext, r, K[1])
    for i in range(lo, n):
        K[1, i] -= dg[i] * U[i]
    # stage 3: U3 = e^(Z/2) y + h [(phi1(Z/2)/2 - phi2(Z/2)) N1 + phi2(Z/2) N2]
    for i in range(lo, n):
        U[i] = ph2[i, 0] * y[i] + hh * ((0.5 * ph2[i, 1] - ph2[i, 2]) * K[0, i] + ph2[i, 2] * K[1, i])
    _f(U, u, half, ext, r, K[2])
    for i in range(lo, n):
        K[2, i] -= dg[i] * U[i]
    # stage 4: U4 = e^Z y + h [(phi1 - 2 phi2) N1 + phi2 (N2 + N3)]
    for i in range(lo, n):
        U[i] = ph[i, 0] * y[i] + hh * ((ph[i, 1] - 2.0 * ph[i, 2]) * K[0, i] + ph[i, 2] * (K[1, i] + K[2, i]))
    _f(U, u, tau_new, ext, r, K[3])
    for i in range(lo, n):
        K[3, i] -= dg[i] * U[i]
    # stage 5: U5 = e^(Z/2) y + h [a51 N1 + a52 (N2 + N3) + a54 N4]
    for i in range(lo, n):
        a52 = 0.5 * ph2[i, 2] - ph[i, 3] + 0.25 * ph[i, 2] - 0.5 * ph2[i, 3]
        a54 = 0.25 * ph2[i, 2] - a52
        a51 = 0.5 * ph2[i, 1] - 2.0 * a52 - a54
        U[i] = ph2[i, 0] * y[i] + hh * (a51 * K[0, i] + a52 * (K[1, i] + K[2, i]) + a54 * K[3, i])
    _f(U, u, half, ext, r, K[4])
    for i in range(lo, n):
        K[4, i] -= dg[i] * U[i]
    # the solution, and the embedded one (stage 5's weight on the mean of stages 2 and 3)
    for i in range(lo, n):
        b1 = ph[i, 1] - 3.0 * ph[i, 2] + 4.0 * ph[i, 3]
        b4 = 4.0 * ph[i, 3] - ph[i, 2]
        b5 = 4.0 * ph[i, 2] - 8.0 * ph[i, 3]
        y_new[i] = ph[i, 0] * y[i] + hh * (b1 * K[0, i] + b4 * K[3, i] + b5 * K[4, i])
        err[i] = hh * b5 * (K[4, i] - 0.5 * (K[1, i] + K[2, i]))
        scale[i] = atol + max(abs(y[i]), abs(y_new[i])) * rtol
    return _rms(err[lo:], scale[lo:])


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
    scheme: int,
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
            rtol, atol, max_step, scheme, ob, out[p], summ[p], counts[p],
        )  # fmt: skip
