"""The runnable examples in examples/ do what the README says they do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_extending_the_model_with_a_layer_of_your_own():
    pytest.importorskip("libsbml")
    out = subprocess.run([sys.executable, str(EXAMPLES / "extend_the_model.py")], check=True, capture_output=True,
                         text=True, timeout=600).stdout.splitlines()  # fmt: skip
    low, high, sbml = out
    # 0.5 mg/kg: the NMDA block of the headline run, and under 1% of mu-opioid receptors bound
    assert low.startswith("0.5 mg/kg over 40 min: peak NMDA block 0.32, peak mu-opioid occupancy 0.00")
    occupancy = [float(line.rsplit(" ", 1)[1]) for line in (low, high)]
    assert 0.003 < occupancy[0] < 0.01 and occupancy[1] > 3 * occupancy[0]  # four times the dose
    assert sbml.startswith("SBML with the new layer:")


def test_ssri_versus_ketamine_draws_its_figure(tmp_path):
    png = tmp_path / "ssri.png"
    subprocess.run([sys.executable, str(EXAMPLES / "ssri_vs_ketamine.py"), str(png)], check=True, capture_output=True,
                   timeout=600)  # fmt: skip
    assert png.stat().st_size > 10_000


def test_the_readme_trial_example_runs_as_a_script(tmp_path):
    """Issue 14: without the __main__ guard the README's trial example crashed as a script (Dask workers
    import the main module). The block is taken from the README itself, so the test follows it."""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    marker = readme.index('if __name__ == "__main__":')
    start = readme.rindex("```python\n", 0, marker) + len("```python\n")
    script = tmp_path / "trial_example.py"
    script.write_text(readme[start : readme.index("```", marker)], encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    first = out.stdout.splitlines()[0]
    assert first.startswith("{'estimate': ") and (tmp_path / "runs.duckdb").is_file()


def test_serotonin_probe_prints_its_three_groups():
    out = subprocess.run([sys.executable, str(EXAMPLES / "serotonin_probe.py"), "60"], check=True, capture_output=True,
                         text=True, timeout=600).stdout.splitlines()  # fmt: skip
    rows = {line.split("  ")[0].strip(): line for line in out[1:]}
    assert set(rows) == {"SSRI, 12 weeks", "no treatment", "ketamine course"}
    # only the SSRI group notices the drink: untreated and ketamine responders are at 0.00 (or -0.00)
    assert "Delgado 1999" in rows["SSRI, 12 weeks"]
    for name in ("no treatment", "ketamine course"):
        assert " 0.00 " in rows[name].replace("-0.00", " 0.00")


def test_alcohol_example_prints_abstinence_and_ketamine_tables():
    out = subprocess.run([sys.executable, str(EXAMPLES / "alcohol.py"), "40"], check=True, capture_output=True,
                         text=True, timeout=600).stdout  # fmt: skip
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if line.startswith("  day")}
    assert set(lines) == {"day    0", "day    3", "day   14", "day   28", "day   56"}
    hamd = {k: float(v.split(":")[1].split("(")[0]) for k, v in lines.items()}
    assert hamd["day   28"] < hamd["day    0"] - 3  # abstinence lowers depressive symptoms over weeks
    cadss = {line.split("CADSS")[0].strip(): float(line.split("CADSS")[1].split()[0])
             for line in out.splitlines() if "CADSS " in line and "MADRS change" in line}  # fmt: skip
    assert cadss["drinking 6 a day"] < cadss["non-drinkers"]  # cross-tolerance to dissociation


def test_trd_options_example_compares_five_options():
    out = subprocess.run([sys.executable, str(EXAMPLES / "trd_options.py"), "40"], check=True, capture_output=True,
                         text=True, timeout=600).stdout.splitlines()  # fmt: skip
    rows = {line[:22].strip(): line[22:].split() for line in out[1:]}
    assert set(rows) == {"ketamine x6", "ECT x9", "aripiprazole added", "switch antidepressant", "nothing new"}
    pct = {k: [float(v.rstrip("%")) for v in cells[:4]] for k, cells in rows.items()}
    for option in ("ketamine x6", "ECT x9", "aripiprazole added"):  # each does more than nothing new at 3 weeks
        assert pct[option][0] > pct["nothing new"][0], option
    assert "CADSS" in out[1] and "memory" in out[2]


def test_ptsd_example_shows_the_window_effect():
    out = subprocess.run([sys.executable, str(EXAMPLES / "ptsd.py"), "30"], check=True, capture_output=True,
                         text=True, timeout=600).stdout.splitlines()  # fmt: skip
    rows = {line[:26].strip(): [float(v.rstrip("%")) for v in line[26:].split()] for line in out[1:]}
    assert len(rows) == 5
    # ketamine beats midazolam at week 2; exposure inside the window beats exposure alone at week 10
    assert rows["ketamine x6"][1] < rows["midazolam x6"][1]
    assert rows["ketamine, then exposure"][2] < rows["exposure x10"][2]
