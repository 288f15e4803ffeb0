"""Assembly: the layers stacked into one ODE system for a batch of patients.

Data flow one way: pk -> receptor -> interventions -> circuit -> signaling -> synapse -> symptoms; each
layer reads only named signals of the layers before it. The equations are written once, in the layer
modules (see ``_definition``); this module fills the per-patient constants, builds the PK matrices and
the dosing events, and evaluates the generated code: ``rhs`` (what the scipy path integrates) and
``observe`` (every output, on any array of time points). Session inputs (sedation, exercise, diet,
supplements, therapy, a daily oral antidepressant) arrive as engine boluses and infusions on the
states they feed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import numpy as np

from ketasim.dosing import Regimen, SessionKind
from ketasim.errors import InputError
from ketasim.model import _codegen, circuit, interventions, pk, receptor, signaling, symptoms, synapse, trauma
from ketasim.model._definition import Constants, Definition, recording_varied, trace
from ketasim.model.pk import Bolus, Infusion, timed_input
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient, recording_factors

__all__ = [
    "ITEM_OUTPUTS", "LAYERS", "SLICES", "STATE_NAMES", "Hypotheses", "Model", "Observation", "assemble", "definition",
    "observer_columns", "output_units", "unpack_columns",
]  # fmt: skip

#: The layer modules in causal order (the row order of the state array).
LAYERS: tuple[ModuleType, ...] = (pk, receptor, interventions, circuit, signaling, synapse, symptoms, trauma)
STATE_LAYERS = tuple(m.__name__.rsplit(".", 1)[-1] for m in LAYERS)
#: Every state of the assembled model, layer by layer (the row order of the state array).
STATE_NAMES: tuple[str, ...] = tuple(name for m in LAYERS for name in m.STATES)
_ends = np.cumsum([0, *(len(m.STATES) for m in LAYERS)]).tolist()
#: Where each layer's states sit in the state array.
SLICES: dict[str, slice] = {layer: slice(a, b) for layer, a, b in zip(STATE_LAYERS, _ends[:-1], _ends[1:], strict=True)}
#: The MADRS item outputs, which ``observe`` also returns stacked as ``madrs_items``.
ITEM_OUTPUTS: tuple[str, ...] = tuple(f"madrs_item_{item}" for item in symptoms.ITEMS)


@dataclass(frozen=True)
class Hypotheses:
    """Switches for competing mechanisms.

    ``disinhibition`` (on): interneuron block -> glutamate pulse -> AMPA -> activity-dependent BDNF release.
    ``rest_block`` (on): block of pyramidal NMDA receptors at rest -> eEF2 kinase off -> BDNF translation.
    ``ssri_trkb`` (off): SSRIs potentiate TrkB directly (Casarotto 2021; disputed on concentration grounds).
    ``reconsolidation`` (off): a trauma memory retrieved inside a plasticity window is weakened itself
    (Nader 2000; Schiller 2010, with failed replications), not only held back by new extinction learning.
    """

    disinhibition: bool = True
    rest_block: bool = True
    ssri_trkb: bool = False
    reconsolidation: bool = False

    def __post_init__(self) -> None:
        for name in ("disinhibition", "rest_block", "ssri_trkb", "reconsolidation"):
            if not isinstance(getattr(self, name), bool):  # "no" would silently switch the mechanism on
                raise InputError(f"hypotheses.{name}", "must be true or false", got=repr(getattr(self, name))[:60])


@cache
def definition() -> Definition:
    """The model's definition, traced from ``LAYERS`` (sympy; cached for the process)."""
    return trace(LAYERS, default_parameters())


def observer_columns(wanted: Sequence[str]) -> tuple[str, ...]:
    """The observer's columns for the outputs ``wanted``, in order: each named output once, and for
    ``madrs_items`` its ten items, consecutive, after the others."""
    items = list(ITEM_OUTPUTS) if "madrs_items" in wanted else []
    return tuple(dict.fromkeys([w for w in wanted if w != "madrs_items"] + items))


