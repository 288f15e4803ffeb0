"""SBML export: the assembled model of one patient as an SBML Level 3 Version 2 document with units.

The document is printed from the model's own definition (``ketasim.model._definition``), the same
traced equations the compiled kernel and the numpy code are generated from, so nothing is restated:

* PK amounts are species in micromoles (``hasOnlySubstanceUnits``) in compartments whose sizes are
  the patient's volumes in litres (the PK layer's ``COMPARTMENT`` map); every non-zero off-diagonal
  entry ``K[i, j]`` of the patient's PK matrix is one first-order reaction ``j -> i`` (the matrix
  conserves mass, which the export checks). Dose depots and the ``eliminated`` sink sit in nominal
  1 L compartments (their size is never used: the species are amounts).
* Every other state is a parameter with a rate rule (its ``rate`` expression), every named signal an
  assignment rule (the circuit's closed-form regimes, the MADRS items, every Result output, under its
  Result name), every per-patient constant a parameter with its unit and description.
* Dosing is events: boluses add their amount, each zero-order input is a parameter that one event
  sets to its rate at the start and another resets to zero at the stop; reaction ``input_<state>``
  (or the state's rate rule) reads the sum. Expectancy, psychotherapy and supplement boluses are events
  too, and the piecewise-constant external inputs (stress load, mood fluctuation) are parameters set by
  events at their step times.

Units come from the definition; each literal gets the unit its context needs (``_dimensions``), so
the document passes libSBML's unit checks. Time is in hours (the model's ``timeUnits``), so a
simulator's time axis matches ``Result`` directly. Events use ``time >= t`` triggers
(``initialValue=false``), so a dose at 0 h fires at the start, and values at an event time are those
after it, as in ``Result``. Hypothesis switches are constants (1 on, 0 off) read by ``piecewise``.

libSBML (``python-libsbml``) is needed for the export and libRoadRunner for
:func:`simulate_roadrunner`; both are imported only when called (``pip install "ketasim[sbml]"``).
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ketasim._internal.files import atomic_write_text
from ketasim._internal.optional import require
from ketasim.dosing import Regimen, protocols
from ketasim.errors import InputError, SBMLExportError
from ketasim.model import (
    DIMENSIONLESS,
    EXTERNALS,
    ITEM_OUTPUTS,
    NOISE,
    STRESS,
    Definition,
    Dim,
    Hypotheses,
    Model,
    assemble,
    dim,
    unit,
)  # fmt: skip
from ketasim.model import pk as pk_layer
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient

__all__ = ["ITEM_OUTPUTS", "SBMLExportError", "export_sbml", "simulate_roadrunner"]

_DEPOT = "dose_depots"
_SINK = "elimination_sink"
#: SBML ids for the units the model uses (others get generated ids); SBML's own base units are not
#: redefined.
_UNIT_IDS = {
    "h": "hour", "1/h": "per_hour", "umol": "umol", "umol/h": "umol_per_hour", "uM": "uM",
    "uM/h": "uM_per_hour", "mM": "mM", "mM/h": "mM_per_hour", "g/mol": "g_per_mol", "ng/mL": "ng_per_mL",
    "Hz": "Hz", "mmHg": "mmHg", "L/h": "litre_per_hour",
}  # fmt: skip
_BUILTIN = {"1": "dimensionless", "L": "litre", "s": "second"}
_SBML_KIND = {"meter": "metre", "kilogram": "kilogram", "second": "second", "mole": "mole"}


def export_sbml(
    regimen: Regimen | str,
    patient: Patient | None = None,
    path: str | Path | None = None,
    *,
    params: ParameterSet | None = None,
    hypotheses: Hypotheses | None = None,
    layers: Sequence[ModuleType] | None = None,
) -> str:
    """The assembled model for one patient under ``regimen`` as SBML L3V2 text (also written to ``path``).

    ``regimen`` is a Regimen or a protocol name; ``patient`` defaults to ``Patient()``; ``params`` and
    ``hypotheses`` are those ``simulate`` would use; ``layers`` a model with other layer modules (see
    ``ketasim.model.assemble``). The document carries units throughout (time in
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
    model = assemble(params or default_parameters(), [patient], hypotheses or Hypotheses(), layers)
    text = _Builder(model, regimen).build()
    if path is not None:
        atomic_write_text(path, text)
    return text


def simulate_roadrunner(
    sbml_text: str,
    t_out_h: Sequence[float] | np.ndarray,
    *,
    rtol: float = 1e-10,
    atol: float = 1e-14,
    max_steps: int = 1_000_000,
    selections: Iterable[str] | None = None,
    max_bdf_order: int | None = None,
) -> dict[str, np.ndarray]:
    """Simulate an SBML document with libRoadRunner (CVODE) at the times ``t_out_h`` (hours, from 0).

    Returns one array per id: by default every species amount, every rule or event variable (all Result
    outputs, the MADRS items, the intermediate signals, every state) and ``madrs_pre_dose``; or the ids
    in ``selections``. Values at an event time are those after the event, as in ``ketasim.simulate``.
    ``rtol``/``atol`` are CVODE's relative and absolute tolerances; ``max_bdf_order`` (1-5, default CVODE's
    5) caps the order of its BDF method, for models whose kinks make high orders fail their error test.
    """
    roadrunner = _optional("roadrunner")

    t = np.asarray(t_out_h, float)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0):
        raise InputError("t_out_h", "must be at least two strictly increasing times")
    rr = roadrunner.RoadRunner(sbml_text)
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.integrator.maximum_num_steps = max_steps
    if max_bdf_order is not None:
        if not isinstance(max_bdf_order, int) or not 1 <= max_bdf_order <= 5:
            raise InputError("max_bdf_order", "must be a whole number within 1-5", got=repr(max_bdf_order))
        rr.integrator.setValue("maximum_bdf_order", max_bdf_order)
    if selections is None:
        libsbml = _optional("libsbml")
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


