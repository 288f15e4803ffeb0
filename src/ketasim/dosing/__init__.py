"""Dosing: doses, regimens and the cited protocol library."""

from ketasim.dosing import _protocols as protocols
from ketasim.dosing._dose import DEVICE_MG, Dose, Drug, Regimen, Route, Session, SessionKind

__all__ = ["DEVICE_MG", "Dose", "Drug", "Regimen", "Route", "Session", "SessionKind", "protocols"]
