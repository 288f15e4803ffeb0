"""SBML export: the assembled model of one patient as an SBML Level 3 Version 2 document with units.

``export_sbml`` writes exactly the ODE system that :func:`ketasim.simulate` integrates for one patient,
with every per-patient constant taken from the built layer objects (``Model.pk.K``, ``Model.receptor``,
...), so that any SBML tool can reproduce, inspect or extend the simulation:

* PK amounts are species in micromoles (``hasOnlySubstanceUnits``) placed in compartments whose sizes
  are the patient's volumes in litres; every non-zero off-diagonal entry ``K[i, j]`` of the PK matrix
  is one first-order reaction ``j -> i`` (the matrix conserves mass: its diagonal is minus the sum of
  the outflows, which the export checks). Dose depots and the ``eliminated`` sink sit in nominal
  1 L compartments (their size is never used: the species are amounts).
* All other states (effect sites, interventions, glutamate, signalling, synapses, symptom states) are
  parameters with rate rules. Every state keeps its ``Model.state_names`` id (``STATE_IDS`` maps any
  exception; there is none today).
* The circuit's quasi-steady state is a set of assignment rules: the closed-form root of the quadratic
  for each regime (interneurons active, interneurons silenced) and a ``piecewise`` that takes the
  active regime where it is self-consistent, exactly as ``CircuitModel.rates`` does.
* Every variable of ``Result.dataset`` is an assignment rule, a state or a constant with the same id
  (``ketamine_plasma``, ``nmda_occupancy``, ``madrs``, ``cadss``, ``sbp_change``, ...); the MADRS items
  are ``madrs_item_<item>``. The export refuses (``SBMLExportError``) a model with a state or an output
  it does not cover, so that it cannot silently fall behind the Python model.
* Dosing is events: boluses add their amount, each zero-order input is a parameter that one event
  sets to its rate at the start and another resets to zero at the stop; reaction ``input_<state>``
  (or the state's rate rule) reads the sum. Expectancy, psychotherapy and supplement boluses are events
  too, and the piecewise-constant stress load is a parameter set by events at its step times.

Time is in hours (the model's ``timeUnits``), so a simulator's time axis matches ``Result`` directly.
Events use ``time >= t`` triggers (``initialValue=false``), so a dose at 0 h fires at the start, and
values at an event time are those after it, as in ``Result``. ``max``/``min`` (L3V2) stand for numpy's
``maximum``/``minimum``/``clip``; numbers keep libSBML's 15 significant digits.

libSBML (``python-libsbml``) is needed for the export and libRoadRunner for
:func:`simulate_roadrunner`; both are imported only when called.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ketasim.dosing import Regimen, protocols
from ketasim.errors import InputError, SBMLExportError
from ketasim.model import Hypotheses, Model, assemble
from ketasim.model import pk as pk_layer
from ketasim.model import receptor as receptor_layer
from ketasim.model.symptoms import ITEMS, SELF_CRITICAL_ITEMS
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient

__all__ = ["ITEM_OUTPUTS", "STATE_IDS", "SBMLExportError", "export_sbml", "simulate_roadrunner"]

#: SBML ids of the MADRS items (``Result.dataset["madrs_items"]`` split by item).
ITEM_OUTPUTS: tuple[str, ...] = tuple(f"madrs_item_{name}" for name in ITEMS)
#: States whose SBML id differs from their ``Model.state_names`` name (the name is a Result variable).
STATE_IDS: Mapping[str, str] = {}  # state ids that differ from the engine state names (none today)

# Compartment of each PK amount: the volume its concentration is read against (PKModel.volumes keys).
_PK_COMPARTMENT = {
    "s_central": "rac_v1", "r_central": "rac_v1",
    "s_periph1": "rac_vp1", "r_periph1": "rac_vp1",
    "s_periph2": "rac_vp2", "r_periph2": "rac_vp2",
    "snk_central": "nk_v1", "rnk_central": "nk_v1",
    "snk_periph": "nk_vp", "rnk_periph": "nk_vp",
    "hnk_central": "hnk_v1", "hnk_periph": "hnk_vp",
    "esk_central": "esk_vc", "esk_periph1": "esk_vp1", "esk_periph2": "esk_vp2", "esk_liver": "esk_vh",
    "nesk_central": "nesk_vc", "nesk_periph": "nesk_vp",
    "psilocin_central": "psilocin_v", "ssri_central": "ssri_v",
}  # fmt: skip
_DEPOT = "dose_depots"
_SINK = "elimination_sink"

# Unit definitions: id -> [(kind, exponent, scale, multiplier)].
_UNITS: dict[str, list[tuple[str, int, int, float]]] = {
    "hour": [("second", 1, 0, 3600.0)],
    "per_hour": [("second", -1, 0, 3600.0)],
    "umol": [("mole", 1, -6, 1.0)],
    "umol_per_hour": [("mole", 1, -6, 1.0), ("second", -1, 0, 3600.0)],
    "uM": [("mole", 1, -6, 1.0), ("litre", -1, 0, 1.0)],
    "uM_per_hour": [("mole", 1, -6, 1.0), ("litre", -1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "mM": [("mole", 1, -3, 1.0), ("litre", -1, 0, 1.0)],
    "mM_per_hour": [("mole", 1, -3, 1.0), ("litre", -1, 0, 1.0), ("second", -1, 0, 3600.0)],
    "g_per_mol": [("gram", 1, 0, 1.0), ("mole", -1, 0, 1.0)],
    "ng_per_mL": [("gram", 1, -9, 1.0), ("litre", -1, -3, 1.0)],
    "Hz": [("second", -1, 0, 1.0)],
    "mmHg": [("kilogram", 1, 0, 133.322387415), ("metre", -1, 0, 1.0), ("second", -2, 0, 1.0)],
}
_RATE_UNIT = {"umol": "umol_per_hour", "uM": "uM_per_hour", "mM": "mM_per_hour", "dimensionless": "per_hour"}
_ONE = "(1 dimensionless)"


def export_sbml(
    regimen: Regimen | str,
    patient: Patient | None = None,
    path: str | Path | None = None,
    *,
    params: ParameterSet | None = None,
    hypotheses: Hypotheses | None = None,
) -> str:
    """The assembled model for one patient under ``regimen`` as SBML L3V2 text (also written to ``path``).

    ``regimen`` is a Regimen or a protocol name; ``patient`` defaults to ``Patient()``; ``params`` and
    ``hypotheses`` are those ``simulate`` would use. The document carries units throughout (time in
    hours, amounts in micromoles, volumes in litres) and passes libSBML's consistency checks (units
    included); a document with any error raises :class:`SBMLExportError` instead of being returned.
    """
    if isinstance(regimen, str):
        regimen = protocols.get(regimen)
    if not isinstance(regimen, Regimen):
        raise InputError("regimen", "must be a ketasim.Regimen or a protocol name", got=type(regimen).__name__)
    if patient is None:
        patient = Patient()
    if not isinstance(patient, Patient):
        raise InputError("patient", "must be a ketasim.Patient", got=type(patient).__name__)
    model = assemble(params or default_parameters(), [patient], hypotheses or Hypotheses())
    text = _Builder(model, regimen).build()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def simulate_roadrunner(
    sbml_text: str,
    t_out_h: Sequence[float] | np.ndarray,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-14,
    max_steps: int = 1_000_000,
    selections: Iterable[str] | None = None,
) -> dict[str, np.ndarray]:
    """Simulate an SBML document with libRoadRunner (CVODE) at the times ``t_out_h`` (hours, from 0).

    Returns one array per id: by default every species amount, every rule or event variable (all Result
    outputs, the MADRS items, the intermediate signals, every state) and ``madrs_pre_dose``; or the ids
    in ``selections``. Values at an event time are those after the event, as in ``ketasim.simulate``.
    ``rtol``/``atol`` are CVODE's relative and absolute tolerances.
    """
    import roadrunner

    t = np.asarray(t_out_h, float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise InputError("t_out_h", "must be at least two strictly increasing times")
    rr = roadrunner.RoadRunner(sbml_text)
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.integrator.maximum_num_steps = max_steps
    if selections is None:
        import libsbml

        model = libsbml.readSBMLFromString(sbml_text).getModel()
        rules = [model.getRule(i).getVariable() for i in range(model.getNumRules())]
        changing = [p.getId() for p in model.getListOfParameters() if not p.getConstant()]  # e.g. stress_load
        baseline = [p for p in ("madrs_pre_dose",) if model.getParameter(p) is not None]
        sel = list(dict.fromkeys([*rr.model.getFloatingSpeciesIds(), *rules, *changing, *baseline]))
    else:
        sel = list(selections)
    rr.timeCourseSelections = ["time", *sel]  # species have hasOnlySubstanceUnits: their ids give amounts
    res = np.asarray(rr.simulate(times=list(t)))
    return {name: res[:, i + 1].copy() for i, name in enumerate(sel)}


def _num(x: float, unit: str) -> str:
    """A literal for the L3 formula parser, with its unit (repr is exact; libSBML keeps 15 digits)."""
    x = float(x)
    if not math.isfinite(x):
        raise SBMLExportError(f"non-finite constant {x!r} cannot be exported")
    return f"({x!r} {unit})" if x >= 0 else f"(-{-x!r} {unit})"


def _pos(expr: str, unit: str = "dimensionless") -> str:
    """numpy's maximum(expr, 0) as SBML L3V2 ``max`` (it names ``expr`` once, unlike a piecewise)."""
    return f"max({expr}, {_num(0, unit)})"


