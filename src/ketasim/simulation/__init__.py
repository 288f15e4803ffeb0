"""From a regimen and patients to trajectories: the pipeline, the entry point and its result type.

``run_batch`` is the one pipeline (assemble -> events -> integrate); ``simulate`` is the user's entry
point; every engine and every caller returns a ``Result``.
"""

from ketasim.simulation.batch import Batch, run_batch
from ketasim.simulation.plot import ReferencePoint, dose_times
from ketasim.simulation.result import SUMMARY_KEYS, UNITS, Result
from ketasim.simulation.simulator import MAX_DURATION_H, simulate
from ketasim.simulation.variants import Comparison, compare

__all__ = [
    "MAX_DURATION_H",
    "SUMMARY_KEYS",
    "UNITS",
    "Batch",
    "Comparison",
    "ReferencePoint",
    "Result",
    "compare",
    "dose_times",
    "run_batch",
    "simulate",
]
