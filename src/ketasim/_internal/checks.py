"""Argument checks shared by every public entry point; each failure is an ``InputError`` naming its field."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

from pydantic import BaseModel, ValidationError

from ketasim.errors import InputError

__all__ = ["as_list", "check_memory", "from_validation_error", "is_number", "memory_bytes", "parse_toml", "read_text",
           "read_toml_config", "whole_number"]  # fmt: skip

_M = TypeVar("_M", bound=BaseModel)


def is_number(value: object) -> TypeGuard[float]:
    """A real number that is not a bool (``True`` is an ``int`` in Python, never a dose or a count).

    >>> [is_number(v) for v in (1, 2.5, True, "3", None)]
    [True, True, False, False, False]
    """
    if type(value) is float or type(value) is int:  # the common case, without the ABC check (hot in drawing)
        return True
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def whole_number(value: Any, field: str, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as an int within ``minimum``..``maximum``, or an ``InputError`` naming ``field``.

    >>> whole_number(3, "count")
    3
    >>> whole_number(0, "count", 1, 10)
    Traceback (most recent call last):
    ...
    ketasim.InputError: count: must be a whole number within 1-10 (got 0)
    """
    import numbers

    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < minimum or (maximum is not None and value > maximum):
        allowed = f"within {minimum}-{maximum}" if maximum is not None else f">= {minimum}"
        raise InputError(field, f"must be a whole number {allowed}", got=repr(value))
    return int(value)


def as_list(value: object, field: str, what: str) -> list[Any]:
    """``value`` (a list, tuple or other iterable, not a string or a mapping) as a list, or an
    ``InputError`` naming ``field``: "must be a list of {what}".

    >>> as_list(("1 h", "2 h"), "times", "times")
    ['1 h', '2 h']
    >>> as_list("1 h", "times", "times such as '1 h'")
    Traceback (most recent call last):
    ...
    ketasim.InputError: times: must be a list of times such as '1 h' (got '1 h')
    """
    from collections.abc import Mapping

    if not isinstance(value, str | bytes | Mapping):
        try:
            return list(value)  # type: ignore[call-overload]
        except TypeError:  # not iterable (a number, a 0-d array, a pint Quantity of one number, ...)
            pass
    text = repr(value)
    raise InputError(field, f"must be a list of {what}", got=text if len(text) <= 60 else type(value).__name__)


def days_list(value: object, field: str = "days", maximum: float = 730) -> list[float]:
    """A non-empty list of days within 0..``maximum`` as floats, or an ``InputError`` naming ``field``."""
    raw = as_list(value, field, "numbers of days")
    if not raw or not all(is_number(d) and 0 <= d <= maximum for d in raw):
        raise InputError(field, f"must be a non-empty list of days within 0-{maximum:g}", got=repr(value)[:60])
    return [float(d) for d in raw]


def memory_bytes() -> int:
    """This machine's physical memory in bytes (16 GiB where the system does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):  # not a POSIX system
        return 16 * 2**30


def check_memory(field: str, need: float, what: str, advice: str) -> None:
    """Refuse (naming ``field``) a request whose ``need`` in bytes exceeds half of this machine's memory,
    before anything is allocated: a clear limit instead of a MemoryError, or a machine swapping for hours."""
    limit = memory_bytes() / 2
    if need > limit:
        raise InputError(field, f"{what} would need about {need / 2**30:,.1f} GiB, more than half of this "
                         f"machine's memory (the limit is {limit / 2**30:,.1f} GiB); {advice}")  # fmt: skip


def from_validation_error(exc: ValidationError, default_field: str) -> InputError:
    """The first pydantic error as an ``InputError`` whose field is its dotted location."""
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"])
    return InputError(loc or default_field, err["msg"])


def read_text(path: str | Path, field: str) -> str:
    """A UTF-8 text file; an unreadable or undecodable one is an ``InputError`` naming ``field``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(field, f"cannot read file ({exc.strerror or exc})", got=str(path)) from None
    except UnicodeDecodeError as exc:
        raise InputError(field, f"not UTF-8 text (byte {exc.start})", got=str(path)) from None


def parse_toml(text: str, field: str) -> dict[str, Any]:
    """TOML text as a dict; malformed or absurdly nested text is an ``InputError`` naming ``field``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(field, f"not valid TOML: {exc}") from None
    except RecursionError:
        raise InputError(field, "nested too deeply to be a ketasim file") from None


def read_toml_config(path: str | Path, model: type[_M], field: str = "config") -> _M:
    """A TOML file validated as ``model``; unreadable, malformed or invalid files raise one
    ``InputError`` naming ``field`` (or the invalid key)."""
    try:
        return model(**parse_toml(read_text(path, field), field))
    except ValidationError as exc:
        raise from_validation_error(exc, field) from None
