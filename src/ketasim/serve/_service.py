"""What the explorer's API does, as plain functions of its request types (no web framework here).

A regimen from the page goes through the same path as an arm of a trial scenario file
(``trials.scenario.regimen_from_spec``), and a trial from the page *is* a scenario (``Scenario``), so the
TOML the page downloads is what ``ketasim trial`` runs, and the two cannot drift apart.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any, get_args

import numpy as np

from ketasim._internal.jsonable import jsonable
from ketasim._internal.optional import require
from ketasim.dosing import protocols
from ketasim.errors import InputError
from ketasim.model import Hypotheses
from ketasim.parameters import default_parameters
from ketasim.patients import Patient
from ketasim.serve._schema import (
    MAX_OUTPUT_POINTS,
    MAX_SIMULATE_DAYS,
    DoseSpec,
    Limits,
    PatientSpec,
    RegimenSpec,
    SimulateRequest,
    TrialRequest,
)
from ketasim.simulation import simulate as run_simulation
from ketasim.trials.design import Trial
from ketasim.trials.scenario import ArmSpec, Scenario, regimen_from_spec

__all__ = ["PANELS", "Cancelled", "arm_table", "options", "parameters", "run_trial", "scenario", "scenario_toml",
           "simulate"]  # fmt: skip

#: The causal chain as the page draws it: one panel per layer, top to bottom, on a shared time axis.
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Plasma (venous)", ("ketamine_plasma", "esketamine_plasma", "norketamine_plasma", "hydroxynorketamine_plasma",
                         "psilocin_plasma", "escitalopram_plasma")),
    ("Receptors", ("nmda_occupancy", "nmda_interneuron_block", "ht2a_occupancy", "sert_occupancy")),
    ("Circuit", ("glutamate", "ampa_activation", "pyramidal_rate", "interneuron_rate")),
    ("Signalling", ("bdnf", "trkb", "mtorc1", "eef2k_activity", "synaptic_protein")),
    ("Synapses", ("synapse_density", "stable_synapses", "labile_synapses", "plasticity_window")),
    ("Symptoms", ("madrs", "caps5")),
    ("Side effects", ("cadss", "sbp_change")),
)  # fmt: skip
OUTPUTS = tuple(name for _, names in PANELS for name in names)

#: Times on a log-spaced grid (``SimulateRequest.time_grid = "log"``).
LOG_GRID_POINTS = 600

#: Units of the summary metrics (``Result.summary``), for the page's table.
SUMMARY_UNITS = {
    "cmax_ng_ml": "ng/mL", "cmax_arterial_ng_ml": "ng/mL", "tmax_h": "h", "auc_ng_h_ml": "ng·h/mL",
    "peak_nmda_occupancy": "fraction", "peak_glutamate_fold": "fold", "synapse_density_24h": "fraction of healthy",
    "madrs_baseline": "points", "madrs_24h": "points", "madrs_7d": "points", "cadss_peak": "points",
    "sbp_change_peak_mmhg": "mmHg", "synapse_density_end": "fraction of healthy",
}  # fmt: skip


class Cancelled(Exception):
    """A trial job was cancelled by its client (raised from the progress callback between chunks)."""


def arm_table(reg: RegimenSpec) -> dict[str, Any]:
    """The regimen as a scenario file's ``[arms.NAME]`` table (``trials.scenario.ArmSpec``)."""
    if reg.protocol:
        return {"protocol": reg.protocol}
    if reg.control:
        return {"control": reg.control, "schedule": reg.schedule}
    return {"doses": [d for spec in reg.doses for d in _expand(spec)]}


def _expand(spec: DoseSpec) -> list[dict[str, str]]:
    amount = f"{spec.amount!r} {spec.unit}"
    out = []
    for k in range(spec.repeat_count):
        dose = {"drug": spec.drug, "route": spec.route, "amount": amount,
                "at": f"{spec.at_h + k * spec.repeat_every_h!r} h"}  # fmt: skip
        if spec.duration_min is not None:  # the Dose refuses a duration on a route that takes none
            dose["duration"] = f"{spec.duration_min!r} min"
        out.append(dose)
    return out


