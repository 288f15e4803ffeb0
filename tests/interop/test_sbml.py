"""SBML export: a valid, unit-annotated document that libRoadRunner simulates to the same trajectories.

The cross-checks integrate the Python model with LSODA at rtol 1e-10 / atol 1e-14 and the exported
document with CVODE (libRoadRunner) at the same tolerances, and require every Result variable to agree
to 1e-4 relative at every output time where it exceeds 1e-6 of its own peak. With the default engine
tolerances (BDF, rtol 1e-6) the Python side alone is off by up to ~1e-4 after repeated dosing, so the
comparison would test the integrators rather than the export; hence the explicit tolerances.
"""

from __future__ import annotations

import numpy as np
import pytest

import ketasim as ks
from ketasim.model import assemble
from ketasim.model import pk as pk_layer

libsbml = pytest.importorskip("libsbml")
roadrunner = pytest.importorskip("roadrunner")

from ketasim.interop.sbml import ITEM_OUTPUTS, SBMLExportError, export_sbml, simulate_roadrunner  # noqa: E402

TIGHT = ks.SolverOptions(method="LSODA", rtol=1e-10, atol=1e-14)
REL_TOL = 1e-4
FLOOR = 1e-6  # of each variable's peak: below it, relative agreement is not asked for
REQUIRED = (
    "ketamine_plasma", "esketamine_plasma", "arketamine_plasma", "norketamine_plasma", "nmda_occupancy",
    "glutamate", "bdnf", "mtorc1", "synaptic_protein", "synapse_density", "madrs", "cadss", "sbp_change",
)  # fmt: skip

PROTOCOLS = {
    "zarate-2006-iv": "2 d",  # one 40-min IV infusion
    "esketamine-84mg-single": "1 d",  # three nasal devices 5 min apart, each with a swallowed zero-order part
    "murrough-2013-six-infusions": "14 d",  # six IV infusions over two weeks
}


def _cross_check(regimen, patient=None, duration="1 d", step="5 min", hypotheses=None, max_bdf_order=None):
    ref = ks.simulate(regimen, patient, duration=duration, output_step=step, hypotheses=hypotheses, solver=TIGHT)
    text = export_sbml(regimen, patient, hypotheses=hypotheses)
    times = ref.dataset["time"].values
    try:
        out = simulate_roadrunner(text, times, rtol=1e-10, atol=1e-14, max_bdf_order=max_bdf_order)
    except RuntimeError as exc:
        # CVODE sometimes refuses to restart after an event at these extreme tolerances (CV_ILL_INPUT: a zero
        # error weight), depending on the step it happens to be on, not on the model; one retry with a
        # tenfold absolute tolerance. The agreement each test asserts is the same either way.
        if "CVODE" not in str(exc):
            raise
        out = simulate_roadrunner(text, times, rtol=1e-10, atol=1e-13, max_bdf_order=max_bdf_order)
    return ref, text, out


def _python_series(ds, name):
    if name.startswith("madrs_item_"):
        return ds["madrs_items"].sel(item=name[len("madrs_item_") :]).values[0]
    return np.broadcast_to(ds[name].values[0], ds["time"].shape) if name == "madrs_pre_dose" else ds[name].values[0]


def _relative_errors(ref, out):
    """Worst relative difference per Result variable (items split), where the value exceeds FLOOR * peak."""
    ds = ref.dataset
    names = [v for v in ds.data_vars if v != "madrs_items"] + list(ITEM_OUTPUTS)
    worst = {}
    for name in names:
        a, b = _python_series(ds, name), out[name]
        peak = np.abs(a).max()
        if peak == 0:
            worst[name] = float(np.abs(b).max())  # absolute: must stay zero
            continue
        mask = np.abs(a) > FLOOR * peak
        worst[name] = float((np.abs(b[mask] - a[mask]) / np.abs(a[mask])).max())
    return worst


@pytest.fixture(scope="module", params=list(PROTOCOLS))
def protocol_run(request):
    name = request.param
    return (name, *_cross_check(name, duration=PROTOCOLS[name]))


def test_roadrunner_reproduces_the_engine_on_published_protocols(protocol_run):
    name, ref, _, out = protocol_run
    worst = _relative_errors(ref, out)
    assert set(REQUIRED) <= set(worst)
    bad = {k: v for k, v in worst.items() if not v <= REL_TOL}
    assert not bad, f"{name}: relative differences above {REL_TOL}: {bad}"
    total = sum(out[name] for name in ITEM_OUTPUTS)
    np.testing.assert_allclose(total, out["madrs"], rtol=1e-12)
    # the protocol actually did something the comparison could see
    assert ref.dataset["ketamine_plasma"].values.max() > 50 and ref.dataset["glutamate"].values.max() > 1.05


