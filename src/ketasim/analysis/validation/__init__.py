"""Validation against published data: reference rows, predicted beside observed, tolerances."""

from ketasim.analysis.validation._validate import (
    PK_METRICS,
    Row,
    markdown_table,
    observed_se,
    predict_study,
    reference_studies,
    rows_for,
    rows_frame,
    site_output,
    study_endpoints,
    study_regimens,
    update_readme,
    validate,
)
from ketasim.analysis.validation.plot import PK_FIGURE, pk_figure, plot_pk, plot_validation, study_figure
from ketasim.analysis.validation.points import PANEL_QUANTITIES, reference_points

__all__ = [
    "PANEL_QUANTITIES",
    "PK_FIGURE",
    "PK_METRICS",
    "Row",
    "markdown_table",
    "observed_se",
    "pk_figure",
    "plot_pk",
    "plot_validation",
    "predict_study",
    "reference_points",
    "reference_studies",
    "rows_for",
    "rows_frame",
    "site_output",
    "study_endpoints",
    "study_figure",
    "study_regimens",
    "update_readme",
    "validate",
]
