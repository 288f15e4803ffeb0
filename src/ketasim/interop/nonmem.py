"""Pharmacometric data exchange: NONMEM-style datasets and a population description.

:func:`to_nonmem` writes a simulated study in the event-record layout NONMEM, nlmixr2, Monolix and Pumas
read; :func:`regimen_from_nonmem` reads the dose records of such a file back as a ``Regimen``;
:func:`population_description` lists the population model (typical values, inter-individual
variability, covariate model, residual error) from the parameter registry, to sit beside the SBML.

**Columns**, in this order (one row per dose and per observation, sorted by ID, then TIME, with the
dose records before the observations at the same time, as NONMEM expects)::

    ID TIME AMT RATE CMT EVID DV MDV DVID DRUG WT SEX AGE CYP2B6 ANCESTRY

* ``ID``: patient index + 1. ``TIME``: hours from the start of the simulation (the Result's time axis).
* ``AMT``: mg per dose, absolute (a mg/kg dose is multiplied by the patient's weight); 0 on
  observation rows. ``RATE``: mg/h for an IV infusion (AMT / duration), 0 for a bolus or another route.
* ``CMT``: where the dose goes in, by route (the PK layer, ``ketasim.model.pk``, has one input per
  route and product: racemic and esketamine depots are separate states, so ``DRUG`` says which)::

      1 oral (gut depot)   2 intranasal (nasal depot)   3 intramuscular (IM depot)   4 central (IV)

  Plasma observations carry CMT 4 (concentrations are read in the central volume); MADRS observations
  carry CMT 5 (a response, not a PK compartment). Within ketasim's model a racemic dose is split
  between S- and R-ketamine, an intranasal dose between the nasal mucosa and the gut (esketamine: one
  28 mg device every ``device_interval``), an IM dose by its bioavailability: those are properties of
  the model, not of the record, so the record holds the dose as given.
* ``EVID``: 1 dose, 0 observation. ``MDV``: 1 on dose rows, 0 on observation rows.
* ``DV``: the observation in its unit (:data:`DVID`): ng/mL (venous plasma) or MADRS points. It is the
  model prediction itself: no assay or rating error is added (see ``residual_error`` in
  :func:`population_description` for the ones ketasim uses in trials). Missing (``.``) on dose rows.
* ``DVID``: which observation, :data:`DVID` (0 on dose rows). ``DRUG``: :data:`DRUG_CODES` (0 on
  observation rows).
* Covariates: ``WT`` kg, ``SEX`` (0 male, 1 female), ``AGE`` years, ``CYP2B6`` (number of \\*6 alleles:
  0 \\*1/\\*1, 1 \\*1/\\*6, 2 \\*6/\\*6), ``ANCESTRY`` (0 non-Asian, 1 Asian other than Japanese, 2 Japanese;
  an esketamine covariate of Perez-Ruixo 2021).

The CSV is plain comma-separated with a header line and ``.`` for a missing value (DV on dose rows),
the NONMEM convention: ``$DATA study.csv IGNORE=@`` with ``$INPUT`` listing the header; nlmixr2
``read.csv("study.csv", na.strings = ".")``; Monolix reads ``.`` as missing; Pumas
``CSV.read("study.csv", DataFrame; missingstring = ".")``. Numbers are written with all their digits
(a value read back is the value written).

**Not exported**: sessions (saline or placebo spray, midazolam, psychotherapy, exercise, visits, diet,
supplements, and the ``oral_antidepressant`` session, a continuous SSRI input) are not doses; they are
left out and listed in ``DataFrame.attrs["omitted_sessions"]``. A re-imported regimen has none. Doses
after the end of the simulated window are left out too (``attrs["omitted_doses"]``): the study did
not see them.

**Import** (:func:`regimen_from_nonmem`, :func:`regimens_from_nonmem`) reads the ``EVID`` 1 rows (and
expands ``ADDL``/``II`` repeats); ``EVID`` 0 and 2 rows carry no dose and are skipped. Refused, with
an ``InputError`` naming the column and the row (data rows counted from 1, the header excluded): a
missing required column (ID, TIME, AMT, CMT, EVID), a non-numeric value, AMT <= 0, an unknown CMT,
``EVID`` 3 or 4 (a reset: a Regimen cannot express one), ``RATE`` -1 or -2 (a rate defined by the
model), a RATE on a non-IV dose, ``SS`` != 0 (steady state), and anything ``Dose`` itself refuses.
Amounts come back in mg (a record does not say mg/kg).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.files import atomic_path, atomic_write_text
from ketasim._internal.jsonable import dumps
from ketasim._internal.meta import VERSION
from ketasim.dosing import Dose, Drug, Regimen, Route
from ketasim.errors import InputError
from ketasim.model.pk import ESK_AGE_FROM_Y, ESK_QH_FLOOR_L_H, REFERENCE_WEIGHT_KG
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import (
    ANCESTRIES,
    COMEDICATIONS,
    CYP2B6_GENOTYPES,
    ITEMS,
    NETWORK_VARIABILITY,
    PD_VARIABILITY,
    SWALLOWED_ABSORPTION,
    TRAUMA_VARIABILITY,
    Patient,
)
from ketasim.simulation import Result
from ketasim.units import Q_, QuantityLike, parse_quantity

__all__ = [
    "ANCESTRY_CODES", "CMT", "CMT_RESPONSE", "COLUMNS", "CYP2B6_CODES", "DEFAULT_OBSERVATIONS", "DRUG_CODES", "DVID",
    "ESK_AGE_FROM_Y", "ESK_QH_FLOOR_L_H", "REFERENCE_WEIGHT_KG", "SEX_CODES", "population_description",
    "regimen_from_nonmem", "regimens_from_nonmem", "to_nonmem",
]  # fmt: skip

#: The dataset's columns, in order.
COLUMNS = ("ID", "TIME", "AMT", "RATE", "CMT", "EVID", "DV", "MDV", "DVID", "DRUG", "WT", "SEX", "AGE", "CYP2B6",
           "ANCESTRY")  # fmt: skip
#: Dosing compartment by route. Plasma observations use 4 (central).
CMT: dict[Route, int] = {Route.ORAL: 1, Route.INTRANASAL: 2, Route.IM: 3, Route.IV: 4}
#: CMT of MADRS observations (a response, not a PK compartment).
CMT_RESPONSE = 5
#: The DRUG column (0 on observation rows).
DRUG_CODES: dict[Drug, int] = {Drug.KETAMINE: 1, Drug.ESKETAMINE: 2, Drug.PSILOCYBIN: 3, Drug.ESCITALOPRAM: 4,
                               Drug.CITALOPRAM: 5}  # fmt: skip
#: Observation kind -> DVID; every one is a Result variable (ng/mL, venous plasma, except madrs: points).
DVID: dict[str, int] = {
    "ketamine_plasma": 1, "esketamine_plasma": 2, "arketamine_plasma": 3, "norketamine_plasma": 4,
    "hydroxynorketamine_plasma": 5, "psilocin_plasma": 6, "escitalopram_plasma": 7, "madrs": 8,
}  # fmt: skip
SEX_CODES = {"male": 0, "female": 1}
#: Number of CYP2B6*6 alleles.
CYP2B6_CODES = {g: i for i, g in enumerate(CYP2B6_GENOTYPES)}
ANCESTRY_CODES = {a: i for i, a in enumerate(ANCESTRIES)}
DEFAULT_OBSERVATIONS = ("ketamine_plasma", "madrs")

_REQUIRED = ("ID", "TIME", "AMT", "CMT", "EVID")
_ROUTE_OF_CMT = {v: k for k, v in CMT.items()}
_DRUG_OF_CODE = {v: k for k, v in DRUG_CODES.items()}
_CMT_TEXT = "1 (oral), 2 (intranasal), 3 (intramuscular) or 4 (IV, central)"
_INT_COLUMNS = ("ID", "CMT", "EVID", "MDV", "DVID", "DRUG", "SEX", "CYP2B6", "ANCESTRY")


# ------------------------------------------------------------------------------------------------ export


def to_nonmem(
    result: Result,
    patients: Patient | Sequence[Patient],
    *,
    analytes: Sequence[str] | None = None,
    observe_every: QuantityLike | None = None,
    observe_at: Sequence[QuantityLike] | None = None,
    path: str | Path | None = None,
) -> pd.DataFrame:
    """The simulated study ``result`` as a NONMEM-style dataset (see the module docstring for the columns).

    ``patients``: the patient (or the population) that was simulated, in the Result's order; a Result
    does not keep them, and the doses in mg/kg and the covariates need them. ``analytes``: the
    observations, names of :data:`DVID` (default: ``ketamine_plasma`` and ``madrs``, those the Result
    holds). Observations are made at every output time of the Result, or at the multiples of
    ``observe_every`` (e.g. ``"1 h"``), or at the times ``observe_at``; either must fall on the Result's
    time grid (DV is the Result's value there, never interpolated). ``path``: also write the CSV there
    (atomically). Returns the table (DV NaN on dose rows, written as ``.``).
    """
    if not isinstance(result, Result):
        raise InputError("result", "must be a ketasim.Result (from ketasim.simulate)", got=type(result).__name__)
    ds = result.dataset
    pts = _patient_list(patients, result.n_patients)
    names = _analytes(analytes, ds)
    t_all = ds["time"].values
    idx = _observation_index(t_all, observe_every, observe_at)
    n, times = len(pts), t_all[idx]
    weights = np.array([p.weight_kg for p in pts])

    # dose rows: one per patient and dose
    doses = tuple(d for d in result.regimen.doses if d.at_h <= t_all[-1] + 1e-9)  # those the run saw
    nd = len(doses)
    amt = np.array([[float(d.amount_mg(w)) for d in doses] for w in weights]).reshape(n, nd)
    dur = np.array([d.duration_h or 0.0 for d in doses])
    rate = np.divide(amt, dur, out=np.zeros_like(amt), where=dur > 0)
    dose_part = {
        "ID": np.repeat(np.arange(1, n + 1), nd),
        "TIME": np.tile([d.at_h for d in doses], n),
        "AMT": amt.ravel(),
        "RATE": rate.ravel(),
        "CMT": np.tile([CMT[d.route] for d in doses], n),
        "EVID": np.ones(n * nd, int),
        "DV": np.full(n * nd, np.nan),
        "DVID": np.zeros(n * nd, int),
        "DRUG": np.tile([DRUG_CODES[d.drug] for d in doses], n),
        "_order": np.tile(np.arange(nd), n),  # the regimen's order among doses at the same time
    }
    # observation rows: one per patient, analyte and time
    nt, na = times.size, len(names)
    dv = np.stack([ds[name].values[:, idx] for name in names], axis=1)  # (patient, analyte, time)
    obs_part = {
        "ID": np.repeat(np.arange(1, n + 1), na * nt),
        "TIME": np.tile(times, n * na),
        "AMT": np.zeros(n * na * nt),
        "RATE": np.zeros(n * na * nt),
        "CMT": np.tile(np.repeat([CMT_RESPONSE if a == "madrs" else CMT[Route.IV] for a in names], nt), n),
        "EVID": np.zeros(n * na * nt, int),
        "DV": dv.ravel(),
        "DVID": np.tile(np.repeat([DVID[a] for a in names], nt), n),
        "DRUG": np.zeros(n * na * nt, int),
        "_order": np.tile(np.repeat([DVID[a] for a in names], nt), n),
    }
    df = pd.concat([pd.DataFrame(dose_part), pd.DataFrame(obs_part)], ignore_index=True)
    df["MDV"] = np.where(df["EVID"] == 1, 1, np.isnan(df["DV"].to_numpy()).astype(int))
    cov = pd.DataFrame(
        {
            "WT": weights,
            "SEX": [SEX_CODES[p.sex] for p in pts],
            "AGE": [p.age_y for p in pts],
            "CYP2B6": [CYP2B6_CODES[p.cyp2b6] for p in pts],
            "ANCESTRY": [ANCESTRY_CODES[p.ancestry] for p in pts],
        }
    )
    row_patient = df["ID"].to_numpy() - 1
    for col in cov.columns:
        df[col] = cov[col].to_numpy()[row_patient]
    # NONMEM order: by ID and TIME; at one time the doses (EVID 1, in the regimen's order) before the
    # observations (by DVID)
    df = df.sort_values(["ID", "TIME", "EVID", "_order"], ascending=[True, True, False, True], kind="stable")
    df = df[list(COLUMNS)].reset_index(drop=True)
    for col in _INT_COLUMNS:
        df[col] = df[col].astype("int64")
    df.attrs["omitted_sessions"] = [s.describe() for s in result.regimen.sessions]
    df.attrs["omitted_doses"] = [d.describe() for d in result.regimen.doses[nd:]]
    # co-medication has no column (it is a list per patient): the patients with one, by ID
    df.attrs["comedication"] = {i + 1: list(p.comedication) for i, p in enumerate(pts) if p.comedication}
    if path is not None:
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False, na_rep=".", lineterminator="\n")
    return df


def _patient_list(patients: object, n: int) -> list[Patient]:
    if isinstance(patients, Patient):
        pts: list[object] = [patients]
    else:
        items = getattr(patients, "patients", patients)  # a Population or a sequence
        pts = list(items) if isinstance(items, Sequence) and not isinstance(items, str) else []
    if not pts or not all(isinstance(p, Patient) for p in pts):
        raise InputError("patients", "must be the ketasim.Patient (or the population) that was simulated")
    if len(pts) != n:
        raise InputError("patients", f"the Result holds {n} patients; give the same patients in the same order",
                         got=f"{len(pts)} patients")  # fmt: skip
    return [p for p in pts if isinstance(p, Patient)]


def _analytes(analytes: Sequence[str] | None, ds: Any) -> list[str]:
    if analytes is None:
        names = [a for a in DEFAULT_OBSERVATIONS if a in ds]
        if not names:
            raise InputError("analytes", f"the Result holds none of {', '.join(DEFAULT_OBSERVATIONS)}; name some")
        return names
    names = [analytes] if isinstance(analytes, str) else list(analytes)
    unknown = [a for a in names if a not in DVID]
    if unknown or not names:
        shown = ", ".join(map(str, unknown)) or "none"
        raise InputError("analytes", f"must name some of: {', '.join(DVID)}", got=shown)
    absent = [a for a in names if a not in ds]
    if absent:
        raise InputError("analytes", "not in the Result (simulate without restricting `outputs`)",
                         got=", ".join(absent))  # fmt: skip
    return list(dict.fromkeys(names))


def _observation_index(
    t: np.ndarray, every: QuantityLike | None, at: Sequence[QuantityLike] | None, tol: float = 1e-9
) -> np.ndarray:
    if every is not None and at is not None:
        raise InputError("observe_every", "give either observe_every or observe_at, not both")
    if every is None and at is None:
        return np.arange(t.size)
    if every is not None:
        step = parse_quantity(every, "observe_every", "h", strictly_positive=True, unit_required=True)
        wanted = np.arange(0.0, t[-1] + tol, step)
        field = "observe_every"
    else:
        if isinstance(at, str) or not isinstance(at, Sequence) or not at:
            raise InputError("observe_at", "must be a non-empty list of times, e.g. ['1 h', '1 d']", got=repr(at))
        wanted = np.array([parse_quantity(x, f"observe_at[{i}]", "h", minimum=0.0) for i, x in enumerate(at)])
        field = "observe_at"
    i = np.clip(np.searchsorted(t, wanted), 1, t.size - 1)
    nearest = np.where(np.abs(t[i - 1] - wanted) <= np.abs(t[i] - wanted), i - 1, i)
    if t.size == 1:
        nearest = np.zeros(wanted.size, int)
    off = np.abs(t[nearest] - wanted) > tol
    if off.any():
        raise InputError(field, "must fall on the Result's output times (simulate with an output_step that divides "
                         "them; DV is never interpolated)", got=f"{wanted[off][0]:g} h")  # fmt: skip
    return np.unique(nearest)


# ------------------------------------------------------------------------------------------------ import


def regimens_from_nonmem(data: str | Path | pd.DataFrame, *, drug: str | None = None) -> dict[int, Regimen]:
    """The dose records (``EVID`` 1) of a NONMEM-style dataset as one ``Regimen`` per ``ID``.

    ``data``: a CSV file (``.`` read as missing) or a DataFrame. ``drug``: the drug of every dose when the
    dataset has no ``DRUG`` column (a name such as ``"esketamine"``); a ``DRUG`` column may hold the
    codes of :data:`DRUG_CODES` or drug names. An ID without dose records gets an empty Regimen.
    """
    df, origin = _read(data)
    default_drug = None if drug is None else Drug.parse(drug)
    evid = _numbers(df, "EVID")
    for pos in np.flatnonzero(~np.isin(evid, (0, 1, 2))):
        e = evid[pos]
        why = ("a reset (EVID 3, 4) cannot be expressed as a Regimen; split the record at the reset"
               if e in (3, 4) else "must be 0 (observation), 1 (dose) or 2 (other event)")  # fmt: skip
        raise InputError(f"EVID (row {pos + 1})", why, got=_shown(df["EVID"].iloc[pos]))
    ids = _numbers(df, "ID")
    bad_id = np.flatnonzero(~np.isfinite(ids) | (ids != np.round(ids)))
    if bad_id.size:
        raise InputError(f"ID (row {bad_id[0] + 1})", "must be a whole number", got=_shown(df["ID"].iloc[bad_id[0]]))
    doses: dict[int, list[Dose]] = {int(i): [] for i in dict.fromkeys(ids.tolist())}
    rows = np.flatnonzero(evid == 1)
    cols = {c: _numbers(df, c) for c in ("TIME", "AMT", "CMT")}
    for c in ("RATE", "SS", "ADDL", "II"):
        cols[c] = _numbers(df, c) if c in df else np.zeros(len(df))
    for pos in rows:
        doses[int(ids[pos])].extend(_doses_of_row(df, cols, int(pos), default_drug))
    return {
        i: Regimen(ds, name=f"ID {i}", source=origin, description=f"dosing record ({len(ds)} doses) from {origin}")
        for i, ds in doses.items()
    }


def regimen_from_nonmem(data: str | Path | pd.DataFrame, id: int | None = None, *, drug: str | None = None) -> Regimen:
    """The dose records of one ``ID`` of a NONMEM-style dataset as a ``Regimen`` (see :func:`regimens_from_nonmem`).

    ``id`` may be left out when the dataset holds one ID only.
    """
    regimens = regimens_from_nonmem(data, drug=drug)
    known = ", ".join(map(str, list(regimens)[:20])) + (", ..." if len(regimens) > 20 else "")
    if id is None:
        if len(regimens) != 1:
            raise InputError("id", f"the dataset holds {len(regimens)} IDs; choose one of: {known}")
        return next(iter(regimens.values()))
    if isinstance(id, bool) or not isinstance(id, int | np.integer) or int(id) not in regimens:
        raise InputError("id", f"must be an ID of the dataset: {known}", got=repr(id))
    return regimens[int(id)]


#: pandas 3 reads floats back exactly by default; pandas 2 only when asked (the option is deprecated in 3.1)
_ROUND_TRIP: dict[str, Any] = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def _read(data: str | Path | pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        df, origin = data.copy(), "a DataFrame"
    elif isinstance(data, str | Path):
        try:
            df = pd.read_csv(data, na_values=["."], skipinitialspace=True, **_ROUND_TRIP)
        except OSError as exc:
            raise InputError("path", f"cannot read the file ({exc.strerror or exc})", got=str(data)) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError("path", f"not a CSV table ({str(exc).splitlines()[0]})", got=str(data)) from None
        origin = Path(data).name
    else:
        raise InputError("data", "must be a CSV path or a pandas DataFrame", got=type(data).__name__)
    df.columns = [str(c).strip().upper() for c in df.columns]
    missing = [c for c in _REQUIRED if c not in df.columns]
    if missing:
        raise InputError(missing[0], f"required column is missing (a dosing record needs {', '.join(_REQUIRED)}; "
                         "RATE, DRUG, ADDL, II, SS are optional)", got="columns " + ", ".join(df.columns))  # fmt: skip
    return df.reset_index(drop=True), origin


def _numbers(df: pd.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` as floats (missing -> NaN); a value that is not a number is refused with its row."""
    raw = df[col]
    x = pd.to_numeric(raw, errors="coerce").to_numpy(float)
    bad = np.flatnonzero(np.isnan(x) & raw.notna().to_numpy())
    if bad.size:
        raise InputError(f"{col} (row {bad[0] + 1})", "must be a number", got=_shown(raw.iloc[bad[0]]))
    return x


def _shown(value: object) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _doses_of_row(df: pd.DataFrame, cols: dict[str, np.ndarray], pos: int, default_drug: Drug | None) -> list[Dose]:
    row = pos + 1

    def refuse(col: str, message: str, value: object | None = None) -> InputError:
        shown = _shown(df[col].iloc[pos]) if value is None and col in df else repr(value)
        return InputError(f"{col} (row {row})", message, got=shown)

    t, amt, cmt, rate = (cols[c][pos] for c in ("TIME", "AMT", "CMT", "RATE"))
    if not math.isfinite(t) or t < 0:
        raise refuse("TIME", "must be a number of hours >= 0 on a dose row")
    if not math.isfinite(amt) or amt <= 0:
        raise refuse("AMT", "must be a dose in mg > 0 on a dose row")
    if cmt not in _ROUTE_OF_CMT:
        raise refuse("CMT", f"must be {_CMT_TEXT} on a dose row")
    route = _ROUTE_OF_CMT[int(cmt)]
    if rate in (-1, -2):
        raise refuse("RATE", "a rate (-1) or duration (-2) defined by the model cannot be imported; give RATE in "
                     "mg/h for an infusion, 0 for a bolus")  # fmt: skip
    if math.isnan(rate):
        rate = 0.0
    if rate < 0 or not math.isfinite(rate):
        raise refuse("RATE", "must be an infusion rate in mg/h > 0, or 0 for a bolus")
    if rate > 0 and route is not Route.IV:
        raise refuse("RATE", "only IV doses (CMT 4) can be infusions; give 0 for other routes")
    ss = cols["SS"][pos]
    if math.isfinite(ss) and ss != 0:
        raise refuse("SS", "steady-state doses cannot be expressed as a Regimen; list the doses instead")
    drug = _drug(df, pos, default_drug)
    duration = Q_(amt / rate, "h") if rate > 0 else None
    times = [t]
    addl, ii = cols["ADDL"][pos], cols["II"][pos]
    if math.isfinite(addl) and addl != 0:
        if addl < 0 or addl != round(addl) or addl > 10_000:
            raise refuse("ADDL", "must be a whole number of additional doses within 0-10000")
        if not (math.isfinite(ii) and ii > 0):
            raise refuse("II", "must be the interval between the additional doses in hours (> 0) when ADDL > 0")
        times += [t + k * ii for k in range(1, int(addl) + 1)]
    field_of = {"amount": "AMT", "duration": "RATE", "route": "CMT", "at": "TIME", "drug": "DRUG"}
    try:
        return [Dose(drug.value, route.value, Q_(amt, "mg"), duration=duration, at=Q_(x, "h")) for x in times]
    except InputError as exc:
        col = field_of.get(exc.field, exc.field)
        raise InputError(f"{col} (row {row})", exc.message, got=exc.got) from None


def _drug(df: pd.DataFrame, pos: int, default: Drug | None) -> Drug:
    if "DRUG" not in df:
        if default is None:
            raise InputError("DRUG", "column is missing; add it (codes: "
                             + ", ".join(f"{c} {d.value}" for d, c in DRUG_CODES.items())
                             + ") or name the drug of every dose (drug=..., --drug)")  # fmt: skip
        return default
    value = df["DRUG"].iloc[pos]
    if isinstance(value, str) and value.strip() not in ("", "."):
        try:
            code: float = float(value)
        except ValueError:
            try:
                return Drug.parse(value)
            except InputError as exc:
                raise InputError(f"DRUG (row {pos + 1})", exc.message, got=repr(value)) from None
    elif isinstance(value, str) or pd.isna(value):
        if default is not None:
            return default
        raise InputError(f"DRUG (row {pos + 1})", "is missing on a dose row", got=repr(value))
    else:
        code = float(value)
    if code not in _DRUG_OF_CODE:
        allowed = ", ".join(f"{c} ({d.value})" for d, c in DRUG_CODES.items())
        raise InputError(f"DRUG (row {pos + 1})", f"must be one of {allowed} or a drug name", got=_shown(value))
    return _DRUG_OF_CODE[int(code)]


# ------------------------------------------------------------------------------------- population model

_W, _A, _F = f"{REFERENCE_WEIGHT_KG:g} kg", f"{ESK_AGE_FROM_Y:g} years", f"{ESK_QH_FLOOR_L_H:g} L/h"

_RACEMIC_VOLUMES = ("r_v1", "r_vp1", "r_vp2", "nk_v1", "nk_vp", "hnk_v1", "hnk_vp", "pk_mixing_volume")
_RACEMIC_FLOWS = ("r_cl", "r_q1", "r_q2", "nk_cl", "nk_q", "hnk_cl", "hnk_q", "pk_total_flow")
# The covariate model of ketasim.model.pk.build/constants, parameter by parameter (the numbers are the
# registry's; tests/interop/test_nonmem.py checks these formulas against the assembled model).
_COVARIATES: tuple[dict[str, Any], ...] = (
    {
        "covariate": "WT",
        "parameters": list(_RACEMIC_VOLUMES),
        "formula": f"V_i = V_TV * (WT / {_W}) ** allometric_exponent_v  (R-ketamine, R-norketamine, "
        "hydroxynorketamine, heart-lung mixing volume)",
        "coefficients": ["allometric_exponent_v"],
    },
    {
        "covariate": "WT",
        "parameters": list(_RACEMIC_FLOWS),
        "formula": f"CL_i = CL_TV * (WT / {_W}) ** allometric_exponent_cl  (R-ketamine, R-norketamine and "
        "hydroxynorketamine clearances and inter-compartmental clearances, pharmacokinetic flow)",
        "coefficients": ["allometric_exponent_cl"],
    },
    {
        "covariate": "SEX",
        "parameters": ["r_cl", "nk_cl"],
        "formula": "CL_i = CL_i * female_cl_multiplier if SEX = 1 (female)  (R-ketamine model only)",
        "coefficients": ["female_cl_multiplier"],
    },
    {
        "covariate": "CYP2B6",
        "parameters": ["r_cl", "esk_kel", "esk_kmet"],
        "formula": "P_i = P_i * (1 if CYP2B6 = 0 (*1/*1); cyp2b6_im_cl_multiplier if 1 (*1/*6); "
        "cyp2b6_pm_cl_multiplier if 2 (*6/*6))",
        "coefficients": ["cyp2b6_im_cl_multiplier", "cyp2b6_pm_cl_multiplier"],
    },
    {
        "covariate": "AGE",
        "parameters": ["esk_qh"],
        "formula": f"QH_i = max(QH_TV - esk_age_qh_slope * max(AGE - {_A}, 0), {_F})  (S-ketamine)",
        "coefficients": ["esk_age_qh_slope"],
    },
    {
        "covariate": "ANCESTRY",
        "parameters": ["esk_kel", "nesk_cl"],
        "formula": "kel_i = kel_i * esk_asian_kel and CLn_i = CLn_i * esk_asian_cln if ANCESTRY >= 1 (Asian, "
        "Japanese included)  (S-ketamine)",
        "coefficients": ["esk_asian_kel", "esk_asian_cln"],
    },
    {
        "covariate": "ANCESTRY",
        "parameters": ["esk_frn"],
        "formula": "frn_i = min(frn_i * esk_japanese_frn, 1) if ANCESTRY = 2 (Japanese)  (esketamine nasal spray)",
        "coefficients": ["esk_japanese_frn"],
    },
    {
        "covariate": "COMEDICATION",
        "parameters": ["esk_kel", "esk_kmet"],
        "formula": "kel_i = kel_i * prod(comed_d) and kmet_i = kmet_i * prod(comed_d) over the patient's "
        "co-medications d (Patient.comedication; not a column of the dataset, see to_nonmem)  (S-ketamine, "
        "either product)",
        "coefficients": [f"comed_{name}" for name in COMEDICATIONS],
    },
)
#: The covariate distributions of the sampled cohorts (``ketasim.patients.population.draw_patient``).
_COVARIATE_DISTRIBUTION = ("female_fraction", "age_median", "age_sd", "weight_median_male", "weight_median_female",
                           "weight_cv", "cyp2b6_star6_frequency", "cyp2b6_star6_frequency_asian",
                           "asian_fraction")  # fmt: skip


def _pd_variability() -> dict[str, str]:
    """Random effect -> the registry parameter holding its CV, as ``draw_patient`` draws them."""
    out = {name: "iiv_pd_cv" for name in PD_VARIABILITY}
    out.update({"placebo_session": "iiv_placebo_cv", "cadss_ec50": "iiv_cadss_cv", "sbp_emax": "iiv_sbp_cv"})
    out.update({name: f"iiv_{name}_cv" for name in NETWORK_VARIABILITY})
    out.update({f"item_threshold_{item}": "iiv_item_threshold_cv" for item in ITEMS})
    out.update({name: "iiv_extinction_cv" for name in TRAUMA_VARIABILITY})
    return out


def population_description(params: ParameterSet | None = None, path: str | Path | None = None) -> dict[str, Any]:
    """The population model as a JSON-ready dict (also written to ``path`` as JSON, atomically).

    Everything is read from the parameter registry (``params``, default the shipped set): the typical
    values of every PK parameter with unit and source, the inter-individual variability (log-normal:
    P_i = TV * exp(eta_i), eta_i ~ N(0, omega2), omega2 = ln(1 + CV^2), independent draws but for the
    swallowed absorption rates, which share one), the covariate
    model with its formulas as text, the residual (rating and reading) errors, and the covariate
    distributions of the sampled cohorts; plus the codes of the NONMEM-style dataset of :func:`to_nonmem`.
    """
    p = params or default_parameters()
    if not isinstance(p, ParameterSet):
        raise InputError("params", "must be a ketasim.ParameterSet", got=type(p).__name__)

    def entry(name: str) -> dict[str, Any]:
        prm = p[name]
        cit = p.citation(name)
        out: dict[str, Any] = {"value": prm.value, "unit": prm.unit, "description": prm.description}
        if cit is not None:
            out.update({"source": cit.short(), "source_key": prm.source})
        else:
            out["assumption"] = prm.assumption
        if prm.calibration:
            out["calibration"] = prm.calibration
        return out

    def iiv(cv: float) -> dict[str, float]:
        return {"cv": cv, "cv_percent": 100.0 * cv, "omega2": math.log1p(cv * cv)}

    pk = {prm.name: {**entry(prm.name), "iiv_cv": prm.iiv_cv} for prm in p.layer("pk")}
    pk_iiv = {name: {**iiv(prm.iiv_cv), "source": entry(name).get("source")}
              for name, prm in p.items() if prm.iiv_cv}  # fmt: skip
    for name in SWALLOWED_ABSORPTION:  # one eta for the three (the same gut; omega's only off-diagonal block)
        pk_iiv[name] = {**iiv(p.value("iiv_ka_swallowed_cv")), "source": entry("iiv_ka_swallowed_cv").get("source"),
                        "cv_parameter": "iiv_ka_swallowed_cv", "shared_eta": "swallowed_absorption"}  # fmt: skip
    pd_iiv = {e: {**iiv(p.value(cv_name)), "cv_parameter": cv_name} for e, cv_name in _pd_variability().items()}
    doc: dict[str, Any] = {
        "format": "ketasim population description 1",
        "ketasim_version": VERSION,
        "parameter_set": p.digest(),
        "units": {"time": "h", "dose": "mg", "concentration": "ng/mL (venous plasma)", "madrs": "points (0-60)"},
        "structural_model": (
            "ketasim.model.pk: one disposition per enantiomer, whatever the product. S-ketamine (esketamine, or "
            "half of racemic ketamine) after Perez-Ruixo 2021 (three compartments, hepato-portal first-pass "
            "compartment, S-norketamine); R-ketamine after Fanta 2015 with Persson 2002's clearance ratio (three "
            "compartments, R-norketamine after Otto 2021); hydroxynorketamine after Simons 2022; drug entering "
            "venous blood passes a heart-lung mixing compartment (Henthorn 2018's total PK flow) before the "
            "central compartments; linear. Concentrations are venous plasma (the central compartments); the "
            "arterial outputs are in the SBML export. The full model (PD included) for one patient is the SBML "
            "export (ketasim export-sbml)."
        ),
        "typical_values": pk,
        "iiv": {
            "model": "P_i = P_TV * exp(eta_i), eta_i ~ N(0, omega2), omega2 = ln(1 + CV^2); omega diagonal "
            "(independent draws) except that the absorption rates of a swallowed dose marked shared_eta share one "
            "eta (correlation 1). These are the draws of Population.sample for the cohorts trd_prior, mdd "
            "and healthy; the calibrated trd cohort resamples plausible patients drawn this way with "
            "weights fitted to trials, so its realised spread differs.",
            "pk": pk_iiv,
            "pd": pd_iiv,
            "cv_parameters": {n: entry(n) for n in dict.fromkeys(_pd_variability().values())},
        },
        "covariate_reference": {
            "WT": _W,
            "SEX": "0 (male)",
            "CYP2B6": "0 (*1/*1)",
            "ANCESTRY": "0 (non-Asian)",
            "COMEDICATION": "none",
        },
        "covariate_model": [{**c, "coefficients": {n: entry(n) for n in c["coefficients"]}} for c in _COVARIATES],
        "residual_error": {
            "concentrations": "none: ketasim's concentrations are model predictions without assay error",
            "madrs": {
                "model": "additive: MADRS_obs = round(MADRS + eps), eps ~ N(0, rating_noise_sd^2), at every "
                "rating of a trial (ketasim.trials Endpoints, rating_noise on); ketasim.simulate adds none",
                "rating_noise_sd": entry("rating_noise_sd"),
            },
            "sbp": {
                "model": "additive: one clinic reading = true SBP + eps, eps ~ N(0, sbp_reading_sd^2); a rise is "
                "the difference of two readings (ketasim.trials, rating_noise on)",
                "sbp_reading_sd": entry("sbp_reading_sd"),
            },
        },
        "covariate_distribution": {n: entry(n) for n in _COVARIATE_DISTRIBUTION},
        "dataset_codes": {
            "CMT": {**{route.value: c for route, c in CMT.items()}, "madrs observation": CMT_RESPONSE},
            "DVID": DVID,
            "DRUG": {d.value: c for d, c in DRUG_CODES.items()},
            "SEX": SEX_CODES,
            "CYP2B6": CYP2B6_CODES,
            "ANCESTRY": ANCESTRY_CODES,
        },
    }
    if path is not None:
        atomic_write_text(path, dumps(doc) + "\n")
    return doc