#: What the scenario path calls a dose's fields, and what the request calls them.
_DOSE_FIELDS = {"amount": "amount", "duration": "duration_min", "at": "at_h", "drug": "drug", "route": "route"}


def _request_field(reg: RegimenSpec, field: str) -> str:
    """A scenario-path field (``doses[7].duration``, counted after repeats) as the request names it
    (``doses[1].duration_min``: the request's dose that repeat came from)."""
    m = re.fullmatch(r"doses\[(\d+)\](?:\.(\w+))?(.*)", field)
    if not m or not reg.doses:
        return field
    k, i = int(m.group(1)), 0
    while i < len(reg.doses) - 1 and k >= reg.doses[i].repeat_count:
        k -= reg.doses[i].repeat_count
        i += 1
    sub = _DOSE_FIELDS.get(m.group(2) or "", m.group(2))
    return f"doses[{i}]" + (f".{sub}" if sub else "") + m.group(3)


def _regimen(reg: RegimenSpec, where: str) -> Any:
    try:
        return regimen_from_spec("explorer", ArmSpec(**arm_table(reg)))
    except InputError as exc:  # name the field as the request does
        field = _request_field(reg, exc.field.removeprefix("arms.explorer").lstrip("."))
        raise InputError(f"{where}.{field}" if field else where, exc.message, exc.got) from None


def _patient(spec: PatientSpec) -> Patient:
    try:
        return Patient(
            weight=f"{spec.weight_kg!r} kg", sex=spec.sex, age=spec.age_y, cyp2b6=spec.cyp2b6,
            madrs_baseline=spec.madrs_baseline, stress_load=spec.stress_load,
            supportive_environment=spec.supportive_environment,
            psychotherapy=[f"{d!r} d" for d in spec.psychotherapy_days],
            alcohol_use_disorder=spec.alcohol_use_disorder, family_history_alcohol=spec.family_history_alcohol,
            drinks_per_day=spec.drinks_per_day, symptom_profile=spec.symptom_profile, biotype=spec.biotype,
            ptsd_baseline=spec.ptsd_baseline, noise_seed=spec.noise_seed,
        )  # fmt: skip
    except InputError as exc:
        raise InputError(f"patient.{exc.field}", exc.message, exc.got) from None


def simulate(req: SimulateRequest) -> dict[str, Any]:
    """One patient's course: every layer's series on one time grid (hours), the summary metrics, units."""
    start = time.perf_counter()
    regimen = _regimen(req.regimen, "regimen")
    step = req.output_step_min
    if req.time_grid == "log":  # the finest uniform grid the limit allows, then a log-spaced pick from it
        step = max(1.0, req.duration_days * 24 * 60 / (MAX_OUTPUT_POINTS - 1))
    try:
        res = run_simulation(
            regimen, _patient(req.patient), duration=f"{req.duration_days!r} d", output_step=f"{step!r} min",
            hypotheses=Hypotheses(**req.hypotheses.model_dump()),
        )  # fmt: skip
    except InputError as exc:  # the run's own checks, named as the request names them
        field = {"duration": "duration_days", "output_step": "output_step_min"}.get(exc.field, exc.field)
        raise InputError(field, exc.message, exc.got) from None
    ds = res.dataset
    if req.time_grid == "log":
        ds = ds.isel(time=_log_pick(ds["time"].values, regimen))
    series = {name: ds[name].values[0].tolist() for name in OUTPUTS if name in ds}
    return jsonable({
        "time_h": ds["time"].values.tolist(),
        "series": series,
        "units": {name: str(ds[name].attrs.get("units", "")) for name in series},
        "panels": [{"title": title, "outputs": [n for n in names if n in series]} for title, names in PANELS],
        "summary": res.summary(),
        "summary_units": SUMMARY_UNITS,
        "regimen": [item.describe() for item in (*regimen.doses, *regimen.sessions)],
        "reference": _published(req.regimen.protocol),
        "elapsed_ms": 1000 * (time.perf_counter() - start),
    })  # fmt: skip


