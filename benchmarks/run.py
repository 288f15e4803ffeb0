"""Speed benchmark: ketasim's compiled engine against the tools users would pick instead.

    python benchmarks/run.py [--quick] [--json] [--against OTHER/src]
    python benchmarks/run.py --table RESULT.json    # the README table of a saved --json result

For N = 1, 100, 1,000 and 10,000 patients (``--quick``: 1 and 100) and two scenarios -- the full model
over 7 days after one 0.5 mg/kg infusion (1-min output) and over 28 days of esketamine induction
(8 sessions of 84 mg, hourly output) -- it times, in the same run:

* ketasim: a ``simulate`` call on the default, compiled engine, keeping the compared outputs (the
  best of up to three calls while they take under 5 s in all);
* baseline (a), libRoadRunner looped over the exported SBML (CVODE): loaded once, then reset and
  simulated per patient with the same output grid and tolerances (rtol 1e-6, atol 1e-11). Identical
  typical patients, so one SBML document serves them all; loading it is not counted;
* baseline (a'), libRoadRunner on every core: a process pool with one worker per core, each loading the
  model once (not counted) and then simulating its share of the patients as in (a), the way a user with
  many patients would run it;
* baseline (b), ``solve_ivp`` looped: ``simulate`` one patient at a time on the scipy path (LSODA).

Ratios are ketasim patients/s over the baseline's patients/s; ``max_rel_diff_vs_roadrunner`` is the
largest relative difference between ketasim and libRoadRunner on the outputs, wherever an output
exceeds 1e-6 of its peak. Each ketasim row runs in a fresh process so that its ``peak_memory_mib``
(maximum resident set) is its own. Also timed: a 10,000-patient (``--quick``: 1,000), 28-day
esketamine-versus-placebo-spray trial with endpoints and hourly series; the scale-out of half of
that trial (in this process, then on 1 and on 2 local Dask workers: patients/s and the overhead per
chunk); virtual-population screening (100,000 plausible patients, ``--quick``: 10,000, drawn as
``calibrate-population`` draws them and simulated over 7 days with endpoint summaries only;
``--screening N`` runs that row alone); and the first call of ``ketasim simulate --protocol
zarate-2006-iv`` in a fresh process, both
with the compiled code cached on disk (``first_call_latency_s``) and with an empty cache
(``first_ever_call_s``: generating the code from the model definition and compiling it, as on a new
machine).

``--against OTHER/src`` also runs every ketasim row with another ketasim source tree first on the
Python path (e.g. a ``git worktree`` of an earlier release) and reports ``ratio_vs_against``: this
tree's patients/s over that tree's, measured in the same run. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

import ketasim as ks

OUTPUTS = ("ketamine_plasma", "esketamine_plasma", "glutamate", "bdnf", "synapse_density", "madrs", "cadss")
SCENARIOS = {
    "single_infusion_7d": ("zarate-2006-iv", 7, 1 / 60),
    "esketamine_induction_28d": ("spravato-induction-84mg", 28, 1.0),
}
# The engines' tolerances: ketasim's default rtol with atol 1e-11, the tightest absolute tolerance at
# which CVODE completes the esketamine scenario (at 1e-12 its corrector fails at a dosing event).
TOL = ks.SolverOptions(rtol=1e-6, atol=1e-11)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rr(protocol: str, days: float, step_h: float, sample: int) -> tuple[float, dict[str, np.ndarray]]:
    """libRoadRunner looped (model loaded once): patients/s and the last patient's outputs."""
    import roadrunner

    from ketasim.interop.sbml import export_sbml

    rr = roadrunner.RoadRunner(export_sbml(ks.protocols.get(protocol), ks.Patient()))
    rr.integrator.relative_tolerance = TOL.rtol
    rr.integrator.absolute_tolerance = TOL.atol
    rr.integrator.maximum_num_steps = 1_000_000
    rr.timeCourseSelections = ["time", *OUTPUTS]
    t = list(np.arange(0.0, days * 24 + 1e-9, step_h))
    res = None
    t0 = time.perf_counter()
    for _ in range(sample):
        rr.resetAll()
        res = np.asarray(rr.simulate(times=t))
    rate = sample / (time.perf_counter() - t0)
    return rate, {name: res[:, i + 1] for i, name in enumerate(OUTPUTS)}


_POOL: dict[str, Any] = {}