def test_document_validates_with_units(protocol_run):
    _, _, text, _ = protocol_run
    doc = libsbml.readSBMLFromString(text)
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    assert doc.checkConsistency() == 0, [doc.getError(i).getMessage() for i in range(doc.getNumErrors())]
    m = doc.getModel()
    assert (m.getTimeUnits(), m.getSubstanceUnits(), m.getExtentUnits(), m.getVolumeUnits()) == (
        "hour", "umol", "umol", "litre"
    )  # fmt: skip
    assert all(p.isSetUnits() for p in m.getListOfParameters())
    assert all(s.getSubstanceUnits() == "umol" and s.getHasOnlySubstanceUnits() for s in m.getListOfSpecies())
    assert all(c.getUnits() == "litre" for c in m.getListOfCompartments())
    units = {m.getUnitDefinition(i).getId() for i in range(m.getNumUnitDefinitions())}
    assert {"hour", "umol", "uM", "ng_per_mL", "mmHg"} <= units
    assert m.getParameter("ketamine_plasma").getUnits() == "ng_per_mL"
    assert m.getParameter("sbp_change").getUnits() == "mmHg"


def test_every_state_and_output_is_in_the_document():
    text = export_sbml("zarate-2006-iv")
    m = libsbml.readSBMLFromString(text).getModel()
    model = assemble(ks.default_parameters(), [ks.Patient()])
    rate_rules = {r.getVariable() for r in m.getListOfRules() if r.isRate()}
    assignments = {r.getVariable() for r in m.getListOfRules() if r.isAssignment()}
    species = {s.getId() for s in m.getListOfSpecies()}
    assert species == set(pk_layer.COMPARTMENT)  # the amounts; the arm levels are rate rules
    for name in model.state_names:
        assert name in species or name in rate_rules, name
    result_vars = set(ks.simulate("zarate-2006-iv", duration="1 h").dataset.data_vars) - {"madrs_items"}
    defined = assignments | rate_rules | species | {p.getId() for p in m.getListOfParameters()}
    assert result_vars | set(ITEM_OUTPUTS) <= defined
    # every named signal of the definition is an assignment rule, printed from the same expression
    assert {s.name for s in model.definition.signals} == assignments
    r_e = libsbml.formulaToL3String(m.getAssignmentRule("r_e").getMath())
    assert r_e.startswith("piecewise(") and ">=" in r_e  # the circuit's self-consistent regime choice
    # constants carry their registry description and unit
    ke0 = m.getParameter("ke0")
    assert ke0.getUnits() == "per_hour" and "equilibration" in ke0.getName().lower()


def test_events_carry_doses_and_zero_order_inputs():
    """84 mg esketamine: three devices, each a nasal bolus plus a gut-wall loss and a swallowed infusion."""
    m = libsbml.readSBMLFromString(export_sbml("esketamine-84mg-single")).getModel()
    model = assemble(ks.default_parameters(), [ks.Patient()])
    _, infusions = model.events(ks.protocols.get("esketamine-84mg-single"))
    assert len(infusions) == 3 and all(model.state_names[i.state] == "s_depot_swallowed" for i in infusions)
    starts = stops = nasal = 0
    for e in m.getListOfEvents():
        assert not e.getTrigger().getInitialValue() and e.getTrigger().getPersistent()
        for ea in e.getListOfEventAssignments():
            formula = libsbml.formulaToL3String(ea.getMath())
            if ea.getVariable().startswith("input_rate_"):
                value = float(formula.strip("() ").split()[0])
                starts += value > 0
                stops += value == 0
            nasal += ea.getVariable() == "s_depot_nasal"
    assert (starts, stops, nasal) == (3, 3, 3)
    assert m.getReaction("input_s_depot_swallowed") is not None


def test_rates_match_model_rhs_at_arbitrary_states():
    """The document's derivatives equal Model.rhs at random states (high block, psilocin, SSRI, stress 2)."""
    patient = ks.Patient(stress_load=2.0, supportive_environment=0.4, alcohol_use_disorder=True, symptom_profile=0.6)
    model = assemble(ks.default_parameters(), [patient])
    rr = roadrunner.RoadRunner(export_sbml(ks.Regimen([]), patient))
    rr.setValue("stress_load", 2.0)
    species = list(rr.model.getFloatingSpeciesIds())
    rules = list(rr.getRateRuleIds())
    rng = np.random.default_rng(7)
    y0 = model.initial()[:, 0]
    for scale in (0.1, 1.0, 30.0):  # from light to anaesthetic-level NMDA block
        y = y0 * rng.uniform(0.7, 1.3, y0.size) + rng.uniform(0, 0.3, y0.size)
        y[: len(pk_layer.STATES)] = rng.uniform(0, 50 * scale, len(pk_layer.STATES))
        ce = model.slices["receptor"]
        y[ce] = rng.uniform(0, 5 * scale, ce.stop - ce.start)
        expected = model.rhs(0.0, y[:, None], np.zeros((y.size, 1)))[:, 0]
        rr.model.setFloatingSpeciesAmounts([y[model.index[s]] for s in species])
        for sid in rules:
            rr.setValue(sid, y[model.index[sid]])
        rates = rr.getRatesOfChangeNamedArray()  # species amounts and rate-rule variables
        got = {name.rstrip("'"): float(v) for name, v in zip(rates.colnames, rates[0], strict=True)}
        for name in model.state_names:
            e = expected[model.index[name]]
            assert got[name] == pytest.approx(e, rel=1e-9, abs=1e-12 * max(1.0, abs(e))), (scale, name)


