"""Running a ``PhasedTrial``: patients in chunks, each chunk integrated segment by segment between decisions.

A chunk's patients share one clock. Between two decision times (a phase start, or a session of an
arm with a dosing rule) the chunk is one integration whose events are each patient's own plan so far;
at a decision time the rules read what has been rated and observed up to then, and the plans grow.
Ratings (true MADRS + rater noise from the patient's own stream) are taken at every visit of the
phase a patient is in; a phase's stop event (e.g. relapse) ends that patient's follow-up.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ketasim._internal.checks import check_memory, whole_number
from ketasim._internal.cluster import map_unordered
from ketasim._internal.jsonable import jsonable
from ketasim._internal.signals import checkpoint
from ketasim._internal.streams import substream
from ketasim.dosing import Dose, Regimen, Session, SessionKind
from ketasim.engine import SolverOptions, integrate
from ketasim.errors import InputError
from ketasim.model import Hypotheses, assemble
from ketasim.model.pk import Bolus, Infusion
from ketasim.parameters import ParameterSet, default_parameters
from ketasim.patients import Patient, Population
from ketasim.patients.population import MAX_SEED
from ketasim.simulation import MAX_DURATION_H
from ketasim.trials.dropout import DropoutParams, draw_cause, interval_probabilities
from ketasim.trials.phases import END, EXIT, Criterion, Phase, check_phase_graph
from ketasim.trials.runner import DROPOUT_STREAM, SAME_CONTACT_H, scale_stream
from ketasim.trials.scales import rate as rate_scale
from ketasim.trials.scales import true_score
from ketasim.trials.stats import hazard_ratio, kaplan_meier_curve, kaplan_meier_median, mean_ci, proportion_ci

__all__ = ["PhasedResult", "PhasedTrial", "run_phased_chunk"]

#: Session peaks (CADSS, systolic rise) are read over this long after a session starts.
_PEAK_WINDOW_H = 4.0
#: Items whose inputs may still be running this long after they start are kept in a segment's events
#: (the longest non-IV input, a swallowed or nasal absorption phase, lasts under 1 h).
_LOOKBACK_H = 48.0
#: A visit's rating is read this long before the visit time: before a session given at the same visit,
#: whatever the segments (a session's expectancy acts at once), and so before a rule reads it.
_RATE_BEFORE_H = 1 / 60
#: The rater-noise stream of the phased runner (0: the simple trial's ratings, 1: blood pressure).
_RATING_STREAM = 2


@dataclass(frozen=True)
class PhasedTrial:
    """A trial in phases (see ``trials.phases``); ``run`` returns a ``PhasedResult``."""

    phases: tuple[Phase, ...]
    criteria: Mapping[str, Criterion]
    population: Population
    params: ParameterSet | None = None
    hypotheses: Hypotheses = field(default_factory=Hypotheses)
    solver: SolverOptions | None = None
    rating_noise: bool = True
    series_step_h: float = 24.0
    screening_h: float = 0.0
    entry_minimum: float | None = None
    dropout: bool = False  # patients may leave between visits (trials.dropout)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phases", tuple(self.phases))
        if not isinstance(self.dropout, bool):
            raise InputError("dropout", "must be true or false", got=repr(self.dropout)[:60])
        if not isinstance(self.population, Population):
            raise InputError("population", "must be a ketasim.Population", got=type(self.population).__name__)
        self.starts  # noqa: B018 - validates the graph now, before anything runs
        if self.total_h + self.screening_h > MAX_DURATION_H:
            raise InputError(
                "phases", f"the phases last {self.total_h / 24:g} days; the longest run is {MAX_DURATION_H / 24:g} days"
            )

    @property
    def starts(self) -> dict[str, float]:
        """Each phase's start, hours after the first phase starts (validates the graph)."""
        return check_phase_graph(self.phases, self.criteria)

    @property
    def total_h(self) -> float:
        s = self.starts
        return max(s[p.name] + p.duration_h for p in self.phases)

    def allocation(self, seed: int) -> dict[str, list[str]]:
        """Per randomised phase, the arm of every patient slot (permuted blocks of the phase's weights)."""
        n = len(self.population)
        out = {}
        for k, p in enumerate(self.phases):
            if p.randomisation is None:
                continue
            block = [a for a, w in p.randomisation.items() for _ in range(w)]
            rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9A5E, k]))
            arms: list[str] = []
            while len(arms) < n:
                arms.extend(block[i] for i in rng.permutation(len(block)))
            out[p.name] = arms[:n]
        return out

    def chunks(self, seed: int, chunk_size: int) -> list[PhasedChunk]:
        whole_number(seed, "seed", 0, MAX_SEED)
        whole_number(chunk_size, "chunk_size")
        n = len(self.population)
        alloc = self.allocation(seed)
        noise = np.random.SeedSequence([seed, 0x7015E]).spawn(n)
        params = self.params or default_parameters()
        return [
            PhasedChunk(
                s,
                tuple(self.population.patients[s : s + chunk_size]),
                {k: tuple(v[s : s + chunk_size]) for k, v in alloc.items()},
                tuple(noise[s : s + chunk_size]),
                self,
                params,
            )
            for s in range(0, n, chunk_size)
        ]

    def run(
        self,
        seed: int = 0,
        *,
        chunk_size: int = 200,
        workers: int | None = None,
        scheduler: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> PhasedResult:
        """Run every chunk (here, on ``workers`` local Dask processes, or on ``scheduler``)."""
        whole_number(seed, "seed", 0, MAX_SEED)
        whole_number(chunk_size, "chunk_size")
        n = len(self.population)
        n_times = (self.total_h + self.screening_h) / self.series_step_h + 1
        check_memory(
            "series_step",
            n_times * n * 80,
            f"the MADRS series of {n:,} patients x {n_times:,.0f} times",
            "use a coarser series_step or fewer patients",
        )
        chunks = self.chunks(seed, chunk_size)
        parts: list[tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]] = []
        it = (
            map(run_phased_chunk, chunks)
            if workers is None and scheduler is None
            else map_unordered(run_phased_chunk, chunks, workers, scheduler)
        )
        for i, part in enumerate(it):
            checkpoint()
            parts.append(part)
            if progress:
                progress(i + 1, len(chunks))
        ep, sess, ser = (
            pd.concat([p[k] for p in parts], ignore_index=True)
            .sort_values(["patient"] + (["time_h"] if k else []), kind="stable")
            .reset_index(drop=True)
            for k in range(3)
        )
        return PhasedResult(uuid.uuid4().hex[:12], seed, self, ep, sess, ser)


