"""The assembled model's right-hand side as one compiled (numba) function of one patient.

``Model.rhs`` (numpy, patients on the last axis) is the reference; this module restates the same
equations in scalar form so that a compiled integrator can step each patient on its own, with its own
step size. ``pack`` reads every constant from the built layer objects (never from the registry), so the
two cannot drift apart in their numbers; a test evaluates both right-hand sides at random states of
random patients under every hypothesis switch and requires agreement to rounding error.

Stress is passed in (the engine holds it piecewise constant between its step times), and session
inputs arrive as the input-rate vector ``u``, exactly as in ``Model.rhs``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from ketasim.errors import ModelError
from ketasim.model import circuit, interventions, pk, receptor, signaling, symptoms, synapse
from ketasim.model.assemble import Model

__all__ = [
    "FIELDS", "N_CONC", "N_LINEAR", "N_PK", "N_STATES", "RECEPTOR0", "PackedModel", "concentration_matrix",
    "concentrations", "pack", "pd_rhs", "rhs",
]  # fmt: skip

N_PK = len(pk.STATES)
_R0 = N_PK  # first state of each layer, in Model.state_names order
_I0 = _R0 + len(receptor.STATES)
_C0 = _I0 + len(interventions.STATES)
_S0 = _C0 + len(circuit.STATES)
_Y0 = _S0 + len(signaling.STATES)
_M0 = _Y0 + len(synapse.STATES)
N_STATES = _M0 + len(symptoms.STATES)
#: pk and the effect sites: the linear part of the model (a linear map of the pk amounts drives the
#: effect sites), which the compiled engine can solve exactly.
RECEPTOR0, N_LINEAR = _R0, _I0
#: Plasma signals the layers after pk read: S-, R-ketamine, S-, R-norketamine, HNK (µM, total), psilocin
#: and escitalopram (ng/mL).
N_CONC = 7

_S_CENTRAL, _R_CENTRAL = pk.IDX["s_central"], pk.IDX["r_central"]
_ESK_CENTRAL, _NESK_CENTRAL = pk.IDX["esk_central"], pk.IDX["nesk_central"]
_SNK_CENTRAL, _RNK_CENTRAL = pk.IDX["snk_central"], pk.IDX["rnk_central"]
_HNK_CENTRAL = pk.IDX["hnk_central"]
_PSILOCIN_CENTRAL, _SSRI_CENTRAL = pk.IDX["psilocin_central"], pk.IDX["ssri_central"]

#: LLVM fast-math flags for the compiled code: reassociation and fused multiply-add (vectorised loops,
#: ~1.5x faster) but not "nnan"/"ninf", so NaN and infinity keep their IEEE meaning for the checks.
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}

#: Per-patient constants in the order ``rhs`` unpacks them.
FIELDS: tuple[str, ...] = (
    # pk: volumes (L) and molecular weights (g/mol) for concentrations
    "rac_v1", "esk_vc", "nk_v1", "nesk_vc", "hnk_v1", "psilocin_v", "ssri_v", "mw_psilocin", "mw_escitalopram",
    # receptor
    "ke0", "unbound", "ki_0", "ki_1", "ki_2", "ki_3", "ki_4", "hill", "interneuron_sensitivity",
    "ht2a_ec50", "sert_ec50", "psilocin_trkb_k",
    # interventions
    "tau_bout", "tau_training", "bout_gain", "training_gain", "bhb_gain", "bhb_k", "tau_ketosis",
    "tau_supplement", "tau_adaptation", "serotonergic_bdnf",
    # circuit
    "j_ee_a", "j_ee_n", "j_ei", "j_ie_a", "j_ie_n", "j_ii", "i_e0", "i_i0", "g_e", "g_i", "a",
    "tau_g", "tau_adapt", "kappa_g", "r_e0", "ht2a_drive",
    # signaling (switches as 0/1)
    "disinhibition", "rest_block", "ssri_trkb", "tau_e", "gain_e", "sig_gain_a", "tau_b", "k_t", "k_gate",
    "n_gate", "tau_m", "k_p", "tau_p", "psilocin_gain", "ssri_gain",
    # synapse
    "f0", "e_n", "k_s", "e_s", "sigma_e", "sigma_f", "support", "support_protection", "gain_p", "syn_gain_a",
    "gain_t", "therapy_outside", "tau_t", "k_open", "tau_w", "k_open_psy", "tau_w_psy", "window_gain",
    "healthy_growth", "reference_density",
    # symptoms
    "tau_a", "gain_ampa", "gain_prot", "placebo_gain", "tau_pl", "tau_sedation", "tau_homeostasis",
    "psychedelic_perceived", "cadss_emax", "noticed_ec50", "cadss_hill", "r_over_s_potency",
    # derived once per patient (powers that do not change during a run)
    "isens_pow_hill", "k_gate_pow", "noticed_ec50_pow",
)  # fmt: skip


class PackedModel(NamedTuple):
    """Arrays the compiled right-hand side reads: constants (P, len(FIELDS)) and the sparse PK matrix
    as one shared pattern (``rows``, ``cols``) with per-patient values (P, nnz)."""

    par: np.ndarray
    k_values: np.ndarray
    k_rows: np.ndarray
    k_cols: np.ndarray


def pack(model: Model) -> PackedModel:
    """Gather the model's per-patient constants in ``FIELDS`` order."""
    P = model.n_patients
    pkm, rec, itv, cir, sig, syn, sym = (
        model.pk, model.receptor, model.interventions, model.circuit, model.signaling, model.synapse, model.symptoms,
    )  # fmt: skip
    v = pkm.volumes
    hyp = model.hypotheses
    values: dict[str, object] = {
        **{k: v[k] for k in ("rac_v1", "esk_vc", "nk_v1", "nesk_vc", "hnk_v1", "psilocin_v", "ssri_v")},
        "mw_psilocin": pkm.mw["psilocin"],
        "mw_escitalopram": pkm.mw["escitalopram"],
        "ke0": rec.ke0, "unbound": rec.unbound, **{f"ki_{i}": rec.ki[i] for i in range(len(receptor.SPECIES))},
        "hill": rec.hill, "interneuron_sensitivity": rec.interneuron_sensitivity, "ht2a_ec50": rec.ht2a_ec50,
        "sert_ec50": rec.sert_ec50, "psilocin_trkb_k": rec.psilocin_trkb_k,
        "tau_bout": itv.tau_bout, "tau_training": itv.tau_training, "bout_gain": itv.bout_gain,
        "training_gain": itv.training_gain, "bhb_gain": itv.bhb_gain, "bhb_k": itv.bhb_k,
        "tau_ketosis": itv.tau_ketosis, "tau_supplement": itv.tau_supplement, "tau_adaptation": itv.tau_adaptation,
        "serotonergic_bdnf": itv.serotonergic_bdnf,
        **{k: getattr(cir, k) for k in ("j_ee_a", "j_ee_n", "j_ei", "j_ie_a", "j_ie_n", "j_ii", "i_e0", "i_i0",
                                        "g_e", "g_i", "a", "tau_g", "tau_adapt", "kappa_g", "r_e0", "ht2a_drive")},
        "disinhibition": float(hyp.disinhibition), "rest_block": float(hyp.rest_block),
        "ssri_trkb": float(hyp.ssri_trkb), "tau_e": sig.tau_e, "gain_e": sig.gain_e, "sig_gain_a": sig.gain_a,
        "tau_b": sig.tau_b, "k_t": sig.k_t, "k_gate": sig.k_gate, "n_gate": sig.n_gate, "tau_m": sig.tau_m,
        "k_p": sig.k_p, "tau_p": sig.tau_p, "psilocin_gain": sig.psilocin_gain, "ssri_gain": sig.ssri_gain,
        **{k: getattr(syn, k) for k in ("f0", "e_n", "k_s", "e_s", "sigma_e", "sigma_f", "support",
                                        "support_protection", "gain_p", "gain_t", "therapy_outside", "tau_t",
                                        "k_open", "tau_w", "k_open_psy", "tau_w_psy", "window_gain",
                                        "healthy_growth", "reference_density")},
        "syn_gain_a": syn.gain_a,
        "isens_pow_hill": rec.interneuron_sensitivity**rec.hill,
        "k_gate_pow": sig.k_gate**sig.n_gate,
        "noticed_ec50_pow": sym.noticed_ec50**sym.cadss_hill,
        **{k: getattr(sym, k) for k in ("tau_a", "gain_ampa", "gain_prot", "placebo_gain", "tau_pl",
                                        "tau_sedation", "tau_homeostasis", "psychedelic_perceived", "cadss_emax",
                                        "noticed_ec50", "cadss_hill", "r_over_s_potency")},
    }  # fmt: skip
    missing = set(FIELDS) ^ set(values)
    if missing:  # a programming error: FIELDS and pack must name the same constants
        raise ModelError(f"kernel fields out of sync: {sorted(missing)}")
    par = np.empty((P, len(FIELDS)))
    for i, name in enumerate(FIELDS):
        par[:, i] = np.broadcast_to(np.asarray(values[name], float), (P,))
    nz = np.any(pkm.K != 0.0, axis=0)  # the pattern is structural, so shared by every patient
    rows, cols = np.nonzero(nz)
    return PackedModel(
        par=par,
        k_values=np.ascontiguousarray(pkm.K[:, rows, cols]),
        k_rows=rows.astype(np.int64),
        k_cols=cols.astype(np.int64),
    )


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def rhs(
    y: np.ndarray,
    u: np.ndarray,
    stress: float,
    p: np.ndarray,
    kv: np.ndarray,
    kr: np.ndarray,
    kc: np.ndarray,
    dy: np.ndarray,
) -> None:  # pragma: no cover - compiled; checked against Model.rhs in tests
    """dy/dt of one patient, written into ``dy`` (the same equations as ``Model.rhs``)."""
    for i in range(N_PK):  # pk: linear, sparse
        dy[i] = u[i]
    for k in range(kv.shape[0]):
        dy[kr[k]] += kv[k] * y[kc[k]]
    conc = np.empty(N_CONC)
    concentrations(y, p, conc)
    pd_rhs(y, u, conc, stress, p, dy)


