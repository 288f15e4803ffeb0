"""How well the model matches the literature: validation, calibration with provenance, Sobol sensitivity.

``validation``, ``calibration`` and ``sensitivity`` are imported on use (SALib and scipy.optimize are slow
to load).
"""

__all__: list[str] = []
