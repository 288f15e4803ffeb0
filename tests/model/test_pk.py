"""Layer 1 (pharmacokinetics) on its own: analytic solutions, mass balance, published values, covariates.

The PK layer is integrated with the package's engine at tight tolerances, with one extra state per
reported concentration that accumulates its AUC (so AUCs are as exact as the integration).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from ketasim.dosing import Dose, Regimen
from ketasim.engine import SolverOptions, integrate
from ketasim.model import assemble, pk
from ketasim.model.pk import IDX, SINK
from ketasim.parameters import default_parameters
from ketasim.patients import Patient

STATES = tuple(pk.COMPARTMENT)  # the amounts (the arm states are concentrations, read by no test here)
TIGHT = SolverOptions(rtol=1e-10, atol=1e-14)
MW = 237.73  # g/mol, ketamine free base
AUC_SPECIES = ("ketamine_plasma", "esketamine_plasma", "arketamine_plasma")
BODY = [i for i in range(pk.N) if i != SINK]


class PKModel:
    """The PK layer of an assembled model: its rate matrices and dosing (``PKModel``) plus the
    concentrations, read through the model's linear concentration map (the PK layer's equations)."""

    SPECIES = ("ketamine_plasma", "esketamine_plasma", "arketamine_plasma", "s_ketamine_um")

    def __init__(self, *patients: Patient) -> None:
        self.model = assemble(default_parameters(), list(patients or [Patient()]))
        self.layer = self.model.pk
        self.K = self.layer.K
        self.n_patients = self.model.n_patients
        self.device_interval_h = self.layer.device_interval_h
        self.map = self.model.concentration_map(self.SPECIES)  # (P, species, N)

    def inputs(self, regimen: Regimen):
        return self.layer.inputs(regimen)

    def rhs(self, y, u):
        return self.layer.rhs(y, u)

    def concentrations(self, amounts: np.ndarray) -> dict[str, np.ndarray]:
        """{species: array} from amounts (N, ..., P)."""
        values = np.einsum("psn,n...p->s...p", self.map, amounts)
        return dict(zip(self.SPECIES, values, strict=True))


class PKOnly:
    """The PK layer as an engine ``OdeSystem``, plus AUC accumulators of AUC_SPECIES (ng*h/mL)."""

    def __init__(self, model: PKModel) -> None:
        self.model = model
        self.n_states = pk.N + len(AUC_SPECIES)

    def rhs(self, t, y, u):
        amounts = y[: pk.N]
        conc = self.model.concentrations(amounts)
        return np.vstack([self.model.rhs(amounts, u[: pk.N])] + [conc[s][None] for s in AUC_SPECIES])


def build(*patients: Patient) -> PKModel:
    return PKModel(*patients)


def run(model: PKModel, regimen: Regimen, t: np.ndarray, options: SolverOptions = TIGHT):
    """Returns (amounts (N, P, T), AUC accumulators {species: (P, T)})."""
    boluses, infusions = model.inputs(regimen)
    system = PKOnly(model)
    y = integrate(system, np.zeros((system.n_states, model.n_patients)), boluses, infusions, t, options)
    aucs = {s: y[pk.N + k] for k, s in enumerate(AUC_SPECIES)}
    return y[: pk.N], aucs


def conc(model: PKModel, amounts: np.ndarray, species: str) -> np.ndarray:
    """Concentrations (P, T) from amounts (N, P, T) (``concentrations`` wants the patient axis last)."""
    return model.concentrations(np.transpose(amounts, (0, 2, 1)))[species].T


def auc_inf_all(model: PKModel, regimen: Regimen, t_end: float = 48.0) -> dict[str, np.ndarray]:
    """AUC from 0 to infinity per patient: integrated to ``t_end``, then the exact linear tail."""
    t = np.linspace(0.0, t_end, 97)
    amounts, aucs = run(model, regimen, t)
    tail = np.zeros((pk.N, model.n_patients))
    for p in range(model.n_patients):
        kb = model.K[p][np.ix_(BODY, BODY)]
        tail[BODY, p] = -np.linalg.solve(kb, amounts[BODY, p, -1])
    return {s: aucs[s][:, -1] + model.concentrations(tail)[s] for s in AUC_SPECIES}


def auc_inf(model: PKModel, regimen: Regimen, species: str) -> np.ndarray:
    return auc_inf_all(model, regimen)[species]


def umol(mg: float) -> float:
    return mg / MW * 1e3


# ---------------------------------------------------------------- structure of K


def test_rate_matrix_conserves_mass_and_uses_the_published_disposition():
    p = default_parameters()
    m = build(Patient(weight="70 kg"))
    K = m.K[0]
    assert K.shape == (pk.N, pk.N) == (len(STATES), len(STATES))
    np.testing.assert_allclose(K.sum(axis=0), 0.0, atol=1e-12)  # every column: out = in elsewhere
    assert np.all(K[SINK] >= 0) and np.all(K[:, SINK] == 0)  # nothing leaves the sink
    off = K - np.diag(np.diag(K))
    assert np.all(off >= 0) and np.all(np.diag(K) <= 0)
    # R-ketamine: Fanta 2015's disposition at 70 kg, male, *1/*1, with its own clearance
    c, p1, p2 = IDX["r_central"], IDX["r_periph1"], IDX["r_periph2"]
    v1, cl = p.value("r_v1", "L"), p.value("r_cl", "L/h")
    q1, q2 = p.value("r_q1", "L/h"), p.value("r_q2", "L/h")
    assert K[c, c] == pytest.approx(-(cl + q1 + q2) / v1, rel=1e-12)
    assert K[p1, c] == pytest.approx(q1 / v1, rel=1e-12)
    assert K[c, p1] == pytest.approx(q1 / p.value("r_vp1", "L"), rel=1e-12)
    assert K[c, p2] == pytest.approx(q2 / p.value("r_vp2", "L"), rel=1e-12)
    assert K[IDX["rnk_central"], c] == pytest.approx(cl / v1, rel=1e-12)  # fm = 1 to norketamine
    # S-ketamine: Perez-Ruixo 2021, eliminated from its hepato-portal compartment
    s, liver, vc = IDX["s_central"], IDX["s_liver"], p.value("esk_vc", "L")
    qh, kmet = p.value("esk_qh", "L/h"), p.value("esk_kmet", "1/h")
    assert K[s, s] == pytest.approx(-(p.value("esk_q1", "L/h") + p.value("esk_q2", "L/h") + qh) / vc, rel=1e-12)
    assert K[liver, s] == pytest.approx(qh / vc, rel=1e-12)
    assert K[IDX["snk_central"], liver] == pytest.approx(kmet, rel=1e-12)
    assert K[s, IDX["r_central"]] == 0.0 and K[IDX["r_central"], s] == 0.0  # no interaction (none published)
    # what enters venous blood mixes in the heart and lungs: total PK flow over the mixing volume
    for e in ("s", "r"):
        rate = p.value("pk_total_flow", "L/h") / p.value("pk_mixing_volume", "L")
        assert K[IDX[f"{e}_central"], IDX[f"{e}_mixing"]] == pytest.approx(rate, rel=1e-12)


# ---------------------------------------------------------------- (a) analytic solutions


def _compare(numeric: np.ndarray, exact: np.ndarray, rel: float = 1e-6) -> int:
    """Compare state trajectories (N, T) where exact values exceed 1e-6 of their peak."""
    checked = 0
    for i in range(exact.shape[0]):
        peak = np.abs(exact[i]).max()
        if peak == 0.0:
            assert np.all(numeric[i] == 0.0), STATES[i]
            continue
        mask = np.abs(exact[i]) > 1e-6 * peak
        np.testing.assert_allclose(numeric[i, mask], exact[i, mask], rtol=rel, atol=0, err_msg=STATES[i])
        checked += int(mask.sum())
    return checked


T_GRID = np.concatenate([np.linspace(0.0, 2.0, 25), np.linspace(2.5, 24.0, 44), [36.0, 48.0]])


@pytest.mark.parametrize("method", ["BDF", "Radau"])
def test_iv_bolus_matches_matrix_exponential(method):
    m = build(Patient(weight="70 kg"))
    K = m.K[0]
    reg = Regimen([Dose("ketamine", "iv", "35 mg")])
    amounts, _ = run(m, reg, T_GRID, SolverOptions(method=method, rtol=1e-10, atol=1e-14))
    y0 = np.zeros(pk.N)
    y0[IDX["s_mixing"]] = y0[IDX["r_mixing"]] = 0.5 * umol(35.0)
    exact = np.stack([expm(K * t) @ y0 for t in T_GRID], axis=1)
    n = _compare(amounts[:, 0, :], exact)
    assert n > 10 * len(T_GRID)  # many states checked, not just the central one
    # right after the bolus everything is still in the heart-lung mixing compartments
    assert amounts[IDX["s_mixing"], 0, 0] == pytest.approx(0.5 * umol(35.0), rel=1e-14)


def test_r_ketamine_central_is_a_sum_of_four_exponentials():
    """Superposition of exponentials from the eigen-decomposition of the R block: heart-lung mixing,
    then Fanta 2015's three compartments (nothing flows back to the R block from elsewhere)."""
    m = build(Patient(weight="70 kg"))
    sub = [IDX["r_mixing"], IDX["r_central"], IDX["r_periph1"], IDX["r_periph2"]]
    Ks = m.K[0][np.ix_(sub, sub)]
    lam, V = np.linalg.eig(Ks)
    assert np.all(np.isreal(lam)) and np.all(lam.real < 0)
    lam, V = lam.real, V.real
    assert len(set(np.round(lam, 8))) == 4
    dose_r = 0.5 * umol(35.0)
    coef = np.linalg.solve(V, np.array([dose_r, 0.0, 0.0, 0.0]))
    amp = V[1] * coef  # A_central(t) = sum_i amp_i exp(lam_i t)
    assert amp.sum() == pytest.approx(0.0, abs=1e-9 * dose_r)  # nothing in the central at t = 0
    exact = (amp[None, :] * np.exp(np.outer(T_GRID, lam))).sum(axis=1)
    amounts, _ = run(m, Regimen([Dose("ketamine", "iv", "35 mg")]), T_GRID)
    mask = exact > 1e-6 * exact.max()
    np.testing.assert_allclose(amounts[IDX["r_central"], 0, mask], exact[mask], rtol=1e-6, atol=0)
    # and the R-ketamine plasma concentration is that amount over V1, in ng/mL
    v1 = default_parameters().value("r_v1", "L")
    r_conc = conc(m, amounts, "arketamine_plasma")[0]
    np.testing.assert_allclose(r_conc[mask], exact[mask] / v1 * MW, rtol=1e-6)