@dataclass(frozen=True)
class Observation:
    """The outputs asked for (``wanted``, ``madrs_items`` standing for its ten items), the observer's
    columns (``names``), its statement mask (``need``) and where it finds each column (``cols``: a
    statement, state or external input, ``SOURCE`` of the generated code)."""

    wanted: tuple[str, ...]
    names: tuple[str, ...]
    need: np.ndarray
    cols: np.ndarray
    #: the states the observer reads for these outputs (an integration need interpolate no other)
    reads: np.ndarray
    #: outputs (among ``wanted``) whose peak, time of the peak and AUC an integration also reports
    peaks: tuple[str, ...] = ()

    @property
    def peak_columns(self) -> np.ndarray:
        return np.array([self.names.index(k) for k in self.peaks], np.int64)

    def unpack(self, out: np.ndarray) -> dict[str, np.ndarray]:
        """{output: (P, T)} (``madrs_items``: (P, item, T)) from the observer's (column, P, T) array."""
        return unpack_columns(self.wanted, out)


def unpack_columns(wanted: Sequence[str], out: np.ndarray) -> dict[str, np.ndarray]:
    """{output: (P, T)} (``madrs_items``: (P, item, T)) from an array (column, P, T) whose columns are
    ``observer_columns(wanted)``; views where the layout allows (the ten items are consecutive columns)."""
    col = {name: j for j, name in enumerate(observer_columns(wanted))}
    result = {k: out[col[k]] for k in wanted if k != "madrs_items"}
    if "madrs_items" in wanted:
        j = [col[k] for k in ITEM_OUTPUTS]
        consecutive = j == list(range(j[0], j[0] + len(j)))
        result["madrs_items"] = np.moveaxis(out[j[0] : j[0] + len(j)] if consecutive else out[j], 0, 1)
    return result


