"""Figure helpers shared by every plotting wing: a headless pyplot, atomic saving, one finishing step, and
the marks every figure draws the same way (dose markers on the time axis, threshold lines, published
points with error bars, a kink-free time axis).

The figures themselves live beside what they draw (``simulation.plot``, ``trials.plot``,
``analysis.validation.plot``, ``analysis.sensitivity``); this module knows nothing about the model.
Marks carry a ``gid`` (``"dose"``, ``"threshold"``, ``"observed"``) so that tests and tools can find
them on a figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ketasim._internal.files import atomic_path
from ketasim.errors import InputError

__all__ = [
    "TIME_AXIS_LINEAR_H",
    "check_figure_path",
    "finish_figure",
    "mark_doses",
    "mark_observed",
    "mark_threshold",
    "pyplot",
    "save_figure",
    "time_axis",
]

#: Width (hours) of the nearly linear part of the headline figure's time axis (see ``time_axis``).
TIME_AXIS_LINEAR_H = 1.0


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def check_figure_path(path: str | Path, field: str = "plot") -> Path:
    """``path`` if its suffix names a format matplotlib writes (PNG, SVG, PDF, ...), else an ``InputError``
    naming ``field`` (checked before any work, not after it)."""
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        raise InputError(field, f"the file name must end in a figure format: {', '.join('.' + f for f in formats)}",
                         got=str(path))  # fmt: skip
    return Path(path)


def save_figure(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Write the figure atomically (format from the suffix: PNG, SVG, PDF); no half-written file is ever visible."""
    check_figure_path(path)
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


def mark_doses(ax: Any, times: Sequence[float], *, color: str = "k", label: str | None = None, row: int = 0) -> Any:
    """Small upward triangles on the time axis (bottom spine) at ``times``, in data x and axes y; ``row``
    stacks the markers of several arms just above each other. Returns the Line2D (``gid="dose"``)."""
    from matplotlib.transforms import blended_transform_factory

    trans = blended_transform_factory(ax.transData, ax.transAxes)
    (line,) = ax.plot(list(times), [0.012 + 0.03 * row] * len(times), "^", ms=5, color=color, mec="k", mew=0.5,
                      transform=trans, clip_on=False, zorder=5, label=label, gid="dose", linestyle="none")  # fmt: skip
    return line


def mark_threshold(ax: Any, y: float, label: str, *, color: str = "0.35", style: str = "--") -> Any:
    """A labelled horizontal reference line (``gid="threshold"``), e.g. a remission cut-off."""
    return ax.axhline(y, color=color, ls=style, lw=1.0, label=label, gid="threshold", zorder=1)


def mark_observed(ax: Any, x: ArrayLike, y: ArrayLike, lower: ArrayLike, upper: ArrayLike, *, label: str | None,
                  color: str = "k", marker: str = "o") -> Any:  # fmt: skip
    """Published points (face ``color``, black edge and bars) with asymmetric error bars from ``lower`` to
    ``upper`` (NaN: no bar).

    The parts of the ErrorbarContainer carry ``gid="observed"``; returns the container."""
    yv, lo, hi = (np.asarray(v, float) for v in (y, lower, upper))
    err = np.array([np.where(np.isfinite(lo), yv - lo, 0.0), np.where(np.isfinite(hi), hi - yv, 0.0)])
    cont = ax.errorbar(np.asarray(x, float), yv, yerr=np.clip(err, 0.0, None), fmt=marker, color="k", mfc=color,
                       mec="k", ms=6, capsize=4, elinewidth=1.3, zorder=6, label=label)  # fmt: skip
    for artist in cont.get_children():
        artist.set_gid("observed")
    return cont


_TICKS_H = (0, 0.5, 1, 2, 4, 8, 12, 24, 48, 96, 168, 336, 672, 1344, 2688, 5376, 8760)


def time_axis(ax: Any, start_h: float, end_h: float, linear_width_h: float = TIME_AXIS_LINEAR_H) -> None:
    """A time axis in hours that shows the first hours and the following days together without a kink.

    The scale is ``asinh`` (``w * asinh(t / w)``, ``w = linear_width_h``): linear for ``t << w``,
    logarithmic for ``t >> w``, and smooth (all derivatives continuous) in between, so a curve's slope
    never jumps where one regime meets the other, as it does at the threshold of a symlog axis. Ticks are
    labelled in minutes, hours, then days.
    """
    from matplotlib.ticker import NullLocator

    ax.set_xscale("asinh", linear_width=linear_width_h)
    ticks = [x for x in _TICKS_H if start_h <= x <= end_h]
    ax.set_xticks(ticks)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([_time_label(x) for x in ticks], fontsize=8)
    ax.set_xlim(start_h, end_h)


def _time_label(hours: float) -> str:
    if hours == 0:
        return "0"
    if hours < 1:
        return f"{hours * 60:g} min"
    if hours < 24 or not math.isclose(hours % 24, 0.0, abs_tol=1e-9):
        return f"{hours:g} h"
    return f"{hours / 24:g} d"
