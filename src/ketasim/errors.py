"""One exception hierarchy for everything the package refuses.

Every refusal names the offending field and, where there is one, the allowed range, so the CLI can
print it on one line and exit with status 2.
"""

from __future__ import annotations

__all__ = ["InputError", "KetasimError", "ParameterError"]


class KetasimError(Exception):
    """Base class of all errors raised on purpose by ketasim."""


class InputError(KetasimError, ValueError):
    """A user-supplied value is missing, malformed, of the wrong unit, or out of range.

    >>> str(InputError("weight", "must be within 20-300 kg", got="5 kg"))
    'weight: must be within 20-300 kg (got 5 kg)'
    """

    def __init__(self, field: str, message: str, got: object | None = None) -> None:
        self.field = field
        self.message = message
        self.got = got
        suffix = f" (got {got})" if got is not None else ""
        super().__init__(f"{field}: {message}{suffix}")


class ParameterError(KetasimError):
    """A parameter file is malformed: missing unit, missing source, unknown citation key, ..."""
