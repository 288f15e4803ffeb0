"""Unit parsing: every user-facing quantity goes through ketasim.units."""

from __future__ import annotations

import pytest

import ketasim as ks
from ketasim.errors import InputError
from ketasim.units import parse_dose_amount, parse_quantity


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("40 min", "h", 40 / 60),
        ("7 d", "h", 168.0),
        ("1 week", "h", 168.0),
        ("90 s", "min", 1.5),
        ("2.5 h", "min", 150.0),
        ("82 kg", "kg", 82.0),
        ("154 lb", "kg", 154 * 0.45359237),
        ("0.5 g", "mg", 500.0),
        ("1.5 L/min", "L/h", 90.0),
    ],
)
def test_parse_quantity_converts(text, unit, expected):
    assert parse_quantity(text, "field", unit) == pytest.approx(expected, rel=1e-12)


def test_forty_minutes_is_two_thirds_of_an_hour():
    assert round(parse_quantity("40 min", "duration", "h"), 4) == 0.6667


@pytest.mark.parametrize(("value", "expected"), [(3, 3.0), (2.5, 2.5), ("4", 4.0), (" 0.5 ", 0.5)])
def test_bare_numbers_are_read_in_the_default_unit(value, expected):
    assert parse_quantity(value, "duration", "h") == expected
    assert isinstance(parse_quantity(value, "duration", "h"), float)
    # the same bare number in another default unit is not converted
    assert parse_quantity(value, "duration", "min") == expected


def test_wrong_dimension_names_the_field():
    with pytest.raises(InputError) as info:
        parse_quantity("5 m", "amount", "mg")
    err = info.value
    assert err.field == "amount"
    assert str(err).startswith("amount:")
    assert "mg" in str(err) and "5 m" in str(err)


def test_wrong_dimension_in_dose_amount_names_the_field():
    with pytest.raises(InputError) as info:
        parse_dose_amount("5 m", "dose_amount")
    assert info.value.field == "dose_amount"
    assert str(info.value).startswith("dose_amount:")


@pytest.mark.parametrize("bad", ["banana", "5 furlongs per fortnight mg", "", "mg mg +"])
def test_unreadable_text_is_refused(bad):
    with pytest.raises(InputError) as info:
        parse_quantity(bad, "weight", "kg")
    assert info.value.field == "weight"


@pytest.mark.parametrize("bad", [True, None, [1, 2], {"a": 1}])
def test_non_numbers_are_refused(bad):
    with pytest.raises(InputError) as info:
        parse_quantity(bad, "age", "year")
    assert info.value.field == "age"


def test_ranges():
    assert parse_quantity("20 kg", "weight", "kg", minimum=20, maximum=300) == 20.0
    assert parse_quantity("300 kg", "weight", "kg", minimum=20, maximum=300) == 300.0
    for bad in ("19.9 kg", "300.1 kg", "5 kg"):
        with pytest.raises(InputError, match=r"^weight: must be within 20-300 kg"):
            parse_quantity(bad, "weight", "kg", minimum=20, maximum=300)
    with pytest.raises(InputError, match=r"^duration: must be > 0 h"):
        parse_quantity("0 min", "duration", "h", strictly_positive=True)
    with pytest.raises(InputError, match=r"^duration:"):
        parse_quantity("-1 h", "duration", "h", strictly_positive=True)
    with pytest.raises(InputError, match=r"^x: must be a finite number"):
        parse_quantity(float("nan"), "x", "h")
    with pytest.raises(InputError, match=r"^x: must be a finite number"):
        parse_quantity("inf h", "x", "h")


def test_dose_amount_per_kg_versus_absolute():
    assert parse_dose_amount("0.5 mg/kg") == (0.5, True)
    assert parse_dose_amount("56 mg") == (56.0, False)
    # units are converted to mg or mg/kg
    amount, per_kg = parse_dose_amount("500 ug/kg")
    assert per_kg is True and amount == pytest.approx(0.5, rel=1e-12)
    amount, per_kg = parse_dose_amount("0.056 g")
    assert per_kg is False and amount == pytest.approx(56.0, rel=1e-12)
    # a bare number is mg
    assert parse_dose_amount(35) == (35.0, False)


@pytest.mark.parametrize("bad", ["5 %", "0.5 mg/L", "2 mL", "5 m", "3 mg/kg/h"])
def test_dose_amount_refuses_non_mass(bad):
    with pytest.raises(InputError) as info:
        parse_dose_amount(bad)
    assert info.value.field == "amount"
    assert str(info.value).startswith("amount:")


