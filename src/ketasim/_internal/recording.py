"""Recording which names a piece of code reads, through a context variable (thread- and task-safe)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["Recorder"]


class Recorder:
    """``with rec.recording() as names:`` collects every name ``rec.note(name)`` is called with meanwhile."""

    def __init__(self, name: str) -> None:
        self._var: ContextVar[set[str] | None] = ContextVar(name, default=None)

    @contextmanager
    def recording(self) -> Iterator[set[str]]:
        names: set[str] = set()
        token = self._var.set(names)
        try:
            yield names
        finally:
            self._var.reset(token)

    def note(self, name: str) -> None:
        names = self._var.get()
        if names is not None:
            names.add(name)
