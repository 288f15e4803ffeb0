"""Clinical practice: session monitoring and discharge, target-controlled infusion, dose finding, risks of use.

Research and teaching tools: they show what the model predicts, never what a person should receive.
"""

from ketasim.clinical import limits
from ketasim.clinical.dose_finder import DoseEvaluation, DoseFinding, find_dose
from ketasim.clinical.monitoring import DosingSession, discharge_summary, monitor, sessions
from ketasim.clinical.risk import Exposure, RiskPanel, exposure, risk_panel
from ketasim.clinical.summary import MonitoringSummary, monitoring_summary
from ketasim.clinical.tci import parse_profile, tci_deviation_pct, tci_rates, tci_schedule, tci_totals

__all__ = [
    "DoseEvaluation",
    "DoseFinding",
    "DosingSession",
    "Exposure",
    "MonitoringSummary",
    "RiskPanel",
    "discharge_summary",
    "exposure",
    "find_dose",
    "limits",
    "monitor",
    "monitoring_summary",
    "parse_profile",
    "risk_panel",
    "sessions",
    "tci_deviation_pct",
    "tci_rates",
    "tci_schedule",
    "tci_totals",
]
