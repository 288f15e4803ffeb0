"""The model, one module per layer in causal order, and their assembly into one ODE system.

pk -> receptor -> circuit -> signaling -> synapse -> symptoms; a layer imports only those before it.
"""

from ketasim.model.assemble import STATE_LAYERS, STATE_NAMES, Hypotheses, Model, assemble, varied_parameters

__all__ = ["STATE_LAYERS", "STATE_NAMES", "Hypotheses", "Model", "assemble", "varied_parameters"]
