"""The package's single pint registry and the parsers every user-facing quantity goes through.

Internally ketasim works in hours, litres, micromoles, kilograms and milligrams; users may write any
compatible unit as a string (``"40 min"``, ``"0.5 mg/kg"``, ``"70 kg"``) or pass a bare number, which is
read in the field's default unit.

>>> parse_quantity("40 min", "duration", "h")
0.6666666666666666
>>> parse_quantity("5 m", "amount", "mg")
Traceback (most recent call last):
...
ketasim.InputError: amount: expected a quantity convertible to mg (got '5 m')
"""

from __future__ import annotations

from typing import Any, TypeAlias

import pint

from ketasim._internal.checks import is_number
from ketasim.errors import InputError

__all__ = ["Q_", "QuantityLike", "parse_dose_amount", "parse_positive_number", "parse_quantity", "to_quantity", "ureg"]

ureg: pint.UnitRegistry
try:  # pint caches its parsed definitions on disk: the second process starts ~0.3 s faster
    ureg = pint.UnitRegistry(cache_folder=":auto:")
except OSError:  # no writable cache folder: parse the definitions every time
    ureg = pint.UnitRegistry()
ureg.define("device = [device]")  # not used for conversion; keeps 'device' from being parsed as garbage
Q_ = ureg.Quantity

#: What every quantity argument accepts: "0.5 mg/kg", "40 min", a pint Quantity, or a bare number in the
#: argument's documented unit where that is allowed.
QuantityLike: TypeAlias = str | float | int | pint.Quantity


def to_quantity(value: QuantityLike, field: str, default_unit: str) -> pint.Quantity:
    """``value`` as a pint Quantity; a bare number (or a unitless string) is read in ``default_unit``."""
    if isinstance(value, pint.Quantity):
        return value
    if isinstance(value, bool):
        raise InputError(field, f"expected a number or a quantity in {default_unit}", got=repr(value))
    if isinstance(value, int | float):
        return Q_(float(value), default_unit)
    if isinstance(value, str):
        try:
            q: pint.Quantity | float = Q_(value.strip())  # a Quantity, or a bare number for a unitless string
        except Exception as exc:  # pint raises several unrelated exception types
            raise InputError(field, f"could not read {value!r} as a quantity") from exc
        if not isinstance(q, pint.Quantity):  # a bare number in a string
            return Q_(float(q), default_unit)
        if not list(q.unit_items()):  # "0.5" written as a string: read in the default unit
            return Q_(float(q.magnitude), default_unit)
        return q
    raise InputError(field, f"expected a number or a quantity string in {default_unit}", got=repr(value))


def _unitless(text: str) -> bool:
    q: pint.Quantity | float = Q_(text.strip())
    return not isinstance(q, pint.Quantity) or not list(q.unit_items())


def parse_quantity(
    value: QuantityLike,
    field: str,
    unit: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strictly_positive: bool = False,
    unit_required: bool = False,
) -> float:
    """Return ``value`` as a float in ``unit``, refusing wrong dimensions and out-of-range values.
    ``unit_required``: refuse a bare number (where guessing the unit would silently mislead, e.g. a
    duration of 7 meaning 7 h to one reader and 7 days to another)."""
    shown: QuantityLike  # what error messages quote
    if unit_required and is_number(value):
        raise InputError(field, f"a bare number has no unit; write it with one, e.g. '{value} h' or '{value} d'",
                         got=repr(value))  # fmt: skip
    if is_number(value):
        x, shown = float(value), value  # a bare number is already in ``unit``: no need for pint
    else:
        q = to_quantity(value, field, unit)
        if unit_required and isinstance(value, str) and _unitless(value):  # "7" as a string is as bare as 7
            raise InputError(field, f"a bare number has no unit; write it with one, e.g. '{value.strip()} h' or "
                             f"'{value.strip()} d'", got=repr(value))  # fmt: skip
        shown = value if isinstance(value, str) else f"{q:~P}"
        try:
            x = float(q.to(unit).magnitude)
        except pint.DimensionalityError as exc:
            raise InputError(field, f"expected a quantity convertible to {unit}", got=repr(shown)) from exc
    if x != x or x in (float("inf"), float("-inf")):
        raise InputError(field, "must be a finite number", got=repr(shown))
    rng = _range_text(unit, minimum, maximum, strictly_positive)
    if strictly_positive and x <= 0:
        raise InputError(field, f"must be {rng}", got=repr(shown))
    if minimum is not None and x < minimum:
        raise InputError(field, f"must be {rng}", got=repr(shown))
    if maximum is not None and x > maximum:
        raise InputError(field, f"must be {rng}", got=repr(shown))
    return x


def _range_text(unit: str, lo: float | None, hi: float | None, positive: bool) -> str:
    if lo is not None and hi is not None:
        return f"within {lo:g}-{hi:g} {unit}"
    if lo is not None:
        return f">= {lo:g} {unit}"
    if hi is not None:
        return f"<= {hi:g} {unit}" + (" and > 0" if positive else "")
    return f"> 0 {unit}"


def parse_dose_amount(value: QuantityLike, field: str = "amount") -> tuple[float, bool]:
    """Parse a dose amount: absolute (``"56 mg"``) or per body weight (``"0.5 mg/kg"``).

    Returns ``(magnitude, per_kg)`` with the magnitude in mg or mg/kg.

    >>> parse_dose_amount("0.5 mg/kg")
    (0.5, True)
    >>> parse_dose_amount("56 mg")
    (56.0, False)
    """
    q = to_quantity(value, field, "mg")
    per_kg = _is_per_body_mass(q)
    unit = "mg/kg" if per_kg else "mg"
    try:
        x = parse_quantity(q, field, unit, strictly_positive=True)
    except InputError as exc:
        raise InputError(field, exc.message, got=repr(value)) from None
    return x, per_kg


def _is_per_body_mass(q: pint.Quantity) -> bool:
    """True for mass/mass units such as mg/kg (pint calls them dimensionless)."""
    if not q.dimensionless:
        return False
    exps: list[tuple[Any, Any]] = [(ureg.Quantity(1, name).dimensionality, exp) for name, exp in q.unit_items()]
    has_mass_num = any(d == ureg.Quantity(1, "kg").dimensionality and e > 0 for d, e in exps)
    has_mass_den = any(d == ureg.Quantity(1, "kg").dimensionality and e < 0 for d, e in exps)
    return has_mass_num and has_mass_den


def parse_positive_number(value: object, field: str, maximum: float) -> float:
    """A plain number within (0, maximum] (scores, ratios, percentiles), refused with the field named.

    >>> parse_positive_number(4, "cadss_threshold", 92)
    4.0
    """
    import math

    if not is_number(value):
        raise InputError(field, f"must be a number > 0 and <= {maximum:g}", got=repr(value))
    x = float(value)
    if not (math.isfinite(x) and 0 < x <= maximum):
        raise InputError(field, f"must be > 0 and <= {maximum:g}", got=repr(value))
    return x
