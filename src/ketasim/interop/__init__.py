"""Other tools' formats: the DuckDB results store (with Parquet export), SBML export, and NONMEM-style
datasets with a population description (``nonmem``).

``store`` and ``sbml`` are imported on use (DuckDB, libSBML and libRoadRunner are optional or slow to load);
the names of ``nonmem`` are exported here and load on first use too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ketasim.interop.nonmem import (
        population_description,
        regimen_from_nonmem,
        regimens_from_nonmem,
        to_nonmem,
    )

__all__ = ["population_description", "regimen_from_nonmem", "regimens_from_nonmem", "to_nonmem"]


def __getattr__(name: str) -> object:
    if name in __all__:
        value = getattr(importlib.import_module("ketasim.interop.nonmem"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ketasim.interop' has no attribute {name!r}")