def concentration_matrix(model: Model) -> np.ndarray:
    """(P, N_CONC, N_PK): the linear map from PK amounts to the signals of ``concentrations``."""
    v, mw = model.pk.volumes, model.pk.mw
    C = np.zeros((model.n_patients, N_CONC, N_PK))
    C[:, 0, _S_CENTRAL] = 1 / v["rac_v1"]
    C[:, 0, _ESK_CENTRAL] = 1 / v["esk_vc"]
    C[:, 1, _R_CENTRAL] = 1 / v["rac_v1"]
    C[:, 2, _SNK_CENTRAL] = 1 / v["nk_v1"]
    C[:, 2, _NESK_CENTRAL] = 1 / v["nesk_vc"]
    C[:, 3, _RNK_CENTRAL] = 1 / v["nk_v1"]
    C[:, 4, _HNK_CENTRAL] = 1 / v["hnk_v1"]
    C[:, 5, _PSILOCIN_CENTRAL] = mw["psilocin"] / v["psilocin_v"]
    C[:, 6, _SSRI_CENTRAL] = mw["escitalopram"] / v["ssri_v"]
    return C


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def concentrations(y: np.ndarray, p: np.ndarray, conc: np.ndarray) -> None:  # pragma: no cover - compiled
    """The plasma signals from PK amounts ``y[:N_PK]`` (as ``PKModel.concentrations``)."""
    conc[0] = y[_S_CENTRAL] / p[0] + y[_ESK_CENTRAL] / p[1]  # p[0:9]: volumes, molecular weights
    conc[1] = y[_R_CENTRAL] / p[0]
    conc[2] = y[_SNK_CENTRAL] / p[2] + y[_NESK_CENTRAL] / p[3]
    conc[3] = y[_RNK_CENTRAL] / p[2]
    conc[4] = y[_HNK_CENTRAL] / p[4]
    conc[5] = y[_PSILOCIN_CENTRAL] / p[5] * p[7]
    conc[6] = y[_SSRI_CENTRAL] / p[6] * p[8]


