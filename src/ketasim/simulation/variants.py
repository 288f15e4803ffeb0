"""Variants of one simulation side by side: mechanism hypotheses or parameter sets, overlaid in one figure.

One call runs every variant with the same regimen, patients and grid, and keeps the results by name:

>>> from ketasim.model import Hypotheses
>>> cmp = compare("zarate-2006-iv", hypotheses={"both": Hypotheses(),
...                                             "rest block only": Hypotheses(disinhibition=False)}, duration="1 d")
>>> s = cmp.summary()  # without the AMPA route, less BDNF and less relief at 24 h
>>> bool(s.loc["rest block only", "madrs_24h"] > s.loc["both", "madrs_24h"])
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ketasim.dosing import Regimen
from ketasim.errors import InputError
from ketasim.model import Hypotheses
from ketasim.parameters import ParameterSet
from ketasim.plotting import finish_figure, pyplot
from ketasim.simulation.result import UNITS, Result
from ketasim.simulation.simulator import simulate

__all__ = ["DEFAULT_VARIABLES", "Comparison", "compare"]

#: One panel each: the drug, the pulse it causes, what the pulse builds, and what the patient feels.
DEFAULT_VARIABLES = ("nmda_occupancy", "glutamate", "mtorc1", "synapse_density", "madrs")


@dataclass(frozen=True)
class Comparison:
    """The results of ``compare``, by variant name (in the order given)."""

    results: Mapping[str, Result]

    def summary(self) -> pd.DataFrame:
        """One row per variant, one column per summary metric (population means)."""
        return pd.DataFrame({name: res.summary() for name, res in self.results.items()}).T

    def plot(self, path: str | Path | None = None, variables: Sequence[str] = DEFAULT_VARIABLES) -> Any:
        """Every variant on the same axes, one panel per variable (population mean where several patients);
        written atomically to ``path`` if given. Returns the matplotlib figure."""
        first = next(iter(self.results.values()))
        unknown = [v for v in variables if v not in first.dataset]
        if unknown:
            raise InputError(
                "variables", f"unknown or not kept: {unknown}; kept: {sorted(map(str, first.dataset.data_vars))}"
            )
        plt = pyplot()
        fig, axes = plt.subplots(len(variables), 1, figsize=(8, 1.9 * len(variables) + 0.6), sharex=True,
                                 squeeze=False)  # fmt: skip
        t_h = first.dataset["time"].values
        in_days = t_h[-1] > 48
        x = t_h / 24 if in_days else t_h
        for ax, var in zip(axes[:, 0], variables, strict=True):
            for (name, res), style in zip(self.results.items(), ("-", "--", ":", "-."), strict=False):
                ax.plot(x, res.dataset[var].values.mean(axis=0), style, lw=1.6, label=name)
            ax.set_ylabel(f"{var}\n({UNITS.get(var, '')})", fontsize=8)
            ax.grid(alpha=0.3)
        axes[0, 0].legend(fontsize=8, title="variant", title_fontsize=8)
        axes[-1, 0].set_xlabel("days since the first dose" if in_days else "hours since the first dose")
        regimen = first.dataset.attrs.get("protocol") or first.dataset.attrs.get("regimen")
        return finish_figure(fig, f"ketasim: {regimen}, {len(self.results)} variants", path, fontsize=10)


def compare(
    regimen: Regimen | str,
    *,
    hypotheses: Mapping[str, Hypotheses] | None = None,
    params: Mapping[str, ParameterSet] | None = None,
    **simulate_kwargs: Any,
) -> Comparison:
    """Simulate ``regimen`` once per named variant: give ``hypotheses`` (name -> ``Hypotheses``) or
    ``params`` (name -> ``ParameterSet``); everything else (patient, population, duration, output_step,
    ...) is passed to ``simulate`` unchanged, so the variants differ only in what is named."""
    if (hypotheses is None) == (params is None):
        raise InputError("compare", "give exactly one of hypotheses= or params= (name -> variant)")
    key, variants = ("hypotheses", hypotheses) if hypotheses is not None else ("params", params)
    if not isinstance(variants, Mapping) or not variants:
        raise InputError(key, "must be a non-empty mapping from a name to a variant", got=type(variants).__name__)
    if key in simulate_kwargs:
        raise InputError(key, "is what varies here; pass it in the mapping, not as a keyword")
    if hypotheses is not None:
        return Comparison({str(n): simulate(regimen, hypotheses=h, **simulate_kwargs) for n, h in hypotheses.items()})
    assert params is not None
    return Comparison({str(n): simulate(regimen, params=p, **simulate_kwargs) for n, p in params.items()})
