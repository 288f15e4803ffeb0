"""Safety thresholds and scale limits shared by monitoring and dose finding (one definition each)."""

from __future__ import annotations

__all__ = ["CADSS_THRESHOLD", "DBP_THRESHOLD_MMHG", "MAX_CADSS", "MAX_DBP_RISE_MMHG", "MAX_SBP_RISE_MMHG",
           "SBP_THRESHOLD_MMHG"]  # fmt: skip

SBP_THRESHOLD_MMHG = 40.0  # label BP event: systolic rise >= 40 mmHg (clinical.md §3.3)
DBP_THRESHOLD_MMHG = 25.0  # label BP event: diastolic rise >= 25 mmHg (clinical.md §3.3)
CADSS_THRESHOLD = 4.0  # CADSS total > 4 = dissociation in the esketamine programme; as discharge rule: assumption

MAX_CADSS = 92.0  # the CADSS total runs 0-92: the largest threshold or limit accepted
MAX_SBP_RISE_MMHG = 200.0  # largest systolic threshold or limit accepted (input sanity range)
MAX_DBP_RISE_MMHG = 150.0  # largest diastolic threshold accepted (input sanity range)
