"""Target-controlled infusion (TCI): the infusion-rate sequence that holds a concentration at target.

A TCI pump re-computes its rate every few seconds from a pharmacokinetic model. ``tci_schedule`` does
the same with the patient's own linear PK model (``model.pk.K`` for that patient, covariates and random
effects included) and returns the result as a ``Regimen`` of consecutive IV infusions, which
``ketasim.simulate`` then plays back through the full mechanistic model.

How each update interval's constant rate is chosen (the model is stepped exactly with matrix
exponentials; an IV infusion enters the heart-lung mixing compartments, ``s_mixing`` and ``r_mixing``
half each for racemic ketamine, ``s_mixing`` for esketamine):

* ``site="plasma"``: the largest rate that keeps the predicted plasma concentration at or below the
  target over the interval and the 2 minutes after it, assuming the infusion stops after this
  interval: at the end of the interval, or a few seconds later, when drug still passing the heart
  and lungs has arrived.
* ``site="effect"``: the largest rate that keeps the predicted effect-site concentration at or below
  the target at every future time over a 30-min look-ahead, assuming the infusion stops after this
  interval. This is the classic effect-site TCI idea of aiming the *peak* of the effect-site curve at
  the target (Shafer & Gregg 1992, cited from memory, not re-verified): hitting the target exactly at
  the end of every short interval instead makes the rates oscillate, because the effect site lags
  plasma by a second-order delay.

  Once the effect site is within 0.2% of the target, plasma and effect site are (nearly) in
  equilibrium, and the pump switches to holding the *plasma* concentration at the target, which keeps
  the effect site there without the on-off chatter of re-aiming a peak every interval. After a
  downward step it infuses nothing until the effect site has fallen to the new target.

Both rates are clipped to ``[0, max_rate]``. The first interval therefore acts as the "bolus" of a
TCI pump, limited by the pump's maximum rate.

Concentrations: ``drug="ketamine"`` targets total venous plasma ketamine (S + R, the model's
``ketamine_plasma``); ``drug="esketamine"`` targets ``esketamine_plasma``. The effect site of
``model/receptor.py`` holds *unbound* brain concentrations in µM (dCe/dt = ke0 (fu Kp,uu Cp - Ce)). TCI
targets are given as **plasma-equivalent** effect-site concentrations in ng/mL, the convention of TCI
pumps: the total plasma concentration that would be in equilibrium with the effect site, i.e.
``Ce_model[µM] / (fu Kp,uu) x MW``. A target T therefore means a model effect-site state of
``T x fu x Kp,uu / MW`` µM; ke0 is the patient's (``parameters/receptor.toml``).

Numbers chosen here:

* Allowed targets: > 0 and <= 3000 ng/mL. The modelled range ends a little above the anaesthetic
  plasma range of racemic ketamine, 1200-2400 ng/mL after 1-2 mg/kg IV (Zanos 2018, Pharmacol Rev 70:621,
  Table 1, as recorded in ``../shared/reference/pk.md``); beyond it the model is unvalidated.
* ``max_rate`` default 1200 mg/h (20 mg/min): *assumption*, a pump limit that loads a 70-kg patient to
  an antidepressant-range target within about a minute; real limits depend on the pump and the
  syringe concentration, so pass your device's limit (mg/h or mg/kg/h).
* ``update_every`` default 10 s: *assumption*, the order of the update interval of TCI pumps.

>>> import ketasim as ks
>>> reg = tci_schedule("150 ng/mL", ks.Patient(weight="70 kg"), duration="30 min", update_every="1 min")
>>> rates = tci_rates(reg)
>>> bool((rates["rate_mg_h"] > 0).all()), round(float(rates["end_h"].iloc[-1]), 3)
(True, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
import pandas as pd
from scipy.linalg import expm

from ketasim.dosing import Dose, Drug, Regimen, Route
from ketasim.errors import InputError
from ketasim.model import assemble
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient
from ketasim.units import Q_, QuantityLike, parse_quantity, to_quantity

if TYPE_CHECKING:
    from ketasim.simulation import Result

__all__ = [
    "DEFAULT_MAX_RATE_MG_H",
    "DEFAULT_UPDATE_S",
    "MAX_TARGET_NG_ML",
    "TargetLike",
    "parse_profile",
    "tci_deviation_pct",
    "tci_profile_deviation_pct",
    "tci_rates",
    "tci_schedule",
    "tci_totals",
]

TargetLike: TypeAlias = QuantityLike | Sequence[tuple[QuantityLike, QuantityLike]]
"""A TCI target: one concentration, or a stepped profile of ``(time, concentration)`` pairs."""

MAX_TARGET_NG_ML = 3000.0  # just above the anaesthetic range 1200-2400 ng/mL (Zanos 2018 Table 1)
DEFAULT_MAX_RATE_MG_H = 1200.0  # assumption: pump limit (see module docstring)
DEFAULT_UPDATE_S = 10.0  # assumption: TCI pump update interval
LOOKAHEAD_H = 0.5  # effect-site look-ahead horizon (several ke0 half-lives of 6 min)
PLASMA_LOOKAHEAD_H = 2.0 / 60.0  # plasma: the heart-lung transit (seconds) and a margin
MAX_DURATION_H = 48.0
MAX_RATE_LIMIT_MG_H = 1.0e5
EFFECT_SWITCH = 0.002  # effect-site mode: hold plasma once Ce is within 0.2% of target
MIN_RATE_MG_H = 1e-6  # rates below this are rounding noise: no infusion
_FINE_STEP_H = 10.0 / 3600.0  # prediction grid inside long update intervals
_MAX_DOSE_MG = 1000.0  # split merged steps below the Dose limit of 2000 mg


def tci_schedule(
    target: TargetLike,
    patient: Patient | None = None,
    *,
    drug: str | Drug = "ketamine",
    site: str = "plasma",
    duration: QuantityLike = "2 h",
    update_every: QuantityLike = "10 s",
    max_rate: QuantityLike = "1200 mg/h",
    params: ParameterSet | None = None,
) -> Regimen:
    """Infusion schedule that holds ``target`` in ``patient``'s plasma or effect site.

    ``target``: a concentration (number in ng/mL or a string such as ``"150 ng/mL"``) or a stepped
    profile ``[(time, concentration), ...]`` with strictly increasing times from 0 (before the first
    step nothing is infused; a change takes effect at the first update at or after its time). Every
    concentration must be > 0 and <= 3000 ng/mL. ``site``: ``"plasma"`` or ``"effect"``
    (plasma-equivalent effect-site concentration). ``duration`` (0-48 h, zero excluded): when the
    infusion stops. ``update_every`` (1 s - 10 min): the pump's update interval. ``max_rate``
    (mg/h or mg/kg/h, > 0): the pump's maximum rate. Returns a ``Regimen`` of consecutive IV
    infusions (zero-rate intervals are left out, equal consecutive rates merged).
    """
    patient = patient if patient is not None else Patient()
    if not isinstance(patient, Patient):
        raise InputError("patient", "must be a ketasim.Patient", got=type(patient).__name__)
    drug_ = Drug.parse(drug)
    if drug_ not in (Drug.KETAMINE, Drug.ESKETAMINE):
        raise InputError("drug", "TCI is modelled for ketamine (racemic) and esketamine only", got=repr(drug))
    site_ = str(site).strip().lower()
    if site_ not in ("plasma", "effect"):
        raise InputError("site", "must be one of: plasma, effect", got=repr(site))
    duration_h = parse_quantity(duration, "duration", "h", strictly_positive=True, maximum=MAX_DURATION_H)
    dt = parse_quantity(update_every, "update_every", "h", minimum=1.0 / 3600.0, maximum=10.0 / 60.0)
    rmax = _max_rate(max_rate, patient.weight_kg)
    steps = _target_steps(target, duration_h)
    params = params or default_parameters()

    A, b, c, cp = _system(params, patient, drug_, site_)
    n_up = math.ceil(duration_h / dt - 1e-9)
    times = np.minimum(np.arange(n_up + 1) * dt, duration_h)
    m = max(1, math.ceil(dt / _FINE_STEP_H - 1e-9))  # prediction sub-steps per update
    delta = dt / m
    E, G = _discretise(A, b, delta)
    E_dt, G_dt = _discretise(A, b, dt)  # one full update interval
    # Both sites aim the peak of the predicted curve (the infusion assumed to stop after this interval)
    # at the target; for plasma over a short look-ahead, because drug still in the heart and lungs at
    # the end of an interval reaches plasma seconds later.
    horizon = LOOKAHEAD_H if site_ == "effect" else PLASMA_LOOKAHEAD_H
    J = m * max(3, math.ceil(horizon / dt))
    free_rows = np.empty((J, A.shape[0]))  # c . E^j, j = 1..J
    pulse = np.empty(J)  # response to a unit rate held for one update interval
    row, p = c.copy(), np.zeros(A.shape[0])
    for j in range(J):
        row = row @ E
        p = E @ p + (G if j < m else 0.0)
        free_rows[j] = row
        pulse[j] = c @ p
    usable = pulse > 1e-12 * pulse.max()

    def peak_at_target(tgt: float, z: np.ndarray) -> float:
        """The largest rate for this interval that keeps the predicted curve at or below ``tgt``."""
        return float(np.min((tgt - (free_rows @ z)[usable]) / pulse[usable]))

    z = np.zeros(A.shape[0])
    rates = np.zeros(n_up)
    maintaining, last_tgt = False, 0.0
    for k in range(n_up):
        # The rate is chosen for a full update interval, as a pump does; a last, shorter interval is
        # simply cut off where the infusion ends.
        tgt = _target_at(steps, float(times[k]))
        if site_ == "plasma":
            r = peak_at_target(tgt, z)
        else:
            ce_now = float(c @ z)
            if tgt != last_tgt:
                maintaining = False
            if not maintaining and ce_now >= (1.0 - EFFECT_SWITCH) * tgt:
                maintaining = ce_now <= tgt * (1.0 + EFFECT_SWITCH)  # above: wait until it falls to target
            # Ce ~ Cp ~ target: hold plasma at target; otherwise aim the effect site's peak at it
            r = (tgt - cp @ (E_dt @ z)) / (cp @ G_dt) if maintaining else peak_at_target(tgt, z)
        last_tgt = tgt
        r = min(max(r, 0.0), rmax)
        rates[k] = r if r > MIN_RATE_MG_H else 0.0
        h = float(times[k + 1] - times[k])
        Ek, Gk = (E_dt, G_dt) if abs(h - dt) <= 1e-12 else _discretise(A, b, h)
        z = Ek @ z + Gk * rates[k]
    doses = _doses(drug_, times, rates)
    desc = _describe(target, steps, drug_, site_, duration_h)
    return Regimen(doses, name=f"tci-{drug_.value}-{site_}", description=desc)


def tci_rates(regimen: Regimen) -> pd.DataFrame:
    """The infusion steps of a regimen as a table: ``start_h``, ``end_h``, ``rate_mg_h``, ``amount_mg``.

    Per-kg IV doses are refused (a TCI schedule is absolute, for one patient).

    >>> from ketasim import Dose, Regimen
    >>> tci_rates(Regimen([Dose("ketamine", "iv", "10 mg", duration="30 min")]))["rate_mg_h"].tolist()
    [20.0]
    """
    if not isinstance(regimen, Regimen):
        raise InputError("regimen", "must be a ketasim.Regimen", got=type(regimen).__name__)
    rows = []
    for i, d in enumerate(regimen.doses):
        if d.route is not Route.IV or not d.duration_h or d.per_kg:
            raise InputError(f"doses[{i}]", "must be an IV infusion with an absolute amount (mg)", got=d.describe())
        rows.append(
            {
                "start_h": d.at_h,
                "end_h": d.at_h + d.duration_h,
                "rate_mg_h": d.amount / d.duration_h,
                "amount_mg": d.amount,
            }
        )
    return pd.DataFrame(rows, columns=["start_h", "end_h", "rate_mg_h", "amount_mg"])


def tci_totals(rates: pd.DataFrame) -> dict[str, float]:
    """``{"steps": number of rate steps, "total_mg": drug given in mg}`` of a ``tci_rates`` table.

    >>> from ketasim import Dose, Regimen
    >>> tci_totals(tci_rates(Regimen([Dose("ketamine", "iv", "10 mg", duration="30 min")])))
    {'steps': 1, 'total_mg': 10.0}
    """
    return {"steps": len(rates), "total_mg": float(rates["amount_mg"].sum())}


def parse_profile(text: str) -> list[tuple[str, float]]:
    """A stepped TCI profile written ``"time:conc,time:conc,..."`` as ``[(time, conc_ng_ml), ...]``.

    A time with a unit (any letter, e.g. ``20min``) is kept as written; a bare number is read in hours.
    Each concentration is a plain number in ng/mL. Only the syntax is checked here; ``tci_schedule``
    checks the values (times increasing from 0, concentrations in range). A malformed profile raises one
    ``InputError`` naming the field ``profile``.

    >>> parse_profile("0:100,20min:250")
    [('0 h', 100.0), ('20min', 250.0)]
    """
    steps: list[tuple[str, float]] = []
    try:
        for item in text.split(","):
            fields = item.split(":")
            if len(fields) != 2:
                raise ValueError(item)
            time = fields[0] if any(ch.isalpha() for ch in fields[0]) else f"{fields[0]} h"
            steps.append((time, float(fields[1])))
    except (IndexError, ValueError):
        raise InputError("profile", "expected 'time:conc,...'", got=repr(text)) from None
    return steps


def tci_deviation_pct(result: Result, target_ng_ml: float, drug: str | Drug = "ketamine") -> float:
    """Largest deviation (%) of the simulated plasma concentration from a constant target.

    Compares the first patient's venous plasma concentration (``ketamine_plasma`` for racemic ketamine,
    ``esketamine_plasma`` for esketamine) with ``target_ng_ml`` over the last three quarters of the run
    (the first quarter is the approach to the target), as ``max |C / target - 1| x 100``.
    """
    return tci_profile_deviation_pct(result, [(0.0, target_ng_ml)], drug)


def tci_profile_deviation_pct(
    result: Result, steps_h: Sequence[tuple[float, float]], drug: str | Drug = "ketamine"
) -> float:
    """Largest deviation (%) of the simulated plasma concentration from a stepped target
    ``[(start_h, conc_ng_ml), ...]``, over the last three quarters of every step (the first quarter of
    each is the approach to its new level)."""
    var = "ketamine_plasma" if Drug.parse(drug) is Drug.KETAMINE else "esketamine_plasma"
    c = result.dataset[var].values[0]
    t = result.dataset["time"].values
    ends = [s for s, _ in steps_h[1:]] + [float(t[-1])]
    worst = 0.0
    for (start, level), end in zip(steps_h, ends, strict=True):
        late = (t > start + 0.25 * (end - start)) & (t <= end)
        if late.any() and level > 0:
            worst = max(worst, float(np.max(np.abs(c[late] / level - 1)) * 100))
    return worst


# ---------------------------------------------------------------- internals


def _system(params: ParameterSet, patient: Patient, drug: Drug, site: str) -> tuple[np.ndarray, ...]:
    """State matrix A, input vector b (per mg/h), output rows (ng/mL) of the targeted site and of plasma,
    all from the patient's assembled model: its PK rate matrix, its dosing of an IV infusion and the PK
    layer's concentration map."""
    model = assemble(params, [patient])
    K = model.pk.K[0]
    n = K.shape[0]
    output = "ketamine_plasma" if drug is Drug.KETAMINE else "esketamine_plasma"
    c = model.concentration_map([output])[0, 0]
    b = np.zeros(n)
    _, infusions = model.pk.inputs(Regimen([Dose(drug, "iv", "1 mg", duration="1 h")]))  # 1 mg/h
    for inf in infusions:
        b[inf.state] += float(inf.rate[0])  # µmol/h per mg/h (racemate: half each enantiomer)
    if site == "plasma":
        return K, b, c, c
    ke0 = float(model.constants["ke0"][0])
    A = np.zeros((n + 1, n + 1))
    A[:n, :n] = K
    A[n, :n] = ke0 * c  # plasma-equivalent effect site: dCe/dt = ke0 (Cp - Ce)
    A[n, n] = -ke0
    ce = np.zeros(n + 1)
    ce[n] = 1.0
    return A, np.append(b, 0.0), ce, np.append(c, 0.0)