def test_sessions_stress_steps_and_other_drugs():
    """Events beyond ketamine infusions: stress steps, psychotherapy, midazolam sedation, exercise, ketosis
    and a daily SSRI (inputs that never stop), a BHB supplement, IM ketamine, psilocybin, escitalopram and
    a tryptophan-depletion drink."""
    patient = ks.Patient(
        weight="82 kg", sex="female", cyp2b6="*1/*6", stress_load=[(0, 1.5), (45.3, 2.5), (90.5, 0.5)],
        psychotherapy=["20 h", "75 h"], supportive_environment=0.5, alcohol_use_disorder=True, symptom_profile=-0.5,
    )  # fmt: skip
    regimen = ks.protocols.get("zarate-2006-iv") + ks.Regimen(
        [
            ks.Session("oral_antidepressant", at="24 h"),
            ks.Session("psychotherapy", at="30 h", intensity=0.7),
            ks.Session("exercise", at="40 h", duration="1 h", intensity=0.8),
            ks.Session("midazolam", at="50 h"),
            ks.Session("ketogenic_diet", at="60 h"),
            ks.Session("bhb_supplement", at="70 h"),
            ks.Dose("psilocybin", "oral", "25 mg", at="80 h"),
            ks.Dose("escitalopram", "oral", "10 mg", at="100 h"),
            ks.Dose("ketamine", "im", "0.5 mg/kg", at="110 h"),
            ks.Session("tryptophan_depletion", at="120 h"),
        ]
    )
    # CVODE's variable-order BDF fails its error test at the exercise onset (40 h) at some tight tolerances
    # and not others, whatever the model revision (atol 1e-13 failed there before the tryptophan-depletion
    # states existed); capped at order 2 it integrates the scenario, and the comparison below is unchanged
    ref, _, out = _cross_check(regimen, patient, duration="6 d", step="10 min", max_bdf_order=2)
    worst = _relative_errors(ref, out)
    bad = {k: v for k, v in worst.items() if not v <= REL_TOL}
    assert not bad, bad
    ds = ref.dataset
    assert ds["stress_load"].values[0, -1] == 0.5 and ds["sedation"].values.max() > 0
    assert ds["psilocin_plasma"].values.max() > 0 and ds["bhb_mm"].values.max() > 0
    assert ds["exercise_training"].values.max() > 0 and ds["serotonergic_adaptation"].values.max() > 0
    assert ds["tryptophan_depletion"].values.max() > 0.8


def test_hypothesis_switches_are_exported():
    """All three switches flipped from their defaults (each one's branch is written by the export)."""
    hyp = ks.Hypotheses(disinhibition=False, rest_block=False, ssri_trkb=True)
    regimen = ks.protocols.get("zarate-2006-iv") + ks.Regimen([ks.Dose("escitalopram", "oral", "20 mg", at="2 h")])
    ref, _, out = _cross_check(regimen, duration="2 d", step="10 min", hypotheses=hyp)
    worst = _relative_errors(ref, out)
    assert max(worst.values()) <= REL_TOL, {k: v for k, v in worst.items() if v > REL_TOL}


def test_writes_the_file_and_takes_a_regimen(tmp_path):
    regimen = ks.Regimen([ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")])
    path = tmp_path / "model.xml"
    text = export_sbml(regimen, ks.Patient(weight="90 kg"), path)
    assert path.read_text(encoding="utf-8") == text
    assert libsbml.readSBMLFromString(text).getModel().getNumEvents() == 2  # infusion on (with expectancy), off


def test_invalid_document_raises(monkeypatch):
    from ketasim.interop import sbml

    original = sbml._Builder._coverage

    def corrupt(self):
        original(self)
        self.m.getParameter("ke0").setUnits("no_such_unit")  # an undefined unit is an SBML error

    monkeypatch.setattr(sbml._Builder, "_coverage", corrupt)
    with pytest.raises(SBMLExportError, match="fails libSBML validation"):
        export_sbml("zarate-2006-iv")


def test_rejects_bad_inputs():
    with pytest.raises(ks.InputError):
        export_sbml(42)
    with pytest.raises(ks.InputError):
        export_sbml("zarate-2006-iv", patient="someone")
    with pytest.raises(ks.InputError):
        simulate_roadrunner("<sbml/>", [1.0, 0.5])
