"""Independent random streams derived from a patient's seed (one definition for every layer)."""

from __future__ import annotations

import numpy as np

__all__ = ["substream"]


def substream(seq: np.random.SeedSequence, *keys: int) -> np.random.SeedSequence:
    """The child stream ``keys`` of ``seq``, derived without spawning (which would change ``seq``).

    >>> a = substream(np.random.SeedSequence(1), 3)
    >>> a.spawn_key == (3,) and substream(np.random.SeedSequence(1), 3).entropy == a.entropy
    True
    """
    return np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, *keys))
