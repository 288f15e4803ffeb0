"""Other tools' formats: the DuckDB results store (with Parquet export) and SBML export.

``store`` and ``sbml`` are imported on use (DuckDB, libSBML and libRoadRunner are optional or slow to load).
"""

__all__: list[str] = []
