"""Published results in a scenario's ``[reference]`` table: a small schema, checked when the scenario loads.

::

    [reference]
    source = "Murrough JW et al. 2013, Am J Psychiatry 170:1134"   # text (source, notes): kept, not drawn
    madrs_change_24h = { ketamine = -16.5, midazolam = -8.8 }      # per arm: ARM = VALUE
    response_24h = { ketamine = { value = 0.64, n = 47 }, midazolam = { value = 0.28, n = 25 } }
    madrs_change_difference_28d = -4.0                             # a bare number: a whole-trial value

A VALUE is a number, or a table ``{ value = x, se = s }``, ``{ value = x, ci = [lo, hi] }``,
``{ value = x, n = N }`` or ``{ value = x, sd = SD, n = N }``. Its 95% interval: ``ci`` as given, else
``value +- 1.96 se``, else ``se = sd / sqrt(n)``, else, for a rate (``response_``, ``remission_``,
``sbp_rise_``; a fraction 0-1) with only ``n``, the Wilson interval of ``value`` in ``n``; otherwise none.
Per-arm tables must name arms of the scenario. The trial figure draws ``madrs_change_<visit>`` on the
MADRS panel (at the model arm's mean baseline plus the change) and ``response_<visit>`` /
``remission_<visit>`` on the rates panel, each with its interval.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ketasim._internal.checks import is_number
from ketasim.errors import InputError

__all__ = ["ReferenceValue", "parse_reference", "wilson_interval"]

_RATES = ("response_", "remission_", "sbp_rise_")
_KEYS = ("value", "se", "ci", "n", "sd")
_VISIT = re.compile(r"_(\d+(?:\.\d+)?)(h|d)$")
Z95 = 1.959964


@dataclass(frozen=True)
class ReferenceValue:
    """One published value: ``endpoint`` (e.g. ``response_24h``) of ``arm`` (None: the whole trial), with
    its 95% interval ``lower``-``upper`` (NaN where none was given) and ``interval`` saying how it was
    obtained (``"95% CI"``, ``"+-1.96 SE"``, ``"Wilson 95% CI from n"`` or ``""``)."""

    endpoint: str
    arm: str | None
    value: float
    lower: float = math.nan
    upper: float = math.nan
    interval: str = ""

    @property
    def visit_h(self) -> float | None:
        """The visit time in hours from the endpoint's suffix (``_24h`` -> 24, ``_7d`` -> 168), if any."""
        m = _VISIT.search(self.endpoint)
        return None if m is None else float(m.group(1)) * (24.0 if m.group(2) == "d" else 1.0)

    @property
    def is_rate(self) -> bool:
        return self.endpoint.startswith(_RATES)


def wilson_interval(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``p`` observed in ``n``."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def parse_reference(table: Mapping[str, Any], arms: Iterable[str]) -> list[ReferenceValue]:
    """Every value of a ``[reference]`` table (see the module doc); text entries are skipped. A malformed
    entry raises ``InputError`` naming it, e.g. ``reference.response_24h.ketamine.ci``."""
    known = list(arms)
    out: list[ReferenceValue] = []
    for key, entry in table.items():
        where = f"reference.{key}"
        if isinstance(entry, str):
            continue
        if isinstance(entry, Mapping) and "value" not in entry:
            for arm, value in entry.items():
                if arm not in known:
                    raise InputError(f"{where}.{arm}", f"unknown arm; arms are {', '.join(known)}")
                out.append(_value(f"{where}.{arm}", key, str(arm), value))
        else:
            out.append(_value(where, key, None, entry))
    return out


def _value(where: str, endpoint: str, arm: str | None, entry: Any) -> ReferenceValue:
    spec = entry if isinstance(entry, Mapping) else {"value": entry}
    for k in spec:
        if k not in _KEYS:
            raise InputError(f"{where}.{k}", f"unknown key; a value is a number or a table of {', '.join(_KEYS)}")
    value = _number(f"{where}.value" if isinstance(entry, Mapping) else where, spec.get("value"))
    rate = endpoint.startswith(_RATES)
    if rate and not 0 <= value <= 1:
        raise InputError(where, "a rate is a fraction within 0-1", got=value)
    if "ci" in spec:
        ci = spec["ci"]
        if not (isinstance(ci, list | tuple) and len(ci) == 2 and all(is_number(x) for x in ci) and ci[0] <= ci[1]):
            raise InputError(f"{where}.ci", "must be [lower, upper] with lower <= upper", got=repr(ci))
        return ReferenceValue(endpoint, arm, value, float(ci[0]), float(ci[1]), "95% CI")
    n = None
    if "n" in spec:
        n = _number(f"{where}.n", spec["n"])
        if n < 1:
            raise InputError(f"{where}.n", "must be >= 1", got=n)
    se = None
    if "se" in spec:
        se = _number(f"{where}.se", spec["se"])
    elif "sd" in spec:
        if n is None:
            raise InputError(f"{where}.sd", "an SD needs the n it comes from (n = ...)")
        se = _number(f"{where}.sd", spec["sd"]) / math.sqrt(n)
    if se is not None:
        if se < 0:
            raise InputError(where, "a standard error (or SD) must be >= 0", got=se)
        return ReferenceValue(endpoint, arm, value, value - Z95 * se, value + Z95 * se, "±1.96 SE")
    if rate and n is not None:
        lo, hi = wilson_interval(value, n)
        return ReferenceValue(endpoint, arm, value, lo, hi, f"Wilson 95% CI, n = {n:g}")
    return ReferenceValue(endpoint, arm, value)


def _number(where: str, x: Any) -> float:
    if not is_number(x) or not math.isfinite(x):
        raise InputError(where, "must be a number", got=repr(x))
    return float(x)
