"""Checked inputs of a Sobol analysis (``sensitivity.sobol_model``): base sample size and name lists.

Kept apart from ``sensitivity`` so that checking them does not load SALib.
"""

from __future__ import annotations

from collections.abc import Sequence

from ketasim.errors import InputError

__all__ = ["check_base_size", "name_list"]


def check_base_size(n: int) -> int:
    """``n`` if it is a power of two >= 2 (Saltelli sampling needs one); else InputError naming ``n``.

    >>> check_base_size(64)
    64
    """
    if n < 2 or n & (n - 1):
        raise InputError("n", "must be a power of two >= 2", got=n)
    return n


def name_list(text: str | None, default: Sequence[str]) -> tuple[str, ...]:
    """Comma-separated names, each stripped of spaces; ``default`` when ``text`` is None or empty.

    Empty items are kept (``sobol_model`` refuses them, naming the field).

    >>> name_list(" ke0, tau_glutamate", ("cadss_ec50",)), name_list(None, ("cadss_ec50",))
    (('ke0', 'tau_glutamate'), ('cadss_ec50',))
    """
    return tuple(x.strip() for x in text.split(",")) if text else tuple(default)
