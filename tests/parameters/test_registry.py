"""The cited parameter registry: loading, validation and immutability."""

from __future__ import annotations

import re
import shutil
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from ketasim.errors import ParameterError
from ketasim.parameters import PARAMETER_LAYERS, ParameterSet, default_parameters, load_parameter_set
from ketasim.units import ureg

SHIPPED = Path(str(resources.files("ketasim.parameters")))


def _raw_tables() -> dict[str, tuple[str, dict]]:
    """Every parameter table of the shipped files, read with tomllib only: name -> (file, entry)."""
    out: dict[str, tuple[str, dict]] = {}
    for f in sorted(SHIPPED.glob("*.toml")):
        if f.name == "sources.toml":
            continue
        for name, entry in tomllib.loads(f.read_text(encoding="utf-8")).items():
            if isinstance(entry, dict):
                assert name not in out, f"{name} defined in {out[name][0]} and {f.name}"
                out[name] = (f.name, entry)
    return out


def _source_keys() -> set[str]:
    return set(tomllib.loads((SHIPPED / "sources.toml").read_text(encoding="utf-8")))


def test_default_set_loads_every_table():
    p = default_parameters()
    raw = _raw_tables()
    assert isinstance(p, ParameterSet)
    assert len(p) == len(raw) > 50
    assert set(p) == set(raw)
    assert default_parameters() is p  # cached
    for name, (_fname, entry) in raw.items():
        assert p[name].value == pytest.approx(float(entry["value"]), rel=0, abs=0)


def test_every_layer_is_populated():
    p = default_parameters()
    for layer in ("pk", "receptor", "circuit", "signaling", "synapse", "symptoms"):
        rows = p.layer(layer)
        assert rows, layer
        assert all(r.layer == layer for r in rows)
    assert sum(len(p.layer(layer)) for layer in PARAMETER_LAYERS) == len(p)


def test_every_unit_is_pint_parseable():
    for prm in default_parameters().values():
        q = ureg.Quantity(prm.value, prm.unit)
        assert float(q.magnitude) == prm.value
        # the registry converts to its own unit without change
        assert default_parameters().value(prm.name, prm.unit) == pytest.approx(prm.value, rel=1e-12)


def test_exactly_one_of_source_or_assumption():
    for name, (_f, entry) in _raw_tables().items():
        has_source = bool(entry.get("source"))
        has_assumption = bool(entry.get("assumption"))
        assert has_source != has_assumption, name
    for prm in default_parameters().values():
        assert bool(prm.source) != bool(prm.assumption), prm.name
        assert prm.provenance


def test_every_source_key_is_in_the_bibliography():
    keys = _source_keys()
    cited = {entry["source"] for _f, entry in _raw_tables().values() if entry.get("source")}
    assert cited, "no parameter cites a source"
    assert cited <= keys, sorted(cited - keys)
    p = default_parameters()
    for prm in p.values():
        cit = p.citation(prm.name)
        if prm.source:
            assert cit is not None and cit.key == prm.source
            assert cit.year > 1900 and cit.authors and cit.journal
        else:
            assert cit is None


def test_value_converts_units_and_citation_is_readable():
    p = default_parameters()
    assert p.value("r_cl") == 79.0
    assert p.value("r_cl", "L/min") == pytest.approx(79.0 / 60, rel=1e-12)
    assert p.value("device_interval", "h") == pytest.approx(5 / 60, rel=1e-12)
    assert p.value("hnk_cl", "L/h") == pytest.approx(0.933 * 60, rel=1e-12)
    assert p.citation("r_cl").short().startswith("Persson J")
    with pytest.raises(ParameterError, match="nope"):
        p["nope"]


def test_rows_carry_provenance():
    rows = default_parameters().rows("pk")
    assert rows and all(r["layer"] == "pk" for r in rows)
    for r in rows:
        assert (r["source"] is None) != (r["assumption"] is None), r["name"]


# ---------------------------------------------------------------- broken copies of the shipped set


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "params"
    d.mkdir()
    for f in SHIPPED.glob("*.toml"):
        shutil.copy(f, d / f.name)
    return d


def _edit_table(path: Path, name: str, edit) -> None:
    """Apply ``edit`` to the body of table ``[name]`` (up to the next table header)."""
    text = path.read_text(encoding="utf-8")
    m = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, flags=re.S | re.M)
    assert m, name
    body = edit(m.group(1))
    assert body != m.group(1)
    path.write_text(text[: m.start(1)] + body + text[m.end(1) :], encoding="utf-8")


def test_copy_of_shipped_set_loads_identically(tmp_path):
    p = load_parameter_set(_copy(tmp_path))
    assert p.digest() == default_parameters().digest()
    assert len(p) == len(default_parameters())


