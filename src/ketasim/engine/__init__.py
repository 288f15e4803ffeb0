"""Integration of the assembled model: a compiled per-patient engine and a scipy reference path.

``integrate`` is the one entry point; ``SolverOptions.method`` picks the path. Both return states on
the requested grid as (n_states, n_patients, n_times), right-continuous at dosing times.
``integrate_observed`` returns output variables instead, {name: (n_patients, n_times)}: the compiled
path computes them inside its loop at each output time (no state trajectory is held), the scipy path
from its states, with the same generated observer.

>>> import numpy as np
>>> import ketasim as ks
>>> from ketasim.model import assemble
>>> model = assemble(ks.default_parameters(), [ks.Patient()])
>>> boluses, infusions = model.events(ks.protocols.get("zarate-2006-iv"))
>>> t = np.linspace(0.0, 2.0, 5)
>>> fast = integrate(model, model.initial(), boluses, infusions, t)
>>> ref = integrate(model, model.initial(), boluses, infusions, t, SolverOptions(method="BDF"))
>>> bool(np.allclose(fast, ref, rtol=1e-4, atol=1e-7))
True
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from ketasim.engine._options import COMPILED, METHODS, OdeSystem, SolverOptions
from ketasim.engine._reference import integrate_scipy
from ketasim.errors import InputError, IntegrationError
from ketasim.model import Model
from ketasim.model.pk import Bolus, Infusion

__all__ = [
    "COMPILED",
    "METHODS",
    "Bolus",
    "Infusion",
    "Observed",
    "OdeSystem",
    "SolverOptions",
    "integrate",
    "integrate_observed",
]


def integrate(
    system: OdeSystem,
    y0: np.ndarray,
    boluses: Sequence[Bolus],
    infusions: Sequence[Infusion],
    t_out: np.ndarray,
    options: SolverOptions | None = None,
) -> np.ndarray:
    """Integrate from ``t_out[0]`` to ``t_out[-1]``; returns states at ``t_out``, shape (n, P, T).

    Values at a bolus time are taken just after the bolus (right-continuous).
    """
    opt = options or SolverOptions()
    compiled_ok = isinstance(system, Model)
    if opt.method in ("compiled", "exponential") and not compiled_ok:
        raise InputError("solver.method", f"{opt.method!r} runs the assembled ketasim model only; "
                         "use a scipy method (BDF, LSODA, RK45, ...) for other systems")  # fmt: skip
    if opt.method in COMPILED and compiled_ok:
        return _integrate_model(cast(Model, system), y0, boluses, infusions, t_out, opt)
    if opt.method == "auto":
        opt = SolverOptions(method="BDF", rtol=opt.rtol, atol=opt.atol, max_step_h=opt.max_step_h)
    return integrate_scipy(system, y0, boluses, infusions, t_out, opt)


@dataclass(frozen=True)
class Observed:
    """Outputs observed during an integration: ``series`` {name: (P, T_kept)} (``madrs_items``: (P, item,
    T_kept)) at the kept times ``t``, and for the outputs named in ``peaks`` their peak, the (first) time
    of the peak and the trapezoidal AUC over every output time of the run, kept or not."""

    t: np.ndarray
    series: dict[str, np.ndarray]
    peak: dict[str, np.ndarray]
    peak_time: dict[str, np.ndarray]
    auc: dict[str, np.ndarray]


def integrate_observed(
    model: Model,
    y0: np.ndarray,
    boluses: Sequence[Bolus],
    infusions: Sequence[Infusion],
    t_out: np.ndarray,
    only: Collection[str] | None = None,
    options: SolverOptions | None = None,
    *,
    keep: np.ndarray | None = None,
    peaks: Collection[str] = (),
    out: np.ndarray | None = None,
) -> Observed:
    """As ``integrate``, but the output variables ``only`` (``Model.observe``'s names; all outputs by
    default), stored at the times of ``t_out`` that ``keep`` flags (all by default), and the peak, its
    time and the AUC of the outputs ``peaks`` over all of ``t_out``. The compiled path computes all of it
    inside its loop (into ``out``, a preallocated (P, k, T_kept) array, if given); the scipy path
    observes its states with the same observer and summarises them with numpy."""
    opt = options or SolverOptions()
    t_out = np.asarray(t_out, float)
    kept = np.ones(t_out.size, bool) if keep is None else np.asarray(keep, bool)
    if kept.shape != t_out.shape or not kept.any():
        raise InputError("keep", "must flag at least one of the output times (a boolean per time)")
    plan = model.observation(only, peaks)
    if opt.method not in COMPILED:
        full = model.observe(t_out, integrate(model, y0, boluses, infusions, t_out, opt), only=plan.wanted)
        series = {k: v[..., kept] for k, v in full.items()}
        return Observed(t_out[kept], series, {k: full[k].max(axis=1) for k in plan.peaks},
                        {k: t_out[full[k].argmax(axis=1)] for k in plan.peaks},
                        {k: np.trapezoid(full[k], t_out, axis=1) for k in plan.peaks})  # fmt: skip
    from ketasim.engine._compiled import integrate_compiled

    res, status, _steps, summ = integrate_compiled(
        model, y0, list(boluses), list(infusions), t_out, opt.rtol, opt.atol, opt.max_step_h,
        observation=plan, keep=kept, out=out, method=opt.method,
    )  # fmt: skip
    _raise_failures(status, res, t_out[kept], observed=True)
    peak, when, auc = ({k: summ[:, q, c] for q, k in enumerate(plan.peaks)} for c in range(3))
    return Observed(t_out[kept], plan.unpack(np.transpose(res, (1, 0, 2))), peak, when, auc)


def _integrate_model(
    model: Model,
    y0: np.ndarray,
    boluses: Sequence[Bolus],
    infusions: Sequence[Infusion],
    t_out: np.ndarray,
    opt: SolverOptions,
) -> np.ndarray:
    from ketasim.engine._compiled import integrate_compiled

    out, status, _steps, _ = integrate_compiled(
        model, y0, list(boluses), list(infusions), t_out, opt.rtol, opt.atol, opt.max_step_h, method=opt.method
    )
    _raise_failures(status, out, t_out, observed=False)
    return np.transpose(out, (2, 0, 1))  # (n, P, T) view


def _raise_failures(status: np.ndarray, out: np.ndarray, t: np.ndarray, *, observed: bool) -> None:
    from ketasim.engine._compiled import MESSAGES

    bad = np.nonzero(status)[0]
    if bad.size:
        p = int(bad[0])
        why = MESSAGES.get(int(status[p]), "unknown failure")
        rows = out[p].T if observed else out[p]  # (T, n) or (T, k)
        raise IntegrationError(f"integration failed for patient {p} ({bad.size} patient(s) in all) "
                               f"{_when(rows, t)}: {why}")  # fmt: skip


def _when(states: np.ndarray, t_out: np.ndarray) -> str:
    """Where a failed patient stopped: between the last output time it reached with finite states and
    the next (its outputs (T, n) are NaN from where it stopped)."""
    ok = np.isfinite(states).all(axis=1)
    k = int(np.argmin(ok)) if not ok.all() else t_out.size - 1
    if k == 0:
        return f"at {t_out[0]:g} h"
    return f"between {t_out[k - 1]:g} h and {t_out[k]:g} h"