@dataclass(frozen=True)
class PhasedChunk:
    """One chunk of patients of a phased trial (picklable, for Dask)."""

    start: int
    patients: tuple[Patient, ...]
    allocation: Mapping[str, tuple[str, ...]]
    noise_seeds: tuple[np.random.SeedSequence, ...]
    trial: PhasedTrial
    params: ParameterSet


@dataclass
class _Patient:
    """The running record of one patient in a chunk."""

    phase: str | None = None
    arm: str = ""
    stratum: str = ""
    plan: list[Dose | Session] = field(default_factory=list)
    pending: dict[float, list[Dose | Session]] = field(default_factory=dict)  # ruled sessions, absolute times
    level: int = 0
    cap: int = 10**6
    last_given: float = -np.inf
    sessions_seen: int = 0
    path: list[tuple[str, str, str]] = field(default_factory=list)
    left_at_h: float = np.nan
    left_because: str = ""
    events: dict[str, tuple[bool, float]] = field(default_factory=dict)  # phase -> (event, days from phase start)
    last_visit_h: float = np.nan  # the patient's last rated visit (dropout intervals start there)


def _grid(tr: PhasedTrial, starts: Mapping[str, float], lead: float, end: float) -> np.ndarray:
    pts = set(np.round(lead + np.arange(0.0, end - lead + 1e-9, tr.series_step_h), 9))
    pts.update({0.0, round(end, 9), round(lead, 9)})
    if lead > 0:
        pts.add(round(lead - _RATE_BEFORE_H, 9))
    for p in tr.phases:
        s = starts[p.name]
        pts.update(round(s + v, 9) for v in p.visits_h)
        pts.update(round(s + v - _RATE_BEFORE_H, 9) for v in p.visits_h)
        pts.add(round(s, 9))
        for arm in p.arms.values():
            for t in arm.treatment_times():
                pts.update(np.round(s + t + np.arange(0.0, _PEAK_WINDOW_H + 1e-9, 5 / 60), 9))
    return np.array(sorted(x for x in pts if 0 <= x <= end))


def _assessments(phase: Phase, arm_times: Sequence[float], start: float) -> list[Session]:
    """The phase's rating visits that are not on a treatment day: contacts with a rater (placebo share)."""
    contacts = [start + t for t in arm_times]
    out = []
    for v in phase.visits_h:
        t = start + v
        if all(abs(t - c) >= SAME_CONTACT_H for c in contacts):
            out.append(Session("assessment", at=f"{t!r} h"))
            contacts.append(t)
    return out