@njit(cache=True, nogil=True, fastmath=FASTMATH)
def pd_rhs(
    y: np.ndarray, u: np.ndarray, conc: np.ndarray, stress: float, p: np.ndarray, dy: np.ndarray
) -> None:  # pragma: no cover - compiled; checked against Model.rhs in tests
    """dy/dt of every state after pk (``dy[N_PK:]``), given the plasma signals ``conc``."""
    (_rac_v1, _esk_vc, _nk_v1, _nesk_vc, _hnk_v1, _psilocin_v, _ssri_v, _mw_psilocin, _mw_escitalopram,
     ke0, unbound, ki_0, ki_1, ki_2, ki_3, ki_4, hill, _isens, ht2a_ec50, sert_ec50, psilocin_trkb_k,
     tau_bout, tau_training, bout_gain, training_gain, bhb_gain, bhb_k, tau_ketosis, tau_supplement,
     tau_adaptation, serotonergic_bdnf,
     j_ee_a, j_ee_n, j_ei, j_ie_a, j_ie_n, j_ii, i_e0, i_i0, g_e, g_i, a_n, tau_g, tau_adapt, kappa_g, r_e0,
     ht2a_drive,
     disinhibition, rest_block, ssri_trkb, tau_e, gain_e, sig_gain_a, tau_b, k_t, _k_gate, n_gate, tau_m, k_p,
     tau_p, psilocin_gain, ssri_gain,
     f0, e_n, k_s, e_s, sigma_e, sigma_f, support, support_protection, gain_p, syn_gain_a, gain_t,
     therapy_outside, tau_t, k_open, tau_w, k_open_psy, tau_w_psy, window_gain, healthy_growth, ref_density,
     tau_a, gain_ampa, gain_prot, placebo_gain, tau_pl, tau_sedation, tau_homeostasis, psychedelic_perceived,
     cadss_emax, _noticed_ec50, cadss_hill, r_over_s, isens_pow_hill, k_gate_pow, noticed_ec50_pow) = p  # fmt: skip
    c_s, c_r, c_snk, c_rnk, c_hnk = conc[0], conc[1], conc[2], conc[3], conc[4]
    psilocin = max(conc[5], 0.0)
    ssri = max(conc[6], 0.0)

    # receptor
    ce_s, ce_r, ce_snk, ce_rnk, ce_hnk = y[_R0], y[_R0 + 1], y[_R0 + 2], y[_R0 + 3], y[_R0 + 4]
    dy[_R0] = ke0 * (unbound * c_s - ce_s)
    dy[_R0 + 1] = ke0 * (unbound * c_r - ce_r)
    dy[_R0 + 2] = ke0 * (unbound * c_snk - ce_snk)
    dy[_R0 + 3] = ke0 * (unbound * c_rnk - ce_rnk)
    dy[_R0 + 4] = ke0 * (unbound * c_hnk - ce_hnk)
    x = max(ce_s / ki_0 + ce_r / ki_1 + ce_snk / ki_2 + ce_rnk / ki_3 + ce_hnk / ki_4, 0.0)
    xp = x**hill
    xi = xp * isens_pow_hill  # (x isens)^hill
    b_e = xp / (1 + xp)
    b_i = xi / (1 + xi)
    ht2a = psilocin / (ht2a_ec50 + psilocin)
    sert = ssri / (sert_ec50 + ssri)
    ps_trkb = psilocin / (psilocin_trkb_k + psilocin)

    # interventions
    bout, training, diet, supp, adapt5, onset = (
        y[_I0], y[_I0 + 1], y[_I0 + 2], y[_I0 + 3], y[_I0 + 4], y[_I0 + 5],
    )  # fmt: skip
    dy[_I0] = -bout / tau_bout
    dy[_I0 + 1] = (bout * 24.0 / tau_bout - training) / tau_training
    dy[_I0 + 2] = -diet / tau_ketosis
    dy[_I0 + 3] = -supp / tau_supplement
    dy[_I0 + 4] = 2 * (onset - adapt5) / tau_adaptation
    dy[_I0 + 5] = 2 * (sert - onset) / tau_adaptation
    bhb = max(diet + supp, 0.0)
    bdnf_factor = (
        (1 + bout_gain * bout + training_gain * training)
        * (1 + bhb_gain * bhb / (bhb_k + bhb))
        * (1 + serotonergic_bdnf * max(adapt5, 0.0))
    )

    # circuit: interneurons-active regime first, silenced interneurons as the fallback
    ie0 = i_e0 + ht2a_drive * ht2a
    r_e = -1.0
    for regime in range(2):
        h = g_i / (1 + g_i * j_ii) if regime == 0 else 0.0
        c2 = (1 - b_i) * j_ie_n
        a1 = g_e * (j_ee_a - j_ei * h * j_ie_a)
        a2 = g_e * ((1 - b_e) * j_ee_n - j_ei * h * c2)
        a0 = g_e * (ie0 - j_ei * h * i_i0)
        qa = a_n * (1 - a1)
        qb = 1 - a1 - a_n * (a2 + a0)
        r = (-qb + np.sqrt(max(qb * qb + 4 * qa * a0, 0.0))) / (2 * qa)
        s = a_n * r / (1 + a_n * r)
        if r >= 0 and (regime == 1 or j_ie_a * r + c2 * s + i_i0 >= 0):
            r_e = r
            break
    if not r_e >= 0:  # no self-consistent regime (or NaN): as nan_to_num in CircuitModel.rates
        r_e = 0.0
    glu, g_adapt = y[_C0], y[_C0 + 1]
    excess = r_e / r_e0 - 1
    dy[_C0] = (max(1 + kappa_g * (excess - g_adapt), 0.0) - glu) / tau_g
    dy[_C0 + 1] = (excess - g_adapt) / tau_adapt

    # signaling
    eef2k, bdnf, mtor, prot = y[_S0], y[_S0 + 1], y[_S0 + 2], y[_S0 + 3]
    ampa = glu if disinhibition > 0 else 1.0
    potentiation = psilocin_gain * ps_trkb + (ssri_gain * sert if ssri_trkb > 0 else 0.0)
    target_e = 1 - b_e if rest_block > 0 else 1.0
    production = (1 + gain_e * (1 - eef2k)) * (1 + sig_gain_a * max(ampa - 1, 0.0)) * bdnf_factor
    eff = bdnf * (1 + potentiation)
    trkb = eff * (1 + k_t) / (k_t + eff)
    xg = max(ampa, 0.0) ** n_gate
    kg = k_gate_pow
    dy[_S0] = (target_e - eef2k) / tau_e
    dy[_S0 + 1] = (production - bdnf) / tau_b
    dy[_S0 + 2] = (trkb * xg * (1 + kg) / (kg + xg) - mtor) / tau_m
    dy[_S0 + 3] = k_p * (mtor - 1) - (prot - 1) / tau_p

    # synapse
    lab, stab, win, ther, win_psy = y[_Y0], y[_Y0 + 1], y[_Y0 + 2], y[_Y0 + 3], y[_Y0 + 4]
    window = 1 - (1 - win) * (1 - win_psy)
    lost = max(1 - (lab + stab), 0.0) / (1 - ref_density)
    boost = 1 + gain_p * (prot - 1) * (healthy_growth + lost) / (healthy_growth + 1)
    f = f0 * max(1 - sigma_f * stress, 0.0) * max(boost, 0.0)
    e_stab = e_s * (1 + sigma_e * stress * (1 - support_protection * support))
    k_stab = (
        k_s
        * (1 + syn_gain_a * max(ampa - 1, 0.0))
        * (1 + window_gain * window)
        * (1 + gain_t * ther * (therapy_outside + (1 - therapy_outside) * window))
    )
    dy[_Y0] = f - (e_n + k_stab) * lab
    dy[_Y0 + 1] = k_stab * lab - e_stab * stab
    dy[_Y0 + 2] = k_open * max(mtor - 1, 0.0) * (1 - win) - win / tau_w
    dy[_Y0 + 3] = -ther / tau_t
    dy[_Y0 + 4] = k_open_psy * ht2a * (1 - win_psy) - win_psy / tau_w_psy

    # symptoms
    acute, expect, sedation, set_point = y[_M0], y[_M0 + 1], y[_M0 + 2], y[_M0 + 3]
    xc = max(ce_s + r_over_s * ce_r, 0.0) ** cadss_hill
    noticed = cadss_emax * xc / (noticed_ec50_pow + xc)
    drive = gain_ampa * max(ampa - 1, 0.0) + gain_prot * max(prot - set_point, 0.0)
    perceived = noticed / cadss_emax + sedation + psychedelic_perceived * ht2a
    dy[_M0] = drive - acute / tau_a
    dy[_M0 + 1] = placebo_gain * perceived - expect / tau_pl
    dy[_M0 + 2] = -sedation / tau_sedation
    dy[_M0 + 3] = (prot - set_point) / tau_homeostasis

    for i in range(N_PK, N_STATES):  # session inputs enter as infusions on their states
        dy[i] += u[i]
