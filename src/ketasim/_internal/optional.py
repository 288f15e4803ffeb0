"""Optional dependencies, imported on first use: a missing one is a one-line error naming its extra.

The extras (pyproject.toml): ``trials`` (statsmodels, DuckDB, Dask), ``sbml`` (libSBML, libRoadRunner),
``docs`` (MkDocs and the notebook tooling), ``serve`` (the browser explorer: FastAPI, uvicorn, Plotly.js,
tomli-w), ``all`` (everything).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ketasim.errors import MissingExtraError

__all__ = ["EXTRAS", "require"]

#: Which extra installs each optional top-level module.
EXTRAS = {
    "statsmodels": "trials",
    "duckdb": "trials",
    "dask": "trials",
    "distributed": "trials",
    "libsbml": "sbml",
    "roadrunner": "sbml",
    "fastapi": "serve",
    "uvicorn": "serve",
    "plotly": "serve",
    "tomli_w": "serve",
}


def require(module: str, what: str) -> ModuleType:
    """``import module`` (a dotted name is fine), or raise ``MissingExtraError`` naming the extra.

    ``what`` says what needs it ("the results store"), for the message.
    """
    top = module.split(".", 1)[0]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".", 1)[0] != top:
            raise  # the package is there but one of its own dependencies is broken: show the real error
        raise MissingExtraError(top, EXTRAS[top], what) from None
