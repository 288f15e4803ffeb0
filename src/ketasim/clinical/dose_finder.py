"""Dose finding: the single dose with the largest predicted antidepressant effect that stays safe.

``find_dose`` searches a dose range for one patient or a population, maximising the predicted MADRS
improvement (``madrs_baseline - madrs_24h`` by default) subject to limits on the predicted peak
dissociation (CADSS) and peak systolic blood-pressure rise. Every candidate is a full simulation of
the mechanistic model; candidates are simulated side by side in one batched integration, and the dose
that is returned is checked once more with ``ketasim.simulate``: ``find_dose`` never returns a dose
whose re-simulated peaks break a limit.

Search: a grid over the range, then bracketing refinement (grids inside the bracket) of (1) the
largest dose meeting every limit, and (2) the best dose below it when the optimum is interior. Peak
CADSS and SBP rise grow monotonically with dose in the model (linear PK, Emax-type responses), which
the bracketing relies on.

Numbers chosen here:

* ``max_sbp_rise`` default 40 mmHg: the label's blood-pressure event threshold (systolic rise
  >= 40 mmHg; ``../shared/reference/clinical.md`` §3.3).
* ``max_cadss`` default 7.7 points: *assumption*, "no more dissociation than the standard dose":
  7.7 is the mean end-of-infusion CADSS reported in clinical IV use of 0.5 mg/kg over 40 min (J Affect
  Disord 2018, the calibration anchor of ``cadss_ec50`` in ``parameters/symptoms.toml``). Pass
  ``None`` to drop a limit.
* Populations: the objective is the mean improvement; the limits apply to the mean peak over
  patients, or to the given ``percentile`` of the per-patient peaks (e.g. 90: nine in ten patients
  stay within the limit).
* Peaks are read on a 1-min grid (a 10-min grid misses about 4% of the CADSS peak of a 40-min
  infusion); a candidate counts as feasible only with a 0.01% margin under each limit, which absorbs
  the solver's batch-to-single differences.
* ``tolerance`` default 0.005 mg/kg (0.5 mg for absolute doses): *assumption*, finer than doses are
  prepared in practice.
* Intranasal esketamine comes in whole 28 mg devices, so its candidates are 28, 56, 84 mg, ...

>>> import ketasim as ks
>>> f = find_dose(ks.Patient(), drug="esketamine", route="intranasal", dose_range=("28 mg", "84 mg"),
...               max_cadss=None)
>>> f.dose, f.unit, f.binding
(84.0, 'mg', 'dose_range_upper')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ketasim.clinical.limits import MAX_CADSS, MAX_SBP_RISE_MMHG, SBP_THRESHOLD_MMHG
from ketasim.dosing import DEVICE_MG, Dose, Drug, Regimen, Route
from ketasim.engine import SolverOptions
from ketasim.errors import InputError, KetasimError
from ketasim.model import Hypotheses
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient, Population
from ketasim.simulation import Result, run_batch, simulate
from ketasim.simulation.result import PEAKED, SUMMARY_OUTPUTS
from ketasim.units import Q_, QuantityLike, parse_dose_amount, parse_positive_number, parse_quantity

__all__ = [
    "DEFAULT_MAX_CADSS",
    "DEFAULT_MAX_SBP_RISE_MMHG",
    "OBJECTIVES",
    "DoseEvaluation",
    "DoseFinding",
    "find_dose",
]

DEFAULT_MAX_CADSS = 7.7  # assumption: mean CADSS of the standard 0.5 mg/kg/40 min dose (J Affect Disord 2018)
DEFAULT_MAX_SBP_RISE_MMHG = SBP_THRESHOLD_MMHG  # the label's BP event threshold
OBJECTIVES = {"madrs_24h": 24.0, "madrs_7d": 168.0}  # objective -> hours after the dose
MARGIN = 1e-4  # relative safety margin under each limit during the search
_STEP = "1 min"
_COARSE_STEP_H = 0.5
_N_GRID = 8
_N_REFINE = 6


@dataclass(frozen=True)
class DoseEvaluation:
    """One simulated candidate: dose (in the finding's unit), objective and constraint statistics."""

    dose: float
    madrs_improvement: float
    cadss_peak: float
    sbp_rise_peak: float
    feasible: bool


@dataclass(frozen=True)
class DoseFinding:
    """The chosen dose and what the model predicts for it (re-simulated with ``ketasim.simulate``).

    ``madrs_improvement``: mean predicted ``madrs_baseline - madrs_<objective>``; ``cadss_peak`` and
    ``sbp_rise_peak`` (mmHg): the constraint statistic (mean or percentile over patients) of the
    per-patient peaks; ``binding``: ``"cadss"``, ``"sbp"``, ``"dose_range_upper"``,
    ``"dose_range_lower"`` or None (interior optimum); ``grid``: every evaluated candidate, by dose.
    """

    dose: float
    unit: str
    drug: str
    route: str
    duration_h: float | None
    objective: str
    madrs_improvement: float
    cadss_peak: float
    sbp_rise_peak: float
    binding: str | None
    max_cadss: float | None
    max_sbp_rise: float | None
    statistic: str
    n_patients: int
    grid: tuple[DoseEvaluation, ...]

    @property
    def regimen(self) -> Regimen:
        """The chosen dose as a one-dose regimen at time 0."""
        return _regimen(Drug(self.drug), Route(self.route), self.dose, self.unit == "mg/kg", self.duration_h)

    def grid_table(self) -> pd.DataFrame:
        return pd.DataFrame([e.__dict__ for e in self.grid])

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "grid"}
        d["n_evaluated"] = len(self.grid)
        return d


