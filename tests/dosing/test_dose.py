"""Doses, regimens and the cited protocol library."""

from __future__ import annotations

import pytest

from ketasim.dosing import DEVICE_MG, Dose, Drug, Regimen, Route, protocols
from ketasim.errors import InputError

REQUIRED = (
    "zarate-2006-iv",
    "murrough-2013-six-infusions",
    "spravato-induction-56mg",
    "spravato-induction-84mg",
)


# ---------------------------------------------------------------- Dose


def test_dose_fields_and_amounts():
    d = Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at="2 h")
    assert d.drug is Drug.KETAMINE and d.route is Route.IV
    assert d.amount == 0.5 and d.per_kg is True
    assert d.duration_h == pytest.approx(2 / 3, rel=1e-12)
    assert d.at_h == 2.0
    assert d.amount_mg(70) == pytest.approx(35.0, rel=1e-12)
    assert d.amount_mg(100) == pytest.approx(50.0, rel=1e-12)
    e = Dose("esketamine", "intranasal", "84 mg")
    assert e.per_kg is False and e.amount_mg(50) == 84.0 and e.amount_mg(120) == 84.0
    assert e.duration_h is None and e.at_h == 0.0
    assert e.devices == 3
    assert Dose("esketamine", "intranasal", "28 mg").devices == 1
    assert Dose("esketamine", "iv", "28 mg").devices == 0
    assert Dose("ketamine", "intranasal", "50 mg").devices == 0


@pytest.mark.parametrize(
    ("drug", "route", "drug_enum", "route_enum"),
    [
        ("racemic", "intravenous", Drug.KETAMINE, Route.IV),
        ("S-ketamine", "nasal", Drug.ESKETAMINE, Route.INTRANASAL),
        (" Esketamine ", "PO", Drug.ESKETAMINE, Route.ORAL),
        ("ketamine", "intramuscular", Drug.KETAMINE, Route.IM),
    ],
)
def test_aliases(drug, route, drug_enum, route_enum):
    amount = "56 mg"
    d = Dose(drug, route, amount)
    assert d.drug is drug_enum and d.route is route_enum


def test_dose_is_immutable_and_shifted_copies():
    d = Dose("ketamine", "im", "0.5 mg/kg", at="1 h")
    with pytest.raises(AttributeError):
        d.amount = 2.0  # type: ignore[misc]
    s = d.shifted(3.0)
    assert s.at_h == 4.0 and d.at_h == 1.0
    assert (s.drug, s.route, s.amount, s.per_kg, s.duration_h) == (d.drug, d.route, d.amount, d.per_kg, d.duration_h)


def test_describe_and_to_dict():
    d = Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min")
    assert d.describe() == "ketamine 0.5 mg/kg iv over 40 min at 0 h"
    assert d.to_dict()["amount"] == "0.5 mg/kg"
    assert d.to_dict()["drug"] == "ketamine" and d.to_dict()["route"] == "iv"
    back = Dose(**d.to_dict())
    assert (back.amount, back.per_kg, back.at_h) == (d.amount, d.per_kg, d.at_h)
    assert back.duration_h == pytest.approx(d.duration_h, rel=1e-5)


