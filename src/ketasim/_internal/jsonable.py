"""Plain-JSON values: NaN and infinities become ``None``, numpy scalars become Python numbers."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

__all__ = ["dumps", "jsonable"]


def jsonable(x: object) -> Any:
    """``x`` with every non-finite float replaced by None (JSON has no NaN) and numpy scalars unwrapped.

    >>> jsonable({"a": float("nan"), "b": [np.float64(1.5), (2, np.int64(3))]})
    {'a': None, 'b': [1.5, [2, 3]]}
    """
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, np.floating | np.integer | np.bool_):
        return jsonable(x.item())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    return x


def dumps(x: object, indent: int | None = 2) -> str:
    """``json.dumps`` of ``jsonable(x)``."""
    return json.dumps(jsonable(x), indent=indent)
