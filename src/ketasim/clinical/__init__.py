"""Clinical practice: session monitoring and discharge, target-controlled infusion, dose finding.

Research and teaching tools: they show what the model predicts, never what a person should receive.
"""

from ketasim.clinical import limits
from ketasim.clinical.dose_finder import DoseEvaluation, DoseFinding, find_dose
from ketasim.clinical.monitoring import DosingSession, discharge_summary, monitor, sessions
from ketasim.clinical.summary import MonitoringSummary, monitoring_summary
from ketasim.clinical.tci import parse_profile, tci_deviation_pct, tci_rates, tci_schedule, tci_totals

__all__ = [
    "DoseEvaluation",
    "DoseFinding",
    "DosingSession",
    "MonitoringSummary",
    "discharge_summary",
    "find_dose",
    "limits",
    "monitor",
    "monitoring_summary",
    "parse_profile",
    "sessions",
    "tci_deviation_pct",
    "tci_rates",
    "tci_schedule",
    "tci_totals",
]
