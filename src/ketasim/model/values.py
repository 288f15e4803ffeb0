"""Per-patient parameter arrays: the registry value times each patient's random effect."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from ketasim.parameters import ParameterSet
from ketasim.patients import Patient

__all__ = ["PatientValues", "recording_varied"]

# Set only inside ``recording_varied``: which names the layers read per patient while a model is built.
_VARIED: ContextVar[set[str] | None] = ContextVar("ketasim_varied_parameters", default=None)


@contextmanager
def recording_varied() -> Iterator[set[str]]:
    """Collect the names read through ``PatientValues(...)(name)`` (the ones that can vary per patient)."""
    names: set[str] = set()
    token = _VARIED.set(names)
    try:
        yield names
    finally:
        _VARIED.reset(token)


class PatientValues:
    """``vals("name", "unit")`` -> array of shape (n_patients,).

    Names read this way honour each patient's random effect; ``fixed`` reads structural constants.
    """

    def __init__(self, params: ParameterSet, patients: Sequence[Patient]) -> None:
        self.params = params
        self.patients = patients
        self.n = len(patients)

    def __call__(self, name: str, unit: str | None = None) -> np.ndarray:
        names = _VARIED.get()
        if names is not None:
            names.add(name)
        base = self.params.value(name, unit)
        return np.array([base * pt.factor(name) for pt in self.patients])

    def fixed(self, name: str, unit: str | None = None) -> float:
        """A population value without random effects (structural constants)."""
        return self.params.value(name, unit)

    def attr(self, getter: str) -> np.ndarray:
        return np.array([getattr(pt, getter) for pt in self.patients])
