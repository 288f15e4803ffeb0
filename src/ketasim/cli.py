"""The ``ketasim`` command line (Typer + rich).

Every command that prints a table also takes ``--json``. Bad input prints one line naming the field
and the allowed range, and exits with status 2.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ketasim.errors import InputError, KetasimError, OutputError
from ketasim.plotting import check_figure_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ketasim.clinical.tci import TargetLike
    from ketasim.dosing import Regimen
    from ketasim.patients import Patient
    from ketasim.trials import TrialResult

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


def _version(value: bool) -> None:
    if value:
        from ketasim._internal.meta import VERSION

        console.print(f"ketasim {VERSION}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Mechanistic simulator of ketamine's antidepressant action (see the commands below)."""


# Patient options shared by every command that simulates one patient.
WeightOption = Annotated[str, typer.Option(help="Body weight, e.g. 70kg (20-300 kg).")]
SexOption = Annotated[str, typer.Option(help="male or female.")]
AgeOption = Annotated[float, typer.Option(help="Age in years (18-100).")]
Cyp2b6Option = Annotated[str, typer.Option(help="CYP2B6 genotype: *1/*1, *1/*6 or *6/*6.")]

# Wide tables stay readable when output is piped or captured (rich falls back to 80 columns there).
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

SUMMARY_LABELS = {
    "cmax_ng_ml": ("Ketamine Cmax (venous plasma)", "ng/mL"),
    "cmax_arterial_ng_ml": ("Ketamine Cmax (arterial plasma)", "ng/mL"),
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
    "discharge_h": ("Earliest discharge after the first session", "h"),
    "sessions_flagged": ("Sessions with a monitoring flag", "count"),
}


def _json(obj: object) -> str:
    from ketasim._internal.jsonable import dumps

    return dumps(obj)