def _events(
    model: Any, states: Sequence[_Patient], t0: float, t1: float, last: bool = False
) -> tuple[list[Bolus], list[Infusion]]:
    """The events of [t0, t1) ([t0, t1] for the ``last`` segment, whose end is an output, right-continuous)
    for every patient from their own plans, grouped by what differs."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, st in enumerate(states):
        key = tuple(sorted((x for x in st.plan if _active(x, t0, t1 + 1e-9)), key=_order))
        groups.setdefault(key, []).append(i)
    n = len(states)
    boluses: list[Bolus] = []
    infusions: list[Infusion] = []
    for key, idx in groups.items():
        mask = np.zeros(n)
        mask[idx] = 1.0
        b, f = model.events(Regimen(list(key)))
        boluses.extend(
            Bolus(x.time, x.state, np.asarray(x.amount, float) * mask)
            for x in b
            if t0 <= x.time < t1 or (last and x.time == t1)
        )
        infusions.extend(
            Infusion(x.start, x.stop, x.state, np.asarray(x.rate, float) * mask)
            for x in f
            if x.stop > t0 and x.start < t1
        )
    return boluses, infusions


def _active(x: Dose | Session, t0: float, t1: float) -> bool:
    if isinstance(x, Session) and x.kind in (SessionKind.ORAL_ANTIDEPRESSANT, SessionKind.KETOGENIC_DIET):
        return x.at_h < t1  # lasting inputs, from their start on
    dur = (x.duration_h or 0.0) if isinstance(x, Dose) else x.duration_h
    return x.at_h < t1 and x.at_h + dur + _LOOKBACK_H > t0


def _order(x: Dose | Session) -> tuple[float, str]:
    return (x.at_h, repr(x))


def run_phased_chunk(chunk: PhasedChunk) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Simulate one chunk; return (endpoints, sessions, series) frames. Pure: same chunk, same numbers."""
    tr = chunk.trial
    n = len(chunk.patients)
    lead = tr.screening_h
    starts = {k: lead + v for k, v in tr.starts.items()}
    end = lead + tr.total_h
    by = {p.name: p for p in tr.phases}
    model = assemble(chunk.params, list(chunk.patients), tr.hypotheses, None, True)
    t = _grid(tr, starts, lead, end)
    visit_t = sorted({round(starts[p.name] + v, 9) for p in tr.phases for v in p.visits_h})
    vcol = {v: k for k, v in enumerate(visit_t)}
    draws = len(visit_t) + 2  # screening, baseline, visits
    scales = ["madrs", *sorted({c.scale for c in tr.criteria.values()} - {"madrs"})]
    # standard-normal rater noise per scale, from each patient's own stream for that scale
    z = {
        s: (np.stack([np.random.default_rng(substream(q, _RATING_STREAM if s == "madrs" else scale_stream(s)))
                      .normal(0.0, 1.0, draws) for q in chunk.noise_seeds])
            if tr.rating_noise else np.zeros((n, draws)))
        for s in scales
    }  # fmt: skip

    def rate(true: np.ndarray, k: int) -> dict[str, np.ndarray]:
        if not tr.rating_noise:
            return {s: true_score(s, true) for s in scales}
        return {s: rate_scale(s, true, z[s][:, k], chunk.params) for s in scales}

    ratings = {s: np.full((n, len(visit_t)), np.nan) for s in scales}
    madrs = np.full((n, t.size), np.nan)
    cadss = np.full((n, t.size), np.nan)
    sbp = np.full((n, t.size), np.nan)
    pre = model.observe(t[:1], model.initial()[:, :, None], only=("madrs",))["madrs"][:, 0]
    states = [_Patient() for _ in range(n)]
    session_rows: list[dict[str, Any]] = []
    decisions = sorted(
        {
            lead,
            *starts.values(),
            *(
                round(starts[p.name] + s, 9)
                for p in tr.phases
                for a in p.arms.values()
                if a.rule
                for s in a.treatment_times()
            ),
        }
    )
    if lead > 0:
        decisions = sorted({0.0, *decisions})
    baseline = {s: np.full(n, np.nan) for s in scales}
    screening = np.full(n, np.nan)
    included = np.ones(n, bool)
    y0 = model.initial()
    bounds = [*decisions, end]
    leaving = _Dropout(chunk, len(visit_t), lead, cadss) if tr.dropout else None
    for k in range(len(decisions)):
        t0, t1 = bounds[k], bounds[k + 1]
        if abs(t0 - lead) < 1e-9:  # the baseline rating, just before the first dose
            true0 = pre if lead == 0 else madrs[:, np.searchsorted(t, round(lead - _RATE_BEFORE_H, 9))]
            baseline = rate(true0, 1)
            if lead > 0:
                screening = rate(madrs[:, 0], 0)["madrs"]
            if tr.entry_minimum is not None:
                included = baseline["madrs"] >= tr.entry_minimum
                if lead > 0:
                    included &= screening >= tr.entry_minimum
        _phase_starts(t0, tr, starts, by, chunk, states, ratings, visit_t, baseline, included)
        _rule_decisions(
            t0, tr, starts, by, states, ratings, visit_t, baseline, t, cadss, sbp, session_rows, chunk.start
        )
        seg = (t >= t0 - 1e-9) & (t <= t1 + 1e-9)
        ts = t[seg]
        if ts.size < 2:
            continue
        b, f = _events(model, states, t0, t1, last=k == len(decisions) - 1)
        y = integrate(model, y0, b, f, ts, tr.solver)
        y0 = y[:, :, -1]
        obs = model.observe(ts, y, only=("madrs", "cadss", "sbp_change"))
        idx = np.nonzero(seg)[0]
        # right-continuous, as every ketasim output: a time shared with the next segment shows the state
        # after that segment's doses (ratings are read a minute before each visit: see _RATE_BEFORE_H)
        madrs[:, idx], cadss[:, idx], sbp[:, idx] = obs["madrs"], obs["cadss"], obs["sbp_change"]
        _rate_visits(t0, t1, tr, starts, by, states, t, madrs, ratings, visit_t, vcol, baseline, rate, leaving)
    for st in states:  # the rest are in their last phase when the trial ends
        if st.phase is not None:
            _leave(st, end, "completed")
    for row in session_rows:  # peaks of the last sessions
        if np.isnan(row["cadss_peak"]):
            row["cadss_peak"], row["sbp_peak_mmhg"] = _peaks(row["_i"], row["_t"], t, cadss, sbp)
    return _frames(chunk, states, ratings, visit_t, starts, baseline, screening, included, session_rows, t, madrs, lead)


