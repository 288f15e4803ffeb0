"""The named, cited protocol library (``protocols.toml``).

>>> [n for n in sorted(names()) if n.startswith("esketamine")]
['esketamine-56mg-single', 'esketamine-84mg-single']
>>> len(get("murrough-2013-six-infusions"))
6
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from ketasim.dosing._dose import Dose, Regimen, Session
from ketasim.errors import InputError

__all__ = ["get", "names", "table"]


@cache
def _library() -> dict[str, dict[str, Any]]:
    text = resources.files("ketasim.dosing").joinpath("protocols.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def names() -> list[str]:
    return list(_library())


def get(name: str) -> Regimen:
    """The regimen of protocol ``name``; unknown names list the known ones."""
    lib = _library()
    if not isinstance(name, str):
        raise InputError("protocol", f"must be a protocol name (a string); known: {', '.join(lib)}",
                         got=type(name).__name__)  # fmt: skip
    if name not in lib:
        raise InputError("protocol", f"unknown protocol; known: {', '.join(lib)}", got=repr(name))
    entry = lib[name]
    items: list[Dose | Session] = []
    for times_key, doses_key in (("at", "dose"), ("then_at", "then_dose")):
        for t in entry.get(times_key, []):
            items.extend(Dose(at=t, **spec) for spec in entry.get(doses_key, []))
    for t in entry.get("at", []):  # non-drug sessions (a probe drink, a control) at the same times
        items.extend(Session(at=t, **spec) for spec in entry.get("session", []))
    return Regimen(items, name=name, source=entry["source"], description=entry["title"])


def table() -> list[dict[str, str]]:
    """One row per protocol: name, title, number of doses and source."""
    return [
        {"name": n, "title": e["title"], "doses": str(len(get(n))), "source": e["source"]}
        for n, e in _library().items()
    ]