def test_missing_unit_is_refused(tmp_path):
    d = _copy(tmp_path)
    _edit_table(d / "pk.toml", "r_v1", lambda b: re.sub(r"^unit = .*\n", "", b, flags=re.M))
    with pytest.raises(ParameterError, match=r"r_v1.*unit"):
        load_parameter_set(d)


def test_unparseable_unit_is_refused(tmp_path):
    d = _copy(tmp_path)
    _edit_table(d / "pk.toml", "r_cl", lambda b: re.sub(r"^unit = .*$", 'unit = "furlongz/h"', b, flags=re.M))
    with pytest.raises(ParameterError, match=r"r_cl.*unit"):
        load_parameter_set(d)


def test_missing_source_is_refused(tmp_path):
    d = _copy(tmp_path)
    _edit_table(d / "pk.toml", "r_v1", lambda b: re.sub(r"^source = .*\n", "", b, flags=re.M))
    with pytest.raises(ParameterError, match=r"r_v1.*source"):
        load_parameter_set(d)


def test_both_source_and_assumption_is_refused(tmp_path):
    d = _copy(tmp_path)
    _edit_table(d / "pk.toml", "r_v1", lambda b: b + 'assumption = "also a guess"\n')
    with pytest.raises(ParameterError, match=r"r_v1"):
        load_parameter_set(d)


def test_unknown_citation_key_is_refused(tmp_path):
    d = _copy(tmp_path)
    _edit_table(d / "pk.toml", "r_v1", lambda b: re.sub(r"^source = .*$", 'source = "nobody1999"', b, flags=re.M))
    with pytest.raises(ParameterError, match=r"r_v1.*nobody1999"):
        load_parameter_set(d)


def test_missing_bibliography_is_refused(tmp_path):
    d = _copy(tmp_path)
    (d / "sources.toml").unlink()
    with pytest.raises(ParameterError, match=r"sources\.toml"):
        load_parameter_set(d)


def test_duplicate_parameter_is_refused(tmp_path):
    d = _copy(tmp_path)
    (d / "zz_extra.toml").write_text(
        'layer = "pk"\n[r_cl]\nvalue = 1\nunit = "L/h"\ndescription = "dup"\nsource = "fanta2015"\n',
        encoding="utf-8",
    )
    with pytest.raises(ParameterError, match=r"r_cl.*twice"):
        load_parameter_set(d)


def test_unknown_layer_is_refused(tmp_path):
    d = _copy(tmp_path)
    (d / "zz_extra.toml").write_text(
        'layer = "astrology"\n[new_thing]\nvalue = 1\nunit = "1"\ndescription = "x"\nassumption = "y"\n',
        encoding="utf-8",
    )
    with pytest.raises(ParameterError, match=r"new_thing.*layer"):
        load_parameter_set(d)


# ---------------------------------------------------------------- immutability


def test_replace_returns_a_new_set_and_changes_the_digest():
    p = default_parameters()
    before = p.digest()
    old = p.value("r_cl")
    q = p.replace(r_cl=2 * old)
    assert q is not p
    assert q.value("r_cl") == 2 * old
    assert q.value("r_cl", "L/min") == pytest.approx(2 * old / 60, rel=1e-12)
    assert p.value("r_cl") == old  # original unchanged
    assert p.value("r_cl", "L/min") == pytest.approx(old / 60, rel=1e-12)
    assert p.digest() == before
    assert q.digest() != before
    assert len(q) == len(p)
    # unit and provenance carried over
    assert q["r_cl"].unit == p["r_cl"].unit and q["r_cl"].source == p["r_cl"].source
    # other parameters untouched
    assert all(q[n] == p[n] for n in p if n != "r_cl")
    # same values -> same digest
    assert p.replace(r_cl=old).digest() == before
    with pytest.raises(ParameterError, match="not_a_parameter"):
        p.replace(not_a_parameter=1.0)


def test_parameters_are_frozen():
    prm = default_parameters()["r_cl"]
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        prm.value = 1.0  # type: ignore[misc]
    assert default_parameters().value("r_cl") == 79.0


def test_with_parameters_adds_validated_rows_and_refuses_clashes():
    base = default_parameters()
    row = {"name": "mu_opioid_ki", "value": 41.7, "unit": "uM", "layer": "receptor",
           "description": "racemic ketamine Ki at mu", "source": "hirota1999"}  # fmt: skip
    extended = base.with_parameters([row])
    assert extended.value("mu_opioid_ki", "nM") == pytest.approx(41_700.0)
    assert "mu_opioid_ki" not in base and len(extended) == len(base) + 1
    with pytest.raises(ParameterError, match="exists already"):
        base.with_parameters([{**row, "name": "ke0"}])
    with pytest.raises(ParameterError, match="unit"):
        base.with_parameters([{**row, "unit": "not_a_unit"}])
    with pytest.raises(ParameterError, match="source"):
        base.with_parameters([{**row, "source": "nobody2020"}])