def _phase_starts(
    t0: float,
    tr: PhasedTrial,
    starts: Mapping[str, float],
    by: Mapping[str, Phase],
    chunk: PhasedChunk,
    states: list[_Patient],
    ratings: Mapping[str, np.ndarray],
    visit_t: Sequence[float],
    baseline: Mapping[str, np.ndarray],
    included: np.ndarray,
) -> None:
    """Patients whose phase ends at ``t0`` take its transitions; the first phase starts everyone."""
    first = tr.phases[0]
    entering: list[tuple[int, str, str]] = []
    if abs(starts[first.name] - t0) < 1e-9:
        for i, st in enumerate(states):
            if st.phase is None and not st.path:
                if included[i]:
                    entering.append((i, first.name, ""))
                else:
                    _leave(st, t0, "not_eligible")
    for i, st in enumerate(states):
        if st.phase is None:
            continue
        ph = by[st.phase]
        if abs(starts[ph.name] + ph.duration_h - t0) > 1e-9:
            continue
        go, stratum = _transition(ph, tr, i, ratings, visit_t, t0, baseline)
        if go == EXIT:
            _leave(st, t0, f"exit:{ph.name}")
        elif go == END:
            _leave(st, t0, "completed")
        else:
            entering.append((i, go, stratum if stratum is not None else st.stratum))
    for i, name, stratum in entering:
        st = states[i]
        ph = by[name]
        if ph.randomisation is not None:
            arm = chunk.allocation[name][i]
        elif st.arm in ph.arms:
            arm = st.arm
        else:
            arm = next(iter(ph.arms))
        st.phase, st.arm, st.stratum = name, arm, stratum
        st.path.append((name, arm, stratum))
        pa = ph.arms[arm]
        s0 = starts[name]
        treat = set(pa.treatment_times())
        # a rating visit that ended the last phase and this phase's first session are one contact
        st.plan = [
            x
            for x in st.plan
            if not (
                isinstance(x, Session)
                and x.kind is SessionKind.ASSESSMENT
                and x.at_h >= t0 - 1e-9
                and any(abs(x.at_h - s0 - u) < SAME_CONTACT_H for u in treat)
            )
        ]
        items: list[Dose | Session] = [*pa.regimen.doses, *pa.regimen.sessions]
        for x in items:
            xs = x.shifted(s0)
            if pa.rule is not None and x.at_h in treat:
                st.pending.setdefault(round(s0 + x.at_h, 9), []).append(xs)
            else:
                st.plan.append(xs)
        st.plan.extend(_assessments(ph, sorted(treat), s0))
        st.level, st.cap, st.sessions_seen = (pa.rule.start_level if pa.rule else 0), 10**6, 0


def _transition(
    ph: Phase,
    tr: PhasedTrial,
    i: int,
    ratings: Mapping[str, np.ndarray],
    visit_t: Sequence[float],
    t0: float,
    baseline: Mapping[str, np.ndarray],
) -> tuple[str, str | None]:
    if not ph.then:
        names = [p.name for p in tr.phases]
        j = names.index(ph.name)
        return (names[j + 1] if j + 1 < len(names) else END), None
    for tr_ in ph.then:
        if tr_.when is None or _holds_now(tr.criteria[tr_.when], i, ratings, visit_t, t0, baseline):
            return tr_.go, tr_.stratum
    return EXIT, None


def _holds_now(
    c: Criterion,
    i: int,
    ratings: Mapping[str, np.ndarray],
    visit_t: Sequence[float],
    t0: float,
    baseline: Mapping[str, np.ndarray],
) -> bool:
    """Whether ``c`` holds at patient i's latest rating at or before ``t0``."""
    r, b = ratings[c.scale], baseline[c.scale]
    upto = [k for k, v in enumerate(visit_t) if v <= t0 + 1e-9 and not np.isnan(r[i, k])]
    if not upto:
        return False
    return bool(c.holds(r[i : i + 1, upto], b[i : i + 1])[0, -1])


