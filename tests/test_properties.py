"""Property-based tests of the public API's contract (issue 15): for any input, either a clean
``InputError`` naming its field (a ``KetasimError``, never another exception type from inside the
package) or a plausible result.

Plausible: concentrations >= 0, MADRS within 0-60, its items within 0-6, CADSS >= 0, NMDA occupancy
within 0-1, every output finite; the summary consistent with the series it summarises (Cmax at least
the series' maximum, Tmax after the first dose and inside the run or NaN, MADRS at 24 h read off the
series or NaN beyond the run); mass balance (dose = body + eliminated, 1e-9) for any ketamine and
esketamine regimen; a quantity string equal to its number times its unit's factor, or refused; a
regimen shifted, repeated or listed keeping every dose; a randomisation giving every patient an arm.

Inputs: random strings (unicode included), odd numbers (NaN, infinities, -0, 5e-324, 10**400, decimal
commas), values of random types in place of every argument of the public entry points, and random
regimens and patients inside and outside their ranges.

Reproducible and fast: ``derandomize=True`` (the same examples on every run and machine, no example
database), short runs on coarse grids. Examples per test (``max_examples``, all of them run): quantity
strings 400, quantities of any type 300, doses 200, patients 200, regimen operations 200, a value of any
type in any argument of 18 entry points 500, randomisations 150, simulations 250 (about half of them
simulated, the rest refused), mass balance 150: 2,350 examples in all, about 45 s on 2 cores.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

import ketasim as ks
from ketasim.dosing import Drug
from ketasim.engine import integrate
from ketasim.errors import InputError, KetasimError
from ketasim.model import assemble, pk
from ketasim.parameters import default_parameters
from ketasim.units import parse_quantity

MAX_TIME_H = 24.0 * 366 * 2
MW_KETAMINE = 237.73  # g/mol (racemic ketamine and esketamine), as parameters/pk.toml


def _settings(n: int) -> settings:
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate, Phase.shrink],  # (explaining a failure takes minutes)
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip


def _clean_refusal(exc: BaseException) -> None:
    """The contract for a refusal: an InputError whose text starts with the field it names."""
    assert isinstance(exc, InputError), f"{type(exc).__name__} escaped: {exc}"
    assert exc.field and str(exc).startswith(f"{exc.field}:"), str(exc)
    assert exc.message


def _outcome(call):
    """``call()``'s result, or None after checking that it was refused cleanly."""
    try:
        out = call()
    except KetasimError as exc:
        _clean_refusal(exc)
        event(f"refused: {exc.field.split('[')[0]}")
        return None
    event("accepted")
    return out


# ---------------------------------------------------------------- strategies

# odd numbers: the floats hypothesis likes (NaN, infinities, -0.0, 5e-324, 1.7e308) and huge integers
odd_floats = st.floats(allow_nan=True, allow_infinity=True)
odd_numbers = st.one_of(odd_floats, st.integers(min_value=-(10**6), max_value=10**6),
                        st.sampled_from([10**400, -(10**400), 2**63, -0.0, 5e-324]))  # fmt: skip


@st.composite
def number_texts(draw):
    """Decimal numbers written every way a user might, valid and not."""
    x = draw(odd_numbers)
    form = draw(st.sampled_from(["repr", "fixed", "exp", "comma", "underscore", "plus", "lead_dot"]))
    if isinstance(x, int):
        return {"comma": f"{x:,}", "underscore": f"{x:_}", "plus": f"+{x}"}.get(form, str(x))
    return {
        "repr": repr(x),
        "fixed": f"{x:.3f}",
        "exp": f"{x:e}",
        "comma": f"{x:.2f}".replace(".", ","),  # a decimal comma
        "underscore": f"{x:_.1f}",
        "plus": f"+{x!r}",
        "lead_dot": f"{x:.3f}".replace("0.", ".", 1),
    }[form]


