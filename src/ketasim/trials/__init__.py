"""In-silico randomised trials: design, endpoints, chunked and distributed runs, results and statistics.

Also the trial-shaped pieces built on them: scenario files (TOML) and treatment resistance by
simulation (a STAR*D-like level-1 SSRI trial and its non-remitters).
"""

from ketasim.trials import stats
from ketasim.trials.design import RunRecorder, RunStore, Trial
from ketasim.trials.endpoints import Endpoints, label_time
from ketasim.trials.resistance import Level1Result, enrich_trd, level1_regimen, level1_trial
from ketasim.trials.result import SeriesAccumulator, TrialResult
from ketasim.trials.runner import TrialChunk, execute, run_chunk
from ketasim.trials.scenario import ArmSpec, Scenario, load_scenario, regimen_from_spec

__all__ = [
    "ArmSpec",
    "Endpoints",
    "Level1Result",
    "RunRecorder",
    "RunStore",
    "Scenario",
    "SeriesAccumulator",
    "Trial",
    "TrialChunk",
    "TrialResult",
    "enrich_trd",
    "execute",
    "label_time",
    "level1_regimen",
    "level1_trial",
    "load_scenario",
    "regimen_from_spec",
    "run_chunk",
    "stats",
]
