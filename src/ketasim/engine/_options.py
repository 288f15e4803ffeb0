"""Solver settings shared by the compiled engine and the scipy reference path."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ketasim._internal.checks import is_number
from ketasim.errors import InputError

__all__ = ["COMPILED", "METHODS", "OdeSystem", "SolverOptions"]

#: ``auto``/``compiled``/``exponential`` (the compiled engine) or any scipy ``solve_ivp`` method.
METHODS = ("auto", "compiled", "exponential", "RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
COMPILED = ("auto", "compiled", "exponential")


class OdeSystem(Protocol):
    n_states: int

    def rhs(self, t: float, y: np.ndarray, u: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class SolverOptions:
    """Integrator settings.

    ``method="auto"`` (default) runs the assembled ketasim model on the compiled engine: Dormand-Prince
    5(4) compiled with numba, one patient per thread, each with its own step size and error control
    (the model is only mildly stiff, fastest rate ~37/h, so an explicit method is cheapest); any other
    system goes to scipy's BDF. ``"compiled"`` insists on the compiled engine; ``"exponential"`` runs
    the compiled engine with an exponential Runge-Kutta method of order 4(3) instead, which integrates
    the diagonal of the stepped states' Jacobian exactly (fewer steps where the fast relaxations hold
    Dormand-Prince's step, more where accuracy does: see the README's Performance); a scipy method name
    ("BDF", "LSODA", "RK45", ...) selects the reference path, which integrates all patients as one
    system (BDF with a block-diagonal Jacobian pattern, since patients do not interact).
    ``max_step_h`` caps the step of every method.
    """

    method: str = "auto"
    rtol: float = 1e-6
    atol: float = 1e-12
    max_step_h: float = 6.0

    def __post_init__(self) -> None:
        if not isinstance(self.method, str) or self.method not in METHODS:
            raise InputError("solver.method", f"must be one of {', '.join(METHODS)}", got=repr(self.method)[:60])
        for name in ("rtol", "atol", "max_step_h"):
            value = getattr(self, name)
            if not is_number(value) or not 0 < value < math.inf:
                raise InputError(f"solver.{name}", "must be a finite number > 0", got=repr(value)[:60])
        if self.rtol >= 1:
            raise InputError("solver.rtol", "must be in (0, 1)", got=self.rtol)
