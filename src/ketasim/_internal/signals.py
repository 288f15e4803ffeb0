"""Interrupts as the command line needs them: SIGTERM as an exception, worker processes that leave Ctrl-C
to the main process, and sections no signal may split.

Python turns SIGINT (Ctrl-C) into ``KeyboardInterrupt``; ``interrupts_as_exceptions`` (the CLI wraps every
command in it) turns SIGTERM into ``Terminated`` -- a ``KeyboardInterrupt``, so every ``except
BaseException`` cleanup path (rolling back the store's transaction, closing Dask workers) runs for both --
and records which arrived. ``ignoring_interrupts`` starts processes that inherit both signals as ignored
(Ctrl-C in a terminal reaches the whole process group; workers that took it would each print a
traceback, while the main process stops them anyway). ``deferred_signals`` holds interrupts over a short
critical section (the store's commit) and raises them after it, so a run is committed whole or not at
all and the caller learns which.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Terminated", "checkpoint", "deferred_signals", "ignoring_interrupts", "interrupts_as_exceptions"]

_STOP = (signal.SIGINT, signal.SIGTERM)

#: Signals received under ``interrupts_as_exceptions``. The handler raises, but an exception raised while
#: a garbage-collection or weakref callback runs is printed and dropped by Python; long loops therefore
#: call ``checkpoint`` between steps, which raises again for a signal received.
_received: list[int] = []


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (the command line exits with status 143)."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interrupts_as_exceptions() -> Iterator[list[int]]:
    """Within the block SIGINT raises ``KeyboardInterrupt`` and SIGTERM ``Terminated``; yields the list of
    signals received (libraries that turn an interrupt into an exit code lose which one it was)."""
    if not _main_thread():
        yield []
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        _received.append(signum)
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    def unraisable(info: Any) -> None:  # the interrupt Python dropped: checkpoint() raises it again
        if not isinstance(info.exc_value, KeyboardInterrupt):
            old_hook(info)

    global _received
    received: list[int] = []
    old = {s: signal.signal(s, handle) for s in _STOP}
    old_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    _received = received
    try:
        yield received  # the caller may read it after the block
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        sys.unraisablehook = old_hook
        _received = []  # a later block (or checkpoint outside one) starts clean


def checkpoint() -> None:
    """Raise ``KeyboardInterrupt`` or ``Terminated`` if an interrupt was received under
    ``interrupts_as_exceptions`` (for the loop that must not miss one its handler could not raise)."""
    if _received:
        raise Terminated() if _received[-1] == signal.SIGTERM else KeyboardInterrupt()


@contextmanager
def ignoring_interrupts() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM over the block (keep it short: an interrupt meanwhile is lost); processes
    started in it inherit both as ignored."""
    if not _main_thread():
        yield
        return
    old = {s: signal.signal(s, signal.SIG_IGN) for s in _STOP}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM over the block; deliver the first one received, to the handler in place
    before it, once the block is done."""
    if not _main_thread():
        yield
        return
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    old: dict[int, Any] = {s: signal.signal(s, record) for s in _STOP}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if received:
        handler = old[received[0]]
        if callable(handler):
            handler(received[0], None)  # raises (the CLI's handlers, or Python's KeyboardInterrupt)
        raise Terminated() if received[0] == signal.SIGTERM else KeyboardInterrupt()