@pytest.mark.parametrize("bad", ["0 mg", "-5 mg", "0 mg/kg", "-0.5 mg/kg"])
def test_dose_amount_must_be_positive(bad):
    with pytest.raises(InputError, match=r"^amount: must be > 0"):
        parse_dose_amount(bad)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: ks.simulate("zarate-2006-iv", duration=7), "duration"),
        (lambda: ks.simulate("zarate-2006-iv", duration="7"), "duration"),  # a number in a string is as bare
        (lambda: ks.simulate("zarate-2006-iv", duration="1 d", output_step=" 5 "), "output_step"),
        (lambda: ks.simulate("zarate-2006-iv", duration="1 d", output_step=5), "output_step"),
        (lambda: ks.Trial({"a": ks.Regimen([])}, ks.Population.sample(2, seed=1), duration=28).duration_h, "duration"),
    ],
)
def test_a_bare_number_for_a_time_is_refused(call, field):
    """Issue 14: `duration=7` silently meant 7 h. Now the error names the field and asks for a unit."""
    with pytest.raises(ks.InputError, match=rf"^{field}: a bare number has no unit"):
        call()


def test_a_zero_output_step_is_refused_not_replaced_by_the_default():
    with pytest.raises(ks.InputError, match="output_step"):
        ks.simulate("zarate-2006-iv", duration="1 h", output_step="0 min")


# Issue 15: quantity strings are read by a strict grammar, never evaluated as pint expressions.
@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("5,0 mg", "decimal point, not a comma"),  # pint read 50 mg: a tenfold dose
        ("5 5", "not a quantity"),  # pint read 25
        ("5 mg 3", "not a quantity"),  # pint read 15 mg
        ("mg", "no number"),  # pint read 1 mg
        ("5 🙂", "not a quantity"),  # pint read 5
        ("10**10**8 mg", "not a quantity"),  # pint hung
        ("2*3 mg", "not a quantity"),
        ("5 mg + 3 mg", "not a quantity"),
        ("(5) mg", "no number"),
        ("5 mg/(kg)", "not a quantity"),
        ("1_000 mg", "not a quantity"),
        ("5 bananas", "unknown unit 'bananas'"),
        ("", "empty"),
        ("   ", "empty"),
        ("5 m^10", "not a quantity"),  # exponents are single digits
        ("5" * 101 + " mg", "at most 100 characters"),
    ],
)
def test_quantity_strings_follow_a_strict_grammar(text, why):
    with pytest.raises(InputError) as info:
        parse_quantity(text, "amount", "mg")
    err = info.value
    assert err.field == "amount" and why in err.message
    if len(text) < 100:
        assert repr(text) in str(err)
        assert "e.g. '35 mg' or '0.5 mg/kg'" in err.message  # an example of the right form


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("0.5 mg/kg", "mg/kg", 0.5),
        ("0.4 mg/kg/h", "mg/kg/h", 0.4),
        ("3 mg / kg / h", "mg/kg/h", 3.0),
        ("150ng/mL", "ng/mL", 150.0),
        ("0.15 ug/mL", "ng/mL", 150.0),
        ("3 µg/kg/min", "mg/kg/h", 0.18),  # micro sign
        ("3 μg/kg/min", "mg/kg/h", 0.18),  # Greek mu
        ("7d", "h", 168.0),
        ("3.5 d", "h", 84.0),
        ("1 d", "h", 24.0),
        ("70 kg", "kg", 70.0),
        ("1.5 m^2", "m**2", 1.5),
        ("1.5 m**2", "m**2", 1.5),
        ("2 h^-1", "1/h", 2.0),
        ("2 mg*h/L", "mg*h/L", 2.0),
        ("+2.5e1 min", "min", 25.0),
        (".5 h", "h", 0.5),
        ("5. h", "h", 5.0),
        ("2E-3 h", "h", 0.002),
        (" 40\u00a0min ", "min", 40.0),  # any whitespace around the parts
    ],
)
def test_every_valid_form_is_still_read(text, unit, expected):
    assert parse_quantity(text, "x", unit) == pytest.approx(expected, rel=1e-12)


def test_numbers_too_large_for_a_float_and_negative_zero():
    with pytest.raises(InputError, match=r"^x: must be a finite number"):
        parse_quantity(10**400, "x", "h")
    with pytest.raises(InputError, match=r"^x: must be a finite number"):
        parse_quantity("1e400 h", "x", "h")
    assert str(parse_quantity(-0.0, "x", "h", minimum=0)) == "0.0"
    assert str(parse_quantity("-0 h", "x", "h", minimum=0)) == "0.0"


def test_quantities_of_other_registries_and_odd_magnitudes():
    import numpy as np
    import pint

    other = pint.UnitRegistry()
    assert parse_quantity(other.Quantity(40, "minute"), "x", "h") == pytest.approx(40 / 60)
    assert parse_quantity(ks.units.Q_(np.float64(2.0), "h"), "x", "min") == 120.0
    for bad in (ks.units.Q_(np.array([1.0, 2.0]), "h"), ks.units.Q_(1 + 2j, "h")):
        with pytest.raises(InputError, match=r"^x: a quantity must hold one real number"):
            parse_quantity(bad, "x", "h")


def test_a_bare_number_in_a_string_stays_as_bare_as_before():
    assert parse_quantity("4", "x", "h") == 4.0
    with pytest.raises(InputError, match=r"^x: a bare number has no unit"):
        parse_quantity("4", "x", "h", unit_required=True)
    with pytest.raises(InputError, match=r"^x: a bare number has no unit"):
        parse_quantity(4, "x", "h", unit_required=True)