#: unit -> (dimension target, factor to the target)
UNIT_FACTORS = {
    "h": ("h", 1.0), "hour": ("h", 1.0), "hours": ("h", 1.0), "min": ("h", 1 / 60), "s": ("h", 1 / 3600),
    "d": ("h", 24.0), "day": ("h", 24.0), "week": ("h", 168.0),
    "mg": ("mg", 1.0), "g": ("mg", 1000.0), "ug": ("mg", 1e-3), "µg": ("mg", 1e-3), "μg": ("mg", 1e-3),
    "kg": ("kg", 1.0), "lb": ("kg", 0.45359237),
    "mg/kg": ("mg/kg", 1.0), "ug/kg": ("mg/kg", 1e-3), "mg/kg/h": ("mg/kg/h", 1.0), "mg/kg/min": ("mg/kg/h", 60.0),
    "ng/mL": ("ng/mL", 1.0), "ug/mL": ("ng/mL", 1000.0), "ng/ml": ("ng/mL", 1.0),
}  # fmt: skip
JUNK_UNITS = ["", "mg mg", "🙂", "furlong per fortnight", "**", "^2", "10**10**8", "mg/", "/kg", "(mg)", "mg+kg",
              "m^10", "bananas", "mg kg", "e", "ſ", "h h", "1", "d 3"]  # fmt: skip
TAILS = ["", "", "", " 3", " mg", "🙂", ",0", "**2", " 5 5", "x"]
SPACES = ["", " ", "  ", "\t", "\u00a0", "\u2003"]
DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# ---------------------------------------------------------------- quantities


@_settings(400)
@given(number=number_texts(), space=st.sampled_from(SPACES),
       unit=st.one_of(st.sampled_from(sorted(UNIT_FACTORS)), st.sampled_from(JUNK_UNITS), st.text(max_size=6)),
       tail=st.sampled_from(TAILS), pad=st.sampled_from(SPACES))  # fmt: skip
def test_a_quantity_string_is_its_number_times_its_unit_or_refused(number, space, unit, tail, pad):
    text = f"{pad}{number}{space}{unit}{tail}{pad}"
    if DECIMAL.fullmatch(text.strip()):  # the "unit" only added digits ("0.0" + "0" is the number "0.00")
        number, space, unit, tail = text.strip(), "", "", ""
    unit_part = f"{unit}{tail}".strip()
    target, factor = UNIT_FACTORS.get(unit_part, ("mg", 1.0 if unit_part == "" else None))
    got = _outcome(lambda: parse_quantity(text, "amount", target))
    decimal = DECIMAL.fullmatch(number) is not None
    if got is not None and factor is None and decimal:
        # a unit outside the table that pint knows (t, oz, grain, ...): one name, read as pint reads it
        assert re.fullmatch(r"[A-Za-zµμ%_]+", unit_part), f"{text!r} was read as {got}"
        factor = float(ks.units.Q_(1.0, unit_part).to(target).magnitude)
    well_formed = decimal and factor is not None and len(text) <= 100 and not re.search(r"\s", unit_part)
    if got is None:  # refused: malformed, or a number that is not finite in the target unit
        assert not well_formed or not math.isfinite(float(number) * factor), text
        return
    assert well_formed, f"{text!r} was read as {got}"
    assert got == pytest.approx(float(number) * factor, rel=1e-12, abs=1e-300), text
    assert math.isfinite(got)


junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-1000, max_value=1000), odd_numbers, st.text(max_size=12),
    st.binary(max_size=4), st.lists(st.integers(0, 3), max_size=3), st.tuples(st.text(max_size=3)),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=2), st.complex_numbers(max_magnitude=10),
    st.fractions(max_denominator=10), st.decimals(allow_nan=True, places=2), st.just(object()),
    st.sampled_from([np.float64("nan"), np.int64(3), np.array([1.0, 2.0]), np.array(5.0), np.bool_(True),
                     ks.units.Q_(5.0, "mg"), ks.units.Q_(np.array([1.0, 2.0]), "h"), ks.Patient, int, ks]),
)  # fmt: skip


@_settings(300)
@given(value=junk, unit=st.sampled_from(["h", "mg", "kg", "year", "mg/h", "ng/mL"]), required=st.booleans())
def test_a_quantity_of_any_type_is_a_finite_number_or_refused(value, unit, required):
    got = _outcome(lambda: parse_quantity(value, "x", unit, unit_required=required, minimum=0.0))
    if got is not None:
        assert isinstance(got, float) and math.isfinite(got) and got >= 0.0
        assert str(got) != "-0.0"
        assert not (required and isinstance(value, int | float | Fraction) and not isinstance(value, bool))


