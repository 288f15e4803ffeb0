"""Per-patient parameter arrays: the registry value times each patient's random effect."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ketasim.parameters import ParameterSet
from ketasim.patient import Patient

__all__ = ["PatientValues"]


class PatientValues:
    """``vals("name", "unit")`` -> array of shape (n_patients,).

    Names read this way honour each patient's random effect; they are recorded in ``VARIED`` so that
    sampling tools (population variability, sensitivity analysis) know which parameters can vary.
    """

    VARIED: set[str] = set()  # noqa: RUF012 - a process-wide record, filled as layers are built

    def __init__(self, params: ParameterSet, patients: Sequence[Patient]) -> None:
        self.params = params
        self.patients = patients
        self.n = len(patients)

    def __call__(self, name: str, unit: str | None = None) -> np.ndarray:
        PatientValues.VARIED.add(name)
        base = self.params.value(name, unit)
        return np.array([base * pt.factor(name) for pt in self.patients])

    def fixed(self, name: str, unit: str | None = None) -> float:
        """A population value without random effects (structural constants)."""
        return self.params.value(name, unit)

    def attr(self, getter: str) -> np.ndarray:
        return np.array([getattr(pt, getter) for pt in self.patients])
