"""ketasim: a mechanistic, population-scale simulator of how ketamine relieves depression.

dose -> plasma -> NMDA block -> glutamate pulse -> BDNF/TrkB -> mTORC1 -> synaptic proteins ->
synapse regrowth -> MADRS, with dissociation (CADSS) and blood pressure as side effects.
Research and teaching software: not a clinical dosing tool.

>>> import ketasim as ks
>>> res = ks.simulate(ks.protocols.get("zarate-2006-iv"), patient=ks.Patient(weight="70 kg"), duration="1 d")
>>> sorted(res.summary())[:3]
['auc_ng_h_ml', 'cadss_peak', 'cmax_arterial_ng_ml']

The wings live in sub-packages (``ketasim.clinical``, ``ketasim.trials``, ``ketasim.analysis``,
``ketasim.interop``); this module exports the names a user needs first.
"""

from __future__ import annotations

import contextlib
import importlib

from ketasim._internal.meta import VERSION as __version__
from ketasim.dosing import Dose, Drug, Regimen, Route, Session, protocols
from ketasim.engine import SolverOptions
from ketasim.errors import InputError, KetasimError, ParameterError
from ketasim.model import Hypotheses
from ketasim.parameters import ParameterSet, default_parameters, load_parameter_set
from ketasim.patients import Patient
from ketasim.simulation import Comparison, Result, compare, simulate

__all__ = [
    "Comparison",
    "Dose",
    "Drug",
    "Endpoints",
    "Hypotheses",
    "InputError",
    "KetasimError",
    "ParameterError",
    "ParameterSet",
    "Patient",
    "Population",
    "Regimen",
    "Result",
    "Route",
    "Session",
    "SolverOptions",
    "Trial",
    "TrialResult",
    "__version__",
    "compare",
    "default_parameters",
    "load_parameter_set",
    "protocols",
    "simulate",
]

#: Exported names whose modules load on first use (statsmodels, the trial machinery), keeping start-up fast.
_LAZY = {
    "Population": "ketasim.patients",
    "Trial": "ketasim.trials",
    "Endpoints": "ketasim.trials",
    "TrialResult": "ketasim.trials",
}


def _publish(obj: object) -> object:
    """Report the public name's home as ``ketasim`` (reprs, docs and pickles name ``ketasim.X``)."""
    if isinstance(obj, type) or callable(obj):
        with contextlib.suppress(AttributeError, TypeError):  # some builtins refuse; their home stays
            obj.__module__ = "ketasim"
    return obj


for _name in __all__:
    if _name not in _LAZY and not _name.startswith("_") and _name != "protocols":
        _publish(globals()[_name])


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = _publish(getattr(importlib.import_module(_LAZY[name]), name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ketasim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
