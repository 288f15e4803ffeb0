"""Benchmark: patients per second and peak memory of a two-arm, 7-day trial (default 10,000 patients).

    python benchmarks/trial_throughput.py [--patients N] [--workers K] [--chunk-size C] [--json]

Baseline for the ratio it prints: the same trial simulated one patient at a time (a loop of
``ketasim.simulate`` calls, measured on a sample of 20 patients in the same run).
Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import ketasim as ks
from ketasim.patients import Population
from ketasim.trials import Endpoints, Trial


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--chunk-size", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    z = ks.protocols.get("murrough-2013-single-infusion")
    pop = Population.sample(a.patients, seed=1)
    trial = Trial({"ketamine": z, "midazolam": z.as_control("midazolam")}, pop, duration="7 d",
                  endpoints=Endpoints.make(visits=["24 h", "7 d"]))  # fmt: skip
    t0 = time.perf_counter()
    trial.run(seed=1, chunk_size=a.chunk_size, workers=a.workers)
    wall = time.perf_counter() - t0
    # baseline: one patient per engine call
    sample = pop.patients[:20]
    t1 = time.perf_counter()
    for p in sample:
        ks.simulate(z, p, duration="7 d", output_step="6 h")
    loop_rate = len(sample) / (time.perf_counter() - t1)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "patients": a.patients,
        "workers": a.workers or 1,
        "wall_s": round(wall, 2),
        "patients_per_s": round(a.patients / wall, 1),
        "baseline": "ketasim.simulate looped one patient at a time",
        "baseline_patients_per_s": round(loop_rate, 1),
        "ratio_vs_baseline": round(a.patients / wall / loop_rate, 2),
        "peak_memory_mib": round(peak_mib, 1),
    }
    print(json.dumps(out, indent=None if a.json else 2))


if __name__ == "__main__":
    sys.exit(main())