def _rr_init(protocol: str, days: float, step_h: float) -> None:
    """A pool worker: load the exported SBML once."""
    import roadrunner

    from ketasim.interop.sbml import export_sbml

    rr = roadrunner.RoadRunner(export_sbml(ks.protocols.get(protocol), ks.Patient()))
    rr.integrator.relative_tolerance = TOL.rtol
    rr.integrator.absolute_tolerance = TOL.atol
    rr.integrator.maximum_num_steps = 1_000_000
    rr.timeCourseSelections = ["time", *OUTPUTS]
    _POOL.update(rr=rr, t=list(np.arange(0.0, days * 24 + 1e-9, step_h)))


def _rr_run(k: int) -> int:
    for _ in range(k):
        _POOL["rr"].resetAll()
        _POOL["rr"].simulate(times=_POOL["t"])
    return k


def _rr_pool(protocol: str, days: float, step_h: float, sample: int, workers: int) -> float:
    """libRoadRunner on ``workers`` processes (model loaded once per worker): patients/s."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawned, not forked: this process already runs OpenMP threads (numba), which a fork would copy broken
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, ctx, initializer=_rr_init, initargs=(protocol, days, step_h)) as pool:
        list(pool.map(_rr_run, [1] * (2 * workers)))  # every worker loaded and warm before the timing
        share = max(1, sample // workers)
        t0 = time.perf_counter()
        done = sum(pool.map(_rr_run, [share] * workers))
        return done / (time.perf_counter() - t0)


def _scale_out(n: int) -> list[dict[str, Any]]:
    """The 28-day trial in this process, then on 1 and 2 local Dask workers (run in its own process)."""
    from ketasim.patients import Population
    from ketasim.trials import Endpoints, Trial

    ks.simulate("spravato-induction-84mg", duration="1 h")
    reg = ks.protocols.get("spravato-induction-84mg")
    trial = Trial({"esketamine": reg, "placebo": reg.as_control("placebo_spray")}, Population.sample(n, seed=1),
                  duration="28 d", endpoints=Endpoints.make(visits=["24 h", "28 d"]))  # fmt: skip
    chunk = 200
    chunks = -(-n // chunk)
    out = []
    for workers in (None, 1, 2):
        t0 = time.perf_counter()
        trial.run(seed=1, chunk_size=chunk, workers=workers)
        wall = time.perf_counter() - t0
        out.append({"workers": workers or 0, "wall_s": round(wall, 2), "patients_per_s": round(n / wall, 1)})
    for row in out[1:]:  # what a worker process adds per chunk (the cluster's start-up, pickling, transfer)
        row["overhead_per_chunk_s"] = round((row["wall_s"] * row["workers"] - out[0]["wall_s"]) / chunks, 3)
    return out


def _loop(protocol: str, days: float, step_h: float, sample: int) -> float:
    """The scipy path looped one patient at a time: patients/s."""
    t0 = time.perf_counter()
    for _ in range(sample):
        ks.simulate(protocol, ks.Patient(), duration=f"{days} d", output_step=f"{step_h} h", outputs=OUTPUTS,
                    solver=ks.SolverOptions(method="LSODA", rtol=TOL.rtol, atol=TOL.atol))  # fmt: skip
    return sample / (time.perf_counter() - t0)


def _one(scenario: str, n: int) -> dict[str, Any]:
    """One ketasim row (run in its own process): wall time, rate, memory and the first patient's outputs."""
    protocol, days, step_h = SCENARIOS[scenario]
    ks.simulate(protocol, duration="1 h")  # load the compiled engine once, outside the timing
    walls = []
    while len(walls) < 3 and sum(walls) < 5.0:  # best of up to 3 (the first pays for fresh memory pages)
        t0 = time.perf_counter()
        res = ks.simulate(protocol, population=[ks.Patient()] * n, duration=f"{days} d", output_step=f"{step_h} h",
                          outputs=OUTPUTS, solver=TOL)  # fmt: skip
        walls.append(time.perf_counter() - t0)
    wall = min(walls)
    first = {v: res.dataset[v].values[0].tolist() for v in OUTPUTS}
    return {"wall_s": wall, "peak_memory_mib": _peak_mib(), "first": first}


