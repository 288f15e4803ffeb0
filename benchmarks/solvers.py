"""Work against precision of the compiled engine's two methods, per scenario (issue 19 item 2).

    python benchmarks/solvers.py [--patients N] [--json OUT.json]

For a sampled population (default 100 patients, seed 1, with their day-to-day mood fluctuation) and three
scenarios -- one 0.5 mg/kg infusion over 7 days, esketamine 84 mg induction over 28 days, and the
placebo spray of that induction over 28 days -- it runs Dormand-Prince 5(4) (``compiled``, the default)
and the exponential Runge-Kutta method 4(3) (``exponential``) at rtol 1e-3 ... 1e-7 (atol 1e-12) and
prints, per run: accepted and rejected steps per patient (mean), wall time (best of three), and the
error against a tight solution (Dormand-Prince at rtol 1e-10, atol 1e-14) on the hourly outputs: the
largest MADRS difference in points, and the largest relative difference of ``OUTPUTS`` wherever an
output exceeds 1e-6 of its peak (the measure the engine tests use). Read it as work against precision:
the faster method is the one with the shorter time at equal error, not at equal rtol. Not a test:
times depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

import ketasim as ks
from ketasim.engine._compiled import integrate_compiled
from ketasim.model import assemble
from ketasim.patients import Population

OUTPUTS = ("ketamine_plasma", "esketamine_plasma", "glutamate", "bdnf", "synapse_density", "madrs", "cadss")
RTOLS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
METHODS = ("compiled", "exponential")


def _scenarios() -> dict[str, tuple[ks.Regimen, float]]:
    induction = ks.protocols.get("spravato-induction-84mg")
    return {
        "0.5 mg/kg IV, 7 d": (ks.protocols.get("zarate-2006-iv"), 7.0),
        "esketamine 84 mg induction, 28 d": (induction, 28.0),
        "placebo spray, 28 d": (induction.as_control("placebo_spray"), 28.0),
    }


def _rel_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for name in OUTPUTS:
        ref = b[name]
        peak = np.abs(ref).max(axis=-1, keepdims=True)
        mask = np.abs(ref) > 1e-6 * peak
        if mask.any():
            worst = max(worst, float(np.max(np.abs(a[name] - ref)[mask] / np.abs(ref)[mask])))
    return worst


def run(patients: int) -> list[dict[str, Any]]:
    pop = Population.sample(patients, seed=1)
    rows = []
    for name, (reg, days) in _scenarios().items():
        model = assemble(ks.default_parameters(), pop.patients)
        b, i = model.events(reg)
        t = np.arange(0.0, days * 24 + 1e-9, 1.0)
        y0 = model.initial()

        def observed(out: np.ndarray) -> dict[str, np.ndarray]:
            return model.observe(t, np.transpose(out, (2, 0, 1)), only=OUTPUTS)  # noqa: B023

        tight, status, _, _ = integrate_compiled(model, y0, b, i, t, 1e-10, 1e-14, 6.0)
        assert not status.any()
        ref = observed(tight)
        for method in METHODS:
            for rtol in RTOLS:
                best = np.inf
                for _ in range(3):
                    t0 = time.perf_counter()
                    out, status, counts, _ = integrate_compiled(model, y0, b, i, t, rtol, 1e-12, 6.0, method=method)
                    best = min(best, time.perf_counter() - t0)
                got = observed(out)
                row = {"scenario": name, "method": method, "rtol": rtol, "patients": patients,
                       "steps": round(float(counts[:, 0].mean()), 1), "rejected": round(float(counts[:, 1].mean()), 1),
                       "wall_s": round(best, 4), "failed": int((status != 0).sum()),
                       "max_madrs_diff": float(np.abs(got["madrs"] - ref["madrs"]).max()),
                       "max_rel_diff": _rel_diff(got, ref)}  # fmt: skip
                rows.append(row)
                print(f"{name:34s} {method:11s} rtol {rtol:.0e}  steps {row['steps']:7.1f} (+{row['rejected']:4.1f} "
                      f"rejected)  {row['wall_s']:7.3f} s  MADRS {row['max_madrs_diff']:.1e} points  "
                      f"rel {row['max_rel_diff']:.1e}", flush=True)  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=100, help="sampled patients per scenario (default 100)")
    ap.add_argument("--json", metavar="OUT", help="also write the rows to this JSON file")
    args = ap.parse_args()
    if args.patients < 1:
        ap.error("--patients must be at least 1")
    print(f"ketasim {ks.__version__}, {args.patients} sampled patients, hourly outputs", file=sys.stderr)
    rows = run(args.patients)
    if args.json:
        from ketasim._internal.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