# ---------------------------------------------------------------- doses, sessions, patients, regimens


def good(unit: str, lo: float, hi: float):
    """Quantities in ``unit`` within lo..hi, written as users write them."""
    fmt = st.sampled_from(["{x!r} {u}", "{x!r}{u}", "{x:.4g} {u}", " {x!r}  {u} "])
    return st.builds(lambda x, f: f.format(x=x, u=unit), st.floats(lo, hi, allow_nan=False), fmt)


def bad(unit: str, hi: float):
    """Quantities in ``unit`` outside their range, odd numbers, malformed strings, other types."""
    outside = st.sampled_from(
        [
            f"-1 {unit}",
            f"0 {unit}",
            f"{hi * 1e6!r} {unit}",
            f"1e999 {unit}",
            f"nan {unit}",
            f"-0 {unit}",
            f"5e-324 {unit}",
            f"{hi} {unit} 3",
            f"{hi / 2:.2f} {unit}".replace(".", ","),
        ]
    )
    return st.one_of(outside, number_texts().map(lambda t: f"{t} {unit}"), st.text(max_size=10), junk)  # fmt: skip


def mostly(good_values, bad_values):
    """Three draws in four from ``good_values`` (``st.one_of`` would weigh every branch of both alike)."""
    return st.integers(0, 3).flatmap(lambda i: bad_values if i == 0 else good_values)


def quantity(unit: str, lo: float, hi: float):
    """Mostly good quantities, some bad."""
    return mostly(good(unit, lo, hi), bad(unit, hi))


@st.composite
def one_bad(draw, fields: dict, bad_fields: dict, clean: int = 1):
    """Keyword arguments drawn from ``fields``, at most one of them from ``bad_fields`` (in 1 case out of
    ``clean + 1``)."""
    which = draw(st.sampled_from([None] * max(clean * len(bad_fields), 1) + sorted(bad_fields)))
    return {k: draw(bad_fields[k] if k == which else v) for k, v in fields.items()}


COMBOS = [("ketamine", "iv"), ("ketamine", "im"), ("ketamine", "oral"), ("ketamine", "intranasal"),
          ("esketamine", "iv"), ("esketamine", "im"), ("esketamine", "oral"), ("esketamine", "intranasal"),
          ("psilocybin", "oral"), ("escitalopram", "oral"), ("citalopram", "oral"),
          ("Racemic", "IV"), (" s-ketamine", "nasal"), ("ketamine", "po")]  # fmt: skip


@st.composite
def dose_args(draw, ketamine_only: bool = False, max_at_h: float = MAX_TIME_H, bad_ok: bool = True):
    """The arguments of one Dose, coherent (drug, route, amount, duration), at most one of them bad."""
    combos = [c for c in COMBOS if not ketamine_only or "ket" in c[0]]
    drug, route = draw(st.sampled_from(combos))
    if (drug == "esketamine" and route == "intranasal") or route == "nasal":
        amount = st.sampled_from(["28 mg", "56 mg", "84 mg", 56])
    else:
        amount = st.one_of(good("mg", 1e-3, 2000), good("mg/kg", 1e-3, 20), st.floats(1e-3, 2000))
    iv = route.lower() == "iv"
    fields = {"drug": st.just(drug), "route": st.just(route), "amount": amount,
              "duration": st.one_of(st.none(), good("min", 1e-4, 24 * 60)) if iv else st.none(),
              "at": good("h", 0, max_at_h)}  # fmt: skip
    bad_fields = {"drug": st.one_of(junk, st.sampled_from(["ketamin", "lsd", ""])),
                  "route": st.one_of(junk, st.sampled_from(["rectal", "i.v."])), "amount": bad("mg", 2000),
                  "duration": bad("min", 24 * 60) if iv else good("min", 1, 60), "at": bad("h", MAX_TIME_H)}  # fmt: skip
    return draw(one_bad(fields, bad_fields if bad_ok else {}))