def _peaks(i: int, ts: float, t: np.ndarray, cadss: np.ndarray, sbp: np.ndarray) -> tuple[float, float]:
    w = (t >= ts - 1e-9) & (t <= ts + _PEAK_WINDOW_H + 1e-9)
    c, s = cadss[i, w], sbp[i, w]
    if np.isnan(c).any():
        return np.nan, np.nan
    return float(c.max()), float(s.max())


def _rule_decisions(
    t0: float,
    tr: PhasedTrial,
    starts: Mapping[str, float],
    by: Mapping[str, Phase],
    states: list[_Patient],
    ratings: Mapping[str, np.ndarray],
    visit_t: Sequence[float],
    baseline: Mapping[str, np.ndarray],
    t: np.ndarray,
    cadss: np.ndarray,
    sbp: np.ndarray,
    rows: list[dict[str, Any]],
    offset: int,
) -> None:
    key = round(t0, 9)
    for i, st in enumerate(states):
        items = st.pending.pop(key, None)
        if items is None or st.phase is None:
            continue
        rule = by[st.phase].arms[st.arm].rule
        assert rule is not None
        prev = next((r for r in reversed(rows) if r["_i"] == i and r["given"]), None)
        if prev is not None and np.isnan(prev["cadss_peak"]):
            prev["cadss_peak"], prev["sbp_peak_mmhg"] = _peaks(i, prev["_t"], t, cadss, sbp)
        give = True
        if (
            rule.reduce_when is not None
            and rule.reduce_to_every_h is not None
            and _holds_now(tr.criteria[rule.reduce_when], i, ratings, visit_t, t0, baseline)
            and t0 - st.last_given < rule.reduce_to_every_h - SAME_CONTACT_H
        ):
            give = False
        amount = np.nan
        if give and rule.levels_mg:
            if st.sessions_seen > 0 and prev is not None:
                bad = (rule.max_cadss is not None and prev["cadss_peak"] > rule.max_cadss) or (
                    rule.max_sbp_rise is not None and prev["sbp_peak_mmhg"] > rule.max_sbp_rise
                )
                if bad:
                    st.level = max(st.level - 1, 0)
                    st.cap = st.level
                elif not (
                    rule.hold_when and _holds_now(tr.criteria[rule.hold_when], i, ratings, visit_t, t0, baseline)
                ):
                    st.level = min(st.level + 1, st.cap, len(rule.levels_mg) - 1)
            amount = rule.levels_mg[st.level]
            items = [Dose(**{**x.to_dict(), "amount": f"{amount!r} mg"}) if isinstance(x, Dose) else x for x in items]
        if give:
            st.plan.extend(items)
            st.last_given = t0
        st.sessions_seen += 1
        rows.append(
            {
                "_i": i,
                "_t": t0,
                "patient": offset + i,
                "phase": st.phase,
                "arm": st.arm,
                "given": give,
                "amount_mg": amount,
                "cadss_peak": np.nan,
                "sbp_peak_mmhg": np.nan,
            }
        )


def _rate_visits(
    t0: float,
    t1: float,
    tr: PhasedTrial,
    starts: Mapping[str, float],
    by: Mapping[str, Phase],
    states: list[_Patient],
    t: np.ndarray,
    madrs: np.ndarray,
    ratings: Mapping[str, np.ndarray],
    visit_t: Sequence[float],
    vcol: Mapping[float, int],
    baseline: Mapping[str, np.ndarray],
    rate: Callable[[np.ndarray, int], dict[str, np.ndarray]],
    leaving: _Dropout | None = None,
) -> None:
    """Rate every visit in (t0, t1] of each patient's phase, in time order, stopping at a stop event or
    when the patient leaves the trial before the visit (``leaving``: dropout)."""
    for v in visit_t:
        if not t0 + 1e-9 < v <= t1 + 1e-9:
            continue
        k = vcol[v]
        true = madrs[:, int(np.searchsorted(t, round(v - _RATE_BEFORE_H, 9)))]
        obs = rate(true, k + 2)  # every scale the criteria read
        for i, st in enumerate(states):
            if st.phase is None:
                continue
            ph = by[st.phase]
            if not starts[ph.name] + 1e-9 < v <= starts[ph.name] + ph.duration_h + 1e-9:
                continue
            if not any(abs(starts[ph.name] + w - v) < 1e-9 for w in ph.visits_h):
                continue
            if leaving is not None and leaving.leaves(i, st, k, v, t, ratings["madrs"], baseline["madrs"]):
                continue
            st.last_visit_h = v
            for name, r in ratings.items():
                r[i, k] = obs[name][i]
            if ph.stop_when is not None and _holds_now(tr.criteria[ph.stop_when], i, ratings, visit_t, v, baseline):
                st.events[ph.name] = (True, (v - starts[ph.name]) / 24)
                _leave(st, v, ph.stop_when)


