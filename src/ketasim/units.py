"""The package's single pint registry and the parsers every user-facing quantity goes through.

Internally ketasim works in hours, litres, micromoles, kilograms and milligrams; users may write any
compatible unit as a string (``"40 min"``, ``"0.5 mg/kg"``, ``"70 kg"``) or pass a bare number, which is
read in the field's default unit.

A quantity string is read with a strict grammar before pint sees it: an optional sign, ONE decimal
number (``5``, ``0.5``, ``.5``, ``2e-3``), optional spaces, then at most ONE unit expression made of
unit names joined by ``/`` or ``*``, each with an optional small whole exponent (``^2``, ``**-1``):
``"0.5 mg/kg"``, ``"0.4 mg/kg/h"``, ``"150ng/mL"``, ``"7d"``, ``"1.5 m^2"``. Anything else (a decimal
comma, two numbers, a unit without a number, an expression) is refused; pint alone would read
``"5,0 mg"`` as 50 mg and ``"5 mg 3"`` as 15 mg.

>>> parse_quantity("40 min", "duration", "h")
0.6666666666666666
>>> parse_quantity("5 m", "amount", "mg")
Traceback (most recent call last):
...
ketasim.InputError: amount: expected a quantity convertible to mg (got '5 m')
>>> parse_quantity("5,0 mg", "amount", "mg")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ketasim.InputError: amount: use a decimal point, not a comma: write one number and one unit, e.g. '35 mg' ...
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeAlias

import pint

from ketasim._internal.checks import is_number
from ketasim.errors import InputError

__all__ = ["Q_", "TIME_RESOLUTION_H", "QuantityLike", "parse_dose_amount", "parse_positive_number", "parse_quantity",
           "to_quantity", "ureg"]  # fmt: skip

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

#: The time resolution of dosing: 1 ms. Dosing events (doses, infusion starts and ends, session starts,
#: stress steps) closer together than this are given at the same instant, and an infusion shorter than
#: this is given whole as a bolus, so that every dose is delivered exactly (see ``ketasim.engine``).
TIME_RESOLUTION_H = 1.0 / 3_600_000

_MAX_TEXT = 100  # longer quantity strings are refused before anything reads them
_NUMBER = r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?|nan))"
_NAME = r"(?:%|[A-Za-zµμ]+(?:_[A-Za-z]+)*)"
_FACTOR = rf"{_NAME}(?:\s*(?:\^|\*\*)\s*[+-]?\d)?"
_UNIT = rf"{_FACTOR}(?:\s*[/*]\s*{_FACTOR})*"
_QUANTITY = re.compile(rf"\s*(?P<number>{_NUMBER})\s*(?P<unit>{_UNIT})?\s*")
_NAMES = re.compile(_NAME)

#: A right form per default unit, quoted when a string is refused.
_EXAMPLES = {
    "h": "'40 min', '2.5 h' or '7 d'",
    "min": "'40 min' or '1.5 h'",
    "mg": "'35 mg' or '0.5 mg/kg'",
    "kg": "'70 kg' or '154 lb'",
    "year": "'45 year'",
    "mg/h": "'20 mg/h' or '0.4 mg/kg/h'",
    "ng/mL": "'150 ng/mL' or '0.15 ug/mL'",
    "mmHg": "'40 mmHg'",
}


def _example(unit: str) -> str:
    return _EXAMPLES.get(unit, f"'2.5 {unit}'")


def _refuse(field: str, text: str, unit: str, why: str = "") -> InputError:
    lead = f"{why}: " if why else ""
    return InputError(field, f"{lead}write one number and one unit, e.g. {_example(unit)}", got=repr(text))


def _read_text(text: str, field: str, default_unit: str) -> pint.Quantity | float:
    """A quantity string by the strict grammar (see the module doc): a Quantity, or a float for a
    string that holds a number alone."""
    if len(text) > _MAX_TEXT:
        raise InputError(field, f"a quantity is at most {_MAX_TEXT} characters, e.g. {_example(default_unit)}",
                         got=repr(text[:40] + "..."))  # fmt: skip
    m = _QUANTITY.fullmatch(text)
    if m is None:
        if re.search(r"\d,\d", text):
            raise _refuse(field, text, default_unit, "use a decimal point, not a comma")
        if not text.strip():
            raise _refuse(field, text, default_unit, "empty")
        if not re.match(rf"\s*{_NUMBER}", text):
            raise _refuse(field, text, default_unit, "no number")
        raise _refuse(field, text, default_unit, "not a quantity")
    number = float(m["number"])  # the grammar admits only what float() reads; inf and nan are refused later
    if m["unit"] is None:
        return number
    unit = re.sub(r"\s+", "", m["unit"])
    for name in _NAMES.findall(unit):
        if name not in ureg:
            raise _refuse(field, text, default_unit, f"unknown unit {name!r}")
    try:
        units = ureg.parse_units(unit.replace("^", "**"))
    except Exception:  # pint raises several unrelated exception types
        raise _refuse(field, text, default_unit, f"unknown unit {unit!r}") from None
    return Q_(number, units)


def to_quantity(value: QuantityLike, field: str, default_unit: str) -> pint.Quantity:
    """``value`` as a pint Quantity; a bare number (or a unitless string) is read in ``default_unit``."""
    if isinstance(value, pint.Quantity):
        return _own_quantity(value, field, default_unit)
    if is_number(value):
        return Q_(_real(value, field, _type_shown(value)), default_unit)
    if isinstance(value, str):
        q = _read_text(value, field, default_unit)
        if not isinstance(q, pint.Quantity):  # a bare number in a string
            return Q_(q, default_unit)
        return q
    raise InputError(field, f"expected a number or a quantity string such as {_example(default_unit)}",
                     got=_type_shown(value))  # fmt: skip


def _type_shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{type(value).__name__} {text[:40]}..."


def _real(value: Any, field: str, shown: str) -> float:
    """``value`` as a float (-0.0 read as 0.0); a number too large for a float is refused."""
    try:
        return float(value) + 0.0
    except (OverflowError, TypeError, ValueError):
        raise InputError(field, "must be a finite number", got=shown) from None


def _own_quantity(q: pint.Quantity, field: str, default_unit: str) -> pint.Quantity:
    """A pint Quantity with a real scalar magnitude, on ketasim's registry."""
    if not is_number(q.magnitude):
        raise InputError(field, f"a quantity must hold one real number, e.g. {_example(default_unit)}",
                         got=_type_shown(q))  # fmt: skip
    if q._REGISTRY is ureg:
        return q
    try:  # a Quantity of another registry: its units by name in ours
        return Q_(q.magnitude, ureg.parse_units(str(q.units)))
    except Exception:  # pint raises several unrelated exception types
        raise InputError(field, f"units unknown to ketasim, e.g. {_example(default_unit)}", got=str(q)) from None