@_settings(200)
@given(args=dose_args())
def test_a_dose_is_valid_or_refused(args):
    dose = _outcome(lambda: ks.Dose(**args))
    if dose is None:
        return
    assert 0 < dose.amount <= (20 if dose.per_kg else 2000) and math.isfinite(dose.amount)
    assert 0.0 <= dose.at_h <= MAX_TIME_H and str(dose.at_h) != "-0.0"
    assert dose.duration_h is None or 0 < dose.duration_h <= 24 * 14
    assert ks.Dose(**dose.to_dict()) == dose  # a dose round-trips through its description


PATIENT = {
    "weight": good("kg", 20, 300), "age": st.one_of(st.floats(18, 100), good("year", 18, 100)),
    "madrs_baseline": st.floats(0, 60), "stress_load": st.one_of(st.floats(0, 3), st.lists(
        st.tuples(good("d", 0, 30), st.floats(0, 3)), min_size=1, max_size=3)),
    "symptom_profile": st.floats(-1, 1), "sex": st.sampled_from(["male", "Female", " female "]),
    "random_effects": st.one_of(st.none(), st.dictionaries(st.sampled_from(["ke0", "r_cl", "esk_vc", "cadss_ec50"]),
                                                           st.floats(1e-3, 1e3), max_size=2)),
    "psychotherapy": st.lists(good("d", 0, 30), max_size=3), "noise_seed": st.one_of(st.none(), st.integers(0, 2**63 - 1)),
}  # fmt: skip
BAD_PATIENT = {
    "weight": bad("kg", 300), "age": st.one_of(st.floats(-10, 150), bad("year", 100)),
    "madrs_baseline": st.one_of(st.floats(-5, 70), junk), "stress_load": st.one_of(
        st.floats(-1, 4), junk, st.lists(st.tuples(bad("d", 30), st.floats(-1, 4)), min_size=1, max_size=2)),
    "symptom_profile": st.one_of(st.floats(-2, 2), junk), "sex": junk,
    "random_effects": st.one_of(junk, st.dictionaries(st.sampled_from(["ke0", 7]), odd_numbers, min_size=1, max_size=2)),
    "psychotherapy": st.one_of(st.lists(bad("d", 30), min_size=1, max_size=2), junk),
    "noise_seed": st.one_of(junk, st.sampled_from([-1, 2**63, 1.5])),
}  # fmt: skip


@_settings(200)
@given(args=one_bad(PATIENT, BAD_PATIENT))
def test_a_patient_is_valid_or_refused(args):
    p = _outcome(lambda: ks.Patient(**args))
    if p is None:
        return
    assert 20 <= p.weight_kg <= 300 and 18 <= p.age_y <= 100 and 0 <= p.madrs_baseline <= 60
    assert all(0 <= t <= MAX_TIME_H and 0 <= level <= 3 for t, level in p.stress_steps)
    assert -1 <= p.symptom_profile <= 1 and p.sex in ("male", "female")
    assert all(isinstance(k, str) and 1e-3 <= v <= 1e3 for k, v in p.random_effects.items())
    assert all(0 <= t <= MAX_TIME_H for t in p.psychotherapy_h)
    assert p.noise_seed is None or 0 <= p.noise_seed < 2**63


BASE_DOSE = ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at="1 h")


@_settings(200)
@given(op=st.sampled_from(["shifted", "repeat", "at_times", "stepped"]),
       by=mostly(good("h", -1, 100), bad("h", 1e5)), every=mostly(good("d", 1e-3, 30), bad("d", 1e3)),
       count=mostly(st.integers(1, 20), st.one_of(st.integers(1001, 1200), st.integers(-2, 0), junk)),
       times=mostly(st.lists(good("h", 0, 24 * 700), max_size=4),
                    st.one_of(st.lists(bad("h", 1e5), min_size=1, max_size=2), junk)),
       steps=mostly(st.lists(st.tuples(good("mg/kg/h", 1e-3, 3), good("min", 1e-3, 600)), min_size=1, max_size=3),
                    st.one_of(st.lists(st.tuples(bad("mg/kg/h", 3), bad("min", 600)), max_size=2),
                              st.lists(junk, max_size=2), junk)))  # fmt: skip