def find_dose(
    patient_or_population: Patient | Sequence[Patient] | Population,
    *,
    drug: str = "ketamine",
    route: str = "iv",
    duration: QuantityLike | None = "40 min",
    max_cadss: float | None = DEFAULT_MAX_CADSS,
    max_sbp_rise: QuantityLike | None = DEFAULT_MAX_SBP_RISE_MMHG,
    dose_range: tuple[QuantityLike, QuantityLike] = ("0.1 mg/kg", "1.5 mg/kg"),
    objective: str = "madrs_24h",
    percentile: float | None = None,
    tolerance: QuantityLike | None = None,
    params: ParameterSet | None = None,
    hypotheses: Hypotheses | None = None,
    solver: SolverOptions | None = None,
) -> DoseFinding:
    """Largest predicted MADRS improvement within the safety limits, over ``dose_range``.

    ``patient_or_population``: a Patient, a sequence of Patients or a Population. ``drug``: ketamine
    (racemic) or esketamine; ``route``: iv, intranasal, im or oral; ``duration``: infusion time for IV
    (None: bolus; ignored for other routes). ``max_cadss`` (CADSS points, 0-92) and ``max_sbp_rise``
    (mmHg, 0-200): limits on the peaks, None to drop one; zero or negative limits are refused.
    ``dose_range``: (lowest, highest), both in mg/kg or both in mg. ``objective``: ``"madrs_24h"`` or
    ``"madrs_7d"``. ``percentile`` (0-100): apply the limits to this percentile of the per-patient
    peaks instead of their mean. ``tolerance``: dose resolution (default 0.005 mg/kg or 0.5 mg).

    Raises ``InputError("constraints", "infeasible: ...")`` when even the lowest dose breaks a limit.
    """
    patients = _patients(patient_or_population)
    drug_ = Drug.parse(drug)
    if drug_ not in (Drug.KETAMINE, Drug.ESKETAMINE):
        raise InputError("drug", "dose finding is modelled for ketamine (racemic) and esketamine", got=repr(drug))
    route_ = Route.parse(route)
    duration_h = None
    if route_ is Route.IV and duration is not None:
        duration_h = parse_quantity(duration, "duration", "h", strictly_positive=True, maximum=24.0)
    limits = {
        "cadss": None if max_cadss is None else parse_positive_number(max_cadss, "max_cadss", MAX_CADSS),
        "sbp": None
        if max_sbp_rise is None
        else parse_quantity(max_sbp_rise, "max_sbp_rise", "mmHg", strictly_positive=True, maximum=MAX_SBP_RISE_MMHG),
    }
    if objective not in OBJECTIVES:
        raise InputError("objective", f"must be one of: {', '.join(OBJECTIVES)}", got=repr(objective))
    if percentile is not None:
        percentile = parse_positive_number(percentile, "percentile", 100.0)
    lo, hi, per_kg = _dose_range(dose_range, drug_, route_)
    unit = "mg/kg" if per_kg else "mg"
    tol = _tolerance(tolerance, per_kg)
    params = params or default_parameters()
    hyp = hypotheses or Hypotheses()
    statistic = "mean" if percentile is None else f"p{percentile:g}"

    ctx = _Search(patients, drug_, route_, per_kg, duration_h, objective, limits, percentile, params, hyp, solver)
    discrete = drug_ is Drug.ESKETAMINE and route_ is Route.INTRANASAL
    if discrete:
        best, binding = ctx.search_devices(lo, hi)
    else:
        best, binding = ctx.search_continuous(lo, hi, tol)
        best = _round_down(best, tol, lo)  # feasibility is monotone: rounding down keeps it
    final = ctx.verify(best, lo, tol if not discrete else DEVICE_MG)
    ctx.cache[final.dose] = final  # the grid reports the verified values of the chosen dose
    return DoseFinding(
        dose=final.dose,
        unit=unit,
        drug=drug_.value,
        route=route_.value,
        duration_h=duration_h,
        objective=objective,
        madrs_improvement=final.madrs_improvement,
        cadss_peak=final.cadss_peak,
        sbp_rise_peak=final.sbp_rise_peak,
        binding=binding,
        max_cadss=limits["cadss"],
        max_sbp_rise=limits["sbp"],
        statistic=statistic,
        n_patients=len(patients),
        grid=tuple(sorted(ctx.cache.values(), key=lambda e: e.dose)),
    )