# ------------------------------------------------------------------------------ infix with units


class _Infix:
    """sympy expression -> libSBML L3 infix formula, each literal with the unit its context needs."""

    def __init__(self, lookup: Any, unit_id: Any) -> None:
        import sympy

        self.sp = sympy
        self.lookup = lookup  # name -> Dim
        self.unit_id = unit_id  # Dim -> SBML unit id

    def unit(self, e: Any) -> Dim | None:
        return unit(e, self.lookup)

    def __call__(self, e: Any, want: Dim | None = None) -> str:
        sp = self.sp
        if isinstance(e, sp.Symbol):
            return e.name
        if e.is_Number:
            v = float(e)
            if not math.isfinite(v):
                raise SBMLExportError(f"non-finite constant {v!r} cannot be exported")
            literal = f"({abs(v)!r} {self.unit_id(want or DIMENSIONLESS)})"
            return f"(-{literal})" if v < 0 else literal
        if isinstance(e, sp.Add):
            u = self.unit(e) or want
            terms = sorted(e.args, key=lambda a: a.could_extract_minus_sign())
            out = self(terms[0], u)
            for a in terms[1:]:
                out += f" - {self(-a, u)}" if a.could_extract_minus_sign() else f" + {self(a, u)}"
            return f"({out})"
        if isinstance(e, sp.Mul):
            coeff, factors = e.as_coeff_mul()
            num = [f for f in factors if not (isinstance(f, sp.Pow) and f.exp.is_Number and f.exp < 0)]
            den = [sp.Pow(f.base, -f.exp) for f in factors if f not in num]
            parts = [] if abs(coeff) == 1 else [self(abs(coeff))]
            parts += [self._atom(f) for f in num]
            text = " * ".join(parts) if parts else self(sp.Integer(1))
            if den:
                text = f"{text} / ({' * '.join(self._atom(f) for f in den)})"
            return f"(-{text})" if coeff < 0 else f"({text})"
        if isinstance(e, sp.Pow):
            base, exp = e.args
            if exp == sp.Rational(1, 2):
                return f"sqrt({self(base)})"
            if exp.is_Number and exp < 0:
                return f"({self(sp.Integer(1))} / {self._atom(sp.Pow(base, -exp))})"
            ub = self.unit(base)
            return f"{self._atom(base, ub)} ^ {self._atom(exp, DIMENSIONLESS)}"
        if isinstance(e, sp.exp):
            return f"exp({self(e.args[0], DIMENSIONLESS)})"
        if isinstance(e, sp.Max | sp.Min):
            u = self.unit(e) or want
            fn = "max" if isinstance(e, sp.Max) else "min"
            return f"{fn}({', '.join(self(a, u) for a in e.args)})"
        if isinstance(e, sp.Piecewise):
            u = self.unit(e) or want
            parts = []
            for pair in e.args:
                parts.append(self(pair.expr, u))
                if pair.cond is not sp.true:
                    parts.append(self(pair.cond))
            return f"piecewise({', '.join(parts)})"
        if isinstance(e, sp.core.relational.Relational):
            u = unit(e.lhs, self.lookup) or unit(e.rhs, self.lookup)
            return f"({self(e.lhs, u)} {e.rel_op} {self(e.rhs, u)})"
        if isinstance(e, sp.And | sp.Or):
            op = " && " if isinstance(e, sp.And) else " || "
            return "(" + op.join(self(a) for a in e.args) + ")"
        raise SBMLExportError(f"cannot write {type(e).__name__} as SBML: {e}")

    def _atom(self, e: Any, want: Dim | None = None) -> str:
        text = self(e, want)
        return text if (e.is_Symbol or text.startswith("(")) else f"({text})"


