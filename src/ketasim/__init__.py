"""ketasim: a mechanistic, population-scale simulator of how ketamine relieves depression.

dose -> plasma -> NMDA block -> glutamate pulse -> BDNF/TrkB -> mTORC1 -> synaptic proteins ->
synapse regrowth -> MADRS, with dissociation (CADSS) and blood pressure as side effects.
Research and teaching software: not a clinical dosing tool.

>>> import ketasim as ks
>>> res = ks.simulate(ks.protocols.get("zarate-2006-iv"), patient=ks.Patient(weight="70 kg"), duration="1 d")
>>> sorted(res.summary())[:3]
['auc_ng_h_ml', 'cadss_peak', 'cmax_ng_ml']
"""

from importlib.metadata import PackageNotFoundError, version

from ketasim.dosing import Dose, Drug, Regimen, Route, Session, protocols
from ketasim.engine import SolverOptions
from ketasim.errors import InputError, KetasimError, ParameterError
from ketasim.model import Hypotheses
from ketasim.parameters import ParameterSet, default_parameters, load_parameter_set
from ketasim.patient import Patient
from ketasim.result import Result
from ketasim.simulation import simulate

try:
    __version__ = version("ketasim")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = [
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
    "default_parameters",
    "load_parameter_set",
    "protocols",
    "simulate",
]


_LAZY = {
    "Population": "ketasim.population",
    "Trial": "ketasim.trial",
    "Endpoints": "ketasim.trial",
    "TrialResult": "ketasim.trial",
}


def __getattr__(name: str) -> object:
    """Population and trial machinery (pandas, statsmodels) load on first use, keeping start-up fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ketasim' has no attribute {name!r}")
