"""The batched integrator: exact dosing discontinuities, right-continuous outputs, batching, methods."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import lambertw

import ketasim as ks
from ketasim.engine import Bolus, Infusion, SolverOptions, integrate
from ketasim.errors import KetasimError
from ketasim.model import assemble, pk
from ketasim.parameters import default_parameters

TIGHT = SolverOptions(rtol=1e-10, atol=1e-13)


class Decay:
    """dA/dt = -k A + u for every state (k per patient)."""

    def __init__(self, n_states: int = 1, k: float | np.ndarray = 1.0) -> None:
        self.n_states = n_states
        self.k = k

    def rhs(self, t, y, u):
        return -self.k * y + u


class MichaelisMenten:
    """One saturable compartment: dA/dt = -Vmax A / (Km + A) + u (Vmax per patient)."""

    n_states = 1

    def __init__(self, vmax: np.ndarray, km: float) -> None:
        self.vmax, self.km = vmax, km

    def rhs(self, t, y, u):
        return -self.vmax * y / (self.km + y) + u


class TwoCompartmentNonlinear:
    """A -> B with saturable elimination from A, first-order transfer, second-order loss from B.

    dA/dt = -Vmax A/(Km + A) - k12 A + uA;  dB/dt = k12 A - k2 B^2 + uB (Vmax, k2 per patient).
    """

    n_states = 2

    def __init__(self, vmax: np.ndarray, k2: np.ndarray, km: float = 2.0, k12: float = 0.7) -> None:
        self.vmax, self.k2, self.km, self.k12 = vmax, k2, km, k12

    def rhs(self, t, y, u):
        a, b = y
        da = -self.vmax * a / (self.km + a) - self.k12 * a + u[0]
        db = self.k12 * a - self.k2 * b * b + u[1]
        return np.stack([da, db])


def _mm_closed_form(a0: float, vmax: float, km: float, t: np.ndarray) -> np.ndarray:
    """Michaelis-Menten decay from a0: A(t) = Km W((a0/Km) exp((a0 - Vmax t)/Km))."""
    return km * lambertw((a0 / km) * np.exp((a0 - vmax * t) / km)).real


def _reference(system, y0, boluses, infusions, t_out, patient):
    """Independent piecewise DOP853 integration of one patient, boluses applied at segment starts."""
    edges = sorted(
        {t_out[0], t_out[-1]}
        | {b.time for b in boluses if t_out[0] <= b.time < t_out[-1]}
        | {x for i in infusions for x in (i.start, i.stop) if t_out[0] < x < t_out[-1]}
    )
    n, n_pat = y0.shape
    y = y0[:, patient].astype(float).copy()
    out = np.empty((n, t_out.size))
    for a, b in itertools.pairwise(edges):
        for bol in boluses:
            if bol.time == a:
                y[bol.state] += bol.amount[patient]
        u = np.zeros(n)
        for inf in infusions:
            if inf.start <= a < inf.stop:
                u[inf.state] += inf.rate[patient]

        def f(t, yy, u=u):  # every column the same patient state; keep this patient's parameters
            return system.rhs(t, np.tile(yy[:, None], (1, n_pat)), np.tile(u[:, None], (1, n_pat)))[:, patient]

        sel = (t_out >= a) & (t_out < b)
        sol = solve_ivp(f, (a, b), y, method="DOP853", rtol=1e-13, atol=1e-15, dense_output=True)
        assert sol.success
        for k in np.flatnonzero(sel):
            out[:, k] = y if t_out[k] == a else sol.sol(t_out[k])
        y = sol.y[:, -1].copy()
    for bol in boluses:
        if bol.time == t_out[-1]:
            y[bol.state] += bol.amount[patient]
    out[:, -1] = y
    return out


# ---------------------------------------------------------------- closed forms


def test_linear_decay_with_boluses_and_infusion_closed_form():
    # dA/dt = -k A + u: bolus 1 at 0, bolus 2 at 1 h, infusion 3/h over [1.5, 2.5), bolus 0.5 at 4 h (= end)
    k = np.array([1.0, 0.3])
    sys_ = Decay(1, k)
    bol = [
        Bolus(0.0, 0, np.array([1.0, 1.0])),
        Bolus(1.0, 0, np.array([2.0, 2.0])),
        Bolus(4.0, 0, np.array([0.5, 0.5])),
    ]
    inf = [Infusion(1.5, 2.5, 0, np.array([3.0, 3.0]))]
    t = np.array([0.0, 0.5, 1.0 - 1e-9, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0])
    out = integrate(sys_, np.zeros((1, 2)), bol, inf, t, TIGHT)[0]

    def exact(x, kk):
        a = math.exp(-kk * x)
        if x >= 1.0:
            a += 2.0 * math.exp(-kk * (x - 1.0))
        if x > 1.5:
            s = min(x, 2.5)
            a += 3.0 / kk * (1 - math.exp(-kk * (s - 1.5))) * math.exp(-kk * (x - s))
        if x >= 4.0:
            a += 0.5
        return a

    for p, kk in enumerate(k):
        ref = np.array([exact(x, kk) for x in t])
        np.testing.assert_allclose(out[p], ref, rtol=1e-8)


def test_outputs_are_right_continuous_at_bolus_times():
    sys_ = Decay(2, 0.5)
    bol = [
        Bolus(0.0, 0, np.array([1.0])),
        Bolus(2.0, 1, np.array([4.0])),
        Bolus(2.0, 1, np.array([1.0])),  # two boluses at the same time add up
        Bolus(3.0, 0, np.array([7.0])),  # the final time: included in the last output
        Bolus(-1.0, 0, np.array([100.0])),  # before the window: ignored
        Bolus(9.0, 0, np.array([100.0])),  # after the window: ignored
    ]
    t = np.array([0.0, 2.0 - 1e-10, 2.0, 3.0 - 1e-10, 3.0])
    out = integrate(sys_, np.zeros((2, 1)), bol, [], t, TIGHT)[:, 0, :]
    assert out[0, 0] == 1.0  # value at 0 is after the bolus at 0
    assert out[1, 1] == pytest.approx(0.0, abs=1e-15)
    assert out[1, 2] == pytest.approx(5.0, rel=1e-9)  # jumps at 2 h
    assert out[0, 3] == pytest.approx(math.exp(-1.5), rel=1e-8)
    assert out[0, 4] == pytest.approx(math.exp(-1.5) + 7.0, rel=1e-9)
    assert out[1, 4] == pytest.approx(5.0 * math.exp(-0.5), rel=1e-8)


def test_bolus_at_a_time_not_in_the_output_grid_and_window_not_starting_at_zero():
    sys_ = Decay(1, 1.0)
    bol = [Bolus(0.3, 0, np.array([2.0])), Bolus(1.7, 0, np.array([1.0]))]
    inf = [Infusion(0.0, 10.0, 0, np.array([0.5]))]  # started before the window
    t = np.array([1.0, 2.0, 3.0])
    y0 = np.array([[0.4]])
    out = integrate(sys_, y0, bol, inf, t, TIGHT)[0, 0]
    # from t=1: A = 0.5 + (0.4 - 0.5) e^-(t-1) + bolus 1 at 1.7 decaying; the bolus at 0.3 is before the window
    exact = [0.4, 0.5 - 0.1 * math.exp(-1.0) + math.exp(-0.3), 0.5 - 0.1 * math.exp(-2.0) + math.exp(-1.3)]
    np.testing.assert_allclose(out, exact, rtol=1e-8)


def test_michaelis_menten_matches_lambert_w():
    vmax = np.array([1.0, 3.0, 0.2])
    km = 1.5
    a0, b2 = 5.0, 3.0
    bol = [Bolus(0.0, 0, np.full(3, a0)), Bolus(2.0, 0, np.full(3, b2))]
    t = np.linspace(0.0, 6.0, 25)
    out = integrate(MichaelisMenten(vmax, km), np.zeros((1, 3)), bol, [], t, TIGHT)[0]
    for p, vm in enumerate(vmax):
        first = _mm_closed_form(a0, vm, km, t[t < 2.0])
        at2 = _mm_closed_form(a0, vm, km, np.array([2.0]))[0] + b2
        second = _mm_closed_form(at2, vm, km, t[t >= 2.0] - 2.0)
        ref = np.concatenate([first, second])
        mask = ref > 1e-8
        np.testing.assert_allclose(out[p, mask], ref[mask], rtol=1e-7)
    # saturation: the slow patient still has most of the first dose at 2 h
    assert out[2, np.searchsorted(t, 2.0) - 1] > 0.8 * a0


# ---------------------------------------------------------------- nonlinear system vs own reference


NL_BOLUSES = [
    Bolus(0.0, 0, np.array([4.0, 1.0, 8.0])),
    Bolus(1.5, 1, np.array([0.5, 2.0, 0.0])),
    Bolus(3.0, 0, np.array([2.0, 2.0, 2.0])),
]
NL_INFUSIONS = [
    Infusion(0.5, 2.25, 0, np.array([1.0, 0.2, 3.0])),
    Infusion(2.0, 4.0, 1, np.array([0.8, 0.8, 0.1])),
    Infusion(3.5, 7.0, 0, np.array([0.3, 0.0, 0.6])),  # runs past the end of the window
]


@pytest.mark.parametrize("method", ["BDF", "LSODA", "RK45", "DOP853"])
def test_nonlinear_system_against_reference_integration(method):
    system = TwoCompartmentNonlinear(vmax=np.array([1.0, 2.5, 0.4]), k2=np.array([0.3, 1.0, 0.05]))
    y0 = np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    t = np.unique(np.concatenate([np.linspace(0.0, 6.0, 31), [1.5, 2.25, 3.0, 3.5]]))
    out = integrate(system, y0, NL_BOLUSES, NL_INFUSIONS, t, SolverOptions(method=method, rtol=1e-10, atol=1e-13))
    assert out.shape == (2, 3, t.size)
    for p in range(3):
        ref = _reference(system, y0, NL_BOLUSES, NL_INFUSIONS, t, p)
        np.testing.assert_allclose(out[:, p, :], ref, rtol=2e-7, atol=1e-10)
    # the bolus into B at 1.5 h shows up at 1.5 h exactly
    k = int(np.searchsorted(t, 1.5))
    before = integrate(system, y0, NL_BOLUSES, NL_INFUSIONS, np.append(t[t < 1.5], 1.5 - 1e-9), TIGHT)[1, :, -1]
    np.testing.assert_allclose(out[1, :, k] - before, [0.5, 2.0, 0.0], atol=1e-6)


def test_reference_is_not_trivially_equal_to_no_dosing():
    """Guards the comparison above: the dosing events change the answer a lot."""
    system = TwoCompartmentNonlinear(vmax=np.array([1.0, 2.5, 0.4]), k2=np.array([0.3, 1.0, 0.05]))
    y0 = np.zeros((2, 3))
    t = np.linspace(0.0, 6.0, 7)
    with_events = integrate(system, y0, NL_BOLUSES, NL_INFUSIONS, t, TIGHT)
    only_first = integrate(system, y0, NL_BOLUSES[:1], [], t, TIGHT)
    assert np.max(np.abs(with_events - only_first)) > 0.5


def test_failed_integration_raises_ketasim_error():
    class Blowup:
        n_states = 1

        def rhs(self, t, y, u):
            return y * y  # finite-time blow-up at t = 1 from y = 1

    with pytest.raises(KetasimError, match="integration failed"):
        integrate(Blowup(), np.ones((1, 1)), [], [], np.array([0.0, 2.0]), SolverOptions(method="RK45"))


# ---------------------------------------------------------------- batching


class PKOnly:
    def __init__(self, model: pk.PKModel) -> None:
        self.model = model
        self.n_states = pk.N

    def rhs(self, t, y, u):
        return self.model.rhs(y, u)


BATCH = [
    ks.Patient(weight="60 kg"),
    ks.Patient(weight="95 kg", sex="female", cyp2b6="*6/*6"),
    ks.Patient(age=70, madrs_baseline=40, stress_load=2.0, alcohol_use_disorder=True),
]


def _assert_rel(a: np.ndarray, b: np.ndarray, rel: float) -> None:
    scale = np.abs(b).max()
    np.testing.assert_allclose(a, b, rtol=rel, atol=1e-12 * scale + 1e-300)


def test_batched_pk_equals_single_patient_runs():
    reg = ks.Regimen(
        [
            ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min"),
            ks.Dose("esketamine", "intranasal", "56 mg", at="3 h"),
        ]
    )
    t = np.linspace(0.0, 12.0, 25)
    opts = SolverOptions(rtol=1e-11, atol=1e-14)
    mb = assemble(default_parameters(), BATCH).pk
    yb = integrate(PKOnly(mb), np.zeros((pk.N, 3)), *mb.inputs(reg), t, opts)
    for k, p in enumerate(BATCH):
        m1 = assemble(default_parameters(), [p]).pk
        y1 = integrate(PKOnly(m1), np.zeros((pk.N, 1)), *m1.inputs(reg), t, opts)
        for i in range(pk.N):
            _assert_rel(yb[i, k], y1[i, 0], 1e-8)
    # the patients really differ
    assert np.abs(yb[pk.IDX["s_central"], 0] - yb[pk.IDX["s_central"], 1]).max() > 1.0


def test_batched_full_model_equals_single_patient_runs():
    opts = SolverOptions(rtol=1e-10, atol=1e-12)
    kw = {"duration": "6 h", "output_step": "30 min", "solver": opts}
    batch = ks.simulate("zarate-2006-iv", population=BATCH, **kw).dataset
    assert batch.sizes["patient"] == 3
    for k, p in enumerate(BATCH):
        single = ks.simulate("zarate-2006-iv", patient=p, **kw).dataset
        for name in batch.data_vars:
            _assert_rel(batch[name].values[k], single[name].values[0], 1e-8)
    madrs = batch["madrs"].values[:, -1]
    assert len(set(np.round(madrs, 6))) == 3


# ---------------------------------------------------------------- methods on the full model


@pytest.mark.parametrize("protocol", ["zarate-2006-iv", "esketamine-84mg-single"])
def test_rk45_and_bdf_agree_on_the_full_model(protocol):
    kw = {"duration": "1 d", "output_step": "10 min"}
    bdf = ks.simulate(protocol, solver=SolverOptions(method="BDF"), **kw).summary()
    rk = ks.simulate(protocol, solver=SolverOptions(method="RK45"), **kw).summary()
    assert bdf.keys() == rk.keys()
    compared = 0
    for key in bdf:
        if math.isnan(bdf[key]):
            assert math.isnan(rk[key]), key
            continue
        assert rk[key] == pytest.approx(bdf[key], rel=1e-3, abs=1e-9), key
        compared += 1
    assert compared >= 10
    assert bdf["cmax_ng_ml"] > 50 and bdf["madrs_24h"] < bdf["madrs_baseline"]