def _log_pick(t: np.ndarray, regimen: Any) -> np.ndarray:
    """Indices of ``t`` (a uniform grid, hours) for a log time axis: ``LOG_GRID_POINTS`` log-spaced times
    from the first step on, plus every 5 min over the 2 h after each dose starts and each infusion ends,
    so that no peak falls between two drawn points (a log spacing alone is hours apart by day 7)."""
    step = t[1] - t[0] if t.size > 1 else 1.0
    wanted = [np.geomspace(step, t[-1], LOG_GRID_POINTS)] if t[-1] > step else []
    marks = [d.at_h for d in regimen.doses] + [d.at_h + d.duration_h for d in regimen.doses if d.duration_h]
    window = np.arange(0.0, 2.0 + 1e-9, 5 / 60)
    wanted += [m + window for m in marks]
    at = np.concatenate([np.zeros(1), *wanted]) if wanted else np.zeros(1)
    idx = np.clip(np.rint(at[(at >= 0) & (at <= t[-1])] / step).astype(np.int64), 0, t.size - 1)
    return np.unique(np.concatenate([[0, t.size - 1], idx]))


def _published(protocol: str | None) -> list[dict[str, Any]]:
    """The protocol's published values that map onto a panel (as on ``ketasim simulate --plot``)."""
    if not protocol:
        return []
    from ketasim.analysis.validation import reference_points

    return [{"variable": p.variable, "time_h": p.time_h, "value": p.value, "lower": p.lower, "upper": p.upper,
             "label": p.label.replace("\n", " ")} for p in reference_points(protocol)]  # fmt: skip


def scenario(req: TrialRequest, limits: Limits) -> Scenario:
    """The trial as a scenario (what ``ketasim trial`` reads), checked against the server's limits."""
    if req.patients > limits.trial_patients:
        raise InputError("patients", f"must be within 2-{limits.trial_patients:,} on this server", got=req.patients)
    if req.duration_days > limits.trial_days:
        raise InputError("duration_days", f"must be within 0-{limits.trial_days:g} days on this server",
                         got=req.duration_days)  # fmt: skip
    if req.patients * req.duration_days > limits.trial_patient_days:
        raise InputError("patients", f"patients x duration_days must be at most {limits.trial_patient_days:,.0f} "
                         "on this server (fewer patients or a shorter trial)",
                         got=req.patients * req.duration_days)  # fmt: skip
    arms = {a.name: arm_table(a.regimen) for a in req.arms}
    for i, a in enumerate(req.arms):  # each arm's regimen builds, or the error names the arm
        _regimen(a.regimen, f"arms[{i}].regimen")
    table = {
        "name": "ketasim-serve",
        "description": "written by ketasim serve (" + ", ".join(arms) + ")",
        "duration": f"{req.duration_days!r} d",
        "seed": req.seed,
        "control": req.control or req.arms[-1].name,
        "series_step": "6 h" if req.duration_days <= 28 else "1 d",
        "population": {"n": req.patients, "cohort": "trd"},
        "randomisation": {name: 1 for name in arms},
        "arms": arms,
        "endpoints": {"visits": [f"{v!r} d" for v in req.visits_days], "screening": "7 d", "entry_minimum": 20},
        "hypotheses": req.hypotheses.model_dump(),
    }
    return Scenario.model_validate(table)


