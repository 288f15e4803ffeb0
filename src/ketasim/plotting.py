"""Figure helpers shared by every plotting wing: a headless pyplot, atomic saving, one finishing step.

The figures themselves live beside what they draw (``simulation.plot``, ``trials.plot``,
``analysis.validation.plot``, ``analysis.sensitivity``); this module knows nothing about the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ketasim._internal.files import atomic_path

__all__ = ["finish_figure", "pyplot", "save_figure"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write the figure atomically (format from the suffix: PNG, SVG, PDF); no half-written file is ever visible."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return Path(path)


def finish_figure(fig: Any, title: str, path: str | Path | None, **title_kw: Any) -> Any:
    """Title and lay out ``fig``, write it atomically if ``path`` is given, release it; returns it."""
    plt = pyplot()
    fig.suptitle(title, **title_kw)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    plt.close(fig)
    return fig
