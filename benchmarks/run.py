"""Speed benchmark: the batched ketasim engine against the tools users would pick instead.

    python benchmarks/run.py [--quick] [--json]

For each N patients (1, 100, 1,000 and, without --quick, 10,000) and two scenarios -- the full model
over 7 days after one 0.5 mg/kg infusion (1-min output) and over 28 days of esketamine induction
(8 sessions, hourly output) -- it times:

* ketasim: one batched ``simulate`` call (scipy BDF with block-diagonal Jacobian sparsity);
* baseline (a), libRoadRunner looped over the exported SBML (CVODE): loaded once, then reset and
  simulated per patient with the same output grid and tolerances (all identical typical patients, so
  one SBML document serves them all; loading it takes ~2 s and is not counted);
* baseline (b), ``solve_ivp`` looped: ``simulate`` one patient at a time, LSODA.

Ratios are ketasim patients/s divided by the baseline's patients/s measured in the same run, with the
maximum relative difference between engines on the outputs (where above 1e-6 of their peak). It also
reports the first-call latency of ``ketasim simulate`` in a fresh process. Not a test: numbers depend
on the machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

import ketasim as ks

OUTPUTS = ("ketamine_plasma", "esketamine_plasma", "glutamate", "bdnf", "synapse_density", "madrs", "cadss")


def _rr_rate(regimen: ks.Regimen, days: float, step_h: float, sample: int) -> tuple[float, dict[str, np.ndarray]]:
    """libRoadRunner looped: the model is loaded once; each patient is a reset and a simulate call with
    the engine's default tolerances (rtol 1e-6, atol 1e-9) and the same output grid."""
    import roadrunner

    from ketasim.sbml import export_sbml

    rr = roadrunner.RoadRunner(export_sbml(regimen, ks.Patient()))
    opts = ks.SolverOptions()
    rr.integrator.relative_tolerance = opts.rtol
    rr.integrator.absolute_tolerance = opts.atol
    rr.integrator.maximum_num_steps = 1_000_000
    rr.timeCourseSelections = ["time", *OUTPUTS]
    t = list(np.arange(0.0, days * 24 + 1e-9, step_h))
    t0 = time.perf_counter()
    res = None
    for _ in range(sample):
        rr.resetAll()
        res = np.asarray(rr.simulate(times=t))
    rate = sample / (time.perf_counter() - t0)
    return rate, {name: res[:, i + 1] for i, name in enumerate(OUTPUTS)}


def _loop_rate(regimen: ks.Regimen, days: float, step: str, sample: int) -> float:
    t0 = time.perf_counter()
    for _ in range(sample):
        ks.simulate(regimen, ks.Patient(), duration=f"{days} d", output_step=step,
                    solver=ks.SolverOptions(method="LSODA"))  # fmt: skip
    return sample / (time.perf_counter() - t0)


def _max_rel_diff(res: ks.Result, rr: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for var in OUTPUTS:
        if var not in rr:
            continue
        a = res.dataset[var].values[0]
        b = np.asarray(rr[var])[: a.size]
        mask = np.abs(a) > 1e-6 * np.abs(a).max()
        if mask.any():
            worst = max(worst, float(np.max(np.abs(a[mask] - b[mask]) / np.abs(a[mask]))))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 1, 100 only; fewer baseline samples")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    a = ap.parse_args()
    sizes = (1, 100) if a.quick else (1, 100, 1000, 10_000)
    scenarios = {
        "single_infusion_7d": (ks.protocols.get("zarate-2006-iv"), 7, "1 min", 1 / 60),
        "esketamine_induction_28d": (ks.protocols.get("spravato-induction-84mg"), 28, "1 h", 1.0),
    }
    rows = []
    for name, (reg, days, step, step_h) in scenarios.items():
        sample = 3 if a.quick else 10
        rr_rate, rr_out = _rr_rate(reg, days, step_h, sample)
        loop_rate = _loop_rate(reg, days, step, max(1, sample // 3))
        for n in sizes:
            if n >= 10_000 and step_h < 0.1:
                continue  # 10,000 patients x 1-min output for 7 days is ~8 GiB of output: skipped
            pts = [ks.Patient()] * n
            t0 = time.perf_counter()
            res = ks.simulate(reg, population=pts, duration=f"{days} d", output_step=step)
            wall = time.perf_counter() - t0
            rate = n / wall
            rows.append({
                "scenario": name, "patients": n, "wall_s": round(wall, 2), "patients_per_s": round(rate, 2),
                "roadrunner_patients_per_s": round(rr_rate, 2), "ratio_vs_roadrunner": round(rate / rr_rate, 2),
                "solve_ivp_loop_patients_per_s": round(loop_rate, 2), "ratio_vs_solve_ivp": round(rate / loop_rate, 2),
                "max_rel_diff_vs_roadrunner": _max_rel_diff(res, rr_out),
            })  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ketasim.cli", "simulate", "--protocol", "zarate-2006-iv", "--json"],
                   check=True, capture_output=True)  # fmt: skip
    latency = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    main_row = max((r for r in rows if r["scenario"] == "single_infusion_7d"), key=lambda r: r["patients"])
    out = {
        "baseline": "libRoadRunner 2.10 (CVODE) looped over the exported SBML; solve_ivp (LSODA) looped",
        "ratio_vs_roadrunner": main_row["ratio_vs_roadrunner"],
        "patients_per_s": main_row["patients_per_s"],
        "max_rel_diff_vs_roadrunner": max(r["max_rel_diff_vs_roadrunner"] for r in rows),
        "peak_memory_mib": round(peak, 1),
        "first_call_latency_s": round(latency, 2),
        "rows": rows,
    }
    if a.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
