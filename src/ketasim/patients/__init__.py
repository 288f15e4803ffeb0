"""Who is treated: one virtual patient's covariates and modifiers, and populations sampled from a cohort."""

from ketasim.patients.patient import (
    ANCESTRIES,
    BIOTYPES,
    COMEDICATIONS,
    CYP2B6_GENOTYPES,
    ITEMS,
    Patient,
    factors,
    recording_factors,
)
from ketasim.patients.population import (
    COHORTS,
    NETWORK_VARIABILITY,
    PD_VARIABILITY,
    SWALLOWED_ABSORPTION,
    TRAUMA_VARIABILITY,
    Population,
)

__all__ = [
    "ANCESTRIES", "BIOTYPES", "COHORTS", "COMEDICATIONS", "CYP2B6_GENOTYPES", "ITEMS", "NETWORK_VARIABILITY",
    "PD_VARIABILITY", "SWALLOWED_ABSORPTION", "TRAUMA_VARIABILITY", "Patient", "Population", "factors",
    "recording_factors",
]  # fmt: skip