# ---------------------------------------------------------------- search


class _Search:
    def __init__(
        self,
        patients: list[Patient],
        drug: Drug,
        route: Route,
        per_kg: bool,
        duration_h: float | None,
        objective: str,
        limits: dict[str, float | None],
        percentile: float | None,
        params: ParameterSet,
        hyp: Hypotheses,
        solver: SolverOptions | None,
    ) -> None:
        self.patients = patients
        self.drug, self.route, self.per_kg, self.duration_h = drug, route, per_kg, duration_h
        self.objective = objective
        self.limits = limits
        self.percentile = percentile
        self.params, self.hyp, self.solver = params, hyp, solver
        self.cache: dict[float, DoseEvaluation] = {}
        self.sim_h = OBJECTIVES[objective] + 1.0
        self.step_h = parse_quantity(_STEP, "output_step", "h")
        fine_until = max(6.0, (duration_h or 0.0) + 3.0)
        fine = np.arange(0.0, min(fine_until, self.sim_h) + 1e-9, self.step_h)
        coarse = np.arange(fine[-1], self.sim_h + 1e-9, _COARSE_STEP_H)
        self.t = np.unique(np.concatenate([fine, coarse, [OBJECTIVES[objective], self.sim_h]]))

    # -- evaluation
    def regimen(self, dose: float) -> Regimen:
        return _regimen(self.drug, self.route, dose, self.per_kg, self.duration_h)

    def _stat(self, x: np.ndarray) -> float:
        return float(np.mean(x)) if self.percentile is None else float(np.percentile(x, self.percentile))

    def _make(self, dose: float, per: dict[str, np.ndarray]) -> DoseEvaluation:
        cadss = self._stat(per["cadss_peak"])
        sbp = self._stat(per["sbp_change_peak_mmhg"])
        improvement = float(np.mean(per["madrs_baseline"] - per[self.objective]))
        ok = all(
            lim is None or val <= lim * (1.0 - MARGIN)
            for val, lim in ((cadss, self.limits["cadss"]), (sbp, self.limits["sbp"]))
        )
        return DoseEvaluation(float(dose), improvement, cadss, sbp, ok)

    def evaluate(self, doses: Sequence[float] | np.ndarray) -> list[DoseEvaluation]:
        new = sorted({float(d) for d in doses} - set(self.cache))
        if new:
            regs = [self.regimen(d) for d in new]
            batch = run_batch(regs, self.patients, self.t, params=self.params, hypotheses=self.hyp, solver=self.solver,
                              outputs=SUMMARY_OUTPUTS, peaks=PEAKED)  # fmt: skip
            per = Result.from_batch(batch, regs[0]).per_patient()
            n = len(self.patients)
            pers = [{key: np.asarray(v)[k * n : (k + 1) * n] for key, v in per.items()} for k in range(len(regs))]
            for d, per in zip(new, pers, strict=True):
                self.cache[d] = self._make(d, per)
        return [self.cache[float(d)] for d in doses]

    def violated(self, e: DoseEvaluation) -> str | None:
        """The limit an evaluation breaks most (relative to the limit), or None."""
        worst, name = 1.0 - MARGIN, None
        for key, val in (("cadss", e.cadss_peak), ("sbp", e.sbp_rise_peak)):
            lim = self.limits[key]
            if lim is not None and val / lim > worst:
                worst, name = val / lim, key
        return name

    def infeasible(self, e: DoseEvaluation, unit: str) -> InputError:
        key = self.violated(e) or "cadss"
        val = e.cadss_peak if key == "cadss" else e.sbp_rise_peak
        what = "CADSS peak" if key == "cadss" else "SBP rise peak"
        field = "max_cadss" if key == "cadss" else "max_sbp_rise"
        units = "" if key == "cadss" else " mmHg"
        return InputError(
            "constraints",
            f"infeasible: even the lowest dose, {e.dose:g} {unit}, gives a {what} of {val:.3g}{units} > "
            f"{field} = {self.limits[key]:g}{units}; lower the dose range or relax {field}",
            got=f"{e.dose:g} {unit}",
        )

    # -- discrete: whole nasal devices
    def search_devices(self, lo: float, hi: float) -> tuple[float, str | None]:
        cands = [k * DEVICE_MG for k in range(math.ceil(lo / DEVICE_MG - 1e-9), math.floor(hi / DEVICE_MG + 1e-9) + 1)]
        evals = self.evaluate(cands)
        if not evals[0].feasible:
            raise self.infeasible(evals[0], "mg")
        n_ok = next((i for i, e in enumerate(evals) if not e.feasible), len(evals))
        ok = evals[:n_ok]
        best = max(ok, key=lambda e: e.madrs_improvement)
        if best is not ok[-1]:
            return best.dose, None
        return best.dose, ("dose_range_upper" if n_ok == len(evals) else self.violated(evals[n_ok]))

    # -- continuous
    def search_continuous(self, lo: float, hi: float, tol: float) -> tuple[float, str | None]:
        grid = np.linspace(lo, hi, _N_GRID)
        evals = self.evaluate(grid)
        if not evals[0].feasible:
            raise self.infeasible(evals[0], "mg/kg" if self.per_kg else "mg")
        # (1) the largest feasible dose (feasibility is monotone in dose)
        i_bad = next((i for i, e in enumerate(evals) if not e.feasible), None)
        upper: str | None
        if i_bad is None:
            d_max, upper = hi, "dose_range_upper"
        else:
            a, b = evals[i_bad - 1].dose, evals[i_bad].dose
            while b - a > tol:
                inner = self.evaluate(np.linspace(a, b, _N_REFINE + 2)[1:-1])
                for e in inner:
                    if e.feasible:
                        a = e.dose
                    else:
                        b = e.dose
                        break
            d_max, upper = a, self.violated(self.cache[b])
        # (2) the best feasible dose at or below d_max
        while True:
            cands = sorted(e.dose for e in self.cache.values() if e.feasible and e.dose <= d_max)
            best = max(cands, key=lambda d: self.cache[d].madrs_improvement)
            i = cands.index(best)
            left = cands[i - 1] if i > 0 else best
            right = cands[i + 1] if i + 1 < len(cands) else best
            if right - left <= tol or (left == best and right == best):
                break
            before = len(self.cache)
            self.evaluate(np.linspace(left, right, _N_REFINE + 2)[1:-1])
            if len(self.cache) == before:
                break
        if best >= d_max:
            return best, upper
        return best, ("dose_range_lower" if best <= lo else None)

    # -- final check with ketasim.simulate
    def single(self, dose: float) -> DoseEvaluation:
        kw: dict[str, Any] = {"population": self.patients} if len(self.patients) > 1 else {"patient": self.patients[0]}
        res = simulate(
            self.regimen(dose),
            duration=f"{self.sim_h} h",
            output_step=_STEP,
            params=self.params,
            hypotheses=self.hyp,
            solver=self.solver,
            **kw,
        )
        return self._make(dose, res.per_patient())

    def verify(self, dose: float, lo: float, step: float) -> DoseEvaluation:
        e = self.single(dose)
        tries = 0
        while not self._within(e):  # never expected: the search keeps a margin under every limit
            tries += 1
            if tries > 10 or dose - step < lo - 1e-12:
                raise KetasimError(f"dose finding could not verify a safe dose near {dose:g}")
            dose -= step
            e = self.single(dose)
        return e

    def _within(self, e: DoseEvaluation) -> bool:
        """Within the limits themselves (the search margin is not required of the final check)."""
        return all(
            lim is None or val <= lim
            for val, lim in ((e.cadss_peak, self.limits["cadss"]), (e.sbp_rise_peak, self.limits["sbp"]))
        )