class Model:
    """The assembled ODE system for a batch of patients (state array shape (n_states, n_patients)).

    ``layers`` defaults to ``LAYERS``; a different tuple of layer modules (e.g. with a layer added)
    gives a different model, with its code generated for it.
    """

    def __init__(
        self,
        params: ParameterSet,
        patients: Sequence[Patient],
        hypotheses: Hypotheses,
        layers: Sequence[ModuleType] | None = None,
        fluctuation: bool = True,
    ) -> None:
        self.params = params
        self.fluctuation = fluctuation
        self.patients = tuple(patients)
        self.hypotheses = hypotheses
        self.layers = tuple(layers) if layers is not None else LAYERS
        switches = {"disinhibition": hypotheses.disinhibition, "rest_block": hypotheses.rest_block,
                    "ssri_trkb": hypotheses.ssri_trkb, "reconsolidation": hypotheses.reconsolidation}  # fmt: skip
        k = Constants(params, self.patients, switches)
        for mod in self.layers:
            k.layer = mod.__name__.rsplit(".", 1)[-1]
            mod.constants(k)
        self.constants = k
        self._definition: Definition | None = None
        self.code = _codegen.load(self.layers, params)
        self.state_names: tuple[str, ...] = self.code.STATE_NAMES
        self.n_states = len(self.state_names)
        self.index = {n: i for i, n in enumerate(self.state_names)}
        ends = np.cumsum([0, *(len(m.STATES) for m in self.layers)]).tolist()
        names = [m.__name__.rsplit(".", 1)[-1] for m in self.layers]
        self.slices = {layer: slice(a, b) for layer, a, b in zip(names, ends[:-1], ends[1:], strict=True)}
        self.pk = pk.build(k)
        self.ext_times, self.ext_levels = _external_steps(params, self.patients, fluctuation)
        self.par = self.code.pack(k.values)  # (n_par, P): constants and those derived from them
        # amounts given by events (not constants of the equations)
        self.placebo_session = k.read("placebo_session", "1")
        self.assessment_share = k.read("assessment_share", "1")
        self.midazolam_sedation = k.read("midazolam_sedation", "1")
        self.ketogenic_bhb = k.read("ketogenic_bhb", "mM")
        self.supplement_bhb = k.read("bhb_supplement_peak", "mM")
        self.ad_daily_mg = params.value("oral_antidepressant_daily_dose", "mg")
        # None in a model without the interventions layer
        self.tau_alcohol_h = k.values.get("tau_alcohol_adaptation")
        self.tau_intake_h = k.values.get("tau_alcohol_intake")

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    @property
    def definition(self) -> Definition:
        """The traced definition of this model's layers (imports sympy on first use)."""
        if self._definition is None:
            self._definition = definition() if self.layers == LAYERS else trace(self.layers, self.params)
        return self._definition

    def initial(self) -> np.ndarray:
        y = np.zeros((self.n_states, self.n_patients))
        for mod in self.layers:
            for name, value in getattr(mod, "initial", lambda k: {})(self.constants).items():
                y[self.index[name]] = value
        return y

    def exogenous(self, t: float | np.ndarray) -> np.ndarray:
        """The external inputs (stress load, mood fluctuation) of each patient at time(s) ``t``: shape
        t.shape + (P, n_ext), piecewise constant (a value holds from its step time on)."""
        t = np.asarray(t, float)
        flat = t.reshape(-1)
        # each patient's step times are sorted (padded with +inf): a binary search per patient, not a
        # (times x patients x steps) comparison, which dominated observation of long noisy runs
        if flat.size <= 8:  # one time (the right-hand side): one comparison over all patients
            k = (self.ext_times[None] <= flat[:, None, None]).sum(axis=-1) - 1
        else:
            k = np.empty((flat.size, self.ext_times.shape[0]), np.intp)
            for p, times in enumerate(self.ext_times):
                k[:, p] = np.searchsorted(times, flat, side="right") - 1
        np.maximum(k, 0, out=k)
        out = self.ext_levels[np.arange(self.ext_times.shape[0]), k]  # (T, P, n_ext)
        return out.reshape(t.shape + out.shape[1:])

    def stress(self, t: float | np.ndarray) -> np.ndarray:
        """Stress load of each patient at time(s) ``t``: shape t.shape + (P,)."""
        return self.exogenous(t)[..., 0]

    def rhs(self, t: float, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        """dy/dt of states ``y`` (n, P) with session/dose input rates ``u`` (n, P)."""
        n_pk = self.code.N_PK
        dy = np.empty_like(y)
        dy[:n_pk] = self.pk.rhs(y[:n_pk], u[:n_pk])
        dy[n_pk:] = self.code.rhs(y, self.exogenous(t).T, self.par) + u[n_pk:]
        return dy

    def observe(self, t: np.ndarray, y: np.ndarray, only: Collection[str] | None = None) -> dict[str, np.ndarray]:
        """Output variables from states ``y`` (n, P, T); arrays come back as (P, T), and ``madrs_items``
        as (P, item, T).

        ``only`` computes just the named variables (all outputs by default; any named signal or state
        may be asked for): on fine grids the algebra of unrequested outputs is most of the cost. The
        outputs are computed by the generated, compiled observer one patient and time point at a time,
        so a patient's numbers do not depend on the batch it is in (the compiled engine calls the same
        observer at each output time: ``ketasim.engine.integrate_observed``).
        """
        plan = self.observation(only)
        P, T = y.shape[1], y.shape[2]
        Y = np.ascontiguousarray(np.transpose(y, (1, 2, 0)), float)  # free for the engine's (P, T, n) buffer
        X = np.ascontiguousarray(np.moveaxis(self.exogenous(np.asarray(t, float)), 0, 1))  # (P, T, n_ext)
        out = np.empty((len(plan.names), P, T))  # never views of ``y``: they would keep the state buffer alive
        self.code.kernel().observe_all(Y, X, np.ascontiguousarray(self.par.T), plan.need, plan.cols, out)
        return plan.unpack(out)

    def observation(self, only: Collection[str] | None = None, peaks: Collection[str] = ()) -> Observation:
        """What the generated observer must compute for ``only`` (see ``observe``), and which of those
        outputs an integration summarises (``peaks``)."""
        code = self.code
        if only is None:
            wanted = [o for o in code.OUTPUTS if o not in ITEM_OUTPUTS] + ["madrs_items"]
        else:
            wanted = list(dict.fromkeys(only))
        names = observer_columns(wanted)
        unknown = [n for n in names if n not in code.OBSERVABLE]
        if unknown:
            raise KeyError(f"not an output, signal or state of the model: {unknown}")
        need = np.zeros(code.N_STATEMENTS, bool)
        reads = np.zeros(len(code.STATE_NAMES), bool)
        cols = np.array([code.SOURCE[name] for name in names], np.int64)
        for name in names:
            need[code.DEPS[name]] = True
            reads[code.STATE_DEPS[name]] = True
        unknown = [k for k in peaks if k not in names]
        if unknown:
            raise KeyError(f"peaks must be among the outputs observed, not {unknown}")
        return Observation(tuple(wanted), names, need, cols, reads, tuple(peaks))

    def state(self, **values: float | np.ndarray) -> np.ndarray:
        """The initial state (n, P) with some states set, e.g. ``model.state(ce_s_ketamine=0.5)``."""
        y = self.initial()
        for name, value in values.items():
            if name not in self.index:
                raise KeyError(f"{name!r} is not a state of the model")
            y[self.index[name]] = value
        return y

    def signals(self, y: np.ndarray, names: Collection[str], t: float = 0.0) -> dict[str, np.ndarray]:
        """Named signals, outputs or states at one state ``y`` (n, P) and time ``t``: (P,) arrays."""
        return {k: v[:, 0] for k, v in self.observe(np.array([t]), y[:, :, None], only=names).items()}

    def rates(self, y: np.ndarray, t: float = 0.0) -> dict[str, np.ndarray]:
        """d/dt of every state at ``y`` (n, P) with no inputs: {state: (P,) array}."""
        dy = self.rhs(t, y, np.zeros_like(y))
        return dict(zip(self.state_names, dy, strict=True))

    def concentration_map(self, names: Sequence[str]) -> np.ndarray:
        """(P, len(names), n_pk): the linear map from PK amounts (µmol) to linear signals such as
        ``ketamine_plasma`` (ng/mL) or ``s_ketamine_um`` (µM), from the PK layer's equations."""
        code = self.code
        matrix = code.linear_signal_matrix(self.par)  # (n_signals, n_linear, P)
        unknown = [n for n in names if n not in code.LINEAR_SIGNALS]
        if unknown:
            raise KeyError(f"not linear signals of the PK amounts: {unknown}")
        rows = [code.LINEAR_SIGNALS.index(n) for n in names]
        return np.moveaxis(matrix[rows][:, : code.N_PK], -1, 0)

    def events(self, regimen: Regimen) -> tuple[list[Bolus], list[Infusion]]:
        """Dose inputs, expectancy at each visit, sessions, therapy sessions and stress steps."""
        boluses, infusions = self.pk.inputs(regimen)
        n = self.n_patients
        ix = self.index
        tau_ketosis = self.constants["tau_ketosis"]
        for t in regimen.visit_times:
            boluses.append(Bolus(t, ix["expectancy"], self.placebo_session.copy()))
        for sess in regimen.sessions:
            t0, kind = sess.at_h, sess.kind
            if kind is SessionKind.MIDAZOLAM:
                timed_input(t0, sess.duration_h, ix["sedation"], self.midazolam_sedation, boluses, infusions)
            elif kind is SessionKind.ORAL_ANTIDEPRESSANT:  # daily tablets from here on, as a steady oral input
                daily = sess.daily_mg if sess.daily_mg is not None else self.ad_daily_mg
                rate = daily / self.pk.mw["escitalopram"] * 1e3 / 24.0
                infusions.append(Infusion(t0, np.inf, ix["ssri_gut"], np.full(n, rate)))
            elif kind is SessionKind.ASSESSMENT:
                boluses.append(Bolus(t0, ix["expectancy"], self.placebo_session * self.assessment_share))
            elif kind is SessionKind.PSYCHOTHERAPY:
                boluses.append(Bolus(t0, ix["therapy_trace"], np.full(n, sess.intensity)))
            elif kind is SessionKind.EXERCISE:
                timed_input(t0, sess.duration_h, ix["exercise_bout"], np.full(n, sess.intensity), boluses, infusions)
            elif kind is SessionKind.KETOGENIC_DIET:
                infusions.append(Infusion(t0, np.inf, ix["bhb_diet"], self.ketogenic_bhb / tau_ketosis))
            elif kind is SessionKind.BHB_SUPPLEMENT:
                boluses.append(Bolus(t0, ix["bhb_supplement"], self.supplement_bhb * sess.intensity))
            elif kind is SessionKind.ECT:  # the seizure, its cognitive effect, and a noticed anaesthesia
                boluses.append(Bolus(t0, ix["seizure_trace"], np.full(n, 1.0)))
                boluses.append(Bolus(t0, ix["ect_cognitive"], np.full(n, 1.0)))
                timed_input(t0, sess.duration_h, ix["sedation"], self.midazolam_sedation, boluses, infusions)
            elif kind is SessionKind.ANTIPSYCHOTIC_AUGMENTATION:  # daily from here on: the effect builds up
                tau = self.constants["tau_augmentation"]
                infusions.append(Infusion(t0, np.inf, ix["augmentation"], np.full(n, 1.0) / tau))
            elif kind is SessionKind.EXPOSURE_THERAPY:  # extinction learned in the session
                boluses.append(Bolus(t0, ix["extinction_labile"], np.full(n, sess.intensity)))
            elif kind is SessionKind.TRYPTOPHAN_DEPLETION:  # the drink's load; the sham drink is a visit only
                boluses.append(Bolus(t0, ix["tryptophan_load"], np.full(n, 1.0)))
        infusions.extend(self._drinking(regimen))
        for j, p in enumerate(self.patients):
            for t in p.psychotherapy_h:
                amount = np.zeros(n)
                amount[j] = 1.0
                boluses.append(Bolus(t, ix["therapy_trace"], amount))
        # cut the scipy path where an external input steps (the compiled engine reads the steps itself)
        for t in np.unique(self.ext_times[np.isfinite(self.ext_times) & (self.ext_times > 0)]):
            boluses.append(Bolus(float(t), ix["therapy_trace"], np.zeros(n)))
        return boluses, infusions

    def _drinking(self, regimen: Regimen) -> list[Infusion]:
        """Each patient's drinking (his steps, cut from each ``alcohol_alternative`` session on by its share)
        as infusions of (drinks a day) / tau into the recent intake and the adaptation, so that each is a
        running mean of drinking."""
        if self.tau_alcohol_h is None or self.tau_intake_h is None:
            return []
        cuts = [(s.at_h, s.intensity) for s in regimen.sessions if s.kind is SessionKind.ALCOHOL_ALTERNATIVE]
        steps = [p.drinking_steps for p in self.patients]
        times = sorted({0.0, *(t for st in steps for t, _ in st), *(t for t, _ in cuts)})
        out = []
        for a, b in zip(times, [*times[1:], np.inf], strict=True):
            kept = float(np.prod([1.0 - share for t, share in cuts if t <= a]))
            level = np.array([[lv for t, lv in st if t <= a][-1] if st[0][0] <= a else st[0][1] for st in steps])
            if np.any(level * kept > 0):
                out.append(Infusion(a, b, self.index["alcohol_intake"], level * kept / self.tau_intake_h))
                out.append(Infusion(a, b, self.index["alcohol_adaptation"], level * kept / self.tau_alcohol_h))
        return out


def output_units(layers: Sequence[ModuleType] | None = None, params: ParameterSet | None = None) -> dict[str, str]:
    """Every Result output of the model with ``layers`` (default: ``LAYERS``) and the unit shown for it,
    as the layers declare them (the MADRS items as one ``madrs_items`` variable). ``params``: the
    parameter set the layers read (needed only if they read parameters the shipped set lacks)."""
    code = _codegen.load(tuple(layers) if layers is not None else LAYERS, params or default_parameters())
    units = {name: shown for name, shown in code.DISPLAY_UNITS.items() if name not in ITEM_OUTPUTS}
    units["madrs_items"] = "points (0-6)"
    return units


def assemble(
    params: ParameterSet,
    patients: Sequence[Patient],
    hypotheses: Hypotheses | None = None,
    layers: Sequence[ModuleType] | None = None,
    fluctuation: bool = True,
) -> Model:
    """Build the full model for ``patients`` with the given mechanism switches (and layers).
    ``fluctuation=False`` turns every patient's day-to-day mood fluctuation off (the smooth course)."""
    return Model(params, patients, hypotheses or Hypotheses(), layers, fluctuation)


#: How far ahead the mood-fluctuation path is drawn (the longest run any entry point accepts). The first
#: year is drawn from the patient's seed and the second from a second stream of it, continuing the same
#: AR(1) paths, so a year's path does not depend on how far ahead it is drawn.
NOISE_HORIZON_H = 24.0 * 732
_FIRST_YEAR_H = 24.0 * 366


def _external_steps(
    params: ParameterSet, patients: Sequence[Patient], fluctuation: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Step tables of the external inputs: times (P, K), padded with +inf, and levels (P, K, 2) of the
    stress load and the mood fluctuation.

    The fluctuation is the sum of two stationary AR(1) paths on a fixed grid (one value per
    ``mood_noise_interval``): day-to-day mood (``mood_noise_sd``, ``mood_noise_autocorrelation``) and a
    slow drift of life circumstances over months (``mood_drift_sd``, ``mood_drift_time``), each scaled
    by the patient's own factor and drawn from his own ``noise_seed``, so a patient's path does not
    depend on the batch, chunk or worker it is simulated in; zero for a patient without a seed.
    """
    v = params.value
    step = v("mood_noise_interval", "h")
    grid = np.arange(0.0, NOISE_HORIZON_H, step)
    components = ((v("mood_noise_sd"), v("mood_noise_autocorrelation"), "mood_noise_sd"),
                  (v("mood_drift_sd"), float(np.exp(-step / v("mood_drift_time", "h"))), "mood_drift_sd"))  # fmt: skip
    rows_t, rows_v = [], []
    for p in patients:
        steps = np.array(p.stress_steps, float)  # (k, 2): time, level
        if fluctuation and p.noise_seed is not None:
            from scipy.signal import lfilter  # on use: most runs have no fluctuation to draw

            first = int(np.searchsorted(grid, _FIRST_YEAR_H))
            rng, later = np.random.default_rng(p.noise_seed), np.random.default_rng([p.noise_seed, 1])
            noise = np.zeros(grid.size)
            for sd, rho, name in components:
                e = rng.standard_normal(first) * sd * p.factor(name)
                e[0] /= np.sqrt(1 - rho * rho)  # the path starts from its stationary distribution
                y1 = lfilter([1.0], [1.0, -rho], e * np.sqrt(1 - rho * rho))
                e2 = later.standard_normal(grid.size - first) * sd * p.factor(name)
                y2, _ = lfilter([1.0], [1.0, -rho], e2 * np.sqrt(1 - rho * rho), zi=[rho * y1[-1]])
                noise += np.concatenate([y1, y2])
            times = np.union1d(steps[:, 0], grid)
        else:
            noise = np.zeros(1)
            times = np.union1d(steps[:, 0], [0.0])
        stress = steps[np.maximum(np.searchsorted(steps[:, 0], times, side="right") - 1, 0), 1]
        at = np.minimum(np.searchsorted(grid, times, side="right") - 1, noise.size - 1)
        rows_t.append(times)
        rows_v.append(np.stack([stress, noise[at]], axis=1))
    width = max(r.size for r in rows_t)
    times = np.full((len(patients), width), np.inf)
    levels = np.zeros((len(patients), width, 2))
    for i, (t, lv) in enumerate(zip(rows_t, rows_v, strict=True)):
        times[i, : t.size] = t
        levels[i, : t.size] = lv
        levels[i, t.size :] = lv[-1]
    return times, levels


_EFFECT_NAMES: dict[tuple[str, tuple[ModuleType, ...] | None], frozenset[str]] = {}


def random_effect_names(params: ParameterSet, layers: Sequence[ModuleType] | None = None) -> frozenset[str]:
    """Every name a patient's ``random_effects`` may hold: those the model with ``layers`` reads per
    patient (the varied parameters, the MADRS items' thresholds, the mood fluctuation's amplitudes, ...).
    Recorded once per parameter set and layers by assembling a model for one patient."""
    key = (params.digest(), None if layers is None else tuple(layers))
    if key not in _EFFECT_NAMES:
        with recording_factors() as names:
            Model(params, [Patient(noise_seed=0)], Hypotheses(), layers, fluctuation=True)
        _EFFECT_NAMES[key] = frozenset(names)
    return _EFFECT_NAMES[key]


def varied_parameters(params: ParameterSet) -> frozenset[str]:
    """The parameters the layers read per patient (with random effects): the ones sampling tools may vary."""
    with recording_varied() as names:
        Model(params, [Patient()], Hypotheses())
    return frozenset(names)