@pytest.mark.parametrize(
    ("dose", "states"),
    [
        (Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at="1 h"), ("s_mixing", "r_mixing")),
        (Dose("esketamine", "iv", "28 mg", duration="40 min"), ("s_mixing",)),
    ],
)
def test_iv_infusion_matches_closed_form(dose, states):
    """dA/dt = K A + u with u constant over the infusion: exp of the augmented matrix [[K, u], [0, 0]]."""
    m = build(Patient(weight="80 kg"))
    K = m.K[0]
    start, stop = dose.at_h, dose.at_h + dose.duration_h
    total = umol(dose.amount_mg(80.0))
    u = np.zeros(pk.N)
    for s in states:
        u[IDX[s]] = total / len(states) / dose.duration_h
    M = np.zeros((pk.N + 1, pk.N + 1))
    M[: pk.N, : pk.N] = K
    M[: pk.N, pk.N] = u
    z0 = np.zeros(pk.N + 1)
    z0[pk.N] = 1.0
    y_stop = (expm(M * dose.duration_h) @ z0)[: pk.N]

    def exact(t: float) -> np.ndarray:
        if t <= start:
            return np.zeros(pk.N)
        if t <= stop:
            return (expm(M * (t - start)) @ z0)[: pk.N]
        return expm(K * (t - stop)) @ y_stop

    t = np.unique(np.concatenate([T_GRID, start + np.linspace(0, dose.duration_h, 9)]))
    amounts, _ = run(m, Regimen([dose]), t)
    ref = np.stack([exact(x) for x in t], axis=1)
    _compare(amounts[:, 0, :], ref)
    # all of the dose has gone in by the end of the infusion
    assert ref.sum(axis=0)[-1] == pytest.approx(total, rel=1e-10)