def test_to_dict_round_trip_is_exact():
    d = Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at="100 min")
    back = Dose(**d.to_dict())
    assert back.duration_h == d.duration_h
    assert back.at_h == d.at_h


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"drug": "ketamine", "route": "iv", "amount": "-5 mg"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "0 mg"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "0 mg/kg"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "-0.5 mg/kg"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "5 m"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "5 %"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "25 mg/kg"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "3 g"}, "amount"),
        ({"drug": "arketamine", "route": "iv", "amount": "35 mg"}, "drug"),
        ({"drug": "midazolam", "route": "iv", "amount": "35 mg"}, "drug"),
        ({"drug": "ketamine", "route": "rectal", "amount": "35 mg"}, "route"),
        ({"drug": "ketamine", "route": "iv", "amount": "35 mg", "duration": "0 min"}, "duration"),
        ({"drug": "ketamine", "route": "iv", "amount": "35 mg", "duration": "-40 min"}, "duration"),
        ({"drug": "ketamine", "route": "iv", "amount": "35 mg", "duration": "40 mg"}, "duration"),
        ({"drug": "ketamine", "route": "im", "amount": "35 mg", "duration": "40 min"}, "duration"),
        ({"drug": "ketamine", "route": "oral", "amount": "35 mg", "duration": "40 min"}, "duration"),
        ({"drug": "esketamine", "route": "intranasal", "amount": "56 mg", "duration": "5 min"}, "duration"),
        ({"drug": "esketamine", "route": "intranasal", "amount": "30 mg"}, "amount"),
        ({"drug": "esketamine", "route": "intranasal", "amount": "14 mg"}, "amount"),
        ({"drug": "esketamine", "route": "intranasal", "amount": "56.5 mg"}, "amount"),
        ({"drug": "esketamine", "route": "intranasal", "amount": "0.8 mg/kg"}, "amount"),
        ({"drug": "ketamine", "route": "iv", "amount": "35 mg", "at": "-1 h"}, "at"),
        ({"drug": "ketamine", "route": "iv", "amount": "35 mg", "at": "3 kg"}, "at"),
    ],
)
def test_bad_doses_name_the_field(kwargs, field):
    with pytest.raises(InputError) as info:
        Dose(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_intranasal_esketamine_multiples_of_28_are_accepted():
    for n in (1, 2, 3, 4):
        assert Dose("esketamine", "intranasal", f"{n * DEVICE_MG:g} mg").devices == n
    # racemic intranasal ketamine is not device-constrained, mg/kg allowed
    assert Dose("ketamine", "intranasal", "30 mg").amount == 30.0
    assert Dose("ketamine", "intranasal", "0.5 mg/kg").per_kg


# ---------------------------------------------------------------- Regimen


def test_regimen_repeat_times():
    d = Dose("ketamine", "iv", "0.5 mg/kg", duration="40 min", at="1 h")
    r = Regimen.repeat(d, every="2 d", count=4)
    assert len(r) == 4
    assert [x.at_h for x in r] == [1.0, 49.0, 97.0, 145.0]
    assert all(x.amount == 0.5 and x.per_kg and x.duration_h == d.duration_h for x in r)
    assert r.end_h == pytest.approx(145 + 2 / 3, rel=1e-12)
    r2 = Regimen.repeat(d, every=12, count=3)  # bare number: hours
    assert [x.at_h for x in r2] == [1.0, 13.0, 25.0]


@pytest.mark.parametrize(
    ("every", "count", "field"),
    [("0 h", 3, "every"), ("2 d", 0, "count"), ("2 d", 2.5, "count"), ("2 d", True, "count"), ("2 kg", 3, "every")],
)
def test_regimen_repeat_refuses(every, count, field):
    d = Dose("ketamine", "iv", "35 mg")
    with pytest.raises(InputError) as info:
        Regimen.repeat(d, every=every, count=count)
    assert info.value.field == field


def test_regimen_sorting_addition_and_shift():
    a = Dose("ketamine", "iv", "35 mg", at="10 h")
    b = Dose("esketamine", "intranasal", "56 mg", at="2 h")
    r = Regimen([a]) + Regimen([b])
    assert [d.at_h for d in r] == [2.0, 10.0]
    assert [d.drug for d in r] == [Drug.ESKETAMINE, Drug.KETAMINE]
    s = r.shifted("1 d")
    assert [d.at_h for d in s] == [26.0, 34.0]
    assert [d.at_h for d in r] == [2.0, 10.0]
    r3 = Regimen.at_times(a, ["0 h", "3 d", "90 min"])
    assert [d.at_h for d in r3] == [0.0, 1.5, 72.0]
    with pytest.raises(InputError) as info:
        Regimen([a, "not a dose"])  # type: ignore[list-item]
    assert info.value.field == "doses[1]"
    assert Regimen().end_h == 0.0 and len(Regimen()) == 0


def test_stepped_infusion_total_amount():
    steps = [("0.4 mg/kg/h", "15 min"), ("0.8 mg/kg/h", "30 min"), ("0.2 mg/kg/h", "1 h")]
    r = Regimen.stepped_infusion("ketamine", steps, at="1 h")
    assert len(r) == 3
    assert all(d.route is Route.IV and d.per_kg for d in r)
    # total = 0.4*0.25 + 0.8*0.5 + 0.2*1 = 0.7 mg/kg
    assert sum(d.amount for d in r) == pytest.approx(0.7, rel=1e-12)
    assert sum(d.amount_mg(80) for d in r) == pytest.approx(56.0, rel=1e-12)
    # steps are back to back
    assert [d.at_h for d in r] == pytest.approx([1.0, 1.25, 1.75], rel=1e-12)
    assert [d.duration_h for d in r] == pytest.approx([0.25, 0.5, 1.0], rel=1e-12)
    assert r.end_h == pytest.approx(2.75, rel=1e-12)
    # absolute rates give absolute amounts
    r2 = Regimen.stepped_infusion("ketamine", [("60 mg/h", "20 min"), ("1 mg/min", "10 min")])
    assert [d.per_kg for d in r2] == [False, False]
    assert sum(d.amount for d in r2) == pytest.approx(20.0 + 10.0, rel=1e-12)


def test_stepped_infusion_refuses_bad_rate_and_duration():
    with pytest.raises(InputError) as info:
        Regimen.stepped_infusion("ketamine", [("0.4 mg/kg/h", "15 min"), ("5 m/h", "10 min")])
    assert info.value.field == "steps[1].rate"
    with pytest.raises(InputError) as info:
        Regimen.stepped_infusion("ketamine", [("0.4 mg/kg/h", "0 min")])
    assert info.value.field == "steps[0].duration"


# ---------------------------------------------------------------- protocols


def test_required_protocols_exist():
    names = protocols.names()
    for name in REQUIRED:
        assert name in names
    rows = {r["name"]: r for r in protocols.table()}
    assert set(rows) == set(names)
    for name in names:
        assert rows[name]["source"] and rows[name]["title"]
        assert int(rows[name]["doses"]) == len(protocols.get(name))


def test_zarate_is_one_weight_based_40_min_infusion():
    r = protocols.get("zarate-2006-iv")
    assert r.name == "zarate-2006-iv" and "Zarate" in r.source
    (d,) = r.doses
    assert d.drug is Drug.KETAMINE and d.route is Route.IV
    assert d.amount == 0.5 and d.per_kg
    assert d.duration_h == pytest.approx(40 / 60, rel=1e-12)
    assert d.at_h == 0.0
    assert d.amount_mg(70) == pytest.approx(35.0, rel=1e-12)


def test_murrough_six_infusions():
    r = protocols.get("murrough-2013-six-infusions")
    assert len(r) == 6
    assert [d.at_h / 24 for d in r] == pytest.approx([0, 2, 4, 7, 9, 11], abs=1e-12)
    for d in r:
        assert d.drug is Drug.KETAMINE and d.route is Route.IV and d.per_kg and d.amount == 0.5
        assert d.duration_h == pytest.approx(2 / 3, rel=1e-12)


def test_spravato_induction_56mg():
    r = protocols.get("spravato-induction-56mg")
    assert len(r) == 8
    days = [d.at_h / 24 for d in r]
    assert days == pytest.approx([0, 3, 7, 10, 14, 17, 21, 24], abs=1e-12)
    assert days[0] == 0 and days[-1] == 24
    # twice weekly: two sessions in each of the four weeks
    assert [sum(1 for x in days if 7 * w <= x < 7 * (w + 1)) for w in range(4)] == [2, 2, 2, 2]
    for d in r:
        assert d.drug is Drug.ESKETAMINE and d.route is Route.INTRANASAL
        assert d.amount == 56.0 and not d.per_kg and d.devices == 2 and d.duration_h is None


def test_spravato_induction_84mg():
    r = protocols.get("spravato-induction-84mg")
    assert len(r) == 8
    assert [d.at_h / 24 for d in r] == pytest.approx([0, 3, 7, 10, 14, 17, 21, 24], abs=1e-12)
    assert [d.amount for d in r] == [56.0] + [84.0] * 7
    assert all(d.drug is Drug.ESKETAMINE and d.route is Route.INTRANASAL for d in r)
    assert [d.devices for d in r] == [2] + [3] * 7


def test_single_esketamine_sessions():
    assert [d.amount for d in protocols.get("esketamine-56mg-single")] == [56.0]
    assert [d.amount for d in protocols.get("esketamine-84mg-single")] == [84.0]


def test_unknown_protocol_lists_known_ones():
    with pytest.raises(InputError) as info:
        protocols.get("nope")
    assert info.value.field == "protocol"
    assert "zarate-2006-iv" in str(info.value) and "'nope'" in str(info.value)
