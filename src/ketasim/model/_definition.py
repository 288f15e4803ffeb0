"""The model written once: each layer's states, constants, named signals and rates, as one definition.

A layer module (``receptor.py``, ``circuit.py``, ...) declares

* ``STATES``: its state variables, ``{name: State(unit, description)}``;
* ``constants(k)``: the per-patient constants its equations read, registered on a :class:`Constants`
  table from the parameter registry (``k.vary``: with each patient's random effect; ``k.fixed``: the
  population value) or derived from them (``k.set``);
* ``initial(k)`` (optional): the state at time 0, per patient (zero where it returns nothing);
* ``equations(eq)``: its equations, written as ordinary arithmetic on the names in ``eq``
  (``eq.c`` constants, ``eq.x`` states, ``eq.s`` signals of earlier layers, ``eq.stress`` the stress
  load and ``eq.noise`` the mood fluctuation, ``eq.m`` the few functions allowed: ``pos``, ``maximum``,
  ``minimum``, ``clip``, ``sqrt``, ``exp``, ``where``). ``eq.define`` names an algebraic signal,
  ``eq.rate`` gives a state's derivative (per hour) and ``eq.output`` a variable of ``Result``.

The same ``equations`` function runs two ways. **Traced** (:func:`trace`), the names are sympy symbols
and the calls record expressions: this :class:`Definition` is what ``_codegen`` turns into the compiled
kernel and the numpy functions, and ``ketasim.interop.sbml`` into SBML. **Evaluated**
(:func:`evaluate`), the names are numpy arrays and the calls compute numbers: a direct check of the
generated code, and the way a layer's helper can reuse its own equations (the synapse layer's steady
state). So equations must use arithmetic and ``eq.m`` only: a Python ``if`` on a value cannot be
traced; structural choices (which items a term touches) are fine.

Compartmental states (the PK amounts) are the one exception: their flows are a per-patient rate
matrix (``pk.build``), so they carry no ``rate``; the definition knows them as ``compartmental``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from ketasim._internal.recording import Recorder
from ketasim.errors import ModelError
from ketasim.parameters import ParameterSet
from ketasim.patients import Patient, factors

__all__ = [
    "EXTERNALS",
    "NOISE",
    "NUMERIC",
    "STRESS",
    "Constants",
    "Definition",
    "Equations",
    "LayerModule",
    "Signal",
    "State",
    "evaluate",
    "recording_varied",
    "trace",
]

#: The external inputs every layer may read, each piecewise constant per patient: the chronic stress
#: load (its steps are the patient's ``stress_load``) and the day-to-day mood fluctuation (a seeded
#: random path, zero for a patient without a ``noise_seed``). Their order is the ``ext`` vector of the
#: generated code.
STRESS = "stress_load"
NOISE = "mood_noise"
EXTERNALS = (STRESS, NOISE)


@dataclass(frozen=True)
class State:
    """A state variable: its unit (pint syntax; time is in hours) and what it is."""

    unit: str
    description: str
    compartmental: bool = False  # a PK amount: flows come from the rate matrix, not from ``rate``


class LayerModule(Protocol):
    """What a layer module provides (see the module doc)."""

    __name__: str
    STATES: Mapping[str, State]

    def constants(self, k: Constants) -> None: ...

    def equations(self, eq: Equations) -> None: ...


# ----------------------------------------------------------------------------------------- constants

_VARIED = Recorder("ketasim_varied_parameters")


def recording_varied() -> AbstractContextManager[set[str]]:
    """Collect the registry names read with ``Constants.vary`` (those that differ between patients)."""
    return _VARIED.recording()


class Constants:
    """The per-patient constants of a batch: ``name -> (n_patients,) array`` with a unit each.

    Layers fill one shared table in causal order, so a later layer may read an earlier one's
    constants (``k["name"]``). Names are the SBML ids of the exported model, so they are unique.
    """

    def __init__(self, params: ParameterSet, patients: Sequence[Patient], switches: Mapping[str, bool]) -> None:
        self.params = params
        self.patients = tuple(patients)
        self.switches = dict(switches)
        self.n = len(self.patients)
        self.values: dict[str, np.ndarray] = {}
        self.units: dict[str, str] = {}
        self.descriptions: dict[str, str] = {}
        self.layer_of: dict[str, str] = {}
        self.layer = ""  # set by the assembler while a layer registers its constants

    def _add(self, name: str, values: Any, unit: str, description: str) -> np.ndarray:
        if name in self.values:
            raise ModelError(f"constant {name!r} is registered twice (layers {self.layer_of[name]}, {self.layer})")
        arr = np.array(values, float)  # a copy: the table owns its arrays
        if arr.shape != (self.n,):
            arr = np.full(self.n, float(arr)) if arr.ndim == 0 else np.broadcast_to(arr, (self.n,)).copy()
        self.values[name] = arr
        self.units[name] = unit
        self.descriptions[name] = description
        self.layer_of[name] = self.layer
        return arr

    def _describe(self, registry_name: str) -> str:
        return self.params[registry_name].description

    def read(self, name: str, unit: str) -> np.ndarray:
        """Registry parameter ``name`` in ``unit`` with each patient's random effect, not registered as
        a constant of the equations (dosing and event amounts)."""
        _VARIED.note(name)
        base = self.params.value(name, unit)
        return base * factors(self.patients, name)

    def vary(self, name: str, unit: str, *, registry: str | None = None) -> np.ndarray:
        """Registry parameter ``registry or name`` in ``unit``, times each patient's random effect."""
        src = registry or name
        return self._add(name, self.read(src, unit), unit, self._describe(src))

    def fixed(self, name: str, unit: str, *, registry: str | None = None) -> np.ndarray:
        """Registry parameter ``registry or name`` in ``unit``, the same for every patient."""
        src = registry or name
        return self._add(name, self.params.value(src, unit), unit, self._describe(src))

    def set(self, name: str, values: Any, unit: str, description: str) -> np.ndarray:
        """A constant derived from others (covariates, steady states, switches)."""
        return self._add(name, values, unit, description)

    def attr(self, getter: str) -> np.ndarray:
        """A patient attribute (e.g. ``weight_kg``) as an array; not itself a constant."""
        return np.array([getattr(p, getter) for p in self.patients], float)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise ModelError(f"unknown constant {name!r} (registered so far: {len(self.values)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self.values

    @property
    def c(self) -> Any:
        """The constants as ``eq.c`` sees them (``k.c.ke0``), for a layer's helpers run on numbers."""
        return _Names("constant", self.__getitem__)


# -------------------------------------------------------------------------------------- math namespaces


class _SymbolicMath:
    """The functions equations may call, building sympy expressions."""

    def __init__(self) -> None:
        import sympy

        self._sp = sympy

    def pos(self, x: Any) -> Any:
        """max(x, 0)."""
        return self._sp.Max(x, 0)

    def maximum(self, a: Any, b: Any) -> Any:
        return self._sp.Max(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return self._sp.Min(a, b)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        return self._sp.Min(self._sp.Max(x, lo), hi)

    def sqrt(self, x: Any) -> Any:
        return self._sp.sqrt(x)

    def exp(self, x: Any) -> Any:
        return self._sp.exp(x)

    def where(self, condition: Any, a: Any, b: Any) -> Any:
        return self._sp.Piecewise((a, condition), (b, True))


class _NumericMath:
    """The same functions on numpy arrays."""

    @staticmethod
    def pos(x: Any) -> Any:
        return np.maximum(x, 0.0)

    @staticmethod
    def maximum(a: Any, b: Any) -> Any:
        return np.maximum(a, b)

    @staticmethod
    def minimum(a: Any, b: Any) -> Any:
        return np.minimum(a, b)

    @staticmethod
    def clip(x: Any, lo: Any, hi: Any) -> Any:
        return np.minimum(np.maximum(x, lo), hi)

    @staticmethod
    def sqrt(x: Any) -> Any:
        return np.sqrt(x)

    @staticmethod
    def exp(x: Any) -> Any:
        return np.exp(x)

    @staticmethod
    def where(condition: Any, a: Any, b: Any) -> Any:
        return np.where(condition, a, b)


NUMERIC = _NumericMath()


class _Names:
    """Attribute and item access to a mapping of names, with an error that names the unknown one."""

    def __init__(self, kind: str, lookup: Callable[[str], Any]) -> None:
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_lookup", lookup)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Any:
        return self._lookup(name)


# ------------------------------------------------------------------------------------------- equations


@dataclass(frozen=True)
class Signal:
    """A named algebraic signal (an SBML assignment rule): ``name = expr`` in ``unit``."""

    name: str
    expr: Any
    unit: str
    description: str
    layer: str


class Equations:
    """What a layer's ``equations`` function writes to (traced or evaluated; see the module doc)."""

    def __init__(self, mode: str, resolve: Callable[[str, str], Any], math: Any, stress: Any, noise: Any) -> None:
        self.mode = mode
        self.m = math
        self.c = _Names("constant", lambda n: resolve("constant", n))
        self.x = _Names("state", lambda n: resolve("state", n))
        self.s = _Names("signal", lambda n: resolve("signal", n))
        self.stress = stress
        self.noise = noise
        self._resolve = resolve
        self.layer = ""
        self.signals: list[Signal] = []
        self.rates: dict[str, Any] = {}
        self.outputs: dict[str, str] = {}  # output name -> display unit
        self.values: dict[str, Any] = {}  # evaluated mode: signal values

    def define(self, name: str, expr: Any, unit: str, description: str = "") -> Any:
        """Name an algebraic signal; returns it for use in later expressions."""
        if name in self.values or any(s.name == name for s in self.signals):
            raise ModelError(f"signal {name!r} is defined twice")
        self.signals.append(Signal(name, expr, unit, description, self.layer))
        if self.mode == "numeric":
            self.values[name] = expr
            return expr
        return self._resolve("new_signal", name)

    def rate(self, state: str, expr: Any) -> None:
        """d state / dt (per hour)."""
        self._resolve("state", state)  # must be declared
        if state in self.rates:
            raise ModelError(f"rate of {state!r} is given twice")
        self.rates[state] = expr

    def output(self, name: str, expr: Any, unit: str, display: str, description: str = "") -> Any:
        """A variable of ``Result`` (``display``: the unit shown to users). A state or signal of the same
        name is simply marked; anything else becomes a signal of that name."""
        if name in self.outputs:
            raise ModelError(f"output {name!r} is declared twice")
        self.outputs[name] = display
        if self.mode == "numeric":
            self.values[name] = expr
            return expr
        if getattr(expr, "name", None) == name:  # a state or signal of this name
            return expr
        return self.define(name, expr, unit, description)


# ------------------------------------------------------------------------------------------ definition


@dataclass(frozen=True)
class Definition:
    """The traced model: everything the back ends are generated from.

    ``states``: name -> State, in state-array order (layer by layer); ``layer_of``: state or constant
    -> layer; ``constants``: name -> unit, in registration order; ``signals``: in definition order;
    ``rates``: state -> expression; ``outputs``: Result variable -> display unit.
    """

    layers: tuple[str, ...]
    states: Mapping[str, State]
    state_layer: Mapping[str, str]
    constants: Mapping[str, str]
    constant_descriptions: Mapping[str, str]
    signals: tuple[Signal, ...]
    rates: Mapping[str, Any]
    outputs: Mapping[str, str]
    modules: tuple[ModuleType, ...] = field(repr=False, compare=False)

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(self.states)

    @property
    def compartmental(self) -> tuple[str, ...]:
        return tuple(n for n, s in self.states.items() if s.compartmental)

    def signal(self, name: str) -> Signal:
        for s in self.signals:
            if s.name == name:
                return s
        raise ModelError(f"unknown signal {name!r}")

    def unit_of(self, name: str) -> str:
        """Unit of a constant, state, signal or the stress load."""
        if name in self.constants:
            return self.constants[name]
        if name in self.states:
            return self.states[name].unit
        if name in EXTERNALS:
            return "1"
        return self.signal(name).unit

    @property
    def key(self) -> str:
        """A hash of everything the generated code depends on (names, order, units, expressions)."""
        import sympy

        h = hashlib.sha256()
        for part in (
            self.layers,
            [(n, s.unit, s.compartmental) for n, s in self.states.items()],
            list(self.constants.items()),
            [(s.name, s.unit, sympy.srepr(s.expr)) for s in self.signals],
            [(n, sympy.srepr(e)) for n, e in self.rates.items()],
            list(self.outputs.items()),
        ):
            h.update(repr(part).encode())
        return h.hexdigest()[:20]


def trace(modules: Sequence[ModuleType], params: ParameterSet) -> Definition:
    """Trace the layers' equations with symbols (constants are registered for one typical patient,
    only to learn their names and units)."""
    import sympy

    k = Constants(params, [Patient()], _DEFAULT_SWITCHES)
    states: dict[str, State] = {}
    state_layer: dict[str, str] = {}
    for mod in modules:
        layer = _layer_name(mod)
        k.layer = layer
        mod.constants(k)
        for name, st in mod.STATES.items():
            if name in states:
                raise ModelError(f"state {name!r} is declared twice")
            states[name] = st
            state_layer[name] = layer
    symbols: dict[str, Any] = {}

    def resolve(kind: str, name: str) -> Any:
        if kind == "constant" and name not in k.values:
            raise ModelError(f"equations read constant {name!r}, which no layer registers")
        if kind == "state" and name not in states:
            raise ModelError(f"equations read state {name!r}, which no layer declares")
        if kind == "signal" and name not in signal_names:
            if name in states:  # a state of an earlier layer, read as a signal
                kind = "state"
            else:
                raise ModelError(f"equations read signal {name!r} before (or without) its definition")
        if kind == "new_signal":
            signal_names.add(name)
        if name not in symbols:
            symbols[name] = sympy.Symbol(name)
        return symbols[name]

    signal_names: set[str] = set()
    eq = Equations("symbolic", resolve, _SymbolicMath(), sympy.Symbol(STRESS), sympy.Symbol(NOISE))
    for mod in modules:
        eq.layer = _layer_name(mod)
        mod.equations(eq)
    clash = (set(k.values) & set(states)) | ((set(k.values) | set(states)) & signal_names)
    if clash:
        raise ModelError(f"names used for more than one of constant/state/signal: {sorted(clash)}")
    missing = [n for n, s in states.items() if not s.compartmental and n not in eq.rates]
    if missing:
        raise ModelError(f"states without a rate: {missing}")
    return Definition(
        layers=tuple(_layer_name(m) for m in modules),
        states=states,
        state_layer=state_layer,
        constants=dict(k.units),
        constant_descriptions=dict(k.descriptions),
        signals=tuple(eq.signals),
        rates={n: eq.rates[n] for n in states if n in eq.rates},
        outputs=dict(eq.outputs),
        modules=tuple(modules),
    )


def evaluate(
    modules: Sequence[ModuleType],
    constants: Mapping[str, np.ndarray],
    states: Mapping[str, np.ndarray],
    stress: np.ndarray,
    noise: np.ndarray | float = 0.0,
) -> Equations:
    """Run the layers' equations on numbers: ``constants`` (P,), ``states`` (..., P) arrays. Returns the
    filled :class:`Equations` (``values`` holds every signal, ``rates`` every derivative)."""

    def resolve(kind: str, name: str) -> Any:
        if kind == "constant":
            return constants[name]
        if kind == "state":
            return states[name]
        if kind == "signal":
            return eq.values[name] if name in eq.values else states[name]
        raise ModelError(f"cannot resolve {kind} {name!r}")  # pragma: no cover - define() handles new signals

    eq = Equations("numeric", resolve, NUMERIC, stress, noise)
    for mod in modules:
        eq.layer = _layer_name(mod)
        mod.equations(eq)
    return eq


def _layer_name(mod: ModuleType) -> str:
    return mod.__name__.rsplit(".", 1)[-1]


#: Mechanism switches as constants (1 = on); ``Hypotheses`` sets them per model.
_DEFAULT_SWITCHES = {"disinhibition": True, "rest_block": True, "ssri_trkb": False, "reconsolidation": False}