# ------------------------------------------------------------------------------------ document


def _optional(module: str) -> Any:
    """Import libSBML or libRoadRunner, or say which extra installs it (they are not core dependencies)."""
    return require(module, "SBML export and its libRoadRunner check")


class _Builder:
    """Builds the libSBML document for a one-patient Model from its definition."""

    def __init__(self, model: Model, regimen: Regimen) -> None:
        if model.n_patients != 1:
            raise SBMLExportError("SBML export is for exactly one patient")
        self.ls = libsbml = _optional("libsbml")
        self.model = model
        self.defn: Definition = model.definition
        self.regimen = regimen
        self.doc = libsbml.SBMLDocument(3, 2)
        self.m = self.doc.createModel()
        self.ids: set[str] = set()
        self.units: dict[tuple[Any, ...], str] = {}  # Dim key -> unit id
        self.inputs: dict[str, list[str]] = defaultdict(list)  # state -> its zero-order input parameters
        self.infix = _Infix(self._dim_of, self.unit_id)

    # --- helpers -----------------------------------------------------------------------------------

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

    def _dim_of(self, name: str) -> Dim:
        return dim(self.defn.unit_of(name))

    def unit_id(self, d: Dim, preferred: str | None = None) -> str:
        """The SBML unit id of ``d``, defining it on first use."""
        key = (round(math.log10(d.factor), 9), d.exps)
        if key in self.units:
            return self.units[key]
        builtin = {k: v for k, v in _BUILTIN.items() if dim(k).same(d)}
        if builtin:
            self.units[key] = next(iter(builtin.values()))
            return self.units[key]
        uid = self._new_id(preferred or f"unit_{len(self.units)}")
        ud = self.m.createUnitDefinition()
        ud.setId(uid)
        parts = list(d.exps) or [("dimensionless", 1.0)]
        for i, (base, exponent) in enumerate(parts):
            u = ud.createUnit()
            u.setKind(self.ls.UnitKind_forName(_SBML_KIND.get(base, base)))
            u.setExponent(exponent)
            u.setScale(0)
            u.setMultiplier(d.factor ** (1.0 / exponent) if i == 0 else 1.0)  # the factor rides on the first
        self.units[key] = uid
        return uid

    def unit_of_text(self, text: str) -> str:
        return self.unit_id(dim(text), _UNIT_IDS.get(text))

    def _parameter(self, sid: str, unit_text: str, constant: bool, name: str | None) -> Any:
        p = self.m.createParameter()
        self._check(p.setId(self._new_id(sid)), f"parameter id {sid}")
        self._check(p.setUnits(self.unit_of_text(unit_text)), f"units of {sid}")
        p.setConstant(constant)
        if name:
            p.setName(name)
        return p

    def param(self, sid: str, value: float, unit_text: str, *, constant: bool = True, name: str | None = None) -> str:
        if not math.isfinite(value):
            raise SBMLExportError(f"parameter {sid} is not finite ({value!r})")
        self._parameter(sid, unit_text, constant, name).setValue(float(value))
        return sid

    def _rule(self, rule: Any, sid: str, formula: str) -> None:
        rule.setVariable(sid)
        self._check(rule.setMath(self._math(formula)), f"math of {sid}")

    # --- the document ------------------------------------------------------------------------------

    def build(self) -> str:
        m = self.m
        name = self.regimen.name or "custom regimen"
        m.setId("ketasim_" + "".join(c if c.isalnum() else "_" for c in name))
        m.setName(f"ketasim: {name}, one patient")
        for text, uid in _UNIT_IDS.items():  # readable ids for the units the model uses
            self.unit_id(dim(text), uid)
        m.setTimeUnits(self.unit_of_text("h"))
        m.setSubstanceUnits(self.unit_of_text("umol"))
        m.setExtentUnits(self.unit_of_text("umol"))
        m.setVolumeUnits("litre")
        self._notes()
        self.y0 = self.model.initial()[:, 0]
        self.boluses, self.infusions = self.model.events(self.regimen)
        for k, inf in enumerate(self.infusions):  # one parameter per zero-order input, 0 until it starts
            state = self.model.state_names[inf.state]
            rate_unit = f"{self.defn.states[state].unit}/h" if self.defn.states[state].unit != "1" else "1/h"
            self.param(f"input_rate_{k}", 0.0, rate_unit, constant=False, name=f"zero-order input into {state}")
            self.inputs[state].append(f"input_rate_{k}")
        self._pk()
        self._constants()
        start = self.model.exogenous(0.0)[0]
        self.param(STRESS, float(start[0]), "1", constant=False, name="chronic stress load")
        self.param(NOISE, float(start[1]), "1", constant=False, name="day-to-day mood fluctuation (seeded path)")
        self._states()
        self._signals()
        pre = self.model.observe(np.zeros(1), self.model.initial()[:, :, None], only=["madrs"])["madrs"][0, 0]
        self.param("madrs_pre_dose", pre, "1", name="MADRS before any dose (baseline)")
        self._events()
        self._coverage()
        return self._validated()

    def _notes(self) -> None:
        model, p = self.model, self.model.patients[0]
        lines = [
            "Exported by ketasim.interop.sbml.export_sbml from the model's definition: the ODE system that "
            "ketasim.simulate integrates, for one patient. Time in hours, PK amounts in micromoles, volumes in litres.",
            f"Regimen: {self.regimen.describe()}",
            f"Patient: {p!r}",
            f"Parameter set digest: {model.params.digest()}",
            f"Hypotheses: {model.hypotheses!r} (switch constants: 1 on, 0 off)",
        ]
        body = "".join(f"<p>{html.escape(s)}</p>" for s in lines)
        self._check(self.m.setNotes(f'<body xmlns="http://www.w3.org/1999/xhtml">{body}</body>'), "notes")

    def _pk(self) -> None:
        """Compartments (the volumes), species (the amounts) and one reaction per PK flow."""
        m, consts = self.m, self.model.constants
        volumes = sorted({v for v in pk_layer.COMPARTMENT.values() if v is not None})
        nominal = [(_DEPOT, 1.0, "nominal compartment of dose depots (size unused)"),
                   (_SINK, 1.0, "nominal compartment of the elimination sink (size unused)")]  # fmt: skip
        for cid, size, label in [*((v, float(consts[v][0]), consts.descriptions[v]) for v in volumes), *nominal]:
            c = m.createCompartment()
            c.setId(self._new_id(cid))
            c.setName(label)
            c.setSize(size)
            c.setSpatialDimensions(3)
            c.setUnits("litre")
            c.setConstant(True)
        names = self.defn.compartmental
        for name in names:
            s = m.createSpecies()
            s.setId(self._new_id(name))
            s.setName(self.defn.states[name].description)
            s.setCompartment(pk_layer.COMPARTMENT[name] or (_SINK if name == "eliminated" else _DEPOT))
            s.setInitialAmount(float(self.y0[self.model.index[name]]))
            s.setSubstanceUnits(self.unit_of_text("umol"))
            s.setHasOnlySubstanceUnits(True)
            s.setBoundaryCondition(False)
            s.setConstant(False)
        K = self.model.pk.K[0]
        for j, src in enumerate(names):
            outflow = 0.0
            for i, dst in enumerate(names):
                if i == j or K[i, j] == 0.0:
                    continue
                if K[i, j] < 0:
                    raise SBMLExportError(f"negative PK transfer rate {src} -> {dst}")
                outflow += K[i, j]
                k = self.param(f"k_{src}__{dst}", K[i, j], "1/h", name=f"transfer rate {src} -> {dst}")
                self._reaction(f"{src}__to__{dst}", src, dst, f"{k} * {src}")
            if abs(outflow + K[j, j]) > 1e-12 * abs(K[j, j]):
                raise SBMLExportError(f"PK matrix does not conserve mass out of {src}; cannot write it as flows")
        for state, pids in self.inputs.items():
            if state in names:
                self._reaction(f"input_{state}", None, state, " + ".join(pids))

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

    def _constants(self) -> None:
        consts = self.model.constants
        volumes = set(pk_layer.COMPARTMENT.values())
        for name, unit_text in self.defn.constants.items():
            if name not in volumes:  # volumes are the compartments
                self.param(name, float(consts[name][0]), unit_text, name=consts.descriptions[name] or None)

    def _states(self) -> None:
        """Each state after the PK amounts: a parameter with its rate rule (plus any zero-order inputs)."""
        for name, rate in self.defn.rates.items():
            spec = self.defn.states[name]
            self.param(name, float(self.y0[self.model.index[name]]), spec.unit, constant=False, name=spec.description)
            want = dim(spec.unit) * dim("1/h")
            formula = self.infix(rate, want) + "".join(f" + {p}" for p in self.inputs.get(name, []))
            self._rule(self.m.createRateRule(), name, formula)

    def _signals(self) -> None:
        for s in self.defn.signals:
            self._parameter(s.name, s.unit, False, s.description or None)
            self._rule(self.m.createAssignmentRule(), s.name, self.infix(s.expr, dim(s.unit)))

    def _events(self) -> None:
        """Doses, sessions, psychotherapy and stress steps: one event per time, its assignments grouped."""
        assignments: dict[float, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
        totals: dict[float, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        for bol in self.boluses:  # amounts on one state at one time are summed into one assignment
            amount = float(np.asarray(bol.amount, float).reshape(-1)[0])
            if amount != 0.0:  # zero boluses only cut the Python integration (stress steps)
                totals[bol.time][bol.state] += amount
        for t, per_state in totals.items():
            for index, amount in per_state.items():
                sid = self.model.state_names[index]
                literal = self.infix(self.infix.sp.Float(amount), dim(self.defn.states[sid].unit))
                assignments[t]["bolus"].append((sid, f"{sid} + {literal}"))
        for k, inf in enumerate(self.infusions):
            pid = f"input_rate_{k}"
            udim = dim(self.defn.states[self.model.state_names[inf.state]].unit) * dim("1/h")
            rate = float(np.asarray(inf.rate, float).reshape(-1)[0])
            assignments[inf.start]["start"].append((pid, self.infix(self.infix.sp.Float(rate), udim)))
            if math.isfinite(inf.stop):
                assignments[inf.stop]["stop"].append((pid, self.infix(self.infix.sp.Integer(0), udim)))
        previous = self.model.exogenous(0.0)[0]
        for t in sorted({float(x) for x in self.model.ext_times[0] if math.isfinite(x) and x > 0}):
            levels = self.model.exogenous(t)[0]
            for name, level, before in zip(EXTERNALS, levels, previous, strict=True):
                if level != before:
                    assignments[t]["external"].append((name, self.infix(self.infix.sp.Float(level), DIMENSIONLESS)))
            previous = levels
        hour = dim("h")
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
            at = self.infix(self.infix.sp.Float(t), hour)
            self._check(tr.setMath(self._math(f"time >= {at}")), f"trigger at {t} h")
            seen: set[str] = set()
            for group in ("bolus", "stop", "start", "external"):
                for var, formula in assignments[t].get(group, []):
                    if var in seen:
                        raise SBMLExportError(f"two assignments to {var} at {t} h")
                    seen.add(var)
                    ea = e.createEventAssignment()
                    ea.setVariable(var)
                    self._check(ea.setMath(self._math(formula)), f"event assignment to {var}")

    def _coverage(self) -> None:
        """Every state and Result output has an id in the document (by construction; checked anyway)."""
        wanted = [*self.model.state_names, *self.defn.outputs, *ITEM_OUTPUTS]
        missing = [n for n in wanted if n not in self.ids]
        if missing:
            raise SBMLExportError("the SBML document lacks these states/outputs: " + ", ".join(missing))

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
