"""How the cost of a run grows: time and memory per patient, per simulated day and per output point.

    python benchmarks/growth.py [--json]

Runs ``simulate`` (compiled engine, one 0.5 mg/kg infusion, the seven outputs ``benchmarks/run.py``
compares) for every combination of 100 and 400 typical patients, 7 and 28 days, and hourly and 1-minute
output, each in a fresh process (so that its peak resident memory is its own; the compiled code is
cached on disk and warmed up before the timing), and fits

    wall = a + patients x (b x days + c x output points)
    peak memory = m0 + patients x output points x d

by least squares: ``b`` is the integration's cost per patient-day, ``c`` the cost per output point
(interpolating, observing and storing the kept outputs), ``d`` the bytes held per output point. Not a
test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys

import numpy as np

OUTPUTS = ["ketamine_plasma", "norketamine_plasma", "hydroxynorketamine_plasma", "glutamate", "bdnf",
           "synapse_density", "madrs"]  # fmt: skip

_CHILD = """
import json, resource, time, ketasim as ks
from ketasim.patients import Patient, Population
reg = ks.protocols.get("zarate-2006-iv")
outs = {outs!r}
ks.simulate(reg, duration="1 d", output_step="1 h", outputs=outs)  # compiled code loaded, caches warm
pop = Population(tuple(Patient() for _ in range({patients})))
t0 = time.perf_counter()
res = ks.simulate(reg, population=pop, duration="{days} d", output_step="{step}", outputs=outs)
wall = time.perf_counter() - t0
points = res.dataset.sizes["time"]
with open("/proc/self/status") as f:  # the high-water mark of this process (not its parent's)
    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024
print(json.dumps({{"wall_s": wall, "points": points, "peak_mib": hwm}}))
"""


def measure(patients: int, days: int, step: str) -> dict[str, float]:
    code = _CHILD.format(outs=OUTPUTS, patients=patients, days=days, step=step)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    return {"patients": patients, "days": days, "step": step, **row}


def fit(rows: list[dict[str, float]]) -> dict[str, float]:
    p = np.array([r["patients"] for r in rows], float)
    d = np.array([r["days"] for r in rows], float)
    n = np.array([r["points"] for r in rows], float)
    wall = np.array([r["wall_s"] for r in rows])
    mem = np.array([r["peak_mib"] for r in rows])
    (a, b, c), *_ = np.linalg.lstsq(np.c_[np.ones_like(p), p * d, p * n], wall, rcond=None)
    (m0, m1), *_ = np.linalg.lstsq(np.c_[np.ones_like(p), p * n], mem, rcond=None)
    return {
        "fixed_s": float(a),
        "per_patient_day_ms": float(b * 1e3),
        "per_output_point_us": float(c * 1e6),
        "fixed_mib": float(m0),
        "bytes_per_output_point": float(m1 * 2**20),
        "bytes_per_output_point_kept": 8.0 * len(OUTPUTS),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print one JSON object (rows and fit)")
    args = ap.parse_args()
    rows = []
    for patients, days, step in itertools.product((100, 400), (7, 28), ("1 h", "1 min")):
        rows.append(measure(patients, days, step))
        if not args.json:
            r = rows[-1]
            print(f"{patients:5d} patients {days:3d} d {step:>6s} output: {r['points']:6d} points  "
                  f"{r['wall_s']:7.2f} s  {r['peak_mib']:7.0f} MiB", flush=True)  # fmt: skip
    model = fit(rows)
    if args.json:
        print(json.dumps({"rows": rows, "fit": model}, indent=1))
        return
    print(f"wall = {model['fixed_s']:.2f} s + patients x ({model['per_patient_day_ms']:.3f} ms per day "
          f"+ {model['per_output_point_us']:.3f} us per output point)")  # fmt: skip
    print(f"peak memory = {model['fixed_mib']:.0f} MiB + patients x output points x "
          f"{model['bytes_per_output_point']:.0f} bytes (the {len(OUTPUTS)} kept outputs are "
          f"{model['bytes_per_output_point_kept']:.0f} bytes)")  # fmt: skip


if __name__ == "__main__":
    main()