def scenario_toml(req: TrialRequest, limits: Limits) -> str:
    """The trial as TOML text that ``ketasim trial`` accepts."""
    tomli_w: Any = require("tomli_w", "writing a scenario file")
    body = scenario(req, limits).model_dump(exclude_defaults=True, exclude_none=True)
    head = "# A ketasim trial scenario written by `ketasim serve`; run it with `ketasim trial FILE`.\n"
    return head + tomli_w.dumps(body)


def run_trial(sc: Scenario, progress: Callable[[int, int], None] | None = None,
              cancel: threading.Event | None = None) -> dict[str, Any]:  # fmt: skip
    """Run the trial of ``sc`` (from ``scenario``) in this thread, in chunks; ``cancel`` set between chunks
    raises ``Cancelled``."""

    def tick(done: int, total: int) -> None:
        if progress is not None:
            progress(done, total)
        if cancel is not None and cancel.is_set():
            raise Cancelled()

    trial = sc.trial()
    assert isinstance(trial, Trial)  # the page writes arms, never phases
    res = trial.run(sc.seed, chunk_size=max(20, min(200, math.ceil(sc.population.n / 10))), progress=tick)
    body = res.to_json()
    series = res.series
    body["series"] = {
        str(arm): {col: g[col].to_numpy(float).tolist() for col in ("time_h", "mean", "lower", "upper", "p05", "p95")}
        for arm, g in series.groupby("arm", sort=False)
    }  # fmt: skip
    ex = res.examples
    body["examples"] = {
        str(arm): [{"time_h": p["time_h"].to_numpy(float).tolist(), "madrs": p["madrs"].to_numpy(float).tolist()}
                   for _, p in g.groupby("patient", sort=False)]
        for arm, g in (ex.groupby("arm", sort=False) if len(ex) else [])
    }  # fmt: skip
    return jsonable(body)


def parameters() -> list[dict[str, Any]]:
    """Every model parameter with value, unit, layer and its citation (with a DOI link where one exists)."""
    params = default_parameters()
    rows = params.rows()
    for row in rows:
        cit = params.citation(row["name"])
        row["doi_url"] = f"https://doi.org/{cit.doi}" if cit is not None and cit.doi else None
    return jsonable(rows)


#: What each mechanism switch of ``Hypotheses`` does, in a line for the page (defaults come from Hypotheses).
HYPOTHESES = {
    "disinhibition": "interneuron NMDA block -> glutamate pulse",
    "rest_block": "pyramidal NMDA block at rest -> eEF2K off -> BDNF translation",
    "ssri_trkb": "SSRIs bind TrkB directly (disputed)",
    "reconsolidation": "a trauma memory retrieved in a plasticity window is weakened",
}


def _literal_values(annotation: Any) -> list[str]:
    """The strings of a ``Literal[...]`` field type (inside ``Optional`` too)."""
    return [v for arg in get_args(annotation) for v in (_literal_values(arg) if get_args(arg) else [arg])
            if isinstance(v, str)]  # fmt: skip


def options(limits: Limits) -> dict[str, Any]:
    """The choices and limits the page builds its controls from."""
    from ketasim.patients.patient import BIOTYPES, CYP2B6_GENOTYPES

    choices = {k: _literal_values(spec.model_fields[k].annotation)
               for spec, k in ((DoseSpec, "drug"), (DoseSpec, "route"), (RegimenSpec, "control"))}  # fmt: skip
    return {
        "protocols": protocols.table(),
        "drugs": choices["drug"],
        "routes": choices["route"],
        "controls": choices["control"],
        "biotypes": list(BIOTYPES),
        "cyp2b6": list(CYP2B6_GENOTYPES),
        "hypotheses": {f.name: {"default": f.default, "description": HYPOTHESES[f.name]} for f in fields(Hypotheses)},
        "limits": {
            "simulate_days": MAX_SIMULATE_DAYS, "output_points": MAX_OUTPUT_POINTS,
            "trial_patients": limits.trial_patients, "trial_days": limits.trial_days,
            "trial_patient_days": limits.trial_patient_days,
        },
    }  # fmt: skip
