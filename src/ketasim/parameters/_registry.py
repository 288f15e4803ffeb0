"""Load, validate and look up the cited parameter files shipped in this folder.

Every parameter carries a value, a unit pint understands, its layer and either a ``source`` (a key of
``sources.toml``) or an ``assumption`` (one line of reasoning). The loader refuses anything else.

>>> p = default_parameters()
>>> round(p.value("r_v1", "mL"))
133000
>>> p.citation("r_v1").short()
'Fanta S, Kinnunen M, Backman JT, Kalso E 2015, Eur J Clin Pharmacol 71(4):441-447'
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from ketasim.errors import ParameterError
from ketasim.units import ureg

__all__ = ["Citation", "Parameter", "ParameterSet", "default_parameters", "load_parameter_set"]

#: The layers a parameter file may declare (the model layers plus the population layer).
PARAMETER_LAYERS = ("pk", "receptor", "circuit", "signaling", "synapse", "symptoms", "population")


class Citation(BaseModel):
    """One bibliography entry of ``sources.toml``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    key: str
    authors: str
    year: int
    journal: str
    title: str | None = None
    doi: str | None = None
    via: str | None = None

    def short(self) -> str:
        return f"{self.authors} {self.year}, {self.journal}"


class Parameter(BaseModel):
    """A single model constant with its unit and provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    value: float
    unit: str
    layer: str
    description: str
    source: str | None = None
    assumption: str | None = None
    iiv_cv: float | None = None
    calibration: str | None = None  # set by `ketasim calibrate`: what the value was fitted to
    lower: float | None = None
    upper: float | None = None

    @field_validator("unit")
    @classmethod
    def _unit_parses(cls, unit: str) -> str:
        if not unit.strip():
            raise ValueError("unit is empty (write '1' for a dimensionless number)")
        try:
            ureg.Quantity(1.0, unit)
        except Exception as exc:
            raise ValueError(f"unit {unit!r} is not understood by pint") from exc
        return unit

    @field_validator("layer")
    @classmethod
    def _known_layer(cls, layer: str) -> str:
        if layer not in PARAMETER_LAYERS:
            raise ValueError(f"layer must be one of {', '.join(PARAMETER_LAYERS)}")
        return layer

    @model_validator(mode="after")
    def _has_provenance(self) -> Parameter:
        if bool(self.source) == bool(self.assumption):
            raise ValueError("give exactly one of 'source' (a sources.toml key) or 'assumption'")
        if self.iiv_cv is not None and not 0 <= self.iiv_cv < 5:
            raise ValueError("iiv_cv must be within 0-5")
        return self

    @property
    def provenance(self) -> str:
        return self.source if self.source else f"assumption: {self.assumption}"


class ParameterSet(Mapping[str, Parameter]):
    """An immutable, validated collection of parameters with their bibliography."""

    def __init__(self, params: Mapping[str, Parameter], sources: Mapping[str, Citation]) -> None:
        for p in params.values():
            if p.source and p.source not in sources:
                raise ParameterError(f"{p.name}: source {p.source!r} is not a key of sources.toml")
        self._params = dict(params)
        self._sources = dict(sources)
        self._cache: dict[tuple[str, str | None], float] = {}
        self._iiv: tuple[tuple[str, float], ...] | None = None

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self._params[name]
        except KeyError:
            raise ParameterError(f"unknown parameter {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def value(self, name: str, unit: str | None = None) -> float:
        """The value of ``name`` converted to ``unit`` (the file's own unit if None)."""
        key = (name, unit)
        if key not in self._cache:
            p = self[name]
            if unit is None:
                self._cache[key] = p.value
            else:
                self._cache[key] = float(ureg.Quantity(p.value, p.unit).to(unit).magnitude)
        return self._cache[key]

    def iiv(self) -> tuple[tuple[str, float], ...]:
        """(name, coefficient of variation) of every parameter with a published between-patient
        variability, in the set's order (computed once: each drawn patient reads it)."""
        if self._iiv is None:
            self._iiv = tuple((p.name, p.iiv_cv) for p in self._params.values() if p.iiv_cv)
        return self._iiv

    def citation(self, name: str) -> Citation | None:
        p = self[name]
        return self._sources[p.source] if p.source else None

    @property
    def sources(self) -> Mapping[str, Citation]:
        return dict(self._sources)

    def replace(self, **values: float) -> ParameterSet:
        """A copy with new values for some parameters (units and provenance unchanged)."""
        new = dict(self._params)
        for name, v in values.items():
            new[name] = self[name].model_copy(update={"value": float(v)})
        return ParameterSet(new, self._sources)

    def with_parameters(self, extra: Iterable[Parameter | Mapping[str, Any]]) -> ParameterSet:
        """A copy with more parameters, each validated like a row of a parameter file (e.g. for a layer
        of your own). A name that is already in the set is refused: use ``replace`` to change a value."""
        new = dict(self._params)
        for row in extra:
            try:
                p = row if isinstance(row, Parameter) else Parameter.model_validate(dict(row))
            except ValidationError as exc:
                raise ParameterError(f"new parameter: {_first_error(exc)}") from None
            if p.name in new:
                raise ParameterError(f"parameter {p.name!r} exists already; use replace() to change its value")
            new[p.name] = p
        return ParameterSet(new, self._sources)

    def layer(self, layer: str) -> list[Parameter]:
        return [p for p in self._params.values() if p.layer == layer]

    def digest(self) -> str:
        """A short hash of every name, value and unit: the provenance stamp of a run."""
        blob = json.dumps(sorted((p.name, p.value, p.unit) for p in self._params.values()), separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def rows(self, layer: str | None = None) -> list[dict[str, Any]]:
        """Plain rows for tables and JSON."""
        out = []
        for p in self._params.values():
            if layer and p.layer != layer:
                continue
            cit = self.citation(p.name)
            out.append(
                {
                    "name": p.name,
                    "value": p.value,
                    "unit": p.unit,
                    "layer": p.layer,
                    "description": p.description,
                    "source": cit.short() if cit else None,
                    "source_key": p.source,
                    "assumption": p.assumption,
                    "calibration": p.calibration,
                    "iiv_cv": p.iiv_cv,
                }
            )
        return out


def _read_toml(path: Path | Traversable) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ParameterError(f"{path.name}: not valid TOML text ({exc})") from None
    except RecursionError:
        raise ParameterError(f"{path.name}: nested too deeply to be a parameter file") from None


def load_parameter_set(directory: Path | None = None) -> ParameterSet:
    """Read ``sources.toml`` and every other ``*.toml`` of ``directory`` (default: the shipped set)."""
    root: Path | Traversable = Path(directory) if directory else resources.files("ketasim.parameters")
    files = sorted((f for f in root.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    src_file = next((f for f in files if f.name == "sources.toml"), None)
    if src_file is None:
        raise ParameterError(f"{root}: no sources.toml bibliography")
    sources: dict[str, Citation] = {}
    for key, entry in _read_toml(src_file).items():
        try:
            sources[key] = Citation(key=key, **entry)
        except ValidationError as exc:
            raise ParameterError(f"sources.toml [{key}]: {_first_error(exc)}") from None
    params: dict[str, Parameter] = {}
    for f in files:
        if f.name == "sources.toml":
            continue
        data = _read_toml(f)
        layer = data.get("layer")
        for name, entry in data.items():
            if not isinstance(entry, dict):
                continue
            if name in params:
                raise ParameterError(f"{f.name} [{name}]: defined twice")
            try:
                params[name] = Parameter(name=name, layer=entry.pop("layer", layer), **entry)
            except ValidationError as exc:
                raise ParameterError(f"{f.name} [{name}]: {_first_error(exc)}") from None
    return ParameterSet(params, sources)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "entry"
    return f"{loc}: {err['msg']}"


@cache
def default_parameters() -> ParameterSet:
    """The parameter set shipped with the package (loaded once per process)."""
    return load_parameter_set()