def _discretise(A: np.ndarray, b: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact zero-order-hold step: z(t+h) = E z(t) + G r for a constant rate r."""
    n = A.shape[0]
    M = np.zeros((n + 1, n + 1))
    M[:n, :n] = A
    M[:n, n] = b
    X = expm(M * h)
    return X[:n, :n], X[:n, n]


def _max_rate(value: QuantityLike, weight_kg: float) -> float:
    q = to_quantity(value, "max_rate", "mg/h")
    try:
        x = float(q.to("mg/h").magnitude)
    except Exception:
        try:
            x = float(q.to("mg/kg/h").magnitude) * weight_kg
        except Exception:
            raise InputError("max_rate", "expected a rate in mg/h or mg/kg/h", got=repr(value)) from None
    if not (math.isfinite(x) and 0 < x <= MAX_RATE_LIMIT_MG_H):
        raise InputError("max_rate", f"must be > 0 and <= {MAX_RATE_LIMIT_MG_H:g} mg/h", got=repr(value))
    return x


def _concentration(value: QuantityLike, where: str) -> float:
    allowed = f"must be > 0 and <= {MAX_TARGET_NG_ML:g} ng/mL (the modelled range; anaesthesia is 1200-2400 ng/mL)"
    try:
        x = parse_quantity(value, "target", "ng/mL")
    except InputError as exc:
        raise InputError("target", f"{where}{exc.message}; {allowed}", got=repr(value)) from None
    if not 0.0 < x <= MAX_TARGET_NG_ML:
        raise InputError("target", f"{where}{allowed}", got=repr(value))
    return x


def _target_steps(target: TargetLike, duration_h: float) -> list[tuple[float, float]]:
    if isinstance(target, Sequence) and not isinstance(target, str):
        if not target:
            raise InputError("target", "a stepped profile needs at least one (time, concentration) step", got="[]")
        steps: list[tuple[float, float]] = []
        for i, item in enumerate(target):
            if not (isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2):
                raise InputError("target", f"step {i} must be a (time, concentration) pair", got=repr(item))
            t = parse_quantity(item[0], f"target[{i}].time", "h", minimum=0.0, maximum=duration_h)
            if t >= duration_h:
                raise InputError(f"target[{i}].time", "must be before the end of the infusion", got=repr(item[0]))
            if steps and t <= steps[-1][0]:
                raise InputError(f"target[{i}].time", "step times must increase strictly", got=repr(item[0]))
            steps.append((t, _concentration(item[1], f"step {i}: ")))
        return steps
    return [(0.0, _concentration(target, ""))]


def _target_at(steps: list[tuple[float, float]], t: float) -> float:
    value = 0.0
    for ts, c in steps:
        if ts <= t + 1e-9:
            value = c
    return value


def _doses(drug: Drug, times: np.ndarray, rates: np.ndarray) -> list[Dose]:
    doses: list[Dose] = []
    k, n = 0, rates.size
    while k < n:
        if rates[k] <= 0.0:
            k += 1
            continue
        j = k + 1
        while j < n and rates[j] == rates[k] and rates[k] * (times[j + 1] - times[k]) <= _MAX_DOSE_MG:
            j += 1
        start, stop = float(times[k]), float(times[j])
        dur = stop - start
        while start + dur < stop:  # make the infusion end exactly where the next one starts
            dur = float(np.nextafter(dur, math.inf))
        while start + dur > stop:
            dur = float(np.nextafter(dur, -math.inf))
        doses.append(Dose(drug, "iv", Q_(float(rates[k]) * dur, "mg"), duration=Q_(dur, "h"), at=Q_(start, "h")))
        k = j
    return doses


def _describe(target: TargetLike, steps: list[tuple[float, float]], drug: Drug, site: str, duration_h: float) -> str:
    prof = ", ".join(f"{c:g} ng/mL from {t:g} h" for t, c in steps)
    return f"TCI of {drug.value}, {site} target {prof}, for {duration_h:g} h"