def test_regimen_operations_keep_every_dose_or_refuse(op, by, every, count, times, steps):
    base = ks.Regimen([BASE_DOSE, BASE_DOSE.shifted(47.0), ks.Session("saline", at="3 h")])
    call = {
        "shifted": lambda: base.shifted(by),
        "repeat": lambda: ks.Regimen.repeat(BASE_DOSE, every=every, count=count),
        "at_times": lambda: ks.Regimen.at_times(BASE_DOSE, times),
        "stepped": lambda: ks.Regimen.stepped_infusion("ketamine", steps),
    }[op]
    reg = _outcome(call)
    if reg is None:
        return
    n_expected = {"shifted": 2, "repeat": count, "at_times": len(times) if isinstance(times, list) else -1,
                  "stepped": len(steps) if isinstance(steps, list) else -1}[op]  # fmt: skip
    assert len(reg) == n_expected  # nothing dropped
    assert all(0.0 <= d.at_h <= MAX_TIME_H for d in reg) and all(0.0 <= s.at_h <= MAX_TIME_H for s in reg.sessions)
    if op == "shifted":
        assert len(reg.sessions) == 1
        assert [d.at_h for d in reg] == pytest.approx([d.at_h + parse_quantity(by, "by", "h") for d in base])
    if op == "stepped":  # consecutive steps, each an infusion
        assert all(d.duration_h and d.duration_h > 0 for d in reg)
        assert all(
            a.at_h + a.duration_h == pytest.approx(b.at_h) for a, b in zip(reg.doses, reg.doses[1:], strict=False)
        )


# ---------------------------------------------------------------- wrong types anywhere

