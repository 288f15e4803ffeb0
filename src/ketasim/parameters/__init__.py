"""Cited model parameters: one TOML file per layer plus a shared bibliography."""

from ketasim.parameters._registry import (
    PARAMETER_LAYERS,
    Citation,
    Parameter,
    ParameterSet,
    default_parameters,
    load_parameter_set,
)

__all__ = ["PARAMETER_LAYERS", "Citation", "Parameter", "ParameterSet", "default_parameters", "load_parameter_set"]
