"""Reference path: the batched state (n_states, n_patients) integrated at once by scipy's ``solve_ivp``.

Time is cut into segments at every bolus and at every infusion start and stop, across all patients:
boluses are added to the state at a segment boundary and infusion rates are constant within a segment,
so nothing is smoothed. Works for any system with ``rhs(t, y, u)``; the compiled engine is checked
against it.

>>> import numpy as np
>>> class Decay:  # dA/dt = -A + u
...     n_states = 1
...     def rhs(self, t, y, u):
...         return -y + u
>>> out = integrate_scipy(Decay(), np.zeros((1, 2)), [Bolus(0.0, 0, np.array([1.0, 2.0]))], [], np.array([0.0, 1.0]),
...                       SolverOptions(method="BDF"))
>>> np.round(out[0, :, 1], 4).tolist()
[0.3679, 0.7358]
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from ketasim.engine._options import OdeSystem, SolverOptions
from ketasim.errors import IntegrationError
from ketasim.model.pk import Bolus, Infusion

__all__ = ["integrate_scipy"]


def integrate_scipy(
    system: OdeSystem,
    y0: np.ndarray,
    boluses: Sequence[Bolus],
    infusions: Sequence[Infusion],
    t_out: np.ndarray,
    options: SolverOptions,
) -> np.ndarray:
    """Integrate from ``t_out[0]`` to ``t_out[-1]``; returns states at ``t_out``, shape (n, P, T).

    Values at a bolus time are taken just after the bolus (right-continuous).
    """
    from scipy.integrate import solve_ivp  # imported on use: the compiled path does not need it

    opt = options
    n, P = y0.shape
    t_out = np.asarray(t_out, float)
    t0, t1 = float(t_out[0]), float(t_out[-1])
    cuts = {t0, t1}
    cuts.update(b.time for b in boluses if t0 <= b.time < t1)
    for inf in infusions:
        cuts.update(x for x in (inf.start, inf.stop) if t0 < x < t1)
    edges = np.array(sorted(cuts))
    implicit = opt.method in ("BDF", "Radau")
    extra = {"jac_sparsity": _block_pattern(n, P)} if implicit else {}
    out = np.empty((n, P, t_out.size))
    y = y0.astype(float).copy()
    filled = 0
    for a, b in pairwise(edges):
        for bol in boluses:
            if bol.time == a:
                y[bol.state] += bol.amount
        u = np.zeros((n, P))
        for inf in infusions:
            if inf.start <= a < inf.stop:
                u[inf.state] += inf.rate
        if filled < t_out.size and t_out[filled] == a:
            out[:, :, filled] = y
            filled += 1
        # Output points strictly inside (a, b); b itself is recorded by the next segment, after
        # any bolus given there, or after the loop for the final time.
        stop = np.searchsorted(t_out, b, side="left")
        wanted = t_out[filled:stop]
        t_eval = np.append(wanted, b)

        def f(t: float, flat: np.ndarray, u: np.ndarray = u) -> np.ndarray:
            return system.rhs(t, flat.reshape(n, P), u).ravel()

        sol = solve_ivp(
            f,
            (a, b),
            y.ravel(),
            method=opt.method,
            t_eval=t_eval,
            rtol=opt.rtol,
            atol=opt.atol,
            max_step=opt.max_step_h,
            **extra,
        )
        if not sol.success:
            raise IntegrationError(f"integration failed between {a:g} h and {b:g} h: {sol.message}")
        ys = sol.y.reshape(n, P, -1)
        out[:, :, filled:stop] = ys[:, :, : wanted.size]
        filled = stop
        y = ys[:, :, -1].copy()
    if filled < t_out.size:  # the final time, after any bolus given exactly then
        for bol in boluses:
            if bol.time == t1 and t1 != t0:
                y[bol.state] += bol.amount
        out[:, :, filled] = y
    return out


def _block_pattern(n: int, P: int) -> Any:
    """Jacobian sparsity of the flattened (n, P) state: states couple only within a patient."""
    from scipy.sparse import csr_matrix

    rows = np.repeat(np.arange(n * P), n)
    cols = (np.tile(np.arange(n), n * P) * P) + np.repeat(np.tile(np.arange(P), n), n)
    return csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n * P, n * P))
