"""Benchmark: how fast the explorer (`ketasim serve`) answers a change on the page.

    python benchmarks/explorer.py [--repeats 30] [--json]

Starts the real server (uvicorn) on a free loopback port in this process, warms it (the compiled model
is loaded, as `ketasim serve` does before it prints its address), then times ``--repeats`` POSTs of
``/api/simulate`` over HTTP, each a different dose so that nothing is cached: a single patient, 7 days,
the page's default 10-min grid and its log-time grid, every layer's series (what the page draws). The
time is the round trip the page waits for (request, simulation, JSON, response), not the drawing.

Named baseline: the issue's target of 300 ms for a warm single-patient 7-day update; the printed ratio
is target / measured median (above 1 is faster than the target). Also shown: the same simulation called
directly through ``ks.simulate`` (what the API adds on top of it). Not a test: timings depend on the
machine.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import threading
import time
import urllib.request

import uvicorn

import ketasim as ks
from ketasim.serve import create_app

TARGET_MS = 300.0


def _post(url: str, body: dict) -> tuple[float, int]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=60) as resp:
        payload = resp.read()
    return 1000 * (time.perf_counter() - t0), len(payload)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/api/simulate"
    rows = {}
    for grid in ("uniform", "log"):
        _post(url, {"time_grid": grid})  # warm: model loaded, first request served
        times, sizes = [], []
        for k in range(a.repeats):
            dose = {"amount": 0.3 + 0.01 * k, "unit": "mg/kg", "duration_min": 40}
            ms, size = _post(url, {"regimen": {"doses": [dose]}, "duration_days": 7, "time_grid": grid})
            times.append(ms)
            sizes.append(size)
        times.sort()
        rows[grid] = {
            "median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "response_kib": round(statistics.median(sizes) / 1024),
            "ratio_vs_300ms_target": round(TARGET_MS / statistics.median(times), 2),
        }
    direct = []
    for k in range(a.repeats):
        reg = ks.Regimen([ks.Dose("ketamine", "iv", f"{0.3 + 0.01 * k:.2f} mg/kg", duration="40 min")])
        t0 = time.perf_counter()
        ks.simulate(reg, ks.Patient(), duration="7 d", output_step="10 min")
        direct.append(1000 * (time.perf_counter() - t0))
    rows["ks.simulate, same run (no API)"] = {"median_ms": round(statistics.median(direct), 1)}
    server.should_exit = True
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"explorer: single patient, 7 days, {a.repeats} updates each (target {TARGET_MS:.0f} ms)")
    for name, r in rows.items():
        print(f"  {name:32s} " + ", ".join(f"{k} {v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
