"""The adverse-event dropout pair (``dropout_ae_rate``, ``dropout_ae_cadss_slope``, parameters/dropout.toml),
solved from TRANSFORM-2's discontinuation for an adverse event over the 28-day double-blind phase: 0.9% of
the placebo-spray arm and 7% of the esketamine arm (Popova et al. 2019, Am J Psychiatry 176:428-438).

The placebo spray causes no dissociation, so its 0.9% sets the rate at CADSS 0 alone (with the shipped
lack-of-efficacy cause competing, from the placebo arm's own simulated ratings). The slope is then found by
root-finding so that the EXPECTED share of the simulated esketamine arm (examples/transform2_esketamine_
induction.toml, its own virtual patients, their own CADSS peak in every visit interval) who leave for an
adverse event is 7%; averaging over the patients matters, because the hazard is convex in the CADSS.
Everything else about dropout (other trials, lack of efficacy) is a prediction.

Reproduce:  PYTHONPATH=src python calibration/dropout.py   (about a minute; prints the two values)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from ketasim.trials import DropoutParams, expected_dropout
from ketasim.trials.endpoints import label_time
from ketasim.trials.scenario import parse_scenario

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "transform2_esketamine_induction.toml"
#: TRANSFORM-2's visits after the first dose (days 2, 8, 15, 22 and 28 of the trial), and the published shares
VISITS = ("24 h", "7 d", "14 d", "21 d", "27 d")
PUBLISHED = {"esketamine": 0.07, "placebo": 0.009}
N = 4000


def interval_inputs() -> dict[str, tuple[np.ndarray, ...]]:
    """Per arm, per included patient: the CADSS peak of each visit interval, the rated MADRS at each
    visit, the baseline, and the interval lengths (days), from the example trial run with dropout on
    (the draws themselves are not used: the expectation is exact)."""
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        'visits = ["24 h", "28 d"]', f"visits = {list(VISITS)!r}\ndropout = true"
    )
    trial = parse_scenario(text).trial(patients=N)
    ep = trial.run(0).endpoints
    ep = ep[ep["included"].astype(bool)]
    hours = list(trial.endpoints.visits)
    days = np.diff([0.0, *hours]) / 24.0
    out = {}
    for arm, g in ep.groupby("arm"):
        madrs = np.stack([g[f"madrs_{label_time(h)}"].to_numpy(float) for h in hours], axis=1)
        peaks = np.stack([g[f"cadss_peak_{label_time(h)}"].to_numpy(float) for h in hours], axis=1)
        out[str(arm)] = (peaks, madrs, g["madrs_baseline"].to_numpy(float), days)
    return out


def main() -> None:
    shipped = DropoutParams.from_parameters()
    inputs = interval_inputs()
    pbo, esk = inputs["placebo"], inputs["esketamine"]

    def share(p: DropoutParams, inputs: tuple[np.ndarray, ...]) -> float:
        return float(expected_dropout(*inputs, p)["adverse_event"].mean())

    rate = brentq(lambda r: share(replace(shipped, ae_rate=r, ae_cadss_slope=0.0), pbo) - PUBLISHED["placebo"],
                  1e-6, 1e-2)  # fmt: skip
    slope = brentq(lambda b: share(replace(shipped, ae_rate=rate, ae_cadss_slope=b), esk) - PUBLISHED["esketamine"],
                   0.0, 1.0)  # fmt: skip
    fitted = replace(shipped, ae_rate=rate, ae_cadss_slope=slope)
    print(f"dropout_ae_rate        = {rate:.5g} 1/d")
    print(f"dropout_ae_cadss_slope = {slope:.5g} per CADSS point")
    for arm, inputs in (("esketamine", esk), ("placebo", pbo)):
        e = expected_dropout(*inputs, fitted)
        print(f"{arm:>10}: adverse event {e['adverse_event'].mean():.4f} (published {PUBLISHED[arm]}), "
              f"lack of efficacy {e['lack_of_efficacy'].mean():.4f}, any {e['any'].mean():.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