SHORT = ks.Regimen([ks.Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")])
POP = ks.Population.sample(3, seed=1, cohort="healthy")
ENTRY_POINTS = {
    "Dose": (ks.Dose, {"drug": "ketamine", "route": "iv", "amount": "35 mg", "duration": "40 min", "at": "0 h"}),
    "Session": (ks.Session, {"kind": "midazolam", "at": "1 h", "duration": "40 min", "intensity": 1.0}),
    "Patient": (ks.Patient, {"weight": "70 kg", "sex": "male", "age": 45, "cyp2b6": "*1/*1", "ancestry": "asian",
                             "madrs_baseline": 30, "stress_load": 1.0, "supportive_environment": 0.5,
                             "psychotherapy": ["2 d"], "alcohol_use_disorder": False, "family_history_alcohol": True,
                             "symptom_profile": 0.2, "biotype": "synaptic", "random_effects": {"ke0": 1.1},
                             "noise_seed": 3}),
    "Regimen": (ks.Regimen, {"doses": [BASE_DOSE], "name": "x", "source": "y", "description": "z"}),
    "Regimen.repeat": (ks.Regimen.repeat, {"dose": BASE_DOSE, "every": "2 d", "count": 3}),
    "Regimen.daily": (ks.Regimen.daily, {"dose": BASE_DOSE, "days": 3}),
    "Regimen.at_times": (ks.Regimen.at_times, {"dose": BASE_DOSE, "times": ["0 h", "3 d"]}),
    "Regimen.stepped_infusion": (ks.Regimen.stepped_infusion, {"drug": "ketamine", "at": "0 h",
                                                               "steps": [("0.4 mg/kg/h", "15 min")]}),
    "Regimen.shifted": (SHORT.shifted, {"by": "1 d"}),
    "Regimen.as_control": (SHORT.as_control, {"kind": "saline"}),
    "protocols.get": (ks.protocols.get, {"name": "zarate-2006-iv"}),
    "Hypotheses": (ks.Hypotheses, {"disinhibition": True, "rest_block": False, "ssri_trkb": False}),
    "SolverOptions": (ks.SolverOptions, {"method": "auto", "rtol": 1e-6, "atol": 1e-12, "max_step_h": 6.0}),
    "Endpoints.make": (ks.Endpoints.make, {"visits": ["24 h"], "remission_threshold": 12, "relapse_from": "1 d",
                                           "rating_noise": False, "sbp_threshold": 30.0, "screening": "1 d",
                                           "entry_minimum": 20}),
    "Population.sample": (ks.Population.sample, {"n": 2, "seed": 1, "cohort": "healthy"}),
    "Trial": (ks.Trial, {"arms": {"k": SHORT, "s": SHORT.as_control("saline")}, "population": POP,
                         "duration": "1 d", "randomisation": {"k": 2, "s": 1}, "endpoints": ks.Endpoints(),
                         "control": "s", "hypotheses": ks.Hypotheses(), "params": None, "series_step": "6 h",
                         "solver": None}),
    "simulate": (ks.simulate, {"regimen": SHORT, "patient": ks.Patient(), "duration": "4 h", "output_step": "1 h",
                               "hypotheses": None, "solver": None, "outputs": ["madrs", "ketamine_plasma"],
                               "fluctuation": False, "layers": None}),
    "compare": (ks.compare, {"regimen": SHORT, "hypotheses": {"a": ks.Hypotheses()}, "duration": "4 h",
                             "output_step": "1 h"}),
}  # fmt: skip


@st.composite
def one_wrong_argument(draw):
    name = draw(st.sampled_from(sorted(ENTRY_POINTS)))
    fn, kwargs = ENTRY_POINTS[name]
    key = draw(st.sampled_from(sorted(kwargs)))
    return name, fn, {**kwargs, key: draw(junk)}


@_settings(500)
@given(case=one_wrong_argument())
def test_a_value_of_any_type_in_any_argument_is_refused_cleanly_or_accepted(case):
    _, fn, kwargs = case
    try:
        out = fn(**kwargs)
    except KetasimError as exc:
        _clean_refusal(exc)
        return
    if isinstance(out, ks.Result):
        _check_result(out, float(ks.units.parse_quantity(kwargs.get("duration", "4 h"), "d", "h")))


# ---------------------------------------------------------------- trials


GOOD_RATIO = st.one_of(st.none(), st.fixed_dictionaries({"k": st.integers(1, 1000), "s": st.integers(1, 1000)}))
BAD_RATIO = st.one_of(junk, st.dictionaries(st.sampled_from(["k", "s", "x"]), st.one_of(
    st.integers(-2, 1200), st.sampled_from([10**9, 2.0, "1"]), junk), max_size=3))  # fmt: skip


@_settings(150)
@given(
    ratio=mostly(GOOD_RATIO, BAD_RATIO), seed=mostly(st.integers(0, 2**63 - 1), st.one_of(st.integers(-2, 2**64), junk))
)
def test_a_randomisation_gives_every_patient_an_arm_or_is_refused(ratio, seed):
    arms = {"k": SHORT, "s": SHORT.as_control("saline")}
    trial = _outcome(lambda: ks.Trial(arms, POP, duration="1 d", randomisation=ratio))
    if trial is None:
        return
    assigned = _outcome(lambda: trial.assignment(seed))
    if assigned is None:
        return
    assert len(assigned) == len(POP) and set(assigned) <= set(arms)
    assert isinstance(seed, int) and 0 <= seed < 2**63


# ---------------------------------------------------------------- simulations


@st.composite
def regimens(draw, ketamine_only: bool = False):
    """One to three doses and sessions within the first 60 h; in one of four regimens one argument is bad."""
    n = draw(st.integers(1, 3))
    spoilt = draw(st.sampled_from([None, None, None, *range(n)]))
    items = []
    for i in range(n):
        if draw(st.integers(0, 4)) == 0:
            k = draw(st.sampled_from(["midazolam", "saline", "exercise", "psychotherapy", "assessment"]))
            at, u = draw(good("h", 0, 60)), draw(good("min", 1e-3, 120) if i != spoilt else bad("min", 24 * 60))
            items.append(lambda k=k, at=at, u=u: ks.Session(k, at=at, duration=u))
        else:
            args = draw(dose_args(ketamine_only=ketamine_only, max_at_h=60, bad_ok=i == spoilt))
            items.append(lambda args=args: ks.Dose(**args))
    return items


@_settings(250)
@given(items=regimens(), patient=one_bad(PATIENT, {"weight": bad("kg", 300)}, clean=4),
       run=one_bad({"duration": good("h", 0.5, 80), "output_step": st.one_of(st.none(), st.sampled_from(
                        ["30 min", "1 h", "6 h", "0.5 d"])), "outputs": st.one_of(st.none(), st.just(["ketamine_plasma", "madrs"]))},
                   {"duration": bad("h", 80), "output_step": bad("h", 80), "outputs": junk}, clean=3))  # fmt: skip
def test_a_simulation_is_plausible_and_consistent_with_its_summary_or_refused(items, patient, run):
    def simulate():
        return ks.simulate(ks.Regimen([make() for make in items]), ks.Patient(**patient), **run)

    res = _outcome(simulate)
    if res is not None:
        _check_result(res, parse_quantity(run["duration"], "duration", "h"))


def _check_result(res: ks.Result, duration_h: float) -> None:
    ds = res.dataset
    t = ds["time"].values
    assert t[0] == 0.0 and t[-1] == pytest.approx(duration_h, abs=1e-9) and np.all(np.diff(t) > 0)
    for name, var in ds.data_vars.items():
        assert np.all(np.isfinite(var.values)), name
        if name.endswith(("_plasma", "_arterial")) or name in ("cadss", "bhb_mm", "sedation"):
            assert var.values.min() >= -1e-9 * (1 + np.abs(var.values).max()), name
    bounds = {"madrs": (0, 60), "madrs_pre_dose": (0, 60), "madrs_items": (0, 6), "nmda_occupancy": (0, 1)}
    for name, (lo, hi) in bounds.items():
        if name in ds:
            assert lo - 1e-9 <= ds[name].values.min() and ds[name].values.max() <= hi + 1e-9, name
    s = res.summary()
    t0 = ds.attrs["first_dose_h"]
    if "ketamine_plasma" in ds:
        series_max = ds["ketamine_plasma"].values.max()
        assert s["cmax_ng_ml"] >= series_max - 1e-9 * (1 + series_max)  # taken on a finer grid
        assert 0 <= s["auc_ng_h_ml"] <= s["cmax_ng_ml"] * duration_h * (1 + 1e-9) + 1e-12
        if s["cmax_ng_ml"] > 0 and t0 <= t[-1]:
            assert 0 <= s["tmax_h"] <= t[-1] - t0 + 1e-9
        else:
            assert math.isnan(s["tmax_h"])
    else:
        assert math.isnan(s["cmax_ng_ml"]) and math.isnan(s["tmax_h"])
    assert 0 <= s["madrs_baseline"] <= 60
    if "madrs" in ds:
        if t0 + 24 <= t[-1]:
            assert s["madrs_24h"] == pytest.approx(np.interp(t0 + 24, t, ds["madrs"].values[0]), abs=1e-9)
        else:
            assert math.isnan(s["madrs_24h"])
    if "cadss" in ds:
        assert s["cadss_peak"] >= ds["cadss"].values.max() - 1e-9


@_settings(150)
@given(items=regimens(ketamine_only=True), weight=st.floats(40, 150), extra_h=st.floats(0, 48))
def test_every_ketamine_dose_is_delivered(items, weight, extra_h):
    """Mass balance: all PK amounts, the eliminated sink included, equal the doses given (1e-9)."""
    try:
        reg = ks.Regimen([make() for make in items])
    except KetasimError as exc:
        _clean_refusal(exc)
        return
    doses = [d for d in reg if d.drug in (Drug.KETAMINE, Drug.ESKETAMINE)]
    model = assemble(default_parameters(), [ks.Patient(weight=f"{weight} kg")])
    end = max([d.at_h for d in doses] + [0.0]) + 24 + extra_h  # every infusion and nasal device given
    boluses, infusions = model.events(reg)
    y = integrate(model, model.initial(), boluses, infusions, np.array([0.0, end]))
    ketamine_states = [i for n, i in pk.IDX.items() if not n.startswith(("psilocybin", "psilocin", "ssri"))]
    delivered = y[ketamine_states, 0, -1].sum() * MW_KETAMINE / 1e3
    given_mg = sum(float(d.amount_mg(weight)) for d in doses)
    assert delivered == pytest.approx(given_mg, rel=1e-9, abs=1e-12)
