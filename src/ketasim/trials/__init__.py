"""In-silico randomised trials: design, endpoints, chunked and distributed runs, results and statistics.

Also the trial-shaped pieces built on them: scenario files (TOML) and runs prepared from them, results
as text tables, treatment resistance by simulation (a STAR*D-like level-1 SSRI trial and its
non-remitters), trials in phases (lead-in, optimisation, randomised withdrawal, rules on the ratings),
and rating scales besides the MADRS (HAM-D17, QIDS-SR16, CGI-S) read from the model's MADRS through
published crosswalks; dropout as a model of its own (adverse-event and lack-of-efficacy causes).
"""

from ketasim.trials import stats
from ketasim.trials.design import RunRecorder, RunStore, Trial
from ketasim.trials.dropout import DropoutParams, dropout, dropout_hazards, expected_dropout
from ketasim.trials.endpoints import Endpoints, label_time
from ketasim.trials.estimands import estimands
from ketasim.trials.launch import ScenarioRun, prepare_scenario_run
from ketasim.trials.phased import PhasedResult, PhasedTrial
from ketasim.trials.phases import Criterion, DosingRule, Phase, PhaseArm, Transition
from ketasim.trials.report import ReportTable, comparison_tables, endpoint_table, format_estimate
from ketasim.trials.resistance import Level1Result, enrich_trd, level1_regimen, level1_trial
from ketasim.trials.result import SeriesAccumulator, TrialResult
from ketasim.trials.runner import TrialChunk, execute, run_chunk
from ketasim.trials.scales import SCALES, Scale, get_scale, rate, remitted, responded, true_score
from ketasim.trials.scenario import ArmSpec, Scenario, load_scenario, regimen_from_spec

__all__ = [
    "SCALES",
    "ArmSpec",
    "Criterion",
    "DosingRule",
    "DropoutParams",
    "Endpoints",
    "Level1Result",
    "Phase",
    "PhaseArm",
    "PhasedResult",
    "PhasedTrial",
    "ReportTable",
    "RunRecorder",
    "RunStore",
    "Scale",
    "Scenario",
    "ScenarioRun",
    "SeriesAccumulator",
    "Transition",
    "Trial",
    "TrialChunk",
    "TrialResult",
    "comparison_tables",
    "dropout",
    "dropout_hazards",
    "endpoint_table",
    "enrich_trd",
    "estimands",
    "execute",
    "expected_dropout",
    "format_estimate",
    "get_scale",
    "label_time",
    "level1_regimen",
    "level1_trial",
    "load_scenario",
    "prepare_scenario_run",
    "rate",
    "regimen_from_spec",
    "remitted",
    "responded",
    "run_chunk",
    "stats",
    "true_score",
]
