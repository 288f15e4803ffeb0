"""The model, one module per layer in causal order, and their assembly into one ODE system.

pk -> receptor -> interventions -> circuit -> signaling -> synapse -> symptoms -> trauma; a layer imports only
``_definition`` (how equations are written) and never another layer. Each equation is written once,
in its layer; ``_codegen`` generates the numpy and compiled code from the traced definition, and
``ketasim.interop.sbml`` the SBML document.
"""

from ketasim.model._definition import EXTERNALS, NOISE, STRESS, Constants, Definition, Equations, Signal, State
from ketasim.model._dimensions import DIMENSIONLESS, Dim, check, dim, unit
from ketasim.model.assemble import (
    ITEM_OUTPUTS,
    LAYERS,
    SLICES,
    STATE_LAYERS,
    STATE_NAMES,
    Hypotheses,
    Model,
    assemble,
    definition,
    output_units,
    random_effect_names,
    varied_parameters,
)

__all__ = [
    "DIMENSIONLESS",
    "EXTERNALS",
    "ITEM_OUTPUTS",
    "LAYERS",
    "NOISE",
    "SLICES",
    "STATE_LAYERS",
    "STATE_NAMES",
    "STRESS",
    "Constants",
    "Definition",
    "Dim",
    "Equations",
    "Hypotheses",
    "Model",
    "Signal",
    "State",
    "assemble",
    "check",
    "definition",
    "dim",
    "output_units",
    "random_effect_names",
    "unit",
    "varied_parameters",
]