def _unitless(value: object) -> bool:
    """A string holding a number alone (or with a unit that cancels out, such as "3 mg/mg")."""
    if not isinstance(value, str):
        return False
    q = _read_text(value, "value", "h")
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
        x, shown = _real(value, field, _type_shown(value)), value  # a bare number is already in ``unit``: no pint
    else:
        q = to_quantity(value, field, unit)
        if unit_required and _unitless(value):  # "7" as a string is as bare as 7
            assert isinstance(value, str)
            raise InputError(field, f"a bare number has no unit; write it with one, e.g. '{value.strip()} h' or "
                             f"'{value.strip()} d'", got=repr(value))  # fmt: skip
        shown = value if isinstance(value, str) else f"{q:~P}"
        try:
            x = _real(q.to(unit).magnitude, field, repr(shown))
        except pint.DimensionalityError as exc:
            raise InputError(field, f"expected a quantity convertible to {unit}", got=repr(shown)) from exc
    if not math.isfinite(x):
        raise InputError(field, "must be a finite number", got=_type_shown(shown))
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
    if not is_number(value):
        raise InputError(field, f"must be a number > 0 and <= {maximum:g}", got=repr(value))
    x = _real(value, field, repr(value))
    if not (math.isfinite(x) and 0 < x <= maximum):
        raise InputError(field, f"must be > 0 and <= {maximum:g}", got=repr(value))
    return x