# ---------------------------------------------------------------- (b) mass balance

MASS_CASES = {
    "racemic-iv-bolus": Dose("ketamine", "iv", "35 mg"),
    "racemic-iv-infusion": Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"),
    "racemic-im": Dose("ketamine", "im", "0.5 mg/kg"),
    "racemic-oral": Dose("ketamine", "oral", "100 mg"),
    "racemic-intranasal": Dose("ketamine", "intranasal", "50 mg"),
    "esketamine-iv-bolus": Dose("esketamine", "iv", "20 mg"),
    "esketamine-iv-infusion": Dose("esketamine", "iv", "28 mg", duration="40 min"),
    "esketamine-im": Dose("esketamine", "im", "0.25 mg/kg"),
    "esketamine-oral": Dose("esketamine", "oral", "50 mg"),
    "esketamine-intranasal-56": Dose("esketamine", "intranasal", "56 mg"),
    "esketamine-intranasal-84": Dose("esketamine", "intranasal", "84 mg"),
}
DEPOTS = [i for i, s in enumerate(STATES) if "depot" in s]


@pytest.mark.parametrize("case", list(MASS_CASES))
def test_mass_balance(case):
    dose = MASS_CASES[case]
    weights = (70.0, 55.0)
    m = build(Patient(weight="70 kg"), Patient(weight="55 kg", sex="female", cyp2b6="*6/*6", age=80))
    expected = np.array([umol(dose.amount_mg(w)) for w in weights])
    boluses, infusions = m.inputs(Regimen([dose]))
    # what goes in adds up to the dose
    given = sum(b.amount for b in boluses) + sum(i.rate * (i.stop - i.start) for i in infusions)
    np.testing.assert_allclose(given, expected, rtol=1e-12)
    assert all(np.all(b.amount >= 0) for b in boluses) and all(np.all(i.rate >= 0) for i in infusions)
    inputs_end = max([b.time for b in boluses] + [i.stop for i in infusions])
    t = np.unique(
        np.concatenate([[0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 3.0, 8.0, 24.0, 72.0], [inputs_end]])
    )
    amounts, _ = run(m, Regimen([dose]), t)
    total = amounts.sum(axis=0)  # (P, T), every state including 'eliminated'
    assert np.all(amounts >= -1e-9 * expected.max())
    # at every time: body + eliminated = what has been given so far
    for k, x in enumerate(t):
        so_far = sum(b.amount for b in boluses if b.time <= x) + sum(
            i.rate * np.clip(x - i.start, 0.0, i.stop - i.start) for i in infusions
        )
        np.testing.assert_allclose(total[:, k], so_far, rtol=1e-8, err_msg=f"t={x} h")
    # once every input is in, it equals the dose, during absorption and after
    after = t >= inputs_end
    assert after.sum() >= 6
    np.testing.assert_allclose(total[:, after], expected[:, None] * np.ones((1, after.sum())), rtol=1e-8)
    if dose.route.value != "iv":  # some drug is still being absorbed at the first check after input
        first = np.argmax(after)
        assert np.all(amounts[DEPOTS, :, first].sum(axis=0) > 0.01 * expected)
    # and by 72 h almost everything is eliminated (hydroxynorketamine included)
    assert np.all(amounts[SINK, :, -1] > 0.9 * expected)


