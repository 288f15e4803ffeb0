"""The ``ketasim`` command line (Typer + rich).

Every command that prints a table also takes ``--json``. Bad input prints one line naming the field
and the allowed range, and exits with status 2.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ketasim.errors import KetasimError

__all__ = ["app", "main"]

app = typer.Typer(
    name="ketasim",
    help="Mechanistic simulator of ketamine's antidepressant action: dose -> plasma -> NMDA block -> "
    "glutamate pulse -> BDNF/mTORC1 -> synapse regrowth -> MADRS. Research and teaching software, "
    "not a clinical dosing tool.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

SUMMARY_LABELS = {
    "cmax_ng_ml": ("Ketamine Cmax (venous plasma)", "ng/mL"),
    "tmax_h": ("Ketamine Tmax after first dose", "h"),
    "auc_ng_h_ml": ("Ketamine AUC over the run", "ng*h/mL"),
    "peak_nmda_occupancy": ("Peak NMDA block, pyramidal cells", "fraction"),
    "peak_glutamate_fold": ("Peak extracellular glutamate", "fold"),
    "synapse_density_24h": ("Synapse density at 24 h", "of healthy"),
    "madrs_baseline": ("MADRS before treatment", "points"),
    "madrs_24h": ("MADRS at 24 h", "points"),
    "madrs_7d": ("MADRS at day 7", "points"),
    "cadss_peak": ("Peak dissociation (CADSS)", "points"),
    "sbp_change_peak_mmhg": ("Peak systolic BP rise", "mmHg"),
    "synapse_density_end": ("Synapse density at end of run", "of healthy"),
}


def _json(obj: Any) -> str:
    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj), indent=2)


@app.command()
def simulate(
    protocol: Annotated[str, typer.Option(help="Protocol name (see `ketasim protocols`).")] = "zarate-2006-iv",
    weight: Annotated[str, typer.Option(help="Body weight, e.g. 70kg (20-300 kg).")] = "70 kg",
    sex: Annotated[str, typer.Option(help="male or female.")] = "male",
    age: Annotated[float, typer.Option(help="Age in years (18-100).")] = 45,
    days: Annotated[float, typer.Option(help="Simulated duration in days (> 0).")] = 7.0,
    madrs_baseline: Annotated[float, typer.Option(help="Pre-treatment MADRS (0-60).")] = 32,
    stress: Annotated[float, typer.Option(help="Chronic stress load (0 none, 1 typical TRD, max 3).")] = 1.0,
    alcohol_use_disorder: Annotated[
        bool, typer.Option("--aud/--no-aud", help="History of alcohol use disorder.")
    ] = False,
    cyp2b6: Annotated[str, typer.Option(help="CYP2B6 genotype: *1/*1, *1/*6 or *6/*6.")] = "*1/*1",
    biotype: Annotated[str, typer.Option(help="synaptic, monoaminergic or inflammatory.")] = "synaptic",
    psychotherapy: Annotated[str, typer.Option(help="Comma-separated session times, e.g. '1d,8d,15d'.")] = "",
    disinhibition: Annotated[bool, typer.Option("--disinhibition/--no-disinhibition", help="Hypothesis (a).")] = True,
    rest_block: Annotated[bool, typer.Option("--rest-block/--no-rest-block", help="Hypothesis (b).")] = True,
    plot: Annotated[Path | None, typer.Option(help="Write the all-layer figure here (PNG/SVG/PDF).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the summary as JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Simulate one patient through the whole causal chain and print the headline metrics."""
    from ketasim import Hypotheses, Patient, protocols
    from ketasim import simulate as run
    from ketasim._io import atomic_write_text

    sessions = [s.strip() for s in psychotherapy.split(",") if s.strip()]
    patient = Patient(
        weight=weight,
        sex=sex,
        age=age,
        madrs_baseline=madrs_baseline,
        stress_load=stress,
        alcohol_use_disorder=alcohol_use_disorder,
        cyp2b6=cyp2b6,
        biotype=biotype,
        psychotherapy=sessions,
    )
    regimen = protocols.get(protocol)
    if not days > 0:
        raise KetasimError("days: must be > 0")
    res = run(regimen, patient, duration=f"{days} d", hypotheses=Hypotheses(disinhibition, rest_block))
    summary = res.summary()
    if out is not None:
        atomic_write_text(out, _json(summary) + "\n")
    if plot is not None:
        res.plot(plot)
    if as_json:
        typer.echo(_json(summary))
        return
    table = Table(title=f"{protocol}: {regimen.description}", caption=f"source: {regimen.source}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("key", style="dim")
    for key, value in summary.items():
        label, unit = SUMMARY_LABELS.get(key, (key, ""))
        table.add_row(label, "n/a (beyond run)" if not math.isfinite(value) else f"{value:.3g}", unit, key)
    console.print(table)
    if plot is not None:
        console.print(f"figure written to {plot}")
    if out is not None:
        console.print(f"summary written to {out}")


@app.command()
def params(
    layer: Annotated[str | None, typer.Option(help="Only this layer (pk, receptor, circuit, ...).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List model parameters with value, unit and source (or the assumption behind them)."""
    from ketasim.parameters import default_parameters
    from ketasim.parameters._registry import LAYERS

    if layer is not None and layer not in LAYERS:
        raise KetasimError(f"layer: must be one of {', '.join(LAYERS)} (got {layer!r})")
    rows = default_parameters().rows(layer)
    if as_json:
        typer.echo(_json(rows))
        return
    table = Table(title=f"ketasim parameters{f' ({layer})' if layer else ''}")
    for col in ("name", "value", "unit", "layer", "source / assumption"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["name"], f"{r['value']:g}", r["unit"], r["layer"], r["source"] or f"assumption: {r['assumption']}"
        )
    console.print(table)


@app.command()
def protocols(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the named clinical protocols with their sources."""
    from ketasim.dosing import protocols as lib

    rows = lib.table()
    if as_json:
        typer.echo(_json(rows))
        return
    table = Table(title="ketasim protocols")
    for col in ("name", "title", "doses", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["title"], r["doses"], r["source"])
    console.print(table)


@app.command()
def trial(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file (see examples/).")],
    patients: Annotated[int | None, typer.Option(help="Override the scenario's population size.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    db: Annotated[Path, typer.Option(help="DuckDB results store.")] = Path("ketasim-runs.duckdb"),
    workers: Annotated[int | None, typer.Option(help="Run chunks on K local Dask worker processes.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="Address of an existing Dask scheduler (tcp://...).")] = None,
    chunk_size: Annotated[
        int, typer.Option(help="Patients per chunk (bounds memory; results do not depend on it).")
    ] = 200,
    plot: Annotated[Path | None, typer.Option(help="Write the trial figure here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object: run_id, arms, comparisons.")] = False,
) -> None:
    """Run an in-silico randomised trial from a scenario file and store it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    from ketasim.scenario import load_scenario
    from ketasim.store import Store

    if workers is not None and scheduler is not None:
        raise KetasimError("workers: give either --workers or --scheduler, not both")
    if patients is not None and patients < 1:
        raise KetasimError(f"patients: must be >= 1 (got {patients})")
    sc, text = load_scenario(scenario)  # everything is validated before the store is touched
    tr = sc.trial(patients=patients, seed=seed)
    run_seed = sc.seed if seed is None else seed
    with (
        Store(db) as store,
        Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
            disable=as_json,
        ) as bar,
    ):
        task = bar.add_task(f"{sc.name}: {len(tr.population)} patients", total=None)
        res = tr.run(
            run_seed,
            chunk_size=chunk_size,
            workers=workers,
            scheduler=scheduler,
            store=store,
            scenario_text=text,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    _report(res, plot, as_json, f"{sc.name} (stored in {db})")


@app.command()
def runs(
    db: Annotated[Path, typer.Option(help="DuckDB results store.")] = Path("ketasim-runs.duckdb"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the runs in the results store."""
    from ketasim.store import Store

    if not db.exists():
        raise KetasimError(f"db: no results store at {db}")
    with Store(db) as store:
        df = store.runs()
    if as_json:
        typer.echo(_json(df.to_dict("records")))
        return
    table = Table(title=f"runs in {db}")
    for col in df.columns:
        table.add_column(col)
    for r in df.itertuples(index=False):
        table.add_row(*[str(x) for x in r])
    console.print(table)


@app.command()
def report(
    run_id: Annotated[str, typer.Argument(help="A run id from `ketasim runs`.")],
    db: Annotated[Path, typer.Option(help="DuckDB results store.")] = Path("ketasim-runs.duckdb"),
    plot: Annotated[Path | None, typer.Option(help="Write the trial figure here.")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Also export the run's tables as Parquet here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Re-render a stored run's table and figure without re-simulating."""
    from ketasim.store import Store

    if not db.exists():
        raise KetasimError(f"db: no results store at {db}")
    with Store(db) as store:
        res = store.load(run_id)
        if parquet is not None:
            store.export_parquet(run_id, parquet)
    _report(res, plot, as_json, f"run {run_id}")


def _report(res: Any, plot: Path | None, as_json: bool, title: str) -> None:
    if plot is not None:
        res.plot(plot)
    if as_json:
        typer.echo(_json(res.to_json()))
        return
    names = [k for k in next(iter(res.arms.values())) if k != "n"]
    table = Table(title=f"trial {res.run_id}: {title}")
    table.add_column("endpoint")
    for arm, d in res.arms.items():
        table.add_column(f"{arm} (n={int(d['n']['estimate'])})", justify="right")
    for name in names:
        cells = []
        for d in res.arms.values():
            v = d.get(name, {})
            est, lo, hi = v.get("estimate", math.nan), v.get("lower", math.nan), v.get("upper", math.nan)
            pct = name.startswith(("response_", "remission_", "sbp_rise_"))
            fmt = (lambda x: f"{100 * x:.0f}%") if pct else (lambda x: f"{x:.2f}")
            cells.append(
                fmt(est) + (f" [{fmt(lo)}, {fmt(hi)}]" if math.isfinite(lo) else "") if math.isfinite(est) else "-"
            )
        table.add_row(name, *cells)
    console.print(table)
    for comp in res.comparisons:
        ct = Table(title=f"{comp['arm']} vs {comp['versus']}")
        for col in ("endpoint", "statistic", "estimate [95% CI]"):
            ct.add_column(col)
        for ep, st in comp["endpoints"].items():
            items = st.items() if "estimate" not in st else [("hazard_ratio", st)]
            for sname, v in items:
                ct.add_row(ep, sname, f"{v['estimate']:.3g} [{v['lower']:.3g}, {v['upper']:.3g}]")
        console.print(ct)
    if plot is not None:
        console.print(f"figure written to {plot}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning ketasim errors into one line and exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except KetasimError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # usage errors of the click that typer vendors (typer._click, not `click`)
        if isinstance(exc, typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort):
            sys.exit(130)
        raise


if __name__ == "__main__":
    main()
