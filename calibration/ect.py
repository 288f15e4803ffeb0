"""ECT's two free numbers (parameters/signaling.toml), each solved from one published anchor.

``ect_bdnf_gain``: the remission rate after an acute ECT course in patients whose antidepressant
medication had failed, 48.0% (281 of 585; Heijnen et al. 2010,
J Clin Psychopharmacol 30:616-619, seven studies). The course (12 treatments, twice a week, protocol
``ect-2-weekly-12``) and the definition (HAM-D17 <= 7 three days after the last treatment, rated with the
scale's noise, in the calibrated treatment-resistant cohort) are assumptions: the pooled studies'
schedules and cut-offs are not in the abstract. Root-finding on the gain.

``ect_cognitive_per_treatment``: the acute cognitive effect, so that 2 days after the last treatment of
that course the effect is -0.65 SD of the patient's baseline, the middle of the effect sizes Semkovska &
McLoughlin 2010 (Biol Psychiatry 68:568-577) found in the first 3 days after a course (-1.10 to -0.21).
The effect is linear in the per-treatment size, so it is a ratio, not a search.

ELEKT-D (ECT three times a week for 3 weeks against ketamine; response and memory) is held out.

Reproduce:  PYTHONPATH=src python calibration/ect.py   (a few minutes; prints both values)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

import ketasim as ks
from ketasim.parameters import default_parameters
from ketasim.patients import Population
from ketasim.trials import Endpoints, Trial

PUBLISHED_REMISSION = 281 / 585
COGNITIVE_AT_2D = -0.65
PROTOCOL = "ect-2-weekly-12"
N = 2000


def remission(gain: float) -> float:
    params = default_parameters().replace(ect_bdnf_gain=gain)
    reg = ks.protocols.get(PROTOCOL)
    end_h = max(s.at_h for s in reg.sessions) + 3 * 24.0
    trial = Trial(
        arms={"ect": reg},
        population=Population.sample(N, seed=20261207, cohort="trd", params=params),
        duration=f"{end_h} h",
        endpoints=Endpoints(visits=(end_h,), scales=("hamd17",)),
        params=params,
    )
    ep = trial.run(0).endpoints
    column = next(c for c in ep.columns if c.startswith("hamd17_remission_"))
    rate = float(ep[column].mean())
    print(f"  ect_bdnf_gain {gain:.4g}: remission {rate:.3f}")
    return rate


def main() -> None:
    gain = brentq(lambda g: remission(g) - PUBLISHED_REMISSION, 0.5, 8.0, xtol=1e-2)
    reg = ks.protocols.get(PROTOCOL)
    at = max(s.at_h for s in reg.sessions) + 48.0
    res = ks.simulate(reg, ks.Patient(), duration=f"{at} h", output_step="1 h", outputs=["ect_cognitive_effect"])
    per_unit = res.dataset["ect_cognitive_effect"].values[0, -1] / default_parameters().value(
        "ect_cognitive_per_treatment", "1"
    )
    print(f"ect_bdnf_gain = {gain:.4g}")
    print(f"ect_cognitive_per_treatment = {COGNITIVE_AT_2D / per_unit:.4g}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
