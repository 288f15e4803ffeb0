"""Validation against published data: reference rows, predicted beside observed, tolerances."""

from ketasim.validation._validate import (
    Row,
    markdown_table,
    predict_study,
    reference_studies,
    rows_frame,
    update_readme,
    validate,
)

__all__ = ["Row", "markdown_table", "predict_study", "reference_studies", "rows_frame", "update_readme", "validate"]
