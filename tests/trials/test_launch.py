"""Scenario runs prepared before anything is written: overrides, refusals, and the run itself."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ketasim.errors import InputError
from ketasim.trials import ScenarioRun, TrialResult, prepare_scenario_run
from ketasim.trials.scenario import parse_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "murrough2013_ketamine_vs_midazolam.toml"

SMALL = """\
name = "small"
duration = "1 d"
seed = 11
control = "midazolam"

[population]
n = 5

[arms.ketamine]
protocol = "murrough-2013-single-infusion"

[arms.midazolam]
control = "midazolam"
schedule = "murrough-2013-single-infusion"

[endpoints]
visits = ["24 h"]
"""


def test_defaults_come_from_the_scenario():
    plan = prepare_scenario_run(EXAMPLE)
    assert isinstance(plan, ScenarioRun)
    assert plan.name == "murrough-2013-style"
    assert plan.n_patients == 73
    assert plan.seed == 2013
    assert plan.text == EXAMPLE.read_text(encoding="utf-8")
    assert set(plan.trial.arms) == {"ketamine", "midazolam"}


def test_patients_and_seed_override_the_scenario():
    plan = prepare_scenario_run(str(EXAMPLE), patients=4, seed=3)
    assert (plan.n_patients, plan.seed) == (4, 3)
    assert plan.scenario.seed == 2013  # the scenario itself is unchanged


@pytest.mark.parametrize("patients", [0, -2])
def test_fewer_than_one_patient_is_refused_before_the_file_is_read(tmp_path, patients):
    with pytest.raises(InputError) as exc:
        prepare_scenario_run(tmp_path / "does-not-exist.toml", patients=patients)
    assert exc.value.field == "patients"
    assert str(exc.value) == f"patients: must be >= 1 (got {patients})"


def test_a_bad_scenario_is_refused_naming_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace('protocol = "murrough-2013-single-infusion"', 'protocol = "nope"'))
    with pytest.raises(InputError):
        prepare_scenario_run(bad)
    with pytest.raises(InputError) as exc:
        prepare_scenario_run(tmp_path / "missing.toml")
    assert exc.value.field == "scenario"


class RecordingStore:
    """A RunStore that keeps what the run hands it."""

    def __init__(self) -> None:
        self.begun: dict[str, object] = {}
        self.chunks = 0
        self.committed: TrialResult | None = None

    def begin_run(self, run_id: str, seed: int, parameter_set: str, control: str, scenario_text: str,
                  patients: pd.DataFrame) -> RecordingStore:  # fmt: skip
        self.begun = {"run_id": run_id, "seed": seed, "control": control, "text": scenario_text, "n": len(patients)}
        return self

    def add(self, endpoints: pd.DataFrame, series: pd.DataFrame) -> None:
        self.chunks += 1

    def commit(self, result: TrialResult) -> None:
        self.committed = result

    def rollback(self) -> None:
        raise AssertionError("no rollback expected")


def test_run_uses_the_chosen_seed_and_stores_the_scenario_text(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    plan = prepare_scenario_run(path, seed=4)
    store = RecordingStore()
    seen: list[tuple[int, int]] = []
    res = plan.run(chunk_size=2, store=store, progress=lambda done, total: seen.append((done, total)))
    assert res.seed == 4 and res.control == "midazolam"
    assert store.begun == {"run_id": res.run_id, "seed": 4, "control": "midazolam", "text": SMALL, "n": 5}
    assert store.chunks == 3 and store.committed is res
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert len(res.endpoints) == 5
    again = prepare_scenario_run(path, seed=4).run(chunk_size=5)  # chunking does not change the numbers
    pd.testing.assert_frame_equal(
        res.endpoints.sort_values("patient").reset_index(drop=True),
        again.endpoints.sort_values("patient").reset_index(drop=True),
    )


def test_population_distributions_and_criteria_come_from_the_scenario():
    text = SMALL.replace(
        "n = 5\n",
        "n = 30\ninclude = { age = [65, 90] }\noverrides = { age = { normal = [72, 6], within = [65, 90] } }\n",
    )
    df = parse_scenario(text).trial().population.frame()
    assert len(df) == 30 and df["age_y"].between(65, 90).all()
    assert df["age_y"].nunique() == 30  # drawn per patient, not one value for everyone


def test_background_antidepressant_is_one_session_and_unrepresentable_ones_are_refused():
    text = SMALL.replace('protocol = "murrough-2013-single-infusion"\n',
                         'protocol = "murrough-2013-single-infusion"\nbackground = "new_antidepressant"\n'
                         'background_dose = "20 mg"\n')  # fmt: skip
    arms = parse_scenario(text).trial().arms
    ad = [s for s in arms["ketamine"].sessions if s.kind.value == "oral_antidepressant"]
    assert [(s.at_h, s.daily_mg) for s in ad] == [(0.0, 20.0)]
    assert not [s for s in arms["midazolam"].sessions if s.kind.value == "oral_antidepressant"]
    ongoing = SMALL.replace('protocol = "murrough-2013-single-infusion"\n',
                            'protocol = "murrough-2013-single-infusion"\nbackground = "ongoing_antidepressant"\n')  # fmt: skip
    assert parse_scenario(ongoing).trial().arms["ketamine"] == parse_scenario(SMALL).trial().arms["ketamine"]


@pytest.mark.parametrize(
    ("old", "new", "field", "says"),
    [
        ("n = 5\n", "n = 5\ninclude = { age = [90, 65] }\n", "population.include.age", "[low, high]"),
        ("n = 5\n", "n = 5\ninclude = { age = [99, 100] }\n", "population.include", "criteria"),
        ("n = 5\n", "n = 5\noverrides = { age = { normal = [70] } }\n", "population.overrides.age.normal", "two"),
        ("n = 5\n", "n = 5\noverrides = { height = 2 }\n", "population.overrides.height", "Patient field"),
        (
            'control = "midazolam"\nschedule',
            'control = "midazolam"\nbackground = "lithium_augmentation"\nschedule',
            "arms.midazolam.background",
            "cannot be simulated",
        ),
        (
            'control = "midazolam"\nschedule',
            'control = "midazolam"\nbackground = "tapered_antidepressant"\nschedule',
            "arms.midazolam.background",
            "discontinuation",
        ),
        (
            'control = "midazolam"\nschedule',
            'control = "midazolam"\nbackground = "ssri"\nschedule',
            "arms.midazolam.background",
            "must be one of",
        ),
        (
            'control = "midazolam"\nschedule',
            'control = "midazolam"\nbackground_dose = "10 mg"\nschedule',
            "arms.midazolam.background_dose",
            "new_antidepressant",
        ),
    ],
)
def test_bad_population_and_background_name_the_field(old, new, field, says):
    with pytest.raises(InputError) as exc:
        parse_scenario(SMALL.replace(old, new, 1))
    assert exc.value.field == field
    assert says in str(exc.value)