# ---------------------------------------------------------------- batched simulation


# ---------------------------------------------------------------- input parsing


def _regimen(drug: Drug, route: Route, dose: float, per_kg: bool, duration_h: float | None) -> Regimen:
    amount = Q_(float(dose), "mg/kg" if per_kg else "mg")
    dur = Q_(duration_h, "h") if (route is Route.IV and duration_h) else None
    return Regimen([Dose(drug, route, amount, duration=dur, at="0 h")])


def _patients(value: Patient | Sequence[Patient] | Population) -> list[Patient]:
    if isinstance(value, Patient):
        return [value]
    pts = list(getattr(value, "patients", value)) if value is not None else []
    if not pts or not all(isinstance(p, Patient) for p in pts):
        raise InputError(
            "patient_or_population",
            "must be a ketasim.Patient or a non-empty sequence of them",
            got=type(value).__name__,
        )
    return pts


def _dose_range(value: object, drug: Drug, route: Route) -> tuple[float, float, bool]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise InputError(
            "dose_range", "must be a (lowest, highest) pair such as ('0.1 mg/kg', '1.5 mg/kg')", got=repr(value)
        )
    try:
        (lo, kg_lo), (hi, kg_hi) = (parse_dose_amount(v, "dose_range") for v in value)
    except InputError as exc:
        raise InputError("dose_range", exc.message, got=repr(value)) from None
    if kg_lo != kg_hi:
        raise InputError("dose_range", "both ends must be in mg/kg or both in mg", got=repr(value))
    limit = 20.0 if kg_lo else 2000.0
    if not 0 < lo < hi <= limit:
        unit = "mg/kg" if kg_lo else "mg"
        raise InputError("dose_range", f"must satisfy 0 < lowest < highest <= {limit:g} {unit}", got=repr(value))
    if drug is Drug.ESKETAMINE and route is Route.INTRANASAL:
        if kg_lo:
            raise InputError("dose_range", "intranasal esketamine is dosed in mg (28 mg devices)", got=repr(value))
        if math.floor(hi / DEVICE_MG + 1e-9) < math.ceil(lo / DEVICE_MG - 1e-9):
            raise InputError("dose_range", "contains no whole number of 28 mg devices", got=repr(value))
    return lo, hi, kg_lo


def _round_down(dose: float, tol: float, lo: float) -> float:
    """``dose`` rounded down to the decimal place of ``tol`` (0.005 -> 3 decimals), not below ``lo``."""
    k = max(0, -math.floor(math.log10(tol)))
    return max(lo, math.floor(dose * 10**k + 1e-9) / 10**k)


def _tolerance(value: QuantityLike | None, per_kg: bool) -> float:
    if value is None:
        return 0.005 if per_kg else 0.5
    unit = "mg/kg" if per_kg else "mg"
    try:
        x, kg = parse_dose_amount(value, "tolerance")
    except InputError as exc:
        raise InputError("tolerance", exc.message, got=repr(value)) from None
    if kg != per_kg or x > (1.0 if per_kg else 100.0):
        raise InputError(
            "tolerance", f"must be in {unit}, > 0 and <= {1.0 if per_kg else 100.0:g} {unit}", got=repr(value)
        )
    return x