# ---------------------------------------------------------------- (c) published values

DEVICE_GAP_MIN = 5.0


def test_esketamine_absolute_bioavailability_perez_ruixo_2021():
    m = build(Patient())
    iv = auc_inf(m, Regimen([Dose("esketamine", "iv", "28 mg", duration="40 min")]), "esketamine_plasma")[0]
    f56 = auc_inf(m, Regimen([Dose("esketamine", "intranasal", "56 mg")]), "esketamine_plasma")[0] / 56 / (iv / 28)
    f84 = auc_inf(m, Regimen([Dose("esketamine", "intranasal", "84 mg")]), "esketamine_plasma")[0] / 84 / (iv / 28)
    assert f56 == pytest.approx(0.54, abs=0.02)
    assert f84 == pytest.approx(0.51, abs=0.02)
    assert f84 < f56  # later devices deliver less through the mucosa


def test_auc_inf_agrees_with_the_linear_system_identity():
    """For dA/dt = K A + u, integral of A over [0, inf) = -K^-1 (everything given) on the body states."""
    m = build(Patient())
    for dose in (Dose("esketamine", "intranasal", "84 mg"), Dose("ketamine", "oral", "100 mg")):
        boluses, infusions = m.inputs(Regimen([dose]))
        given = np.zeros(pk.N)
        for b in boluses:
            given[b.state] += b.amount[0]
        for i in infusions:
            given[i.state] += i.rate[0] * (i.stop - i.start)
        integral = np.zeros((pk.N, 1))
        integral[BODY, 0] = -np.linalg.solve(m.K[0][np.ix_(BODY, BODY)], given[BODY])
        numeric = auc_inf_all(m, Regimen([dose]))
        for species in AUC_SPECIES:
            exact = m.concentrations(integral)[species][0]
            if species == "arketamine_plasma" and dose.drug.value == "esketamine":
                assert exact == numeric[species][0] == 0.0
                continue
            assert exact > 0
            assert numeric[species][0] == pytest.approx(exact, rel=1e-6)


