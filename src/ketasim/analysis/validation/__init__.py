"""Validation against published data: reference rows, predicted beside observed, tolerances."""

from ketasim.analysis.validation._validate import (
    Row,
    markdown_table,
    observed_se,
    predict_study,
    reference_studies,
    rows_frame,
    study_endpoints,
    study_regimens,
    update_readme,
    validate,
)
from ketasim.analysis.validation.plot import plot_validation

__all__ = [
    "Row",
    "markdown_table",
    "observed_se",
    "plot_validation",
    "predict_study",
    "reference_studies",
    "rows_frame",
    "study_endpoints",
    "study_regimens",
    "update_readme",
    "validate",
]