@app.command()
def simulate(
    protocol: Annotated[str, typer.Option(help="Protocol name (see `ketasim protocols`).")] = "zarate-2006-iv",
    weight: WeightOption = "70 kg",
    sex: SexOption = "male",
    age: AgeOption = 45,
    days: Annotated[float, typer.Option(help="Simulated duration in days (> 0).")] = 7.0,
    madrs_baseline: Annotated[float, typer.Option(help="Pre-treatment MADRS (0-60).")] = 32,
    stress: Annotated[float, typer.Option(help="Chronic stress load (0 none, 1 typical TRD, max 3).")] = 1.0,
    alcohol_use_disorder: Annotated[
        bool, typer.Option("--aud/--no-aud", help="History of alcohol use disorder.")
    ] = False,
    drinks_per_day: Annotated[
        float,
        typer.Option(
            help="Current drinking, standard drinks (14 g ethanol) a day, 0-40; stop with the "
            "alcohol-abstinence protocol."
        ),
    ] = 0.0,
    cyp2b6: Cyp2b6Option = "*1/*1",
    comedication: Annotated[
        str,
        typer.Option(
            help="Comma-separated CYP3A4/CYP2B6 inhibitors or inducers taken: clarithromycin, "
            "ticlopidine, rifampicin, st_johns_wort (they change S-ketamine's liver clearance)."
        ),
    ] = "",
    biotype: Annotated[str, typer.Option(help="synaptic, monoaminergic or inflammatory.")] = "synaptic",
    psychotherapy: Annotated[str, typer.Option(help="Comma-separated session times, e.g. '1d,8d,15d'.")] = "",
    regimen_from: Annotated[
        Path | None,
        typer.Option(
            help="Take the doses (EVID 1 rows) of a NONMEM-style CSV instead of --protocol "
            "(see `ketasim export-nonmem`); the patient still comes from the options here."
        ),
    ] = None,
    record_id: Annotated[
        int | None, typer.Option("--id", help="The ID whose doses --regimen-from takes (needed if it holds several).")
    ] = None,
    drug: Annotated[
        str | None, typer.Option(help="Drug of every dose when the --regimen-from file has no DRUG column.")
    ] = None,
    disinhibition: Annotated[bool, typer.Option("--disinhibition/--no-disinhibition", help="Hypothesis (a).")] = True,
    rest_block: Annotated[bool, typer.Option("--rest-block/--no-rest-block", help="Hypothesis (b).")] = True,
    plot: Annotated[Path | None, typer.Option(help="Write the all-layer figure here (PNG/SVG/PDF).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the summary as JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Simulate one patient through the whole causal chain and print the headline metrics."""
    if plot is not None:  # before any work: a wrong suffix found after an hour's run would waste it
        check_figure_path(plot)
    from ketasim import Hypotheses, Patient, protocols
    from ketasim import simulate as run
    from ketasim._internal.files import atomic_write_text
    from ketasim.clinical.summary import monitoring_summary

    sessions = [s.strip() for s in psychotherapy.split(",") if s.strip()]
    patient = Patient(
        weight=weight,
        sex=sex,
        age=age,
        madrs_baseline=madrs_baseline,
        stress_load=stress,
        alcohol_use_disorder=alcohol_use_disorder,
        drinks_per_day=drinks_per_day,
        cyp2b6=cyp2b6,
        comedication=[c.strip() for c in comedication.split(",") if c.strip()],
        biotype=biotype,
        psychotherapy=sessions,
    )
    if regimen_from is not None:
        from ketasim.interop.nonmem import regimen_from_nonmem

        regimen = regimen_from_nonmem(regimen_from, record_id, drug=drug)
        label = str(regimen.name)
    elif record_id is not None or drug is not None:
        raise InputError("id" if record_id is not None else "drug", "only with --regimen-from FILE")
    else:
        regimen, label = protocols.get(protocol), protocol
    if not days > 0:
        raise InputError("days", "must be > 0")
    res = run(regimen, patient, duration=f"{days} d", hypotheses=Hypotheses(disinhibition, rest_block))
    monitoring = monitoring_summary(res)
    summary = {**res.summary(), **monitoring.metrics}
    if out is not None:
        atomic_write_text(out, _json(summary) + "\n")
    if plot is not None:
        from ketasim.analysis.validation import reference_points

        res.plot(plot, reference=reference_points(protocol))
    if as_json:
        typer.echo(_json(summary))
        return
    table = Table(title=f"{label}: {regimen.description}", caption=f"source: {regimen.source}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("unit")
    table.add_column("key", style="dim")
    for key, value in summary.items():
        label, unit = SUMMARY_LABELS.get(key, (key, ""))
        table.add_row(label, "n/a (beyond run)" if not math.isfinite(value) else f"{value:.3g}", unit, key)
    console.print(table)
    for flag in monitoring.flags:
        console.print(f"[bold red]monitoring flag[/bold red] {flag}")
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
    from ketasim.parameters import PARAMETER_LAYERS, default_parameters

    if layer is not None and layer not in PARAMETER_LAYERS:
        raise InputError("layer", f"must be one of {', '.join(PARAMETER_LAYERS)}", got=repr(layer))
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
    if plot is not None:  # before any work: a wrong suffix found after an hour's run would waste it
        check_figure_path(plot)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    from ketasim.interop.store import Store
    from ketasim.trials.launch import prepare_scenario_run

    if workers is not None and scheduler is not None:
        raise InputError("workers", "give either --workers or --scheduler, not both")
    plan = prepare_scenario_run(scenario, patients=patients, seed=seed)  # validated before the store is touched
    if plan.phased:
        _run_phased(plan, plot, as_json, chunk_size, workers, scheduler)
        return
    with (
        Store(db, on_wait=_tell) as store,
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
        task = bar.add_task(f"{plan.name}: {plan.n_patients} patients", total=None)
        res = plan.run(
            chunk_size=chunk_size,
            workers=workers,
            scheduler=scheduler,
            store=store,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    from ketasim.trials import Trial
    from ketasim.trials.result import TrialResult as Result

    assert isinstance(res, Result)  # a phased design returned above
    _report(res, plot, as_json, f"{plan.name} (stored in {db})", plan.scenario.reference)
    if not as_json and isinstance(plan.trial, Trial):
        _exposure_table(plan.trial.arms)


def _exposure_table(arms: Mapping[str, Regimen]) -> None:
    """Each arm's ketamine exposure at 70 kg: the numbers `ketasim risk` sets beside the reported harms."""
    from ketasim.clinical.risk import exposure

    t = Table(title="exposure per arm at 70 kg (the evidence on long-term risks: ketasim risk PROTOCOL)")
    for col in ("arm", "sessions", "most in 7 days", "most mg in 7 days", "total mg"):
        t.add_column(col, justify="left" if col == "arm" else "right")
    for name, regimen in arms.items():
        if not any(d.drug.is_ketamine for d in regimen.doses):
            t.add_row(name, "-", "-", "-", "-")
            continue
        e = exposure(regimen)
        t.add_row(name, str(e.sessions), str(e.max_sessions_per_week), f"{e.max_mg_per_week:.0f}", f"{e.total_mg:.0f}")
    console.print(t)


@app.command()
def runs(
    db: Annotated[Path, typer.Option(help="DuckDB results store.")] = Path("ketasim-runs.duckdb"),
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List the runs in the results store."""
    from ketasim.interop.store import list_runs

    df = list_runs(db, on_wait=_tell)
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
    if plot is not None:  # before any work: a wrong suffix found after an hour's run would waste it
        check_figure_path(plot)
    from ketasim.interop.store import load_run, stored_scenario

    res = load_run(db, run_id, parquet=parquet, on_wait=_tell)
    reference = None
    if plot is not None:  # the published points of the scenario the run was started from, if it kept one
        text = stored_scenario(db, run_id)
        if text:
            from ketasim.trials.scenario import parse_scenario

            try:
                reference = parse_scenario(text).reference
            except InputError as exc:
                err_console.print(f"note: the stored scenario no longer reads ({escape(str(exc))}); "
                                  "the figure has no published points", highlight=False)  # fmt: skip
    _report(res, plot, as_json, f"run {run_id}", reference)


@app.command()
def validate(
    quick: Annotated[
        bool, typer.Option("--quick", help="100 virtual patients per arm instead of the study's n.")
    ] = False,
    plots: Annotated[
        Path | None,
        typer.Option(
            help="Write one overlay figure per study into this folder, and pk.png: every PK study's "
            "published values over the model's median and 5-95% band, one panel per study."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per row.")] = False,
    params_dir: Annotated[Path | None, typer.Option("--params", help="Use this parameter-set folder.")] = None,
    readme: Annotated[Path | None, typer.Option(help="Rewrite the generated validation table in this README.")] = None,
) -> None:
    """Compare the model with every published reference row: predicted, observed, error, pass/fail."""
    from rich.progress import Progress

    from ketasim.analysis.validation import plot_validation
    from ketasim.analysis.validation import validate as run_validation
    from ketasim.analysis.validation.summary import pass_counts, readme_note
    from ketasim.parameters import load_parameter_set

    params = load_parameter_set(params_dir) if params_dir else None
    if plots is not None and plots.exists() and not plots.is_dir():  # said now, not after minutes of validating
        raise OutputError(plots, "is a file; --plots takes a folder")
    results: dict[str, Any] = {}
    with Progress(console=err_console, transient=True, disable=as_json) as bar:
        task = bar.add_task("validating", total=None)
        rows = run_validation(quick=quick, params=params, results=results if plots is not None else None,
                              progress=lambda d, t: bar.update(task, completed=d, total=t))  # fmt: skip
    if plots is not None:
        plot_validation(rows, plots, results)
    if readme is not None:
        from ketasim.analysis.validation import update_readme

        update_readme(readme, rows, readme_note(quick))
    if as_json:
        typer.echo(_json([r.to_dict() for r in rows]))
        return
    table = Table(title=f"ketasim validate{' --quick' if quick else ''}")
    for col in ("study", "quantity", "arm", "observed", "predicted", "error", "tolerance", "pass", "calibrated"):
        table.add_column(col, justify="right" if col in ("observed", "predicted", "error", "tolerance") else "left")
    for r in rows:
        ok = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        table.add_row(r.study, r.quantity, r.arm or "", f"{r.observed:.3g}", f"{r.predicted:.3g}", f"{r.error:+.3g}",
                      f"{r.tolerance:.3g}", ok, "yes" if r.calibrated else "held out")  # fmt: skip
    console.print(table)
    c = pass_counts(rows)
    console.print(
        f"calibration rows passing: {c.calibration_passed}/{c.calibration_total}; "
        f"held-out rows passing: {c.held_out_passed}/{c.held_out_total}"
    )


@app.command()
def calibrate(
    config: Annotated[Path, typer.Argument(help="Calibration TOML (see calibration/ssri.toml).")],
    out: Annotated[Path, typer.Option(help="Folder for the new parameter set (never the shipped one).")] = Path(
        "calibrated-params"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print the fitted values as JSON.")] = False,
) -> None:
    """Fit named parameters to named reference rows; write a new parameter set with provenance."""
    from ketasim.analysis.calibration import calibrate as run_calibration
    from ketasim.analysis.calibration import load_config, write_parameter_set

    cfg = load_config(config)
    with err_console.status(f"calibrating {len(cfg.parameters)} parameters to {len(cfg.rows)} rows"):
        res = run_calibration(cfg)
    write_parameter_set(res, out, config.read_text(encoding="utf-8"))
    if as_json:
        typer.echo(_json({"parameters": res.table(), "rows": dict(zip(res.rows, res.residuals, strict=True)),
                          "cost": res.cost, "evaluations": res.evaluations, "out": str(out)}))  # fmt: skip
        return
    table = Table(title=f"calibration {res.config_name} ({res.evaluations} evaluations, cost {res.cost:.3g})")
    for col in ("parameter", "initial", "fitted", "95% CI"):
        table.add_column(col)
    for r in res.table():
        table.add_row(r["name"], f"{r['initial']:.4g}", f"{r['fitted']:.4g}", f"{r['lower95']:.3g}-{r['upper95']:.3g}")
    console.print(table)
    console.print(f"parameter set written to {out} (use it with --params {out})")


@app.command("calibrate-population")
def calibrate_population_cmd(
    config: Annotated[Path, typer.Argument(help="Virtual-population TOML (see calibration/vpop-trd.toml).")],
    out: Annotated[Path, typer.Option(help="Folder for <cohort>.parquet and <cohort>.json.")] = Path("vpop"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the targets reached as JSON.")] = False,
) -> None:
    """Draw plausible patients, simulate the calibration trials, fit the weights; write the population.

    The shipped population is reproduced with
    `ketasim calibrate-population calibration/vpop-trd.toml --out src/ketasim/patients/vpop`.
    """
    from rich.progress import Progress

    from ketasim.analysis.vpop import calibrate_population, load_config, write_vpop

    cfg = load_config(config)
    with Progress(console=err_console, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(what: str, i: int, n: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"{what}", total=n)
            bar.update(tasks[what], completed=i)

        res = calibrate_population(cfg, progress=progress)
    path = write_vpop(res, out, config.read_text(encoding="utf-8"))
    report = res.report()
    if as_json:
        typer.echo(_json({"out": str(path), "effective_sample_size": res.ess, "targets": report}))
        return
    table = Table(title=f"virtual population {cfg.name}: {len(res.patients)} plausible patients, "
                        f"effective sample size {res.ess:.0f}")  # fmt: skip
    for col in ("target", "observed (SE)", "prior", "calibrated", "ensemble 95%"):
        table.add_column(col)
    for r in report:
        table.add_row(r["target"], f"{r['observed']:.3g} ({r['se']:.2g})", f"{r['prior']:.3g}",
                      f"{r['calibrated']:.3g}", f"{r['ensemble_lower']:.3g} to {r['ensemble_upper']:.3g}")  # fmt: skip
    console.print(table)
    console.print(f"virtual population written to {path}")


@app.command()
def sensitivity(
    n: Annotated[
        int,
        typer.Option(
            help="Saltelli base sample size, a power of two (evaluations = n x (parameters + 2)); "
            "64 gives wrong indices over 15 parameters."
        ),
    ] = 1024,
    parameters: Annotated[
        str | None, typer.Option(help="Comma-separated parameter names (default: 15 PD ones).")
    ] = None,
    outputs: Annotated[str | None, typer.Option(help="Comma-separated outputs.")] = None,
    protocol: Annotated[str, typer.Option(help="Protocol to analyse.")] = "zarate-2006-iv",
    fold: Annotated[
        float, typer.Option(help="Each parameter varies log-uniformly within value/fold..value*fold.")
    ] = 2.0,
    workers: Annotated[int | None, typer.Option(help="Local Dask worker processes.")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 1,
    plot: Annotated[Path | None, typer.Option(help="Write the index figure here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of indices.")] = False,
) -> None:
    """Global Sobol sensitivity (first and total order, 95% CI) of outputs to uncertain parameters."""
    if plot is not None:  # before any work: a wrong suffix found after an hour's run would waste it
        check_figure_path(plot)
    from rich.progress import Progress

    from ketasim.analysis.sensitivity import DEFAULT_OUTPUTS, DEFAULT_PARAMETERS, READABLE_CONF, sobol_model
    from ketasim.analysis.sobol_setup import check_base_size, name_list

    check_base_size(n)
    names, outs = name_list(parameters, DEFAULT_PARAMETERS), name_list(outputs, DEFAULT_OUTPUTS)
    with Progress(console=err_console, transient=True, disable=as_json) as bar:
        task = bar.add_task("Sobol evaluations", total=None)
        res = sobol_model(names, outs, n=n, regimen=protocol, fold=fold, seed=seed, workers=workers,
                          progress=lambda d, t: bar.update(task, completed=d, total=t))  # fmt: skip
    if plot is not None:
        res.plot(plot)
    width, par, out = res.widest_interval()
    if width > READABLE_CONF:
        err_console.print(f"warning: 95% intervals up to +-{width:.2f} ({par} on {out}) are too wide to read; "
                          f"increase --n (now {n})", highlight=False)  # fmt: skip
    if as_json:
        typer.echo(_json(res.to_json()))
        return
    table = Table(title=f"Sobol indices, {res.n_evaluations} evaluations ({protocol})")
    for col in ("output", "parameter", "S1 [95% CI]", "ST [95% CI]"):
        table.add_column(col)
    for r in res.to_json():
        table.add_row(
            r["output"], r["parameter"], f"{r['S1']:.2f} +- {r['S1_conf']:.2f}", f"{r['ST']:.2f} +- {r['ST_conf']:.2f}"
        )
    console.print(table)


def _patient_options(weight: str, sex: str, age: float, cyp2b6: str) -> Patient:
    from ketasim import Patient

    return Patient(weight=weight, sex=sex, age=age, cyp2b6=cyp2b6)


@app.command()
def monitor(
    protocol: Annotated[str, typer.Option(help="Protocol name.")] = "esketamine-84mg-single",
    hours: Annotated[float, typer.Option(help="Hours to simulate (> 0).")] = 8.0,
    weight: WeightOption = "70 kg",
    sex: SexOption = "male",
    age: AgeOption = 45,
    cyp2b6: Cyp2b6Option = "*1/*1",
    sbp_threshold: Annotated[float, typer.Option(help="Systolic rise that flags (mmHg; label: 40).")] = 40.0,
    cadss_threshold: Annotated[float, typer.Option(help="CADSS that flags / delays discharge (points).")] = 4.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per session.")] = False,
) -> None:
    """Per-session monitoring: peak dissociation and blood pressure, time above thresholds, discharge time."""
    from ketasim import protocols as lib
    from ketasim import simulate as run
    from ketasim.clinical import monitor as monitor_sessions

    if not hours > 0:
        raise InputError("hours", "must be > 0", got=hours)
    regimen = lib.get(protocol)
    res = run(regimen, _patient_options(weight, sex, age, cyp2b6), duration=f"{hours} h", output_step="1 min")
    table = monitor_sessions(res, regimen, sbp_threshold=sbp_threshold, cadss_threshold=cadss_threshold)
    if as_json:
        typer.echo(_json(json.loads(table.to_json(orient="records"))))
        return
    t = Table(title=f"monitoring: {protocol}")
    cols = [
        "start_h",
        "cadss_peak",
        "sbp_rise_peak_mmhg",
        "hours_cadss_above",
        "hours_sbp_above",
        "flag",
        "discharge_h",
    ]
    cols = [c for c in cols if c in table.columns]
    for c in cols:
        t.add_column(c)
    for r in table[cols].itertuples(index=False):
        t.add_row(*[f"{x:.3g}" if isinstance(x, float) else str(x) for x in r])
    console.print(t)


@app.command()
def risk(
    protocol: Annotated[str, typer.Argument(help="Protocol name (`ketasim protocols` lists them).")],
    weight: WeightOption = "70 kg",
    sex: SexOption = "male",
    age: AgeOption = 45,
    cyp2b6: Cyp2b6Option = "*1/*1",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Risks of use of a regimen: its exposure, the acute measures the model predicts, and what is reported
    about long-term harms (urinary tract, cognition, misuse, liver) with its evidence level and sources.
    Evidence beside exposure, not a personal risk score."""
    from ketasim import protocols as lib
    from ketasim.clinical.risk import risk_panel

    panel = risk_panel(lib.get(protocol), _patient_options(weight, sex, age, cyp2b6))
    if as_json:
        typer.echo(_json(panel.to_json()))
        return
    e = panel.exposure
    t = Table(title=f"exposure: {protocol} ({e.weight_kg:g} kg)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for name, value in (("sessions", f"{e.sessions}"), ("most sessions in 7 days", f"{e.max_sessions_per_week}"),
                        ("largest dose", f"{e.mg_per_session_max:.0f} mg"),
                        ("most mg in 7 days", f"{e.max_mg_per_week:.0f} mg"), ("total", f"{e.total_mg:.0f} mg"),
                        ("course (first to last dose)", f"{e.course_days:g} d"),
                        ("longest continuous infusion", f"{e.longest_infusion_h:.2g} h")):  # fmt: skip
        t.add_row(name, value)
    console.print(t)
    a = panel.acute
    console.print(f"acute (model, this patient, {a['sessions_simulated']} sessions): peak CADSS "
                  f"{a['cadss_peak_max']:.1f}, peak systolic rise {a['sbp_rise_peak_max_mmhg']:.1f} mmHg, sessions "
                  f"flagged for blood pressure {a['sessions_flagged_sbp']}, for dissociation "
                  f"{a['sessions_flagged_cadss']}, latest discharge {a['discharge_h_max']:.1f} h after a "
                  "session")  # fmt: skip
    lt = Table(title="long-term risks: what is reported, beside this regimen (not a personal risk score)",
               show_lines=True)  # fmt: skip
    for col in ("risk", "this regimen", "reported at", "evidence", "level", "sources"):
        lt.add_column(col, overflow="fold")
    for r in panel.rows.itertuples(index=False):
        lt.add_row(r.risk, r.this_regimen, r.reported_at, r.evidence, r.level, r.sources)
    console.print(lt)


@app.command()
def tci(
    target: Annotated[str | None, typer.Option(help="Target concentration, e.g. '150 ng/mL'.")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Stepped targets 'time:conc,...', e.g. '0:100,20min:250'.")
    ] = None,
    site: Annotated[str, typer.Option(help="plasma or effect (plasma-equivalent).")] = "plasma",
    drug: Annotated[str, typer.Option(help="ketamine or esketamine.")] = "ketamine",
    duration: Annotated[str, typer.Option(help="How long to hold the target.")] = "2 h",
    update_every: Annotated[str, typer.Option(help="Pump update interval.")] = "10 s",
    weight: WeightOption = "70 kg",
    sex: SexOption = "male",
    age: AgeOption = 45,
    cyp2b6: Cyp2b6Option = "*1/*1",
    check: Annotated[bool, typer.Option("--check", help="Simulate the schedule and report the deviation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rate schedule as JSON.")] = False,
) -> None:
    """Target-controlled infusion: the rate schedule that reaches and holds a concentration."""
    from ketasim import simulate as run
    from ketasim.clinical.tci import (
        parse_profile,
        tci_deviation_pct,
        tci_profile_deviation_pct,
        tci_rates,
        tci_schedule,
        tci_totals,
    )
    from ketasim.units import parse_quantity

    if (target is None) == (profile is None):
        raise InputError("target", "give exactly one of --target or --profile")
    tgt: TargetLike = parse_profile(profile) if profile is not None else str(target)
    patient = _patient_options(weight, sex, age, cyp2b6)
    reg = tci_schedule(tgt, patient, drug=drug, site=site, duration=duration, update_every=update_every)
    rates = tci_rates(reg)
    out: dict[str, float] = tci_totals(rates)
    if check:
        res = run(reg, patient, duration=duration, output_step="1 min")
        if profile is None:
            level = parse_quantity(str(target), "target", "ng/mL")  # validated by tci_schedule already
            out["max_deviation_pct"] = tci_deviation_pct(res, level, drug)
        else:
            steps = [(parse_quantity(t, "profile", "h"), float(c)) for t, c in parse_profile(profile)]
            out["max_deviation_pct"] = tci_profile_deviation_pct(res, steps, drug)
    if as_json:
        typer.echo(_json({**out, "schedule": json.loads(rates.to_json(orient="records"))}))
        return
    console.print(rates.head(12).to_string())
    console.print(f"{out['steps']} rate steps, {out['total_mg']:.1f} mg in total")
    if "max_deviation_pct" in out:
        console.print(
            "simulated plasma deviation from target after the first quarter of each target level: "
            f"{out['max_deviation_pct']:.2f}%"
        )


@app.command("dose-finder")
def dose_finder(
    drug: Annotated[str, typer.Option(help="ketamine or esketamine.")] = "ketamine",
    route: Annotated[str, typer.Option(help="iv, intranasal, im or oral.")] = "iv",
    duration: Annotated[str, typer.Option(help="Infusion duration (IV).")] = "40 min",
    max_cadss: Annotated[float, typer.Option(help="Limit on peak CADSS (points).")] = 7.7,
    max_sbp_rise: Annotated[float, typer.Option(help="Limit on peak systolic rise (mmHg).")] = 40.0,
    dose_min: Annotated[str, typer.Option(help="Lowest dose.")] = "0.1 mg/kg",
    dose_max: Annotated[str, typer.Option(help="Highest dose.")] = "1.5 mg/kg",
    weight: WeightOption = "70 kg",
    sex: SexOption = "male",
    age: AgeOption = 45,
    cyp2b6: Cyp2b6Option = "*1/*1",
    as_json: Annotated[bool, typer.Option("--json", help="Print the finding as JSON.")] = False,
) -> None:
    """The dose that maximises predicted 24-h MADRS improvement within the safety limits."""
    from ketasim.clinical.dose_finder import find_dose

    found = find_dose(
        _patient_options(weight, sex, age, cyp2b6), drug=drug, route=route,
        duration=duration if route.lower() in ("iv", "intravenous") else None,
        max_cadss=max_cadss, max_sbp_rise=max_sbp_rise, dose_range=(dose_min, dose_max),
    )  # fmt: skip
    d = found.to_dict()
    if as_json:
        typer.echo(_json(d))
        return
    t = Table(title="dose finder")
    t.add_column("quantity")
    t.add_column("value")
    for k, v in d.items():
        t.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    console.print(t)


@app.command("export-sbml")
def export_sbml_cmd(
    out: Annotated[Path, typer.Argument(help="Output SBML file (.xml).")],
    protocol: Annotated[str, typer.Option(help="Protocol whose doses become SBML events.")] = "zarate-2006-iv",
    weight: WeightOption = "70 kg",
    sex: SexOption = "male",
    age: AgeOption = 45,
    cyp2b6: Cyp2b6Option = "*1/*1",
) -> None:
    """Write the assembled model for one patient as validated SBML Level 3 (doses as events)."""
    from ketasim import protocols as lib
    from ketasim._internal.files import atomic_write_text
    from ketasim.interop.sbml import export_sbml

    text = export_sbml(lib.get(protocol), _patient_options(weight, sex, age, cyp2b6))
    atomic_write_text(out, text)
    console.print(f"SBML Level 3 model ({len(text) // 1024} KiB, validated with libSBML) written to {out}")


@app.command("export-nonmem")
def export_nonmem_cmd(
    out: Annotated[Path, typer.Argument(help="Output CSV file (NONMEM-style dataset, '.' for missing).")],
    protocol: Annotated[str, typer.Option(help="Protocol to simulate (see `ketasim protocols`).")] = "zarate-2006-iv",
    patients: Annotated[
        int | None,
        typer.Option(help="Draw N virtual patients from --cohort (default: one patient from the options below)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the drawn patients (with --patients).")] = 1,
    cohort: Annotated[str, typer.Option(help="trd, trd_prior, mdd or healthy (with --patients).")] = "trd",
    days: Annotated[float, typer.Option(help="Simulated duration in days (> 0).")] = 7.0,
    every: Annotated[str, typer.Option(help="Observation interval, e.g. '1 h' or '15 min'.")] = "1 h",
    observe: Annotated[
        str,
        typer.Option(
            help="Comma-separated observations (DVID order): ketamine_plasma, esketamine_plasma, "
            "arketamine_plasma, norketamine_plasma, hydroxynorketamine_plasma, psilocin_plasma, "
            "escitalopram_plasma, madrs."
        ),
    ] = "ketamine_plasma,madrs",
    weight: Annotated[str | None, typer.Option(help="Body weight, e.g. 70kg (with --patients: everyone's).")] = None,
    sex: Annotated[str | None, typer.Option(help="male or female (with --patients: everyone's).")] = None,
    age: Annotated[float | None, typer.Option(help="Age in years, 18-100 (with --patients: everyone's).")] = None,
    cyp2b6: Annotated[
        str | None, typer.Option(help="CYP2B6 genotype *1/*1, *1/*6 or *6/*6 (with --patients: everyone's).")
    ] = None,
) -> None:
    """Simulate a protocol and write the study as a NONMEM-style dataset for nlmixr2, Monolix, Pumas or NONMEM.

    Columns ID TIME(h) AMT(mg) RATE(mg/h) CMT EVID DV MDV DVID DRUG WT SEX AGE CYP2B6 ANCESTRY; the codes are
    in the README ("Pharmacometric data exchange") and in `ketasim describe-population`.
    """
    from ketasim import Patient, protocols
    from ketasim import simulate as run
    from ketasim.interop.nonmem import DVID, to_nonmem
    from ketasim.patients import Population
    from ketasim.units import parse_quantity

    regimen = protocols.get(protocol)
    if not days > 0:
        raise InputError("days", "must be > 0")
    step_h = parse_quantity(every, "every", "h", strictly_positive=True, maximum=24 * days, unit_required=True)
    names = [x.strip() for x in observe.split(",") if x.strip()]
    unknown = [x for x in names if x not in DVID]
    if unknown or not names:
        raise InputError("observe", f"must name some of: {', '.join(DVID)}", got=", ".join(unknown) or "none")
    given = {"weight": weight, "sex": sex, "age": age, "cyp2b6": cyp2b6}
    fixed: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    people = list(Population.sample(patients, seed, cohort, **fixed)) if patients is not None else [Patient(**fixed)]
    res = run(regimen, population=people, duration=f"{days} d", output_step=f"{step_h!r} h", outputs=names)
    df = to_nonmem(res, people, analytes=names, path=out)
    n_doses = int((df["EVID"] == 1).sum())
    console.print(f"NONMEM-style dataset written to {out}: {len(people)} patients, {n_doses} dose records, "
                  f"{len(df) - n_doses} observations ({', '.join(names)})")  # fmt: skip
    if df.attrs["omitted_sessions"]:
        console.print(f"left out (sessions, not doses): {'; '.join(df.attrs['omitted_sessions'])}")
    if df.attrs["omitted_doses"]:
        console.print(f"left out (after the {days:g} days simulated): {'; '.join(df.attrs['omitted_doses'])}")


@app.command("describe-population")
def describe_population_cmd(
    out: Annotated[Path, typer.Argument(help="Output JSON file.")],
    params_dir: Annotated[Path | None, typer.Option("--params", help="Use this parameter-set folder.")] = None,
) -> None:
    """Write the population model as JSON (to sit beside the SBML): typical PK values with units and sources,
    inter-individual variability (CV and omega^2), covariate model with formulas, residual errors; all read
    from the parameter registry."""
    from ketasim.interop.nonmem import population_description
    from ketasim.parameters import load_parameter_set

    doc = population_description(load_parameter_set(params_dir) if params_dir else None, path=out)
    console.print(
        f"population description written to {out}: {len(doc['typical_values'])} PK parameters, "
        f"{len(doc['iiv']['pk'])} with PK variability, {len(doc['covariate_model'])} covariate effects"
    )


@app.command("serve")
def serve_cmd(
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Loopback (the default) is reachable only from "
            "this machine; another address is served with a warning."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (1-65535).")] = 8000,
    max_trial_patients: Annotated[int, typer.Option(help="Largest small trial the page may run (patients).")] = 3000,
) -> None:
    """Open the interactive explorer in the browser: every layer of the chain for one patient, updated as you
    change the dose, the patient or the hypotheses; pin and overlay runs; small trials; downloads of the
    figure, the series (CSV) and the trial as a scenario file. Needs the serve extra."""
    from ketasim.serve import Limits, serve

    if not 1 <= port <= 65535:
        raise InputError("port", "must be within 1-65535", got=port)
    if not 2 <= max_trial_patients <= 100_000:
        raise InputError("max_trial_patients", "must be within 2-100,000", got=max_trial_patients)
    serve(
        host,
        port,
        Limits(
            trial_patients=max_trial_patients,
            trial_patient_days=max(Limits().trial_patient_days, max_trial_patients * 7.0),
        ),
    )


def _tell(message: str) -> None:
    """One line on stderr while a command waits (for a results store another process holds)."""
    err_console.print(escape(message), highlight=False, soft_wrap=True)


def _run_phased(plan: Any, plot: Path | None, as_json: bool, chunk_size: int, workers: int | None,
                scheduler: str | None) -> None:  # fmt: skip
    """A phased design: run with a progress bar, print the patient flow and the time-to-event tables."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=True,
                  disable=as_json) as bar:  # fmt: skip
        task = bar.add_task(f"{plan.name}: {plan.n_patients} patients", total=None)
        res = plan.run(chunk_size=chunk_size, workers=workers, scheduler=scheduler,
                       progress=lambda done, total: bar.update(task, completed=done, total=total))  # fmt: skip
    if plot is not None:
        res.plot(plot)
    if as_json:
        typer.echo(_json(res.to_json()))
        return
    flow = Table(title=f"{plan.name}: patients per phase (phased design; not kept in the results store)")
    for col in ("phase", "arm", "stratum", "entered", "event"):
        flow.add_column(col, justify="right" if col in ("entered", "event") else "left")
    for r in res.flow().itertuples(index=False):
        flow.add_row(r.phase, r.arm, r.stratum or "-", str(r.entered), f"{r.event} {r.event_name}".strip())
    console.print(flow)
    left = res.endpoints["left_because"].value_counts()
    console.print("follow-up ended: " + ", ".join(f"{k} {v}" for k, v in left.items()))
    for p in res.event_phases():
        for stratum in [None, *(s for s in res.strata(p.name) if s)]:
            tab = res.time_to_event(p.name, stratum)
            t = Table(title=f"{p.name}: time to {p.stop_when}" + (f" ({stratum})" if stratum else " (all strata)"))
            for col in (
                "arm",
                "n",
                "events",
                "proportion [95% CI]",
                "KM median (d)",
                f"HR vs {p.control_arm} [95% CI]",
            ):
                t.add_column(col, justify="left" if col == "arm" else "right")
            for r in tab.itertuples(index=False):
                hr = "-" if not math.isfinite(r.hr) else f"{r.hr:.2f} [{r.hr_lower:.2f}, {r.hr_upper:.2f}]"
                med = "not reached" if not math.isfinite(r.median_days) else f"{r.median_days:.0f}"
                prop = f"{r.proportion:.3f} [{r.proportion_lower:.3f}, {r.proportion_upper:.3f}]"
                t.add_row(str(r.arm), str(r.n), str(r.events), prop, med, hr)
            console.print(t)
    _phased_outcomes(res)
    if plot is not None:
        console.print(f"figure written to {plot}")


def _phased_outcomes(res: Any) -> None:
    """The rated outcome at each phase's last visit, and the dose distribution of titrated arms."""
    out = res.visit_outcomes()
    if not out.empty:
        last = out.groupby(["phase", "arm"], sort=False).tail(1)
        t = Table(title="rated MADRS at each phase's last visit (patients rated there)")
        for col in ("phase", "arm", "visit", "n", "change [95% CI]", "response", "remission (<= 12)"):
            t.add_column(col, justify="left" if col in ("phase", "arm") else "right")
        for r in last.itertuples(index=False):
            change = f"{r.madrs_change:.1f} [{r.change_lower:.1f}, {r.change_upper:.1f}]"
            t.add_row(
                r.phase, r.arm, r.visit, str(r.n), change, f"{100 * r.response:.0f}%", f"{100 * r.remission:.0f}%"
            )
        console.print(t)
    doses = res.dose_levels()
    titrated = doses.groupby(["phase", "arm"])["amount_mg"].transform("nunique") > 1
    if titrated.any():
        t = Table(title="dose per session of titrated arms (share of the patients given that session)")
        for col in ("phase", "arm", "session", "n", "dose mg: share"):
            t.add_column(col, justify="left" if col in ("phase", "arm", "dose mg: share") else "right")
        for (phase, arm, k), g in doses[titrated].groupby(["phase", "arm", "session"], sort=False):
            shares = ", ".join(f"{a:g}: {100 * x:.0f}%" for a, x in zip(g["amount_mg"], g["share"], strict=True))
            t.add_row(phase, arm, str(k), str(int(g["n"].iloc[0])), shares)
        console.print(t)


def _report(res: TrialResult, plot: Path | None, as_json: bool, title: str,
            reference: dict[str, Any] | None = None) -> None:  # fmt: skip
    from ketasim.trials.report import comparison_tables, endpoint_table, estimand_table

    if plot is not None:
        res.plot(plot, reference=reference)
    if as_json:
        typer.echo(_json(res.to_json()))
        return
    arms = endpoint_table(res, title)
    table = Table(title=arms.title)
    for i, col in enumerate(arms.columns):
        table.add_column(col, justify="right" if i else "left")  # endpoint name, then one column per arm
    for row in arms.rows:
        table.add_row(*row)
    if any("model_lower" in v for d in res.arms.values() for v in d.values()):
        table.caption = "estimate [95% Monte-Carlo CI] {95% range over the virtual population's ensemble}"
    console.print(table)
    extra = [t for t in (estimand_table(res),) if t is not None]
    for comp in [*comparison_tables(res), *extra]:
        ct = Table(title=comp.title)
        for col in comp.columns:
            ct.add_column(col)
        for row in comp.rows:
            ct.add_row(*row)
        console.print(ct)
    if plot is not None:
        console.print(f"figure written to {plot}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app, turning ketasim errors into one line and exit status 2, Ctrl-C
    (SIGINT) into "interrupted" and status 130, SIGTERM into "terminated" and status 143. Long commands
    clean up on the way out (workers stopped, the store's transaction rolled back)."""
    import signal

    from ketasim._internal.signals import Terminated, interrupts_as_exceptions

    received: list[int] = []
    try:
        with interrupts_as_exceptions() as received:
            # typer turns an interrupt inside a command into exit code 130 (returned, not raised, here)
            code = app(args=argv, standalone_mode=False)
    except KetasimError as exc:
        # escaped: a message may hold brackets (".[sbml]", "[0, 3000]") that rich would read as markup
        # control characters echoed from the input (a newline, U+0085) would break the one line: shown escaped
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(exc))
        err_console.print(f"[red]error:[/red] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt as exc:  # outside a command (while parsing arguments)
        code = 143 if isinstance(exc, Terminated) else 130
    except Exception as exc:  # usage errors of the click that typer vendors (typer._click, not `click`)
        if isinstance(exc, typer.TyperException) and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort):
            code = 130
        else:
            raise
    if code in (130, 143):
        terminated = code == 143 or (received and received[-1] == signal.SIGTERM)
        err_console.print("terminated" if terminated else "interrupted")
        sys.exit(143 if terminated else 130)
    if isinstance(code, int) and code != 0:  # standalone_mode=False returns the exit code instead of exiting
        sys.exit(code)


if __name__ == "__main__":
    main()