class _Dropout:
    """Dropout between visits in a phased run: the hazards of ``trials.dropout`` over each interval from
    the patient's last rated visit (or the first dose) to the next, with uniforms drawn up front from each
    patient's own stream, so chunking and the other patients change nothing."""

    def __init__(self, chunk: PhasedChunk, n_visits: int, lead: float, cadss: np.ndarray) -> None:
        self.params = DropoutParams.from_parameters(chunk.params)
        self.u = np.stack([np.random.default_rng(substream(q, DROPOUT_STREAM)).random((2, n_visits))
                           for q in chunk.noise_seeds])  # fmt: skip
        self.lead, self.cadss = lead, cadss

    def leaves(self, i: int, st: _Patient, k: int, v: float, t: np.ndarray, madrs: np.ndarray,
               baseline: np.ndarray) -> bool:  # fmt: skip
        start = st.last_visit_h if np.isfinite(st.last_visit_h) else self.lead
        window = (t >= start - 1e-9) & (t < v - 1e-9)
        peak = float(np.nanmax(self.cadss[i, window], initial=0.0))
        rated = np.flatnonzero(np.isfinite(madrs[i, :k]))
        base = max(float(baseline[i]), 1.0)
        ratio = (madrs[i, rated[-1]] if rated.size else base) / base
        p_ae, p_loe = interval_probabilities(np.array(peak), np.array(ratio), (v - start) / 24.0, self.params)
        cause = draw_cause(self.u[i, 0, k], self.u[i, 1, k], float(p_ae), float(p_loe))
        if cause:
            _leave(st, start, f"dropout:{cause}")  # last observed at its last visit: censored there
        return bool(cause)


def _leave(st: _Patient, at: float, why: str) -> None:
    if st.phase is not None and st.phase not in st.events:
        st.events[st.phase] = (False, np.nan)
    st.phase, st.left_at_h, st.left_because = None, at, why
    st.pending.clear()


