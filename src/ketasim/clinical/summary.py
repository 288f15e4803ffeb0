"""The monitoring lines added to a one-patient run's headline metrics (what ``ketasim simulate`` shows).

A run with ketamine or esketamine doses gets the first session's discharge time and the number of
flagged sessions (from ``monitoring.monitor`` with its default thresholds), and one readable line per
flagged session. A run without them (e.g. psilocybin or an SSRI) gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ketasim.clinical.monitoring import monitor
from ketasim.simulation import Result

__all__ = ["MonitoringSummary", "monitoring_summary"]


@dataclass(frozen=True)
class MonitoringSummary:
    """``metrics``: ``discharge_h`` (first session, hours after its start) and ``sessions_flagged``
    (count); empty without ketamine sessions. ``flags``: one line per flagged session, in time order."""

    metrics: dict[str, float] = field(default_factory=dict)
    flags: tuple[str, ...] = ()


def monitoring_summary(result: Result) -> MonitoringSummary:
    """Discharge time, flagged-session count and flag lines of the first patient of ``result``.

    Reads the sessions from ``result.regimen``; only ketamine and esketamine doses form sessions.

    >>> import ketasim as ks
    >>> s = monitoring_summary(ks.simulate("esketamine-84mg-single", duration="6 h", output_step="5 min"))
    >>> sorted(s.metrics), s.metrics["discharge_h"] >= 2.0
    (['discharge_h', 'sessions_flagged'], True)
    >>> monitoring_summary(ks.simulate("psilocybin-25mg-single", duration="6 h"))
    MonitoringSummary(metrics={}, flags=())
    """
    doses = result.regimen.doses
    if not (doses and any(d.drug.is_ketamine for d in doses)):
        return MonitoringSummary()
    table = monitor(result)
    metrics: dict[str, float] = {
        "discharge_h": float(table["discharge_h"].iloc[0]),
        "sessions_flagged": int(table["flag"].sum()),
    }
    flags = tuple(
        f"session at {row.start_h:g} h: peak CADSS {row.cadss_peak:.1f}, SBP rise {row.sbp_rise_peak_mmhg:.1f} mmHg"
        for row in table[table["flag"]].itertuples()
    )
    return MonitoringSummary(metrics, flags)
