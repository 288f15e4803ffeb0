"""Eigen-decomposition of the linear block (PK amounts and the effect sites) for its exact solution.

Between events the block obeys dz/dt = L z + w with constant inputs, solved exactly from the modes of
L. Identical chains (S- and R-norketamine share their disposition; the effect sites share ke0) give
exactly repeated eigenvalues, handled with a null-space basis; anything not diagonalisable to 1e-9 is
left to the stepped path.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Modes", "linear_modes", "no_modes"]


class Modes(NamedTuple):
    """Eigen-decomposition of each patient's linear block (reachable PK states and the effect sites)."""

    ok: np.ndarray  # (P,) bool: decomposition usable (else that patient runs the full explicit path)
    active: np.ndarray  # (m,) state indices of the block
    lam: np.ndarray  # (P, m) eigenvalues, 1/h
    V: np.ndarray  # (P, m, m) eigenvectors (columns)
    Vi: np.ndarray  # (P, m, m) inverse of V
    G: np.ndarray  # (P, n_block + n_interface, m) per mode: block states after PK, then interface signals


def _check(L: np.ndarray, lam: np.ndarray, V: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which decompositions reproduce their matrix (V diag(lam) V^-1 = L to 1e-9), and V^-1."""
    with np.errstate(all="ignore"):
        try:
            Vi = np.linalg.inv(V)
        except np.linalg.LinAlgError:  # an exactly singular V somewhere in the batch
            Vi = np.linalg.pinv(V)
        ok = np.abs((V * lam[:, None, :]) @ Vi - L).max(axis=(1, 2)) <= 1e-9 * scale
        ok &= np.abs(Vi @ V - np.eye(lam.shape[1])).max(axis=(1, 2)) <= 1e-9
    ok &= np.isfinite(Vi).all(axis=(1, 2))
    return ok, np.nan_to_num(Vi)


def _eigenspace_basis(L: np.ndarray, lam: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Eigenvectors with an independent basis for every repeated eigenvalue.

    Identical chains (S- and R-norketamine share their disposition; the five effect sites share ke0)
    give exactly repeated eigenvalues, for which LAPACK may return nearly parallel vectors although the
    matrix is diagonalisable. The null space of L - lambda I (SVD) gives a well-conditioned basis.
    """
    m = lam.size
    order = np.argsort(lam)
    tol = 1e-9 * max(np.abs(lam).max(), 1e-300)
    V = V.copy()
    i = 0
    while i < m:
        j = i + 1
        while j < m and lam[order[j]] - lam[order[i]] <= tol:
            j += 1
        if j - i > 1:
            cols = order[i:j]
            _, sv, vt = np.linalg.svd(L - lam[cols].mean() * np.eye(m))
            null = vt[m - (j - i) :].T
            if sv[m - (j - i)] <= 1e-9 * max(sv[0], 1e-300):  # as many independent vectors as repeats
                V[:, cols] = null
        i = j
    return V


def linear_modes(K: np.ndarray, n_pk: int, jacobian: np.ndarray, interface: np.ndarray, sources: np.ndarray) -> Modes:
    """Modes of the linear block for the exact solution between events.

    ``K`` (P, n_pk, n_pk): the PK rate matrices; ``jacobian`` (P, n_block, n_pk + n_block): the rates of
    the block's states after PK (the effect sites), which relax towards linear maps of the amounts;
    ``interface`` (P, n_if, n_pk + n_block): the interface signals the rest of the model reads. The
    block is restricted to the PK states the doses (``sources``) can reach plus those states.
    Compartmental rate matrices have real eigenvalues; a patient whose decomposition is complex, or
    does not reproduce its matrix to 1e-9 (near-defective: two equal rates in series), is marked not
    ``ok`` and integrated on the full explicit path instead.
    """
    P = K.shape[0]
    reach = sources.copy()
    nz = np.any(K != 0.0, axis=0)
    while True:  # states reachable from the dosed ones along the PK matrix's flows
        grown = reach | np.any(nz[:, reach], axis=1)
        if (grown == reach).all():
            break
        reach = grown
    pk_act = np.nonzero(reach)[0]
    n_blk = jacobian.shape[1]
    act = np.concatenate([pk_act, n_pk + np.arange(n_blk)]).astype(np.int64)
    cols = act  # columns of ``jacobian`` and ``interface`` in the block's own order
    m = act.size
    mp = pk_act.size
    L = np.zeros((P, m, m))
    L[:, :mp, :mp] = K[:, pk_act][:, :, pk_act]
    L[:, mp:, :] = jacobian[:, :, cols]
    lam_c, V_c = np.linalg.eig(L)
    scale = np.abs(L).max(axis=(1, 2))
    real = np.all(np.abs(lam_c.imag) <= 1e-12 * scale[:, None], axis=1)
    lam, V = lam_c.real.copy(), V_c.real.copy()
    ok, Vi = _check(L, lam, V, scale)
    redo = np.nonzero(real & ~ok)[0]
    if redo.size:  # repeated eigenvalues: rebuild their eigenvectors
        for p in redo:
            V[p] = _eigenspace_basis(L[p], lam[p], V[p])
        ok[redo], Vi[redo] = _check(L[redo], lam[redo], V[redo], scale[redo])
    ok &= real
    # signals the stepped states read: the block's states after PK, then the interface signals
    out_map = np.zeros((P, n_blk + interface.shape[1], m))
    out_map[:, np.arange(n_blk), mp + np.arange(n_blk)] = 1.0
    out_map[:, n_blk:, :] = interface[:, :, cols]
    G = out_map @ V
    return Modes(ok, act, lam, V, Vi, G)


def no_modes(P: int, n_out: int) -> Modes:
    """Every patient on the full explicit path."""
    return Modes(np.zeros(P, bool), np.zeros(0, np.int64), np.zeros((P, 0)), np.zeros((P, 0, 0)),
                 np.zeros((P, 0, 0)), np.zeros((P, n_out, 0)))  # fmt: skip