def _frames(
    chunk: PhasedChunk,
    states: list[_Patient],
    ratings: Mapping[str, np.ndarray],
    visit_t: Sequence[float],
    starts: Mapping[str, float],
    baseline: Mapping[str, np.ndarray],
    screening: np.ndarray,
    included: np.ndarray,
    rows: list[dict[str, Any]],
    t: np.ndarray,
    madrs: np.ndarray,
    lead: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    tr = chunk.trial
    out: list[dict[str, Any]] = []
    for i, st in enumerate(states):
        row: dict[str, Any] = {
            "patient": chunk.start + i,
            "madrs_baseline": baseline["madrs"][i],
            "included": included[i],
            "path": ">".join(p for p, _, _ in st.path),
            "stratum": st.stratum,
            "left_at_d": (st.left_at_h - lead) / 24,
            "left_because": st.left_because,
        }
        if lead:
            row["madrs_screening"] = screening[i]
        entered = {p: (a, s) for p, a, s in st.path}
        for p in tr.phases:
            a, stratum = entered.get(p.name, ("", ""))
            row[f"arm:{p.name}"] = a
            row[f"stratum:{p.name}"] = stratum
            if p.stop_when is not None:
                ev, days = st.events.get(p.name, (False, np.nan))
                if a and not ev:  # censored when follow-up in the phase ended without the event
                    left = max(min(st.left_at_h, starts[p.name] + p.duration_h), starts[p.name])
                    days = (left - starts[p.name]) / 24
                row[f"{p.stop_when}:{p.name}"] = bool(ev) if a else np.nan
                row[f"time_to_{p.stop_when}_d:{p.name}"] = days if a else np.nan
            for v in p.visits_h:
                k = visit_t.index(round(starts[p.name] + v, 9))
                for name, r in ratings.items():
                    row[f"{name}:{p.name}:{_label(v)}"] = r[i, k]
        out.append(row)
    sessions = pd.DataFrame(
        [{**{k: v for k, v in r.items() if not k.startswith("_")}, "time_h": r["_t"] - lead} for r in rows],
        columns=["patient", "phase", "arm", "given", "amount_mg", "cadss_peak", "sbp_peak_mmhg", "time_h"],
    )
    coarse = np.isclose(((t - lead) / tr.series_step_h) % 1, 0) & (t >= lead - 1e-9)
    rel = t[coarse] - lead
    phase_at = np.empty((len(states), rel.size), object)
    for i, st in enumerate(states):
        phase_at[i] = ""
        for name, a, _ in reversed(st.path):  # a time shared by two phases belongs to the earlier one
            s = starts[name] - lead
            e = min(s + next(q.duration_h for q in tr.phases if q.name == name), st.left_at_h - lead)
            phase_at[i, (rel >= s - 1e-9) & (rel <= e + 1e-9)] = f"{name}:{a}"
    series = pd.DataFrame(
        {
            "patient": np.repeat(chunk.start + np.arange(len(states)), rel.size),
            "time_h": np.tile(rel, len(states)),
            "madrs": madrs[:, coarse].ravel(),
            "phase_arm": phase_at.ravel(),
        }
    )
    return pd.DataFrame(out), sessions, series


def _label(hours: float) -> str:
    return f"{hours:g}h" if hours < 48 else f"{hours / 24:g}d"


@dataclass(frozen=True)
class PhasedResult:
    """Per-patient endpoints (one row each), the sessions given, and each patient's coarse MADRS series.

    ``endpoints`` columns: ``path`` (phases entered, ``a>b``), ``arm:PHASE``, ``stratum``, ``left_at_d`` and
    ``left_because`` (``completed``, ``exit:PHASE``, a stop event such as ``relapse``, ``not_eligible``),
    ``stratum:PHASE`` (the stratum a transition gave on entering it; ``stratum`` is the last one),
    ``madrs:PHASE:VISIT`` (rated), and for a phase with a stop event ``EVENT:PHASE`` and
    ``time_to_EVENT_d:PHASE`` (days from the phase start; censored where the event is False).
    """

    run_id: str
    seed: int
    trial: PhasedTrial
    endpoints: pd.DataFrame
    sessions: pd.DataFrame
    series: pd.DataFrame

    def flow(self) -> pd.DataFrame:
        """Patients per phase, arm and stratum: entered, stopped by the phase's event, left, completed."""
        ep = self.endpoints
        rows = []
        for p in self.trial.phases:
            col = f"arm:{p.name}"
            inn = ep[ep[col].astype(str) != ""]
            for (arm, stratum), g in inn.groupby([col, f"stratum:{p.name}"], sort=False):
                ev = int((g[f"{p.stop_when}:{p.name}"] == True).sum()) if p.stop_when else 0  # noqa: E712
                rows.append(
                    {
                        "phase": p.name,
                        "arm": arm,
                        "stratum": stratum,
                        "entered": len(g),
                        "event": ev,
                        "event_name": p.stop_when or "",
                    }
                )
        return pd.DataFrame(rows, columns=["phase", "arm", "stratum", "entered", "event", "event_name"])

    def time_to_event(self, phase: str, stratum: str | None = None) -> pd.DataFrame:
        """Per arm of ``phase``: patients, events, the proportion with the event (95% CI), the Kaplan-Meier
        median (days), and the hazard ratio against the phase's control arm (Cox, 95% CI)."""
        ph = next((p for p in self.trial.phases if p.name == phase), None)
        if ph is None:
            raise InputError("phase", f"unknown phase; phases: {', '.join(p.name for p in self.trial.phases)}")
        if ph.stop_when is None:
            raise InputError("phase", f"phase {phase!r} has no stop event (stop_when)")
        ep = self.endpoints
        g = ep[ep[f"arm:{phase}"].astype(str) != ""]
        if stratum is not None:
            g = g[g[f"stratum:{phase}"] == stratum]
        ev, tt = f"{ph.stop_when}:{phase}", f"time_to_{ph.stop_when}_d:{phase}"
        ctrl = g[g[f"arm:{phase}"] == ph.control_arm]
        rows = []
        for arm, a in g.groupby(f"arm:{phase}", sort=False):
            e = a[ev].astype(bool).to_numpy()
            km = kaplan_meier_median(a[tt].to_numpy(float), e)
            prop = proportion_ci(int(e.sum()), len(a))
            row = {
                "arm": arm,
                "n": len(a),
                "events": int(e.sum()),
                "proportion": prop["estimate"],
                "proportion_lower": prop["lower"],
                "proportion_upper": prop["upper"],
                "median_days": km["median"],
                "median_lower": km["lower"],
                "median_upper": km["upper"],
                "hr": np.nan,
                "hr_lower": np.nan,
                "hr_upper": np.nan,
            }
            if arm != ph.control_arm and len(ctrl) and (e.any() or ctrl[ev].astype(bool).any()):
                both = pd.concat([ctrl, a])
                hr = hazard_ratio(
                    both[tt].to_numpy(float),
                    both[ev].astype(bool).to_numpy(),
                    (both[f"arm:{phase}"] == arm).to_numpy(int),
                )
                row.update(hr=hr["estimate"], hr_lower=hr["lower"], hr_upper=hr["upper"])
            rows.append(row)
        return pd.DataFrame(rows)

    def event_phases(self) -> list[Phase]:
        return [p for p in self.trial.phases if p.stop_when is not None]

    def strata(self, phase: str) -> list[str]:
        col = f"stratum:{phase}"
        ep = self.endpoints
        return [str(s) for s in dict.fromkeys(ep.loc[ep[f"arm:{phase}"].astype(str) != "", col])]

    def visit_outcomes(self, remission_at_most: float = 12.0) -> pd.DataFrame:
        """Per phase, arm and visit, over the patients rated there: ``n``, the mean rated MADRS change from
        baseline with its 95% CI, and the shares responding (>= 50% fall) and remitting (MADRS <=
        ``remission_at_most``) with Wilson 95% CIs."""
        ep = self.endpoints
        base = ep["madrs_baseline"].to_numpy(float)
        rows = []
        for p in self.trial.phases:
            arm_col = ep[f"arm:{p.name}"].astype(str)
            for col in (c for c in ep.columns if c.startswith(f"madrs:{p.name}:")):
                x = ep[col].to_numpy(float)
                for arm in dict.fromkeys(arm_col[arm_col != ""]):
                    m = (arm_col == arm).to_numpy() & np.isfinite(x)
                    ch, n = mean_ci(x[m] - base[m]), int(m.sum())
                    resp = proportion_ci(int((x[m] <= 0.5 * base[m]).sum()), n)
                    rem = proportion_ci(int((x[m] <= remission_at_most).sum()), n)
                    rows.append({"phase": p.name, "arm": arm, "visit": col.rsplit(":", 1)[1], "n": n,
                                 "madrs_change": ch["estimate"], "change_lower": ch["lower"],
                                 "change_upper": ch["upper"], "response": resp["estimate"],
                                 "response_lower": resp["lower"], "response_upper": resp["upper"],
                                 "remission": rem["estimate"], "remission_lower": rem["lower"],
                                 "remission_upper": rem["upper"]})  # fmt: skip
        return pd.DataFrame(rows)

    def dose_levels(self) -> pd.DataFrame:
        """Per phase, arm and session number (1 = the first of the phase), over the patients given that
        session: ``n`` and the share at each dose ``amount_mg`` (a titration rule's distribution)."""
        s = self.sessions[self.sessions["given"].astype(bool)].sort_values(["patient", "time_h"])
        if s.empty:
            return pd.DataFrame(columns=["phase", "arm", "session", "amount_mg", "n", "share"])
        s = s.assign(session=s.groupby(["patient", "phase"]).cumcount() + 1)
        counts = s.groupby(["phase", "arm", "session", "amount_mg"], sort=False).size().rename("count").reset_index()
        n = counts.groupby(["phase", "arm", "session"], sort=False)["count"].transform("sum")
        out = counts.assign(n=n, share=counts["count"] / n).drop(columns="count")
        order = {p.name: i for i, p in enumerate(self.trial.phases)}
        return out.sort_values(["phase", "arm", "session", "amount_mg"], key=lambda c: c.map(order) if c.name == "phase"
                               else c, ignore_index=True)  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """``{"run_id", "seed", "flow": [...], "time_to_event": {PHASE: {STRATUM or "all": [per arm]}},
        "visit_outcomes": [...], "dose_levels": [...]}``."""
        tte: dict[str, dict[str, Any]] = {}
        for p in self.event_phases():
            tte[p.name] = {"all": self.time_to_event(p.name).to_dict("records")}
            for s in self.strata(p.name):
                if s:
                    tte[p.name][s] = self.time_to_event(p.name, s).to_dict("records")
        return jsonable({"run_id": self.run_id, "seed": self.seed, "flow": self.flow().to_dict("records"),
                         "left_because": self.endpoints["left_because"].value_counts().to_dict(),
                         "time_to_event": tte, "visit_outcomes": self.visit_outcomes().to_dict("records"),
                         "dose_levels": self.dose_levels().to_dict("records")})  # fmt: skip

    def plot(self, path: str | Path | None = None) -> Any:
        """Left: mean MADRS (rated-free, the model's score) over time per phase and arm, with the patients
        in it; right: Kaplan-Meier curves of each stop event per arm and stratum. Returns the Figure."""
        from ketasim.plotting import finish_figure, pyplot

        plt = pyplot()
        phases = self.event_phases()
        fig, axes = plt.subplots(1, 1 + len(phases), figsize=(6.5 * (1 + len(phases)), 5.5), squeeze=False)
        ax = axes[0, 0]
        s = self.series[self.series["phase_arm"] != ""]
        for name, g in s.groupby("phase_arm", sort=False):
            m = g.groupby("time_h")["madrs"].agg(["mean", "size"])
            ax.plot(m.index / 24, m["mean"], lw=1.6, label=f"{name} (n = {m['size'].max()})")
        ax.set(xlabel="days after the first dose", ylabel="MADRS (model, noise-free)", ylim=(0, 45))
        ax.set_title("mean MADRS of the patients in each phase and arm")
        ax.legend(fontsize=8)
        for k, p in enumerate(phases, start=1):
            ax = axes[0, k]
            ep = self.endpoints[self.endpoints[f"arm:{p.name}"].astype(str) != ""]
            ev, tt = f"{p.stop_when}:{p.name}", f"time_to_{p.stop_when}_d:{p.name}"
            for (arm, stratum), g in ep.groupby([f"arm:{p.name}", f"stratum:{p.name}"], sort=False):
                x, y = kaplan_meier_curve(g[tt].to_numpy(float), g[ev].astype(bool).to_numpy())
                ax.step(x, y, where="post", label=f"{arm}{f' ({stratum})' if stratum else ''}, n = {len(g)}")
            ax.set(xlabel=f"days after the start of {p.name}", ylabel=f"free of {p.stop_when}", ylim=(0, 1.02))
            ax.set_title(f"{p.name}: time to {p.stop_when} (Kaplan-Meier)")
            ax.legend(fontsize=8)
        return finish_figure(fig, f"ketasim phased trial {self.run_id} (seed {self.seed})", path)