def _trial(n: int) -> dict[str, Any]:
    """A two-arm, 28-day esketamine induction trial (run in its own process)."""
    from ketasim.patients import Population
    from ketasim.trials import Endpoints, Trial

    ks.simulate("spravato-induction-84mg", duration="1 h")
    reg = ks.protocols.get("spravato-induction-84mg")
    t0 = time.perf_counter()
    pop = Population.sample(n, seed=1)
    sample_s = time.perf_counter() - t0
    trial = Trial({"esketamine": reg, "placebo": reg.as_control("placebo_spray")}, pop, duration="28 d",
                  endpoints=Endpoints.make(visits=["24 h", "28 d"]))  # fmt: skip
    t0 = time.perf_counter()
    result = trial.run(seed=1, chunk_size=2000)
    wall = time.perf_counter() - t0
    comparison = result.to_json()["comparisons"][0]["endpoints"]["madrs_change_28d"]["mean_difference"]
    diff = comparison["estimate"]
    return {"patients": n, "sampling_s": round(sample_s, 2), "wall_s": round(wall, 2),
            "patients_per_s": round(n / wall, 1), "peak_memory_mib": round(_peak_mib(), 1),
            "madrs_change_28d_difference": round(float(diff), 2)}  # fmt: skip


def _screening(n: int) -> dict[str, Any]:
    """Virtual-population screening (run in its own process): draw ``n`` plausible patients as
    ``calibrate-population`` does (calibration/vpop-trd.toml's spread) and simulate each over 7 days after
    one 0.5 mg/kg infusion, keeping endpoint summaries only (MADRS change, response and remission at 24 h
    and 7 d with rating noise; no series kept)."""
    from pathlib import Path

    from ketasim.analysis.vpop import load_config, plausible_patients
    from ketasim.trials.endpoints import Endpoints
    from ketasim.trials.runner import TrialChunk, run_chunk

    cfg = load_config(Path(__file__).resolve().parents[1] / "calibration" / "vpop-trd.toml")
    cfg = cfg.model_copy(update={"n_plausible": n})
    ks.simulate("zarate-2006-iv", duration="1 h")
    t0 = time.perf_counter()
    patients = plausible_patients(cfg)
    draw_s = time.perf_counter() - t0
    reg = ks.protocols.get("zarate-2006-iv")
    ep = Endpoints.make(visits=["24 h", "7 d"])
    noise = np.random.SeedSequence(1).spawn(n)
    params = ks.default_parameters()
    t0 = time.perf_counter()
    rows = 0
    for s in range(0, n, 2000):
        k = len(patients[s : s + 2000])
        chunk = TrialChunk(s, tuple(patients[s : s + 2000]), ("ketamine",) * k, tuple(noise[s : s + k]),
                           {"ketamine": reg}, params, ks.Hypotheses(), 168.0, 168.0, ep)  # fmt: skip
        rows += len(run_chunk(chunk)[0])
    wall = time.perf_counter() - t0
    return {"patients": n, "endpoint_rows": rows, "draw_s": round(draw_s, 2), "simulate_s": round(wall, 2),
            "wall_s": round(draw_s + wall, 2), "patients_per_s": round(n / (draw_s + wall), 1),
            "peak_memory_mib": round(_peak_mib(), 1)}  # fmt: skip


def _env(src: str | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ, **extra)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _subprocess(*args: str, src: str | None = None) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True,
                         env=_env(src))  # fmt: skip
    return json.loads(out.stdout)


def _cli_seconds(**env: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ketasim.cli", "simulate", "--protocol", "zarate-2006-iv", "--json"],
                   check=True, capture_output=True, env=_env(**env))  # fmt: skip
    return time.perf_counter() - t0


def _max_rel_diff(first: dict[str, list[float]], rr: dict[str, np.ndarray]) -> float:
    worst = 0.0
    for var in OUTPUTS:
        a = np.asarray(first[var])
        b = np.asarray(rr[var])[: a.size]
        mask = np.abs(b) > 1e-6 * np.abs(b).max()
        if mask.any():
            worst = max(worst, float(np.max(np.abs(a[mask] - b[mask]) / np.abs(b[mask]))))
    return worst


LABELS = {"single_infusion_7d": "0.5 mg/kg IV, 7 d, 1-min output",
          "esketamine_induction_28d": "esketamine 84 mg induction, 28 d, hourly"}  # fmt: skip


