"""Dimensional analysis of the traced model: every equation checked for consistent units.

Each name has a unit (``Definition.unit_of``); a bare number takes the unit its context needs (the
``1`` in ``1 - block`` is dimensionless, the ``0`` in ``max(x, 0)`` has the unit of ``x``). Terms of a
sum, the arguments of ``max``/``min`` and the two sides of a comparison must agree, with a
conversion factor of exactly 1 (hours and minutes may not be added, since the numbers are magnitudes
in the declared units); a symbolic exponent needs a dimensionless base. :func:`check` applies this to
every signal (its declared unit) and every rate (the state's unit per hour); the SBML export uses
:func:`unit` to give each literal its unit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from ketasim.errors import ModelError
from ketasim.model._definition import Definition
from ketasim.units import ureg

__all__ = ["DIMENSIONLESS", "Dim", "check", "dim", "unit"]


@dataclass(frozen=True)
class Dim:
    """A unit as a factor times a product of SI base units (``exps``: sorted (base, exponent) pairs)."""

    factor: float
    exps: tuple[tuple[str, float], ...]

    def __mul__(self, other: Dim) -> Dim:
        exps = dict(self.exps)
        for b, e in other.exps:
            exps[b] = exps.get(b, 0.0) + e
        return Dim(self.factor * other.factor, tuple(sorted((b, e) for b, e in exps.items() if e != 0)))

    def __pow__(self, n: float) -> Dim:
        return Dim(self.factor**n, tuple((b, e * n) for b, e in self.exps if e * n != 0))

    def same(self, other: Dim) -> bool:
        return self.exps == other.exps and abs(self.factor / other.factor - 1) < 1e-9

    @property
    def dimensionless(self) -> bool:
        return not self.exps and abs(self.factor - 1) < 1e-9


@cache
def dim(unit_text: str) -> Dim:
    """The Dim of a unit written in pint syntax (``"1/h"``, ``"ng/mL"``, ``"1"``)."""
    q = ureg.Quantity(1.0, unit_text).to_base_units()
    exps = tuple(sorted((str(b), float(cast(float, e))) for b, e in q.unit_items()))
    return Dim(cast(float, q.magnitude), exps)


DIMENSIONLESS = dim("1")


def unit(expr: Any, lookup: Callable[[str], Dim], where: str = "") -> Dim | None:
    """The unit of ``expr`` (None for a bare number, whose unit its context decides)."""
    import sympy as sp

    def fail(msg: str) -> ModelError:
        return ModelError(f"units of {where or 'an expression'}: {msg} in {expr}")

    def unify(args: Any) -> Dim | None:
        found = [u for u in (unit(a, lookup, where) for a in args) if u is not None]
        for u in found[1:]:
            if not u.same(found[0]):
                raise fail(f"terms in {found[0]} and {u} cannot be combined")
        return found[0] if found else None

    if isinstance(expr, sp.Symbol):
        return lookup(expr.name)
    if expr.is_Number:
        return None
    if isinstance(expr, sp.Add | sp.Max | sp.Min):
        return unify(expr.args)
    if isinstance(expr, sp.Mul):
        out = DIMENSIONLESS
        for a in expr.args:
            u = unit(a, lookup, where)
            out = out * u if u is not None else out
        return out
    if isinstance(expr, sp.Pow):
        base, exp = expr.args
        ub = unit(base, lookup, where)
        if exp.is_Number:
            return None if ub is None else ub ** float(exp)
        ue = unit(exp, lookup, where)
        if (ub is not None and not ub.dimensionless) or (ue is not None and not ue.dimensionless):
            raise fail("a symbolic power needs a dimensionless base and exponent")
        return DIMENSIONLESS
    if isinstance(expr, sp.exp):
        ua = unit(expr.args[0], lookup, where)
        if ua is not None and not ua.dimensionless:
            raise fail("exp needs a dimensionless argument")
        return DIMENSIONLESS
    if isinstance(expr, sp.Piecewise):
        for pair in expr.args:
            unit(pair.cond, lookup, where)
        return unify([pair.expr for pair in expr.args])
    if isinstance(expr, sp.core.relational.Relational):
        unify([expr.lhs, expr.rhs])
        return None
    if isinstance(expr, sp.And | sp.Or):
        for a in expr.args:
            unit(a, lookup, where)
        return None
    if expr in (sp.true, sp.false):
        return None
    raise fail(f"no unit rule for {type(expr).__name__}")


def check(defn: Definition) -> None:
    """Raise ``ModelError`` naming the first signal or rate whose units do not add up."""

    def lookup(name: str) -> Dim:
        return dim(defn.unit_of(name))

    per_hour = dim("1/h")
    for s in defn.signals:
        u = unit(s.expr, lookup, f"signal {s.name}")
        if u is not None and not u.same(dim(s.unit)):
            raise ModelError(f"signal {s.name} is declared in {s.unit} but its expression gives {u}")
    for name, rate in defn.rates.items():
        want = dim(defn.states[name].unit) * per_hour
        u = unit(rate, lookup, f"rate of {name}")
        if u is not None and not u.same(want):
            raise ModelError(f"rate of {name} must be in {defn.states[name].unit}/h but its expression gives {u}")
