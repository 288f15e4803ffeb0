"""Benchmark: a population's fine-grid series streamed to Parquet (``simulate(..., stream_to=...)``)
against the same run held in memory, each in its own process (peak resident memory is its own).

    python benchmarks/stream.py [--patients 2000 10000] [--days 7] [--json]

For each N: one 0.5 mg/kg infusion, N sampled TRD patients, 1-min output of ketamine_plasma and madrs.
Named baseline: the in-memory run of the same N (``simulate`` without ``stream_to``); the ratios are
streamed / in-memory wall time and peak memory. The in-memory run is skipped where its outputs alone
would exceed 4 GiB. Not a test: numbers depend on the machine and its disk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

OUTPUTS = ["ketamine_plasma", "madrs"]


def _one(n: int, days: float, stream: str | None) -> dict[str, float]:
    import ketasim as ks
    from ketasim.patients import Population

    ks.simulate("zarate-2006-iv", duration="1 h")  # load the compiled model before timing
    pop = Population.sample(n, seed=1)
    t0 = time.perf_counter()
    res = ks.simulate("zarate-2006-iv", population=pop, duration=f"{days} d", output_step="1 min", outputs=OUTPUTS,
                      stream_to=stream)  # fmt: skip
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"wall_s": round(wall, 2), "patients_per_s": round(n / wall, 1), "peak_memory_mib": round(peak),
           "madrs_24h": round(res.summary()["madrs_24h"], 4)}  # fmt: skip
    if stream:
        out["file_mib"] = round(os.path.getsize(stream) / 2**20, 1)
    return out


def _run(n: int, days: float, stream: str | None) -> dict[str, float]:
    args = [sys.executable, __file__, "--one", str(n), str(days)] + ([stream] if stream else [])
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, nargs="+", default=[2000, 10_000])
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(_one(int(a.one[0]), float(a.one[1]), a.one[2] if len(a.one) > 2 else None)))
        return
    rows = []
    for n in a.patients:
        with tempfile.TemporaryDirectory() as d:
            streamed = _run(n, a.days, os.path.join(d, "series.parquet"))
        series_gib = n * (a.days * 1440 + 1) * len(OUTPUTS) * 8 / 2**30
        held = _run(n, a.days, None) if series_gib <= 4 else None
        row = {"patients": n, "series_in_memory_gib": round(series_gib, 2), "streamed": streamed, "in_memory": held}
        if held:
            row["wall_ratio_streamed_vs_memory"] = round(streamed["wall_s"] / held["wall_s"], 2)
            row["memory_ratio_streamed_vs_memory"] = round(streamed["peak_memory_mib"] / held["peak_memory_mib"], 2)
            row["same_summary"] = streamed["madrs_24h"] == held["madrs_24h"]
        rows.append(row)
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        s, m = r["streamed"], r["in_memory"]
        line = (f"{r['patients']:>7,} patients, {a.days:g} d, 1-min: streamed {s['wall_s']} s, "
                f"{s['peak_memory_mib']} MiB peak, file {s['file_mib']} MiB")  # fmt: skip
        if m:
            line += (f" | in memory {m['wall_s']} s, {m['peak_memory_mib']} MiB | ratios: wall "
                     f"{r['wall_ratio_streamed_vs_memory']}, memory "
                     f"{r['memory_ratio_streamed_vs_memory']}")  # fmt: skip
        else:
            line += f" | in memory: skipped ({r['series_in_memory_gib']} GiB of series)"
        print(line)


if __name__ == "__main__":
    main()