def markdown(result: dict[str, Any]) -> str:
    """The README table from a saved ``--json`` result (the all-cores column where it was measured)."""
    pool = all("roadrunner_all_cores_patients_per_s" in r for r in result["rows"])
    head = "| scenario | patients | wall (s) | ketasim (patients/s) | libRoadRunner loop | ratio "
    head += "| libRoadRunner, all cores | ratio " if pool else ""
    head += "| solve_ivp loop | ratio | peak memory (MiB) | max rel. diff vs libRoadRunner |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in result["rows"]:
        cells = f"| {LABELS[r['scenario']]} | {r['patients']:,} | {r['wall_s']:.3g} | {r['patients_per_s']:,.0f} "
        cells += f"| {r['roadrunner_patients_per_s']:.1f} | {r['ratio_vs_roadrunner']:.1f} "
        if pool:
            cells += f"| {r['roadrunner_all_cores_patients_per_s']:.1f} | {r['ratio_vs_roadrunner_all_cores']:.1f} "
        cells += (f"| {r['solve_ivp_loop_patients_per_s']:.2f} | {r['ratio_vs_solve_ivp']:,.0f} "
                  f"| {r['peak_memory_mib']:,.0f} | {r['max_rel_diff_vs_roadrunner']:.1e} |")  # fmt: skip
        lines.append(cells)
    for row in result.get("scale_out", []):
        where = f"{row['workers']} Dask worker(s)" if row["workers"] else "in process"
        extra = f", {row['overhead_per_chunk_s']} s overhead per chunk" if "overhead_per_chunk_s" in row else ""
        lines.append(f"\nscale-out, {where}: {row['patients_per_s']:,.0f} patients/s{extra}")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: str) -> None:
    """Patients per second against population size, one panel per scenario: ketasim measured at each
    size, each baseline as the rate it reached (a loop's rate does not depend on how many patients it is
    given; the pool's is its steady rate on every core)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SCENARIOS), figsize=(11, 4.2), sharey=True, layout="constrained")
    for ax, name in zip(np.atleast_1d(axes), SCENARIOS, strict=True):
        rows = [r for r in result["rows"] if r["scenario"] == name]
        n = np.array([r["patients"] for r in rows], float)
        ax.plot(n, [r["patients_per_s"] for r in rows], "o-", color="C0", lw=2, label="ketasim (compiled)")
        if "against_patients_per_s" in rows[0]:
            ax.plot(n, [r["against_patients_per_s"] for r in rows], "o--", color="C0", alpha=0.5,
                    label="ketasim, the --against tree")  # fmt: skip
        for key, label, style in (("roadrunner_all_cores_patients_per_s", "libRoadRunner, all cores", "C1-"),
                                  ("roadrunner_patients_per_s", "libRoadRunner loop", "C1:"),
                                  ("solve_ivp_loop_patients_per_s", "solve_ivp loop (LSODA)", "C2:")):  # fmt: skip
            if key in rows[0]:
                ax.plot(n, [r[key] for r in rows], style, label=label)
        ax.set(xscale="log", yscale="log", xlabel="patients in the run", title=LABELS[name])
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("patients per second")
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"{result.get('machine', '')}: the same outputs, grid and tolerances (rtol 1e-6, atol 1e-11)",
                 fontsize=9)  # fmt: skip
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 1 and 100, a 1,000-patient trial, fewer samples")
    ap.add_argument("--json", action="store_true", help="print one JSON object on one line")
    ap.add_argument("--table", metavar="RESULT.json", help="print the README table of a saved --json result")
    ap.add_argument("--plot", nargs=2, metavar=("RESULT.json", "PNG"),
                    help="draw patients/s against population size from a saved --json result")  # fmt: skip
    ap.add_argument("--against", metavar="SRC", help="also time the ketasim rows with this source tree (a baseline)")
    ap.add_argument("--one", nargs=2, metavar=("SCENARIO", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--trial", type=int, metavar="N", help=argparse.SUPPRESS)
    ap.add_argument("--scale-out", type=int, metavar="N", help=argparse.SUPPRESS)
    ap.add_argument("--screening", type=int, metavar="N", help="only the virtual-population screening row")
    a = ap.parse_args()
    if a.table:
        with open(a.table, encoding="utf-8") as fh:
            print(markdown(json.load(fh)))
        return
    if a.plot:
        with open(a.plot[0], encoding="utf-8") as fh:
            plot(json.load(fh), a.plot[1])
        return
    if a.one:
        print(json.dumps(_one(a.one[0], int(a.one[1]))))
        return
    if a.trial:
        print(json.dumps(_trial(a.trial)))
        return
    if a.scale_out:
        print(json.dumps(_scale_out(a.scale_out)))
        return
    if a.screening:
        print(json.dumps(_screening(a.screening)))
        return

    sizes = (1, 100) if a.quick else (1, 100, 1000, 10_000)
    rows = []
    for name, (protocol, days, step_h) in SCENARIOS.items():
        sample = 3 if a.quick else 10
        _log(f"{name}: libRoadRunner loop ({sample} patients)")
        rr_rate, rr_out = _rr(protocol, days, step_h, sample)
        cores = os.cpu_count() or 1
        _log(f"{name}: libRoadRunner on {cores} cores ({sample * cores} patients)")
        pool_rate = _rr_pool(protocol, days, step_h, sample * cores, cores)
        _log(f"{name}: solve_ivp loop ({max(1, sample // 3)} patients)")
        loop_rate = _loop(protocol, days, step_h, max(1, sample // 3))
        for n in sizes:
            if n >= 10_000 and step_h < 0.1:
                _log(f"{name}: N={n} skipped (7 outputs x 1-min grid x 10,000 patients is 5.6 GiB of output)")
                continue
            _log(f"{name}: ketasim N={n}")
            one = _subprocess("--one", name, str(n))
            rate = n / one["wall_s"]
            extra = {}
            if a.against:
                _log(f"{name}: ketasim N={n} from {a.against}")
                other = n / _subprocess("--one", name, str(n), src=a.against)["wall_s"]
                extra = {"against_patients_per_s": round(other, 1), "ratio_vs_against": round(rate / other, 2)}
            rows.append({
                **extra, "scenario": name, "patients": n, "wall_s": round(one["wall_s"], 3),
                "patients_per_s": round(rate, 1), "peak_memory_mib": round(one["peak_memory_mib"], 1),
                "roadrunner_patients_per_s": round(rr_rate, 2), "ratio_vs_roadrunner": round(rate / rr_rate, 1),
                "roadrunner_all_cores_patients_per_s": round(pool_rate, 2),
                "ratio_vs_roadrunner_all_cores": round(rate / pool_rate, 1),
                "solve_ivp_loop_patients_per_s": round(loop_rate, 2), "ratio_vs_solve_ivp": round(rate / loop_rate, 1),
                "max_rel_diff_vs_roadrunner": float(f"{_max_rel_diff(one['first'], rr_out):.2e}"),
            })  # fmt: skip
    n_trial = 1000 if a.quick else 10_000
    _log(f"trial: {n_trial} patients, 28 days")
    trial = _subprocess("--trial", str(n_trial))
    _log(f"scale-out: {n_trial // 2} patients in this process, then on 1 and 2 Dask workers")
    scale_out = _subprocess("--scale-out", str(n_trial // 2))
    n_screen = 10_000 if a.quick else 100_000
    _log(f"screening: {n_screen} plausible patients, 7 days, endpoint summaries only")
    screening = _subprocess("--screening", str(n_screen))
    latency = [_cli_seconds() for _ in range(2)]  # the first may compile if the cache is cold
    with tempfile.TemporaryDirectory() as cold:  # a new machine: generate and compile everything
        _log("first-ever call (empty code cache)")
        first_ever = _cli_seconds(KETASIM_CACHE_DIR=cold)
    main_row = max((r for r in rows if r["scenario"] == "single_infusion_7d"), key=lambda r: r["patients"])
    import numba
    import roadrunner

    out = {
        "baseline": f"libRoadRunner {roadrunner.__version__} (CVODE) looped over the exported SBML, in one process "
        f"and on {os.cpu_count()} processes; solve_ivp (LSODA) looped",
        "machine": f"{platform.processor() or platform.machine()}, {numba.config.NUMBA_NUM_THREADS} threads",
        "ratio_vs_roadrunner": main_row["ratio_vs_roadrunner"],
        "patients_per_s": main_row["patients_per_s"],
        "max_rel_diff_vs_roadrunner": max(r["max_rel_diff_vs_roadrunner"] for r in rows),
        "peak_memory_mib": max(r["peak_memory_mib"] for r in rows),
        "trial": trial,
        "scale_out": scale_out,
        "screening": screening,
        "ratio_vs_roadrunner_all_cores": main_row["ratio_vs_roadrunner_all_cores"],
        "first_call_latency_s": round(latency[-1], 2),
        "first_ever_call_s": round(first_ever, 1),
        "against": a.against,
        "rows": rows,
    }
    print(json.dumps(out) if a.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
