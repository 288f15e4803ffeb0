"""Clinical practice: session monitoring and discharge, target-controlled infusion, dose finding.

Research and teaching tools: they show what the model predicts, never what a person should receive.
"""

from ketasim.clinical import limits
from ketasim.clinical.dose_finder import DoseEvaluation, DoseFinding, find_dose
from ketasim.clinical.monitoring import DosingSession, discharge_summary, monitor, sessions
from ketasim.clinical.tci import tci_rates, tci_schedule

__all__ = [
    "DoseEvaluation",
    "DoseFinding",
    "DosingSession",
    "discharge_summary",
    "find_dose",
    "limits",
    "monitor",
    "sessions",
    "tci_rates",
    "tci_schedule",
]