@pytest.mark.parametrize("mg", [56, 84])
def test_esketamine_tmax_is_20_to_40_min_after_the_last_spray(mg):
    m = build(Patient())
    assert m.device_interval_h * 60 == pytest.approx(DEVICE_GAP_MIN, rel=1e-12)
    t = np.arange(0.0, 3.0 + 1e-9, 0.5 / 60)  # 30 s resolution
    amounts, _ = run(m, Regimen([Dose("esketamine", "intranasal", f"{mg} mg")]), t)
    c = conc(m, amounts, "esketamine_plasma")[0]
    last_spray_min = (mg // 28 - 1) * DEVICE_GAP_MIN
    tmax_after_last = t[np.argmax(c)] * 60 - last_spray_min
    assert 20.0 <= tmax_after_last <= 40.0


def test_zarate_infusion_peak_near_185_ng_ml():
    """0.5 mg/kg over 40 min, 70 kg: ~185 ng/mL at the end of the infusion (Zarate 2006 via Zanos 2018)."""
    m = build(Patient(weight="70 kg"))
    t = np.arange(0.0, 4.0 + 1e-9, 1 / 60)
    amounts, _ = run(m, Regimen([Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")]), t)
    c = conc(m, amounts, "ketamine_plasma")[0]
    assert c.max() == pytest.approx(185.0, rel=0.25)
    assert t[np.argmax(c)] == pytest.approx(40 / 60, abs=1.5 / 60)  # peak at the end of the infusion
    # enantiomers: equal amounts in, R cleared more slowly -> R above S after the peak
    r = conc(m, amounts, "arketamine_plasma")[0]
    s = conc(m, amounts, "esketamine_plasma")[0]
    np.testing.assert_allclose(r + s, c, rtol=1e-12)
    assert np.all(r[t > 0.5] > s[t > 0.5])


# ---------------------------------------------------------------- (d) covariates


def test_weight_based_dose_in_heavier_patient():
    """R-ketamine's clearance scales allometrically (Fanta 2015), S-ketamine's not at all (Perez-Ruixo 2021)."""
    light, heavy = Patient(weight="50 kg"), Patient(weight="100 kg")
    m = build(light, heavy)
    zarate = Regimen([Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")])
    t = np.arange(0.0, 3.0 + 1e-9, 1 / 60)
    amounts, _ = run(m, zarate, t)
    cmax = conc(m, amounts, "arketamine_plasma").max(axis=1)
    assert cmax[1] / cmax[0] == pytest.approx(1.0, abs=0.15)  # similar R concentrations: dose and volumes ~ W
    auc = auc_inf_all(m, zarate)
    exp_cl = default_parameters().value("allometric_exponent_cl")
    assert auc["arketamine_plasma"][1] / auc["arketamine_plasma"][0] == pytest.approx(2.0 ** (1 - exp_cl), rel=1e-6)
    assert auc["esketamine_plasma"][1] / auc["esketamine_plasma"][0] == pytest.approx(2.0, rel=1e-6)  # dose ~ W


def test_fixed_mg_dose_in_heavier_patient_gives_lower_exposure():
    m = build(Patient(weight="50 kg"), Patient(weight="100 kg"))
    reg = Regimen([Dose("ketamine", "iv", "35 mg", duration="40 min")])
    auc = auc_inf_all(m, reg)
    exp_cl = default_parameters().value("allometric_exponent_cl")
    assert auc["arketamine_plasma"][1] / auc["arketamine_plasma"][0] == pytest.approx(2.0**-exp_cl, rel=1e-6)
    assert auc["esketamine_plasma"][1] == pytest.approx(auc["esketamine_plasma"][0], rel=1e-6)
    t = np.arange(0.0, 3.0 + 1e-9, 1 / 60)
    amounts, _ = run(m, reg, t)
    cmax = conc(m, amounts, "ketamine_plasma").max(axis=1)
    assert cmax[1] < cmax[0]


def test_sex_and_cyp2b6_move_r_ketamine_clearance():
    p = default_parameters()
    pts = [Patient(), Patient(sex="female"), Patient(cyp2b6="*1/*6"), Patient(cyp2b6="*6/*6")]
    m = build(*pts)
    auc = auc_inf_all(m, Regimen([Dose("ketamine", "iv", "35 mg")]))
    male, female, het, poor = auc["arketamine_plasma"]
    assert female / male == pytest.approx(1 / p.value("female_cl_multiplier"), rel=1e-6)
    assert male < het < poor
    assert poor / male == pytest.approx(1 / p.value("cyp2b6_pm_cl_multiplier"), rel=1e-6)
    assert het / male == pytest.approx(1 / p.value("cyp2b6_im_cl_multiplier"), rel=1e-6)
    s_male, s_female, s_het, s_poor = auc["esketamine_plasma"]
    assert s_female == pytest.approx(s_male, rel=1e-9)  # no sex effect on S-ketamine (Perez-Ruixo 2021)
    assert s_male < s_het < s_poor  # CYP2B6 slows S-ketamine's hepatic metabolism too


def test_esketamine_covariates_age_and_cyp2b6():
    pts = [Patient(age=45), Patient(age=60), Patient(age=75), Patient(age=45, cyp2b6="*6/*6")]
    m = build(*pts)
    auc = auc_inf(m, Regimen([Dose("esketamine", "intranasal", "56 mg")]), "esketamine_plasma")
    a45, a60, a75, poor = auc
    assert a60 == pytest.approx(a45, rel=1e-9)  # hepatic flow falls only above 60 years
    assert a75 > 1.05 * a45
    assert poor > a45


def test_s_ketamine_has_no_weight_or_sex_effect():
    pts = [Patient(weight="50 kg"), Patient(weight="120 kg"), Patient(weight="120 kg", sex="female")]
    m = build(*pts)
    disposition = [IDX[s] for s in STATES if s.startswith(("s_", "snk_")) and s != "s_mixing"]
    for k in (1, 2):
        np.testing.assert_array_equal(
            m.K[k][np.ix_(disposition, disposition)], m.K[0][np.ix_(disposition, disposition)]
        )
    t = np.arange(0.0, 24.0 + 1e-9, 0.25)
    amounts, _ = run(m, Regimen([Dose("esketamine", "intranasal", "56 mg")]), t)
    c = conc(m, amounts, "esketamine_plasma")
    assert c[0].max() > 50
    # only the seconds-long heart-lung transit scales with size (0.1% while the drug is absorbed)
    np.testing.assert_allclose(c[1], c[0], rtol=3e-3, atol=0)
    np.testing.assert_allclose(c[2], c[0], rtol=3e-3, atol=0)
    np.testing.assert_allclose(c[1, t >= 4], c[0, t >= 4], rtol=3e-4, atol=0)  # a shift of seconds
    # ...while R-ketamine does depend on weight
    amounts, _ = run(m, Regimen([Dose("ketamine", "iv", "35 mg", duration="40 min")]), t)
    c = conc(m, amounts, "arketamine_plasma")
    assert c[1].max() < 0.7 * c[0].max()


# ---------------------------------------------------------------- (e) dose range and products (issue 16)


@pytest.mark.parametrize(("drug", "route", "duration"), [("ketamine", "iv", "40 min"), ("ketamine", "iv", None),
                                                         ("ketamine", "im", None), ("ketamine", "oral", None),
                                                         ("esketamine", "iv", "40 min"), ("esketamine", "oral", None)])  # fmt: skip
def test_concentrations_scale_with_the_dose_from_antidepressant_to_anaesthetic_doses(drug, route, duration):
    """Linear kinetics from 0.1 mg/kg to an induction dose of 2 mg/kg: twentyfold dose, twentyfold
    concentrations of every analyte at every time (no published non-linearity in this range is modelled)."""
    m = build(Patient(weight="70 kg"))
    t = np.arange(0.0, 12.0 + 1e-9, 1 / 12)
    out = []
    for amount in ("0.1 mg/kg", "2 mg/kg"):
        dose = Dose(drug, route, amount, duration=duration) if duration else Dose(drug, route, amount)
        amounts, _ = run(m, Regimen([dose]), t)
        out.append(np.stack([conc(m, amounts, s)[0] for s in ("ketamine_plasma", "esketamine_plasma")]))
    np.testing.assert_allclose(out[1], 20 * out[0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("route", "duration"), [("iv", "40 min"), ("iv", None), ("im", None), ("oral", None)])
def test_the_same_s_ketamine_gives_the_same_s_ketamine_whatever_the_product(route, duration):
    """One S-ketamine disposition: 20 mg of esketamine and 40 mg of racemic ketamine by the same route give the
    same S-ketamine and S-norketamine (no interaction between the enantiomers is modelled: Wang 2019 and
    Geisslinger 1993 found S-ketamine's kinetics the same given alone or in the racemate)."""
    m = build(Patient(weight="70 kg"), Patient(weight="95 kg", sex="female", age=72, cyp2b6="*1/*6"))
    t = np.arange(0.0, 24.0 + 1e-9, 1 / 12)
    kw = {"duration": duration} if duration else {}
    esk, _ = run(m, Regimen([Dose("esketamine", route, "20 mg", **kw)]), t)
    rac, _ = run(m, Regimen([Dose("ketamine", route, "40 mg", **kw)]), t)
    s_states = [IDX[s] for s in STATES if s.startswith(("s_", "snk_")) and "depot" not in s]
    assert conc(m, esk, "esketamine_plasma").max() > 1.0
    # to the integration's tolerance (rtol 1e-10 per run; the two runs take different steps)
    np.testing.assert_allclose(rac[s_states], esk[s_states], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(
        conc(m, esk, "esketamine_plasma"), conc(m, rac, "esketamine_plasma"), rtol=1e-7, atol=1e-10
    )


# ---------------------------------------------------------------- (f) sampling site (issue 16)


def _sites(dose: Dose, hours: float = 8.0, step: str = "20 s", **patient):
    import ketasim as ks

    res = ks.simulate(Regimen([dose]), Patient(**patient), duration=f"{hours} h", output_step=step,
                      outputs=["ketamine_plasma", "ketamine_arterial", "esketamine_plasma", "esketamine_arterial",
                               "arketamine_plasma", "arketamine_arterial", "norketamine_plasma",
                               "norketamine_arterial", "hydroxynorketamine_plasma", "hydroxynorketamine_arterial"])  # fmt: skip
    ds = res.dataset
    return ds["time"].values, {v: ds[v].values[0] for v in ds.data_vars}


@pytest.mark.parametrize("dose", [Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"),
                                  Dose("esketamine", "iv", "20 mg", duration="20 min")], ids=str)  # fmt: skip
def test_arterial_exceeds_venous_during_an_infusion_and_the_order_reverses_after_it(dose):
    t, c = _sites(dose)
    end = dose.duration_h
    for analyte in ("esketamine", "arketamine") if dose.drug.value == "ketamine" else ("esketamine",):
        art, ven = c[f"{analyte}_arterial"], c[f"{analyte}_plasma"]
        during = (t > 0.02) & (t <= end)
        after = (t >= end + 0.5) & (t <= 6.0)
        assert np.all(art[during] > ven[during]), analyte
        assert np.all(art[after] < ven[after]), analyte
        assert art.max() > 1.3 * ven.max()  # Henthorn 2018: partially mixed drug during the infusion
        assert np.all(art >= 0.0)
    # the metabolites enter no venous blood from outside: one level at both sites
    for metabolite in ("norketamine", "hydroxynorketamine"):
        np.testing.assert_array_equal(c[f"{metabolite}_arterial"], c[f"{metabolite}_plasma"])


def test_arterial_minus_venous_is_the_infusion_rate_over_the_pk_flow_near_steady_state():
    """At steady state the arm term vanishes and arterial - venous = R / Q (Henthorn 2018's partially mixed
    drug: all that enters venous blood, diluted by the total pharmacokinetic flow)."""
    p = default_parameters()
    rate_mg_h = 10.0
    _, c = _sites(Dose("esketamine", "iv", f"{rate_mg_h * 72} mg", duration="72 h"), hours=72.0, step="1 h",
                  weight="70 kg")  # fmt: skip
    front = rate_mg_h / p.value("pk_total_flow", "L/h") * 1e3  # mg/L -> ng/mL
    gap = c["esketamine_arterial"][-2] - c["esketamine_plasma"][-2]  # 71 h, still infusing
    assert gap == pytest.approx(front, rel=0.02)