class _Builder:
    """Builds the libSBML document for a one-patient Model."""

    def __init__(self, model: Model, regimen: Regimen) -> None:
        if model.n_patients != 1:
            raise SBMLExportError("SBML export is for exactly one patient")
        import libsbml

        self.ls = libsbml
        self.model = model
        self.regimen = regimen
        self.doc = libsbml.SBMLDocument(3, 2)
        self.m = self.doc.createModel()
        self.ids: set[str] = set()
        self.state_unit: dict[str, str] = {}  # SBML id of each state -> its unit
        self.inputs: dict[str, list[str]] = defaultdict(list)  # SBML id of a state -> its input parameters

    # --- low-level helpers -------------------------------------------------------------------------

    def _check(self, code: int, what: str) -> None:
        if code != self.ls.LIBSBML_OPERATION_SUCCESS:
            raise SBMLExportError(f"libSBML refused {what}: {self.ls.OperationReturnValue_toString(code)}")

    def _math(self, formula: str) -> Any:
        ast = self.ls.parseL3FormulaWithModel(formula, self.m)
        if ast is None:
            raise SBMLExportError(f"cannot parse formula {formula!r}: {self.ls.getLastParseL3Error()}")
        return ast

    def _new_id(self, sid: str) -> str:
        if sid in self.ids:
            raise SBMLExportError(f"duplicate SBML id {sid!r}")
        self.ids.add(sid)
        return sid

    def _parameter(self, sid: str, unit: str, constant: bool, name: str | None) -> Any:
        p = self.m.createParameter()
        self._check(p.setId(self._new_id(sid)), f"parameter id {sid}")
        self._check(p.setUnits(unit), f"units of {sid}")
        p.setConstant(constant)
        if name:
            p.setName(name)
        return p

    def param(self, sid: str, value: Any, unit: str, *, constant: bool = True, name: str | None = None) -> str:
        value = float(np.asarray(value, float).reshape(-1)[0])
        if not math.isfinite(value):
            raise SBMLExportError(f"parameter {sid} is not finite ({value!r})")
        self._parameter(sid, unit, constant, name).setValue(value)
        return sid

    def params(self, rows: Iterable[tuple[str, Any, str]]) -> None:
        for sid, value, unit in rows:
            self.param(sid, value, unit)

    def derived(self, sid: str, formula: str, unit: str, name: str | None = None) -> str:
        """A constant defined by an initial assignment (a formula of other constants)."""
        self._parameter(sid, unit, True, name)
        ia = self.m.createInitialAssignment()
        ia.setSymbol(sid)
        self._check(ia.setMath(self._math(formula)), f"initial assignment of {sid}")
        return sid

    def function(self, fid: str, args: Sequence[str], body: str, name: str | None = None) -> str:
        """A function definition: simulators evaluate each argument once, which keeps the circuit's nested
        closed form small (inlining its rules would repeat each sub-expression many times)."""
        f = self.m.createFunctionDefinition()
        self._check(f.setId(self._new_id(fid)), f"function id {fid}")
        if name:
            f.setName(name)
        self._check(f.setMath(self._math(f"lambda({', '.join(args)}, {body})")), f"function {fid}")
        return fid

    def assign(self, sid: str, formula: str, unit: str, name: str | None = None) -> str:
        self._parameter(sid, unit, False, name)
        r = self.m.createAssignmentRule()
        r.setVariable(sid)
        self._check(r.setMath(self._math(formula)), f"math of {sid}")
        return sid

    def state(self, name: str, unit: str, formula: str, label: str | None = None) -> str:
        """A non-PK state ``name`` (Model.state_names) as a parameter with a rate rule and its inputs."""
        sid = STATE_IDS.get(name, name)
        self.param(sid, self.y0[self.model.index[name]], unit, constant=False, name=label)
        self.state_unit[sid] = unit
        rate = formula + "".join(f" + {p}" for p in self.inputs.get(sid, []))
        r = self.m.createRateRule()
        r.setVariable(sid)
        self._check(r.setMath(self._math(rate)), f"rate of {sid}")
        return sid

    # --- the document ------------------------------------------------------------------------------

    def build(self) -> str:
        ls, m, model = self.ls, self.m, self.model
        name = self.regimen.name or "custom regimen"
        m.setId("ketasim_" + "".join(c if c.isalnum() else "_" for c in name))
        m.setName(f"ketasim: {name}, one patient")
        for uid, parts in _UNITS.items():
            ud = m.createUnitDefinition()
            ud.setId(uid)
            for kind, exponent, scale, multiplier in parts:
                u = ud.createUnit()
                u.setKind(ls.UnitKind_forName(kind))
                u.setExponent(exponent)
                u.setScale(scale)
                u.setMultiplier(multiplier)
        m.setTimeUnits("hour")
        m.setSubstanceUnits("umol")
        m.setExtentUnits("umol")
        m.setVolumeUnits("litre")
        self._notes()
        self.y0 = model.initial()[:, 0]
        self.boluses, self.infusions = model.events(self.regimen)
        self._input_parameters()
        self._pk()
        self._receptor()
        self._interventions()
        self._circuit()
        self._signaling()
        self._synapse()
        self._symptoms()
        self._events()
        self._coverage()
        return self._validated()

    def _notes(self) -> None:
        model, p = self.model, self.model.patients[0]
        lines = [
            "Exported by ketasim.interop.sbml.export_sbml: the assembled ODE system that ketasim.simulate integrates, "
            "for one patient. Time in hours, PK amounts in micromoles, volumes in litres.",
            f"Regimen: {self.regimen.describe()}",
            f"Patient: {p!r}",
            f"Parameter set digest: {model.params.digest()}",
            f"Hypotheses: {model.hypotheses!r}",
            "Circuit weights acting on a firing rate (j_ee_ampa, j_ie_ampa, j_ei, j_ii) carry units of seconds "
            "so that the rate network is dimensionally consistent; the registry lists them as dimensionless.",
        ]
        body = "".join(f"<p>{html.escape(s)}</p>" for s in lines)
        self._check(self.m.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml">{body}</body>'), "notes")

    def _sid(self, index: int) -> str:
        name = self.model.state_names[index]
        return STATE_IDS.get(name, name)

    def _unit(self, index: int) -> str:
        if index < len(pk_layer.STATES):
            return "umol"
        return self.state_unit[self._sid(index)]

    def _input_parameters(self) -> None:
        """One parameter per zero-order input, 0 until an event starts it (units set in _events)."""
        for k, inf in enumerate(self.infusions):
            sid = self._sid(inf.state)
            pid = f"input_rate_{k}"
            self.param(pid, 0.0, "per_hour", constant=False, name=f"zero-order input into {sid}")
            self.inputs[sid].append(pid)

    # --- layer 1: PK -------------------------------------------------------------------------------

    def _pk(self) -> None:
        m, pkm = self.m, self.model.pk
        K = pkm.K[0]
        for cid, vol in [*((k, v[0]) for k, v in pkm.volumes.items()), (_DEPOT, 1.0), (_SINK, 1.0)]:
            c = m.createCompartment()
            c.setId(self._new_id(cid))
            c.setSize(float(vol))
            c.setSpatialDimensions(3)
            c.setUnits("litre")
            c.setConstant(True)
            if cid in (_DEPOT, _SINK):
                c.setName("nominal compartment of amount-only species (size unused)")
        names = pk_layer.STATES
        for name in names:
            s = m.createSpecies()
            s.setId(self._new_id(name))
            s.setCompartment(_PK_COMPARTMENT.get(name, _SINK if name == "eliminated" else _DEPOT))
            s.setInitialAmount(float(self.y0[self.model.index[name]]))
            s.setSubstanceUnits("umol")
            s.setHasOnlySubstanceUnits(True)
            s.setBoundaryCondition(False)
            s.setConstant(False)
        for j, src in enumerate(names):
            outflow = 0.0
            for i, dst in enumerate(names):
                if i == j or K[i, j] == 0.0:
                    continue
                if K[i, j] < 0:
                    raise SBMLExportError(f"negative PK transfer rate {src} -> {dst}")
                outflow += K[i, j]
                k = self.param(f"k_{src}__{dst}", K[i, j], "per_hour", name=f"transfer rate {src} -> {dst}")
                self._reaction(f"{src}__to__{dst}", src, dst, f"{k} * {src}")
            if abs(outflow + K[j, j]) > 1e-12 * abs(K[j, j]):
                raise SBMLExportError(f"PK matrix does not conserve mass out of {src}; cannot write it as flows")
        for state, pids in self.inputs.items():
            if state in names:
                self._reaction(f"input_{state}", None, state, " + ".join(pids))
        conc = {
            "s_ketamine_um": "s_central / rac_v1 + esk_central / esk_vc",
            "r_ketamine_um": "r_central / rac_v1",
            "s_norketamine_um": "snk_central / nk_v1 + nesk_central / nesk_vc",
            "r_norketamine_um": "rnk_central / nk_v1",
            "hnk_um": "hnk_central / hnk_v1",
        }
        for sid, f in conc.items():
            self.assign(sid, f, "uM", name="venous plasma concentration")
        for key, val in pkm.mw.items():
            self.param(f"mw_{key}", val, "g_per_mol", name="molar mass")
        plasma = {
            "ketamine_plasma": "(s_ketamine_um + r_ketamine_um) * mw_ketamine",
            "esketamine_plasma": "s_ketamine_um * mw_ketamine",
            "arketamine_plasma": "r_ketamine_um * mw_ketamine",
            "norketamine_plasma": "(s_norketamine_um + r_norketamine_um) * mw_norketamine",
            "hydroxynorketamine_plasma": "hnk_um * mw_hnk",
            "psilocin_plasma": "psilocin_central / psilocin_v * mw_psilocin",
            "escitalopram_plasma": "ssri_central / ssri_v * mw_escitalopram",
        }
        for sid, f in plasma.items():
            self.assign(sid, f, "ng_per_mL", name="venous plasma concentration")

    def _reaction(self, rid: str, src: str | None, dst: str, rate: str) -> None:
        r = self.m.createReaction()
        r.setId(self._new_id(rid))
        r.setReversible(False)
        if src is not None:
            sr = r.createReactant()
            sr.setSpecies(src)
            sr.setStoichiometry(1.0)
            sr.setConstant(True)
        pr = r.createProduct()
        pr.setSpecies(dst)
        pr.setStoichiometry(1.0)
        pr.setConstant(True)
        law = r.createKineticLaw()
        self._check(law.setMath(self._math(rate)), f"kinetic law of {rid}")

    # --- layer 2: receptor -------------------------------------------------------------------------

    def _receptor(self) -> None:
        rec = self.model.receptor
        self.params(
            [
                ("ke0", rec.ke0, "per_hour"),
                ("unbound_fraction", rec.unbound, "dimensionless"),
                ("nmda_hill", rec.hill, "dimensionless"),
                ("interneuron_sensitivity", rec.interneuron_sensitivity, "dimensionless"),
                ("ht2a_ec50", rec.ht2a_ec50, "ng_per_mL"),
                ("sert_ec50", rec.sert_ec50, "ng_per_mL"),
                ("psilocin_trkb_k", rec.psilocin_trkb_k, "ng_per_mL"),
            ]
        )
        terms = []
        for i, sp in enumerate(receptor_layer.SPECIES):
            ce = f"ce_{sp}"
            self.state(ce, "uM", f"ke0 * (unbound_fraction * {sp}_um - {ce})", f"brain effect site, {sp}")
            self.param(f"ki_{sp}", rec.ki[i], "uM", name="pyramidal functional Ki")
            terms.append(f"{ce} / ki_{sp}")
        self.assign("nmda_x", _pos(" + ".join(terms)), "dimensionless", name="potency-weighted effect-site sum")
        self.assign("nmda_xp", "nmda_x ^ nmda_hill", "dimensionless")
        self.assign("nmda_xi", "(nmda_x * interneuron_sensitivity) ^ nmda_hill", "dimensionless")
        self.assign("nmda_occupancy", f"nmda_xp / ({_ONE} + nmda_xp)", "dimensionless")
        self.assign("nmda_interneuron_block", f"nmda_xi / ({_ONE} + nmda_xi)", "dimensionless")
        # Serotonergic comparators, driven by plasma (ReceptorModel.serotonergic).
        self.assign("psilocin_pos", _pos("psilocin_plasma", "ng_per_mL"), "ng_per_mL")
        self.assign("escitalopram_pos", _pos("escitalopram_plasma", "ng_per_mL"), "ng_per_mL")
        self.assign("ht2a_occupancy", "psilocin_pos / (ht2a_ec50 + psilocin_pos)", "dimensionless")
        self.assign("sert_occupancy", "escitalopram_pos / (sert_ec50 + escitalopram_pos)", "dimensionless")
        self.assign("psilocin_trkb", "psilocin_pos / (psilocin_trkb_k + psilocin_pos)", "dimensionless")

    # --- interventions -----------------------------------------------------------------------------

    def _interventions(self) -> None:
        iv = self.model.interventions
        self.params(
            [
                ("tau_exercise_bout", iv.tau_bout, "hour"),
                ("tau_training", iv.tau_training, "hour"),
                ("exercise_bout_bdnf", iv.bout_gain, "dimensionless"),
                ("exercise_training_bdnf", iv.training_gain, "dimensionless"),
                ("bhb_bdnf_gain", iv.bhb_gain, "dimensionless"),
                ("bhb_k", iv.bhb_k, "mM"),
                ("tau_ketosis", iv.tau_ketosis, "hour"),
                ("tau_bhb_supplement", iv.tau_supplement, "hour"),
                ("tau_serotonergic_adaptation", iv.tau_adaptation, "hour"),
                ("serotonergic_bdnf", iv.serotonergic_bdnf, "dimensionless"),
            ]
        )
        self.state("exercise_bout", "dimensionless", "-exercise_bout / tau_exercise_bout")
        # Full training (1) = one vigorous bout-hour a day on average, sustained.
        self.state(
            "training", "dimensionless", "(exercise_bout * (24 hour) / tau_exercise_bout - training) / tau_training"
        )
        self.state("bhb_diet", "mM", "-bhb_diet / tau_ketosis")
        self.state("bhb_supplement", "mM", "-bhb_supplement / tau_bhb_supplement")
        self.state(
            "serotonergic_adaptation",
            "dimensionless",
            "(2 dimensionless) * (adaptation_onset - serotonergic_adaptation) / tau_serotonergic_adaptation",
            "SSRI adaptation, second of two stages in series (delayed, sigmoid onset)",
        )
        self.state(
            "adaptation_onset",
            "dimensionless",
            "(2 dimensionless) * (sert_occupancy - adaptation_onset) / tau_serotonergic_adaptation",
            "SSRI adaptation, first stage",
        )
        self.assign("exercise_training", "training", "dimensionless")
        self.assign("bhb_mm", "bhb_diet + bhb_supplement", "mM", name="blood BHB above the fed baseline")
        self.assign(
            "bdnf_factor",
            f"({_ONE} + exercise_bout_bdnf * exercise_bout + exercise_training_bdnf * training) * "
            f"({_ONE} + bhb_bdnf_gain * {_pos('bhb_mm', 'mM')} / (bhb_k + {_pos('bhb_mm', 'mM')})) * "
            f"({_ONE} + serotonergic_bdnf * {_pos('serotonergic_adaptation')})",
            "dimensionless",
            name="BDNF production factor: exercise, ketone bodies, chronic serotonergic signalling",
        )

    # --- layer 3: circuit --------------------------------------------------------------------------

    def _circuit(self) -> None:
        c = self.model.circuit
        one = _ONE
        self.params(
            [
                ("j_ee_ampa", c.j_ee_a, "second"),
                ("j_ee_nmda", c.j_ee_n, "dimensionless"),
                ("j_ei", c.j_ei, "second"),
                ("j_ie_ampa", c.j_ie_a, "second"),
                ("j_ie_nmda", c.j_ie_n, "dimensionless"),
                ("j_ii", c.j_ii, "second"),
                ("i_e0", c.i_e0, "dimensionless"),
                ("i_i0", c.i_i0, "dimensionless"),
                ("gain_e", c.g_e, "Hz"),
                ("gain_i", c.g_i, "Hz"),
                ("nmda_gating_a", c.a, "second"),
                ("ht2a_pyramidal_drive", c.ht2a_drive, "dimensionless"),
                ("tau_glutamate", c.tau_g, "hour"),
                ("tau_glutamate_adaptation", c.tau_adapt, "hour"),
                ("glutamate_gain", c.kappa_g, "dimensionless"),
                ("r_e0", c.r_e0, "Hz"),
                ("r_i0", c.r_i0, "Hz"),
            ]
        )
        # CircuitModel.rates term by term; the parts that depend on no signal are initial assignments.
        self.derived("h_active", f"gain_i / ({one} + gain_i * j_ii)", "Hz", name="interneurons active")
        self.param("h_silenced", 0.0, "Hz", name="interneurons silenced")
        self.function(
            "quadratic_root", ("qb", "qa", "a0"),
            f"(-qb + sqrt({_pos('qb * qb + (4 dimensionless) * qa * a0')})) / ((2 dimensionless) * qa)",
            name="non-negative root of qa r^2 + qb r - a0 (discriminant clipped at 0)",
        )  # fmt: skip
        self.function("nmda_gating", ("a", "r"), f"a * r / ({one} + a * r)", name="saturating NMDA gating s(r)")
        self.function(
            "interneuron_drive", ("j", "r", "c2", "a", "i0"), "j * r + c2 * nmda_gating(a, r) + i0",
            name="input to the interneurons at pyramidal rate r",
        )  # fmt: skip
        ok = "r_act >= (0 Hz) && drive_act >= (0 dimensionless)"
        self.function(
            "regime_rate", ("r_act", "drive_act", "r_sil"), f"piecewise(r_act, {ok}, {_pos('r_sil', 'Hz')})",
            name="interneurons-active root where self-consistent, else the silenced root (0 if negative)",
        )  # fmt: skip
        self.function(
            "active_interneuron_rate", ("h", "r_act", "drive_act"), f"piecewise(h * drive_act, {ok}, (0 Hz))",
            name="interneuron rate: h * drive in the active regime, 0 when silenced",
        )  # fmt: skip
        self.assign("i_e", "i_e0 + ht2a_pyramidal_drive * ht2a_occupancy", "dimensionless")
        self.assign("c2", f"({one} - nmda_interneuron_block) * j_ie_nmda", "dimensionless")
        for reg in ("active", "silenced"):
            h = f"h_{reg}"
            self.derived(f"a1_{reg}", f"gain_e * (j_ee_ampa - j_ei * {h} * j_ie_ampa)", "dimensionless")
            self.derived(f"qa_{reg}", f"nmda_gating_a * ({one} - a1_{reg})", "second")
            self.assign(f"a0_{reg}", f"gain_e * (i_e - j_ei * {h} * i_i0)", "Hz")
            self.assign(f"a2_{reg}", f"gain_e * (({one} - nmda_occupancy) * j_ee_nmda - j_ei * {h} * c2)", "Hz")
            self.assign(f"qb_{reg}", f"{one} - a1_{reg} - nmda_gating_a * (a2_{reg} + a0_{reg})", "dimensionless")
            self.assign(f"r_{reg}", f"quadratic_root(qb_{reg}, qa_{reg}, a0_{reg})", "Hz")
            self.assign(f"drive_i_{reg}", f"interneuron_drive(j_ie_ampa, r_{reg}, c2, nmda_gating_a, i_i0)",
                        "dimensionless")  # fmt: skip
        # Interneurons active where that regime is self-consistent (r >= 0 and drive >= 0), else
        # silenced; where the silenced root is negative too, CircuitModel.rates gives 0.
        self.assign(
            "r_e", "regime_rate(r_active, drive_i_active, r_silenced)", "Hz",
            name="steady-state pyramidal rate (self-consistent regime)",
        )  # fmt: skip
        self.assign(
            "r_i", "active_interneuron_rate(h_active, r_active, drive_i_active)", "Hz",
            name="steady-state interneuron rate",
        )  # fmt: skip
        self.assign("pyramidal_rate", "r_e / r_e0", "dimensionless")
        self.assign("interneuron_rate", "r_i / r_i0", "dimensionless")
        self.assign("firing_excess", f"r_e / r_e0 - {one}", "dimensionless")
        self.assign(
            "glutamate_target",
            _pos(f"{one} + glutamate_gain * (firing_excess - glutamate_adaptation)"),
            "dimensionless",
        )
        self.state("glutamate", "dimensionless", "(glutamate_target - glutamate) / tau_glutamate")
        self.state(
            "glutamate_adaptation", "dimensionless", "(firing_excess - glutamate_adaptation) / tau_glutamate_adaptation"
        )

    # --- layer 4: signaling ------------------------------------------------------------------------

    def _signaling(self) -> None:
        sg = self.model.signaling
        one = _ONE
        self.params(
            [
                ("tau_eef2k", sg.tau_e, "hour"),
                ("eef2_bdnf_gain", sg.gain_e, "dimensionless"),
                ("ampa_bdnf_gain", sg.gain_a, "dimensionless"),
                ("tau_bdnf", sg.tau_b, "hour"),
                ("k_trkb", sg.k_t, "dimensionless"),
                ("k_activity_gate", sg.k_gate, "dimensionless"),
                ("activity_gate_hill", sg.n_gate, "dimensionless"),
                ("tau_mtorc1", sg.tau_m, "hour"),
                ("k_synaptic_protein", sg.k_p, "per_hour"),
                ("tau_synaptic_protein", sg.tau_p, "hour"),
                ("psilocin_trkb_gain", sg.psilocin_gain, "dimensionless"),
                ("ssri_trkb_gain", sg.ssri_gain, "dimensionless"),
            ]
        )
        self.assign("ampa_activation", "glutamate" if sg.disinhibition else one, "dimensionless")
        self.assign("eef2k_target", f"{one} - nmda_occupancy" if sg.rest_block else one, "dimensionless")
        ssri = " + ssri_trkb_gain * sert_occupancy" if sg.ssri_trkb else ""
        self.assign("trkb_potentiation", f"psilocin_trkb_gain * psilocin_trkb{ssri}", "dimensionless")
        self.assign(
            "bdnf_production",
            f"({one} + eef2_bdnf_gain * ({one} - eef2k)) * "
            f"({one} + ampa_bdnf_gain * {_pos(f'ampa_activation - {one}')}) * bdnf_factor",
            "dimensionless",
        )
        self.assign("trkb_effective_bdnf", f"bdnf * ({one} + trkb_potentiation)", "dimensionless")
        self.assign("trkb", f"trkb_effective_bdnf * ({one} + k_trkb) / (k_trkb + trkb_effective_bdnf)", "dimensionless")
        self.assign("gate_x", f"{_pos('ampa_activation')} ^ activity_gate_hill", "dimensionless")
        self.derived("gate_k", "k_activity_gate ^ activity_gate_hill", "dimensionless")
        self.assign("activity_gate", f"gate_x * ({one} + gate_k) / (gate_k + gate_x)", "dimensionless")
        self.state("eef2k", "dimensionless", "(eef2k_target - eef2k) / tau_eef2k")
        self.state("bdnf", "dimensionless", "(bdnf_production - bdnf) / tau_bdnf")
        self.state("mtorc1", "dimensionless", "(trkb * activity_gate - mtorc1) / tau_mtorc1")
        self.state(
            "synaptic_protein",
            "dimensionless",
            f"k_synaptic_protein * (mtorc1 - {one}) - (synaptic_protein - {one}) / tau_synaptic_protein",
        )
        self.assign("eef2k_activity", "eef2k", "dimensionless")

    # --- layer 5: synapse --------------------------------------------------------------------------

    def _synapse(self) -> None:
        sy = self.model.synapse
        one = _ONE
        self.params(
            [
                ("formation0", sy.f0, "per_hour"),
                ("elim_labile", sy.e_n, "per_hour"),
                ("stabilisation", sy.k_s, "per_hour"),
                ("elim_stable", sy.e_s, "per_hour"),
                ("stress_elimination", sy.sigma_e, "dimensionless"),
                ("stress_formation", sy.sigma_f, "dimensionless"),
                ("supportive_environment", sy.support, "dimensionless"),
                ("support_protection", sy.support_protection, "dimensionless"),
                ("protein_formation_gain", sy.gain_p, "dimensionless"),
                ("activity_stabilisation_gain", sy.gain_a, "dimensionless"),
                ("therapy_stabilisation_gain", sy.gain_t, "dimensionless"),
                ("therapy_outside_window", sy.therapy_outside, "dimensionless"),
                ("tau_therapy", sy.tau_t, "hour"),
                ("plasticity_window_open", sy.k_open, "per_hour"),
                ("tau_plasticity_window", sy.tau_w, "hour"),
                ("psychedelic_window_open", sy.k_open_psy, "per_hour"),
                ("tau_psychedelic_window", sy.tau_w_psy, "hour"),
                ("window_stabilisation_gain", sy.window_gain, "dimensionless"),
                ("healthy_growth_share", sy.healthy_growth, "dimensionless"),
                ("reference_density", sy.reference_density, "dimensionless"),
            ]
        )
        # Piecewise-constant stress: its level at 0 h here, later steps by events (see _events).
        self.param("stress_load", sy.stress(0.0), "dimensionless", constant=False, name="chronic stress load")
        win_k = STATE_IDS.get("ketamine_window", "ketamine_window")
        self.assign("synapse_density", "labile_synapses + stable_synapses", "dimensionless")
        self.assign(
            "plasticity_window",
            f"{one} - ({one} - {win_k}) * ({one} - psychedelic_window)",
            "dimensionless",
            name="combined plasticity window (ketamine and psychedelic windows as independent openings)",
        )
        self.assign(
            "synapses_lost", f"{_pos(f'{one} - synapse_density')} / ({one} - reference_density)", "dimensionless"
        )
        self.assign(
            "formation_boost",
            f"{one} + protein_formation_gain * (synaptic_protein - {one}) * "
            f"(healthy_growth_share + synapses_lost) / (healthy_growth_share + {one})",
            "dimensionless",
        )
        self.assign(
            "formation",
            f"formation0 * {_pos(f'{one} - stress_formation * stress_load')} * {_pos('formation_boost')}",
            "per_hour",
        )
        self.assign(
            "elim_stable_eff",
            f"elim_stable * ({one} + stress_elimination * stress_load * ({one} - support_protection * "
            "supportive_environment))",
            "per_hour",
        )
        self.assign(
            "stabilisation_eff",
            f"stabilisation * ({one} + activity_stabilisation_gain * {_pos(f'ampa_activation - {one}')}) * "
            f"({one} + window_stabilisation_gain * plasticity_window) * "
            f"({one} + therapy_stabilisation_gain * therapy_trace * (therapy_outside_window + "
            f"({one} - therapy_outside_window) * plasticity_window))",
            "per_hour",
        )
        self.state(
            "labile_synapses", "dimensionless", "formation - (elim_labile + stabilisation_eff) * labile_synapses"
        )
        self.state(
            "stable_synapses",
            "dimensionless",
            "stabilisation_eff * labile_synapses - elim_stable_eff * stable_synapses",
        )
        self.state(
            "ketamine_window",
            "dimensionless",
            f"plasticity_window_open * {_pos(f'mtorc1 - {one}')} * ({one} - {win_k}) - {win_k} / tau_plasticity_window",
            "ketamine (mTORC1-opened) plasticity window",
        )
        self.state("therapy_trace", "dimensionless", "-therapy_trace / tau_therapy")
        self.state(
            "psychedelic_window",
            "dimensionless",
            f"psychedelic_window_open * ht2a_occupancy * ({one} - psychedelic_window) "
            "- psychedelic_window / tau_psychedelic_window",
        )

    # --- layer 6: symptoms -------------------------------------------------------------------------

    def _symptoms(self) -> None:
        sm = self.model.symptoms
        one = _ONE
        self.params(
            [
                ("floor_item", sm.floor_item, "dimensionless"),
                ("synaptic_share", sm.synaptic_share, "dimensionless"),
                ("stress0", sm.stress0, "dimensionless"),
                ("symptom_reference_density", sm.reference_density, "dimensionless"),
                ("tau_acute", sm.tau_a, "hour"),
                ("acute_gain_ampa", sm.gain_ampa, "per_hour"),
                ("acute_gain_protein", sm.gain_prot, "per_hour"),
                ("acute_max_relief", sm.acute_max, "dimensionless"),
                ("acute_relief_hill", sm.acute_hill, "dimensionless"),
                ("therapy_symptom_relief", sm.therapy_relief, "dimensionless"),
                ("placebo_perceived_gain", sm.placebo_gain, "per_hour"),
                ("placebo_max_relief", sm.placebo_max, "dimensionless"),
                ("tau_placebo", sm.tau_pl, "hour"),
                ("tau_sedation", sm.tau_sedation, "hour"),
                ("tau_homeostasis", sm.tau_homeostasis, "hour"),
                ("ssri_max_relief", sm.ssri_relief, "dimensionless"),
                ("psychedelic_perceived", sm.psychedelic_perceived, "dimensionless"),
                ("cadss_emax", sm.cadss_emax, "dimensionless"),
                ("cadss_ec50", sm.cadss_ec50, "uM"),
                ("noticed_ec50", sm.noticed_ec50, "uM"),
                ("cadss_hill", sm.cadss_hill, "dimensionless"),
                ("sbp_emax", sm.sbp_emax, "mmHg"),
                ("sbp_ec50", sm.sbp_ec50, "uM"),
                ("r_over_s_potency", sm.r_over_s_potency, "dimensionless"),
            ]
        )
        # Dissociation, the noticed drug effect (no alcohol-use tolerance) and blood pressure.
        self.assign("cadss_conc", _pos("ce_s_ketamine + r_over_s_potency * ce_r_ketamine", "uM"), "uM")
        self.assign("cadss_x", "(cadss_conc / cadss_ec50) ^ cadss_hill", "dimensionless")
        self.assign("cadss", f"cadss_emax * cadss_x / ({one} + cadss_x)", "dimensionless")
        self.assign("noticed_x", "(cadss_conc / noticed_ec50) ^ cadss_hill", "dimensionless")
        self.assign("noticed_effect", f"cadss_emax * noticed_x / ({one} + noticed_x)", "dimensionless")
        self.assign("sbp_conc", _pos("ce_s_ketamine", "uM"), "uM")
        self.assign("sbp_change", "sbp_emax * sbp_conc / (sbp_ec50 + sbp_conc)", "mmHg")
        # Symptom states.
        drive = (
            f"acute_gain_ampa * {_pos(f'ampa_activation - {one}')} + "
            f"acute_gain_protein * {_pos('synaptic_protein - protein_set_point')}"
        )
        self.state("acute_signal", "dimensionless", f"{drive} - acute_signal / tau_acute")
        self.state(
            "expectancy",
            "dimensionless",
            "placebo_perceived_gain * (noticed_effect / cadss_emax + sedation + psychedelic_perceived * "
            "ht2a_occupancy) - expectancy / tau_placebo",
        )
        self.state("sedation", "dimensionless", "-sedation / tau_sedation")
        self.state("protein_set_point", "dimensionless", "(synaptic_protein - protein_set_point) / tau_homeostasis")
        # MADRS items (SymptomModel.items).
        self.assign(
            "symptom_synaptic",
            f"synaptic_share * ({_pos(f'{one} - synapse_density')} / ({one} - symptom_reference_density))",
            "dimensionless",
            name="part of the depressive drive carried by the synapse deficit",
        )
        self.assign(
            "symptom_other",
            f"({one} - synaptic_share) * stress_load / stress0 * "
            f"({one} - ssri_max_relief * min({_pos('serotonergic_adaptation')}, {one}))",
            "dimensionless",
            name="part of the drive through other routes, relieved by the SSRI's serotonergic adaptation",
        )
        self.assign("acute_n", f"{_pos('acute_signal')} ^ acute_relief_hill", "dimensionless")
        self.assign(
            "relief_placebo", f"{one} - placebo_max_relief * expectancy / ({one} + expectancy)", "dimensionless"
        )
        self.assign(
            "relief_therapy",
            f"{one} - therapy_symptom_relief * therapy_trace / ({one} + therapy_trace)",
            "dimensionless",
        )
        for i, item in enumerate(ITEMS):
            self.param(f"item_scale_{item}", sm.item_scale[i], "dimensionless")
            self.param(f"acute_sensitivity_{item}", sm.acute_sens[i], "dimensionless")
            a = f"acute_max_relief * acute_sensitivity_{item} * (acute_n / ({one} + acute_n))"
            self.assign(f"relief_acute_{item}", f"{one} - min({a}, (0.95 dimensionless))", "dimensionless")
            rt = " * relief_therapy" if i in SELF_CRITICAL_ITEMS else ""
            # The acute signal relieves the synaptic part only; placebo and therapy act on the whole item.
            self.assign(
                f"raw_{item}",
                f"floor_item + item_scale_{item} * (symptom_synaptic * relief_acute_{item} + symptom_other) * "
                f"(relief_placebo{rt})",
                "dimensionless",
            )
            self.assign(
                f"madrs_item_{item}",
                f"min({_pos(f'raw_{item}')}, (6 dimensionless))",
                "dimensionless",
                name=f"MADRS item: {item.replace('_', ' ')} (0-6)",
            )
        self.assign("madrs", " + ".join(ITEM_OUTPUTS), "dimensionless", name="MADRS total (0-60)")
        pre = self.model.observe(np.zeros(1), self.model.initial()[:, :, None])["madrs"][0, 0]
        self.param("madrs_pre_dose", pre, "dimensionless", name="MADRS before any dose (baseline)")

    # --- doses, sessions, psychotherapy and stress steps as events ---------------------------------

    def _events(self) -> None:
        assignments: dict[float, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
        totals: dict[float, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for bol in self.boluses:  # amounts on one state at one time are summed into one assignment
            amount = float(np.asarray(bol.amount, float).reshape(-1)[0])
            if amount != 0.0:  # zero boluses only cut the Python integration (stress steps)
                totals[bol.time][bol.state] += amount
        for t, per_state in totals.items():
            for index, amount in per_state.items():
                sid = self._sid(index)
                assignments[t]["bolus"].append((sid, f"{sid} + {_num(amount, self._unit(index))}"))
        for k, inf in enumerate(self.infusions):
            unit = _RATE_UNIT[self._unit(inf.state)]
            self.m.getParameter(f"input_rate_{k}").setUnits(unit)
            rate = float(np.asarray(inf.rate, float).reshape(-1)[0])
            assignments[inf.start]["start"].append((f"input_rate_{k}", _num(rate, unit)))
            if math.isfinite(inf.stop):
                assignments[inf.stop]["stop"].append((f"input_rate_{k}", _num(0, unit)))
        sy = self.model.synapse
        for t in sorted({float(x) for x in sy.stress_times[0] if math.isfinite(x) and x > 0}):
            assignments[t]["stress"].append(("stress_load", _num(float(sy.stress(t)[0]), "dimensionless")))
        for n, t in enumerate(sorted(assignments)):
            if t < 0 or not math.isfinite(t):
                raise SBMLExportError(f"event time {t!r} h cannot be exported")
            e = self.m.createEvent()
            e.setId(self._new_id(f"event_{n}"))
            e.setName(f"t = {t:g} h: " + ", ".join(sorted(assignments[t])))
            e.setUseValuesFromTriggerTime(True)
            tr = e.createTrigger()
            tr.setInitialValue(False)
            tr.setPersistent(True)
            self._check(tr.setMath(self._math(f"time >= {_num(t, 'hour')}")), f"trigger at {t} h")
            seen: set[str] = set()
            for group in ("bolus", "stop", "start", "stress"):
                for var, formula in assignments[t].get(group, []):
                    if var in seen:
                        raise SBMLExportError(f"two assignments to {var} at {t} h")
                    seen.add(var)
                    ea = e.createEventAssignment()
                    ea.setVariable(var)
                    self._check(ea.setMath(self._math(formula)), f"event assignment to {var}")

    # --- coverage and validation -------------------------------------------------------------------

    def _coverage(self) -> None:
        """Refuse to export a model with states or outputs this module does not know (drift guard)."""
        model = self.model
        species = set(pk_layer.STATES)
        missing = [n for n in model.state_names if (n not in species) and STATE_IDS.get(n, n) not in self.state_unit]
        outputs = set(model.observe(np.zeros(1), model.initial()[:, :, None])) - {"madrs_items"}
        missing += sorted(o for o in outputs | set(ITEM_OUTPUTS) if o not in self.ids)
        if missing:
            raise SBMLExportError(
                "the SBML export does not cover these model states/outputs (update ketasim.interop.sbml): "
                + ", ".join(missing)
            )

    def _validated(self) -> str:
        ls, doc = self.ls, self.doc
        problems = []
        doc.checkInternalConsistency()
        doc.checkConsistency()  # all categories, units included
        for i in range(doc.getNumErrors()):
            err = doc.getError(i)
            if err.getSeverity() >= ls.LIBSBML_SEV_ERROR:
                problems.append(f"[{err.getErrorId()}] line {err.getLine()}: {err.getMessage().strip()}")
        if problems:
            raise SBMLExportError("exported SBML fails libSBML validation:\n" + "\n".join(problems))
        return ls.writeSBMLToString(doc)
