"""The compiled engine against the numpy model and the scipy reference path.

The compiled right-hand side must equal ``Model.rhs`` to rounding error at arbitrary states; whole
trajectories must match a tightly-solved reference; each patient is integrated on its own, so a
patient's numbers cannot depend on the batch it is in.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import ketasim as ks
from ketasim.dosing import Dose, Regimen, Session
from ketasim.engine import SolverOptions, _compiled, _modes, _stepper, integrate, integrate_observed
from ketasim.engine._events import per_patient
from ketasim.errors import InputError, KetasimError
from ketasim.model import Hypotheses, assemble, pk
from ketasim.parameters import default_parameters
from ketasim.patients import Population

# at rtol 1e-11 one RMS error norm over the whole batch let a PK tail (1e-5 of its peak) of one patient
# drift by 0.5%; the compiled engine solves that block exactly, and LSODA and Radau agree with it
REFERENCE = SolverOptions(method="DOP853", rtol=1e-13, atol=1e-18)
N_PK = pk.N  # the amounts (the arm levels after them are concentrations)
N_LINEAR = N_PK + len(pk.ARM) + 5  # the PK amounts, the forearm tissue levels and the five effect sites
N_STATES = len(ks.model.STATE_NAMES)


def _patients() -> list[ks.Patient]:
    pop = Population.sample(6, seed=7).patients
    return [
        *pop,
        ks.Patient(alcohol_use_disorder=True, biotype="inflammatory", symptom_profile=-0.8, supportive_environment=1.0),
        ks.Patient(stress_load=[(0, 1.0), ("2 d", 1.6)], psychotherapy=["30 h"], weight="95 kg", sex="female"),
    ]


@pytest.mark.parametrize("hyp", [Hypotheses(*flags) for flags in itertools.product((True, False), repeat=3)], ids=repr)
def test_compiled_rhs_equals_numpy_rhs_at_random_states(hyp):
    pts = _patients()
    model = assemble(default_parameters(), pts, hyp)
    packed = _compiled.pack(model)
    kernel = model.code.kernel()
    rng = np.random.default_rng(3)
    n, P = model.n_states, model.n_patients
    n_pk = model.code.N_PK
    checked = 0
    for _ in range(20):
        y = model.initial() * rng.uniform(0.3, 2.5, (n, P)) + rng.uniform(0, 3, (n, P))
        y[:n_pk] = rng.uniform(0, 400, (n_pk, P))  # µmol, plenty of drug everywhere
        u = rng.uniform(0, 5, (n, P))
        t = float(rng.uniform(0, 96))
        ref = model.rhs(t, y, u)
        ext = model.exogenous(t)
        dy = np.empty(n)
        for p in range(P):
            kernel.rhs(y[:, p].copy(), u[:, p].copy(), ext[p].copy(), packed.par[p], packed.k_values[p],
                       packed.k_rows, packed.k_cols, dy)  # fmt: skip
            np.testing.assert_allclose(dy, ref[:, p], rtol=1e-11, atol=1e-11 * np.abs(ref[:, p]).max())
            checked += 1
    assert checked == 20 * P


def _outputs_close(res_a, res_b, variables, rtol):
    """The worst relative difference wherever ``res_b`` is above 1e-6 of its peak."""
    worst = 0.0
    for var in variables:
        a, b = res_a[var], res_b[var]
        peak = np.abs(b).max(axis=-1, keepdims=True)
        mask = np.abs(b) > 1e-6 * peak
        if mask.any():
            worst = max(worst, float(np.max(np.abs(a - b)[mask] / np.abs(b)[mask])))
    assert worst < rtol, worst
    return worst


REGIMENS = {
    "iv": ks.protocols.get("zarate-2006-iv"),
    "intranasal esketamine, 2 sessions": Regimen.repeat(Dose("esketamine", "intranasal", "84 mg"), "3.5 d", 2),
    "oral + IM racemic": Regimen([Dose("ketamine", "oral", "1 mg/kg"), Dose("ketamine", "im", "0.5 mg/kg", at="30 h")]),
    "psilocybin + SSRI + sessions": Regimen(
        [Dose("psilocybin", "oral", "25 mg"), Session("oral_antidepressant", at="1 d"), Session("midazolam", at="2 d"),
         Session("exercise", at="3 d", duration="1 h", intensity=0.8), Session("bhb_supplement", at="4 d"),
         Session("psychotherapy", at="4 d")]
    ),
}  # fmt: skip
OUTPUTS = ("ketamine_plasma", "hydroxynorketamine_plasma", "psilocin_plasma", "escitalopram_plasma",
           "nmda_occupancy", "glutamate", "bdnf", "mtorc1", "synapse_density", "madrs", "cadss", "sbp_change",
           "expectancy", "sedation", "bhb_mm", "serotonergic_adaptation")  # fmt: skip


@pytest.mark.parametrize("name", list(REGIMENS))
def test_compiled_matches_tight_reference_on_every_route(name):
    model = assemble(default_parameters(), _patients())
    b, i = model.events(REGIMENS[name])
    t = np.arange(0.0, 6 * 24 + 1e-9, 0.25)
    ref = model.observe(t, integrate(model, model.initial(), b, i, t, REFERENCE))
    fast = model.observe(t, integrate(model, model.initial(), b, i, t, SolverOptions(rtol=1e-9, atol=1e-12)))
    _outputs_close(fast, ref, OUTPUTS, rtol=1e-5)
    default = model.observe(t, integrate(model, model.initial(), b, i, t))
    # default tolerances (rtol 1e-6, atol 1e-12): outputs within 1e-4 relative wherever above 1e-6 of peak
    _outputs_close(default, ref, OUTPUTS, rtol=1e-4)
    # the exponential method, order 4(3), is looser than Dormand-Prince at equal rtol: 1e-4 at rtol 1e-9
    exponential = SolverOptions(method="exponential", rtol=1e-9, atol=1e-12)
    _outputs_close(model.observe(t, integrate(model, model.initial(), b, i, t, exponential)), ref, OUTPUTS, rtol=1e-4)


def test_compiled_conserves_mass():
    reg = Regimen([Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"), Dose("esketamine", "intranasal", "56 mg", at="1 d"),
                   Dose("ketamine", "oral", "1 mg/kg", at="2 d")])  # fmt: skip
    model = assemble(default_parameters(), _patients())
    b, i = model.events(reg)
    t = np.linspace(0.0, 96.0, 97)
    y = integrate(model, model.initial(), b, i, t, SolverOptions(rtol=1e-10, atol=1e-12))
    given = np.zeros((model.n_patients, t.size))
    for bol in b:
        if bol.state < N_PK:
            given += np.where(t >= bol.time, 1.0, 0.0)[None] * bol.amount[:, None]
    for inf in i:
        if inf.state < N_PK:
            given += (np.clip(t, inf.start, inf.stop) - inf.start)[None] * inf.rate[:, None]
    # psilocybin/SSRI states are not dosed here; the body plus the sink holds exactly what was given
    total = y[:N_PK].sum(axis=0)
    np.testing.assert_allclose(total, given, rtol=1e-9, atol=1e-9)
    assert given[:, -1].min() > 100  # µmol: the check is not vacuous


def test_a_patient_gets_the_same_numbers_alone_or_in_any_batch():
    pts = _patients()
    reg = ks.protocols.get("spravato-induction-56mg")
    together = ks.simulate(reg, population=pts, duration="10 d", output_step="2 h").dataset["madrs"].values
    alone = ks.simulate(reg, pts[-1], duration="10 d", output_step="2 h").dataset["madrs"].values
    reversed_ = ks.simulate(reg, population=pts[::-1], duration="10 d", output_step="2 h").dataset["madrs"].values
    np.testing.assert_array_equal(alone[0], together[-1])  # bit for bit: per-patient error control
    np.testing.assert_array_equal(reversed_[::-1], together)
    assert np.ptp(together[:, -1]) > 1.0  # the patients do differ


def test_right_continuous_at_a_bolus_and_exact_at_segment_ends():
    model = assemble(default_parameters(), [ks.Patient()])
    reg = Regimen([Dose("ketamine", "im", "0.5 mg/kg", at="1 h")])
    b, i = model.events(reg)
    t = np.array([0.0, 1.0, 1.5, 2.0])
    y = integrate(model, model.initial(), b, i, t)
    im = pk.IDX["rac_depot_im"]
    assert y[im, 0, 0] == 0.0
    assert y[im, 0, 1] == pytest.approx(b[0].amount[0], rel=1e-12)  # the value just after the dose
    assert 0 < y[im, 0, 2] < y[im, 0, 1]


def test_non_finite_state_is_reported_not_returned():
    model = assemble(default_parameters(), [ks.Patient(), ks.Patient()])
    y0 = model.initial()
    y0[model.index["glutamate"], 1] = np.nan
    with pytest.raises(KetasimError, match=r"patient 1 .*NaN"):
        integrate(model, y0, [], [], np.array([0.0, 1.0]))


def test_compiled_method_refuses_other_systems():
    class Decay:
        n_states = 1

        def rhs(self, t, y, u):
            return -y

    with pytest.raises(InputError, match=r"solver\.method"):
        integrate(Decay(), np.ones((1, 1)), [], [], np.array([0.0, 1.0]), SolverOptions(method="compiled"))
    out = integrate(Decay(), np.ones((1, 1)), [], [], np.array([0.0, 1.0]))  # auto: the scipy path
    assert out[0, 0, 1] == pytest.approx(np.exp(-1.0), rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "euler"}, "solver.method"),
        ({"rtol": 0}, "solver.rtol"),
        ({"rtol": 2.0}, "solver.rtol"),
        ({"atol": -1}, "solver.atol"),
        ({"max_step_h": "6"}, "solver.max_step_h"),
    ],
)
def test_solver_options_are_validated(kwargs, field):
    with pytest.raises(InputError, match=field):
        SolverOptions(**kwargs)


def test_the_stepper_is_compiled_next_to_the_generated_kernel():
    model = assemble(default_parameters(), [ks.Patient()])
    engine = _compiled.stepper(model)
    copy = model.code.directory / "stepper.py"
    assert copy.read_text() == Path(_stepper.__file__).read_text()  # one copy per version of the model
    assert engine.kernel is model.code.kernel() and _compiled.stepper(model) is engine


def _modal_and_full(reg, pts, t, rtol=1e-9, atol=1e-12):
    model = assemble(default_parameters(), pts)
    b, i = model.events(reg)
    y0 = model.initial()
    modal, st1, steps_modal, _ = _compiled.integrate_compiled(model, y0, b, i, t, rtol, atol, 6.0)
    full, st2, steps_full, _ = _compiled.integrate_compiled(model, y0, b, i, t, rtol, atol, 6.0, modal=False)
    assert not st1.any() and not st2.any()
    ev = per_patient(model.n_patients, b, i, model.ext_times, model.ext_levels)
    return model, _compiled.modes_for(model, ev, y0), modal, full, steps_modal, steps_full


@pytest.mark.parametrize("name", list(REGIMENS))
def test_exact_modal_pk_matches_the_full_explicit_path(name):
    t = np.arange(0.0, 4 * 24 + 1e-9, 0.5)
    model, modes, modal, full, _, _ = _modal_and_full(REGIMENS[name], _patients(), t)
    assert modes.ok.all() and 0 < modes.active.size < N_PK  # undosed chains are left out
    pk_peak = np.abs(full[:, :, :N_PK]).max(axis=1, keepdims=True)
    np.testing.assert_allclose(modal[:, :, : N_PK], full[:, :, : N_PK], rtol=1e-7,
                               atol=1e-9 * pk_peak.max())  # fmt: skip
    a = model.observe(t, np.transpose(modal, (2, 0, 1)))
    b = model.observe(t, np.transpose(full, (2, 0, 1)))
    _outputs_close(a, b, OUTPUTS, rtol=1e-5)


def test_exact_linear_block_lifts_the_stability_limit():
    # Stepping everything, hydroxynorketamine's ~37/h distribution caps explicit steps near 0.09 h; with
    # the linear block solved exactly the fastest stepped rate is eEF2K's ~4/h, at default tolerances.
    t = np.arange(0.0, 7 * 24 + 1e-9, 1.0)
    *_, steps_modal, steps_full = _modal_and_full(ks.protocols.get("zarate-2006-iv"), [ks.Patient()], t, 1e-6, 1e-12)
    assert steps_full[0, 0] > 1500  # ~168 h / 0.09 h
    assert steps_modal[0, 0] < 400
    assert steps_full[0, 0] > 4 * steps_modal[0, 0]


def test_modes_reproduce_the_pk_matrix_and_flag_what_they_cannot():
    model = assemble(default_parameters(), _patients())
    b, i = model.events(Regimen([Dose("ketamine", "im", "0.5 mg/kg"), Dose("esketamine", "intranasal", "28 mg")]))
    ev = per_patient(model.n_patients, b, i, model.ext_times, model.ext_levels)
    modes = _compiled.modes_for(model, ev, model.initial())
    assert modes.ok.all()
    assert pk.IDX["psilocin_central"] not in modes.active and pk.IDX["hnk_central"] in modes.active
    # the linear block: pk amounts, then the arm levels and the effect sites relaxing to concentrations
    rng = np.random.default_rng(5)
    x = np.zeros((model.n_patients, N_STATES))
    x[:, modes.active] = rng.uniform(0, 50, (model.n_patients, modes.active.size))
    deriv = np.stack([model.rhs(0.0, x.T, np.zeros_like(x.T))[:, p] for p in range(model.n_patients)])
    L = modes.V * modes.lam[:, None, :] @ modes.Vi
    predicted = np.einsum("pij,pj->pi", L, x[:, modes.active])
    np.testing.assert_allclose(predicted, deriv[:, modes.active], rtol=1e-9, atol=1e-9 * np.abs(deriv).max())
    assert modes.active[N_PK - N_LINEAR :].tolist() == list(range(N_PK, N_LINEAR))
    assert (modes.lam <= 1e-9).all()  # a compartmental matrix only decays (the sink is the zero mode)
    # two equal rates in series give a defective matrix, which has no eigenbasis: flagged, not used
    chain = np.zeros((1, N_PK, N_PK))
    chain[0, :3, :3] = [[-1.0, 0, 0], [1.0, -1.0, 0], [0, 1.0, 0]]  # on the first three PK states
    first = np.arange(N_PK) == 0
    block = np.zeros((1, N_LINEAR - N_PK, N_LINEAR))
    block[0, :, N_PK:] = -np.eye(N_LINEAR - N_PK)
    flagged = _modes.linear_modes(chain, N_PK, block, np.zeros((1, 2, N_LINEAR)), first)
    assert flagged.active.tolist() == [0, 1, 2, *range(N_PK, N_LINEAR)]
    assert not flagged.ok[0]


def test_simulate_in_patient_chunks_gives_the_same_numbers(monkeypatch):
    from ketasim.simulation import simulator as simulation

    pts = _patients()
    kw = {"population": pts, "duration": "3 d", "output_step": "30 min"}
    whole = ks.simulate("zarate-2006-iv", **kw).dataset
    # the compiled engine's chunk holds the kept outputs on the run's grid (refined around doses)
    monkeypatch.setattr(simulation, "CHUNK_BYTES", 3 * 2 * whole.sizes["time"] * 8)  # 2-3 patients a chunk
    real, calls = simulation.run_batch, []
    monkeypatch.setattr(simulation, "run_batch", lambda *a, **k: calls.append(1) or real(*a, **k))
    chunked = ks.simulate("zarate-2006-iv", **kw, outputs=["madrs", "ketamine_plasma"]).dataset
    assert len(calls) >= len(pts) // 3
    assert set(chunked.data_vars) == {"madrs", "ketamine_plasma", "madrs_pre_dose"}
    assert chunked["patient"].values.tolist() == list(range(len(pts)))
    for var in ("madrs", "ketamine_plasma", "madrs_pre_dose"):  # equal up to the rounding of batched numpy
        np.testing.assert_allclose(chunked[var].values, whole[var].values, rtol=1e-10, atol=0)


def test_outputs_are_checked_and_summary_marks_what_was_not_kept():
    with pytest.raises(InputError, match="outputs"):
        ks.simulate("zarate-2006-iv", outputs=["madrs", "serotonin"])
    res = ks.simulate("zarate-2006-iv", duration="2 d", output_step="10 min", outputs=["madrs"])
    s = res.summary()
    assert 10 < s["madrs_24h"] < s["madrs_baseline"]
    assert np.isnan(s["cmax_ng_ml"]) and np.isnan(s["cadss_peak"])


def test_tableau_is_scipys_rk45():
    from scipy.integrate._ivp.rk import RK45

    for ours, theirs in ((_stepper._A, RK45.A), (_stepper._B, RK45.B), (_stepper._C, RK45.C),
                         (_stepper._E, RK45.E), (_stepper._P, RK45.P)):  # fmt: skip
        np.testing.assert_array_equal(ours, theirs)
    assert RK45.n_stages == _stepper._N_STAGES and -1 / (RK45.error_estimator_order + 1) == _stepper._ERR_EXP


def test_observe_computes_only_what_is_asked_and_returns_no_views_of_the_states():
    model = assemble(default_parameters(), _patients()[:3])
    b, i = model.events(ks.protocols.get("zarate-2006-iv"))
    t = np.linspace(0.0, 24.0, 49)
    y = integrate(model, model.initial(), b, i, t)
    full = model.observe(t, y)
    some = model.observe(t, y, only=["bdnf", "madrs"])
    assert set(some) == {"bdnf", "madrs"}
    for k in some:
        np.testing.assert_array_equal(some[k], full[k])
        assert not np.shares_memory(some[k], y)  # a view would pin the whole state buffer in memory
    assert full["madrs_items"].shape == (3, 10, t.size)
    np.testing.assert_allclose(full["madrs_items"].sum(axis=1), full["madrs"], rtol=1e-12)


def test_outputs_observed_inside_the_integration_equal_those_observed_from_its_states():
    """``integrate_observed`` (the compiled loop calls the generated observer at each output time, holding
    no states) against the states it would have returned, observed afterwards: the same numbers to
    rounding, at dose times, inside steps and at stress and mood steps; only the kept times stored; the
    peak, its time and the AUC over every output time as numpy's max, argmax and trapezoid; and the same
    through the scipy path."""
    pts = _patients()
    model = assemble(default_parameters(), pts)
    reg = ks.protocols.get("spravato-induction-56mg")
    b, i = model.events(reg)
    t = np.unique(np.r_[np.linspace(0.0, 96.0, 577), 48.0, 24.0 + 1 / 3, 72.0])  # dose times and in between
    keep = np.arange(t.size) % 3 == 0
    names = ["ketamine_plasma", "ketamine_arterial", "madrs", "madrs_items", "bdnf", "glutamate", "cadss"]
    peaks = ["ketamine_plasma", "glutamate", "cadss"]
    inside = integrate_observed(model, model.initial(), b, i, t, names, keep=keep, peaks=peaks)
    after = model.observe(t, integrate(model, model.initial(), b, i, t), only=names)
    assert set(inside.series) == set(after) == set(names)
    np.testing.assert_array_equal(inside.t, t[keep])
    for k in names:
        want = after[k][..., keep]
        assert inside.series[k].shape == want.shape
        np.testing.assert_allclose(inside.series[k], want, rtol=1e-12, atol=1e-12 * np.abs(want).max(), err_msg=k)
    for k in peaks:
        np.testing.assert_allclose(inside.peak[k], after[k].max(axis=1), rtol=1e-12, err_msg=k)
        np.testing.assert_array_equal(inside.peak_time[k], t[after[k].argmax(axis=1)], err_msg=k)
        np.testing.assert_allclose(inside.auc[k], np.trapezoid(after[k], t, axis=1), rtol=1e-12, err_msg=k)
    assert np.ptp(inside.series["madrs"][:, -1]) > 1.0
    assert inside.peak_time["ketamine_plasma"].min() > 0  # a peak after the first dose, not at time 0
    short = t[:200]
    ref = integrate_observed(model, model.initial(), b, i, short, ["ketamine_plasma"], SolverOptions(method="LSODA"),
                             peaks=["ketamine_plasma"])  # fmt: skip
    fast = integrate_observed(model, model.initial(), b, i, short, ["ketamine_plasma"], peaks=["ketamine_plasma"])
    np.testing.assert_allclose(ref.series["ketamine_plasma"], fast.series["ketamine_plasma"], rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(ref.auc["ketamine_plasma"], fast.auc["ketamine_plasma"], rtol=1e-3)


def test_a_preallocated_buffer_is_written_in_place_and_checked():
    model = assemble(default_parameters(), [ks.Patient(), ks.Patient(weight="90 kg")])
    b, i = model.events(ks.protocols.get("zarate-2006-iv"))
    t = np.linspace(0.0, 6.0, 13)
    whole = np.full((5, 2, t.size), -1.0)  # a population of 5: these two are patients 2 and 3
    res = integrate_observed(model, model.initial(), b, i, t, ["ketamine_plasma", "madrs"], out=whole[2:4])
    assert np.shares_memory(res.series["madrs"], whole)
    np.testing.assert_array_equal(whole[2:4, 0], res.series["ketamine_plasma"])
    assert (whole[[0, 1, 4]] == -1.0).all()  # nothing else written
    with pytest.raises(InputError, match=r"^out: .*shape \(2, 2, 13\)"):
        integrate_observed(model, model.initial(), b, i, t, ["ketamine_plasma", "madrs"], out=np.empty((2, 3, 13)))
    with pytest.raises(InputError, match=r"^keep"):
        integrate_observed(model, model.initial(), b, i, t, ["madrs"], keep=np.zeros(t.size, bool))


def test_a_failed_patient_observed_inside_the_integration_is_reported_with_its_time():
    model = assemble(default_parameters(), [ks.Patient(), ks.Patient()])
    y0 = model.initial()
    y0[model.index["glutamate"], 1] = np.nan
    with pytest.raises(KetasimError, match=r"patient 1 .* 0 h.*NaN"):  # (its madrs at 0 h is finite)
        integrate_observed(model, y0, [], [], np.array([0.0, 1.0]), ["madrs"])


# ------------------------------------------------------------------ the exponential Runge-Kutta method


def test_phi_functions_match_high_precision_values():
    import mpmath

    engine = _compiled.stepper(assemble(default_parameters(), [ks.Patient()]))
    out = np.empty(4)
    mpmath.mp.dps = 40
    for z in (-1e3, -50.0, -5.0, -1.0001, -1.0, -0.9999, -0.5, -1e-3, -1e-9, 0.0, 1e-6, 0.5, 0.99, 1.5):
        engine._phi(z, out)
        zz = mpmath.mpf(z)
        exact = [mpmath.exp(zz)]
        for k in range(1, 4):  # phi_k(z) = (phi_(k-1)(z) - 1/(k-1)!) / z, or 1/k! at 0
            exact.append(mpmath.mpf(1) / mpmath.factorial(k) if z == 0 else
                         (exact[-1] - mpmath.mpf(1) / mpmath.factorial(k - 1)) / zz)  # fmt: skip
        np.testing.assert_allclose(out, [float(e) for e in exact], rtol=5e-14, err_msg=f"z = {z}")


def test_generated_diagonal_is_the_jacobians_diagonal():
    """kernel.pd_diagonal (sympy's derivative of each rate through the signals it reads) against
    central differences of kernel.pd_rhs at random states."""
    pts = _patients()
    model = assemble(default_parameters(), pts)
    packed = _compiled.pack(model)
    kernel = model.code.kernel()
    rng = np.random.default_rng(11)
    n, lo = model.n_states, N_LINEAR
    nonzero = 0
    for p in range(model.n_patients):
        y = model.initial()[:, p] * rng.uniform(0.5, 1.5, n) + rng.uniform(0, 0.3, n)
        u, ext = np.zeros(n), model.exogenous(float(rng.uniform(0, 48)))[p].copy()
        lin = rng.uniform(0, 5, max(kernel.N_INTERFACE, 1))
        d = np.zeros(n)
        kernel.pd_diagonal(y, u, lin, ext, packed.par[p], d)
        for i in range(lo, n):
            step = 1e-6 * max(abs(y[i]), 1.0)
            hi, lo_ = np.empty(n), np.empty(n)
            yp, ym = y.copy(), y.copy()
            yp[i] += step
            ym[i] -= step
            kernel.pd_rhs(yp, u, lin, ext, packed.par[p], hi)
            kernel.pd_rhs(ym, u, lin, ext, packed.par[p], lo_)
            fd = (hi[i] - lo_[i]) / (2 * step)
            assert d[i] == pytest.approx(fd, rel=1e-5, abs=1e-7), model.state_names[i]
            nonzero += d[i] != 0.0
    assert nonzero > 20 * model.n_patients  # most stepped states relax on their own


def test_exponential_method_is_not_held_by_the_fast_relaxations():
    """At a loose tolerance Dormand-Prince is held near its stability limit by eEF2K's and glutamate's
    relaxations (about 0.6-1 h); the exponential method, which integrates them exactly, is not: it
    takes a third of the steps for the same 28-day esketamine course (both stay close to the tight
    solution: the saving is not bought with a diverging answer)."""
    model = assemble(default_parameters(), [ks.Patient()])
    b, i = model.events(ks.protocols.get("spravato-induction-84mg"))
    t = np.arange(0.0, 28 * 24 + 1e-9, 1.0)
    ref, *_ = _compiled.integrate_compiled(model, model.initial(), b, i, t, 1e-10, 1e-14, 6.0)
    runs = {m: _compiled.integrate_compiled(model, model.initial(), b, i, t, 1e-3, 1e-12, 6.0, method=m)
            for m in ("compiled", "exponential")}  # fmt: skip
    steps = {m: int(r[2][0, 0]) for m, r in runs.items()}
    assert steps["compiled"] > 700  # ~672 h / 0.8 h, whatever the tolerance
    assert steps["exponential"] < 0.4 * steps["compiled"]
    madrs = model.index["symptom_apparent_sadness"]
    for m, r in runs.items():
        assert np.abs(r[0][0, :, madrs] - ref[0, :, madrs]).max() < 0.02, m  # item points (0-6)


def test_exponential_method_gives_a_patient_the_same_numbers_in_any_batch():
    pts = _patients()
    reg = ks.protocols.get("spravato-induction-56mg")
    opt = SolverOptions(method="exponential")
    together = ks.simulate(reg, population=pts, duration="10 d", output_step="2 h", solver=opt).dataset["madrs"].values
    alone = ks.simulate(reg, pts[-1], duration="10 d", output_step="2 h", solver=opt).dataset["madrs"].values
    np.testing.assert_array_equal(alone[0], together[-1])
