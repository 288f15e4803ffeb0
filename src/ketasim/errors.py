"""One exception hierarchy for everything the package refuses or cannot do.

::

    KetasimError                  anything ketasim raises on purpose
    ├── InputError (ValueError)   a user-supplied value is missing, malformed, of the wrong unit or out of
    │                             range; names the field and the allowed range
    ├── ParameterError            a parameter file is malformed (missing unit, source, unknown citation)
    ├── ModelError                the parameters assemble into a model that cannot run (no baseline state,
    │                             flow fractions above 1, compiled kernel out of step with the layers)
    ├── IntegrationError          the ODE solver failed (names the patient or the time interval)
    ├── ExportError               a document for another tool cannot be written
    │   └── SBMLExportError       the SBML document fails libSBML's consistency checks
    ├── OutputError               a result cannot be written where asked (read-only file system, disk full,
    │                             a folder in the way); names the path and the reason
    ├── StoreBusyError            the results store is held by another process past the wait; names both
    └── MissingExtraError         an optional dependency is not installed; names the extra that installs it
        (ImportError)

The command line prints any ``KetasimError`` as one line on stderr and exits with status 2.
"""

from __future__ import annotations

__all__ = ["ExportError", "InputError", "IntegrationError", "KetasimError", "MissingExtraError", "ModelError",
           "OutputError", "ParameterError", "SBMLExportError", "StoreBusyError"]  # fmt: skip


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


class ModelError(KetasimError):
    """The parameters assemble into a model that cannot run."""


class IntegrationError(KetasimError):
    """The ODE solver failed: a NaN, a step size too small, or too many steps."""


class ExportError(KetasimError):
    """A document for another tool (SBML, ...) cannot be written."""


class SBMLExportError(ExportError):
    """The model cannot be exported as SBML, or the document fails libSBML's consistency checks."""


class OutputError(KetasimError):
    """A result cannot be written where asked; nothing was left under its name.

    >>> str(OutputError("/mnt/ro/out.json", "Read-only file system"))
    'cannot write /mnt/ro/out.json: Read-only file system'
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"cannot write {path}: {reason}")


class StoreBusyError(KetasimError):
    """The results store is locked by another process (DuckDB allows one writer)."""


class MissingExtraError(KetasimError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it.

    >>> str(MissingExtraError("duckdb", "trials", "the results store")).split(":")[0]
    'the results store needs the `trials` extra (duckdb is not installed)'
    """

    def __init__(self, module: str, extra: str, what: str) -> None:
        self.module, self.extra = module, extra
        super().__init__(
            f"{what} needs the `{extra}` extra ({module} is not installed): "
            f'pip install "ketasim[{extra}]", or pip install -e ".[{extra}]" in a checkout'
        )
