"""The ``macefield`` command line: demo, screen, query, compare, info.

This module is the only place that configures logging. Every command has
``--help``; expected errors print one line and exit with status 1.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from pathlib import Path
from typing import List, Optional

import typer

from macefield_flows.cli.common import configure_logging, console, err_console, user_errors

logger = logging.getLogger(__name__)

app = typer.Typer(name="macefield", help="MACE-Field screening of Born charges, dielectric and piezoelectric "
                  "tensors (jobflow).", no_args_is_help=True, add_completion=False,
                  context_settings={"help_option_names": ["-h", "--help"]})


@app.callback()
def _main(verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v info, -vv debug logging.")):
    """MACE-Field screening of Born charges, dielectric and piezoelectric tensors."""
    configure_logging(verbose)


def _parse_field(value: Optional[str]) -> Optional[list[float]]:
    if value is None:
        return None
    parts = [p for p in value.replace(",", " ").split() if p]
    try:
        vec = [float(p) for p in parts]
    except ValueError:
        vec = []
    if len(vec) != 3:
        raise ValueError(f"--field {value!r}: expected three numbers in V/A, e.g. '0,0,0.01'")
    return vec


def _screen(structures, model: str, device: str, field: Optional[list[float]], relax: bool, store_spec,
            workers: int, chunk_size: int, head: Optional[str], fmax: float, relax_cell: bool,
            retry_failed: bool, trust_pickle: bool, dtype: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from macefield_flows.cli.run import run_screening
    from macefield_flows.flows import ScreeningMaker
    from macefield_flows.jobs._model import model_path
    from macefield_flows.stores import get_jobstore, stored_keys

    store = get_jobstore(store_spec)  # fails fast on an unreachable MongoDB
    model_file = str(model_path(model))  # fails fast on an unknown model
    maker = ScreeningMaker(model=model_file, device=device, dtype=dtype, head=head, electric_field=field,
                           relax=relax, relax_cell=relax_cell, fmax=fmax, chunk_size=chunk_size,
                           trust_pickle=trust_pickle)
    keys = maker.resume_keys(structures)
    skip = stored_keys(store, keys, include_failed=not retry_failed)
    n_todo = len(set(keys) - skip)  # identical structures share a key and are computed once
    console.print(f"{len(structures)} structures ({len(set(keys))} distinct), {len(set(keys) & skip)} already "
                  f"stored, {n_todo} to compute")
    if n_todo:
        with Progress(TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=False) as bar:
            task = bar.add_task("screen", total=n_todo)
            run_screening(maker, structures, store, skip, workers, progress=lambda n: bar.advance(task, n))
    return store, keys


@app.command()
def screen(
    inputs: List[str] = typer.Argument(..., help="Structure files (CIF, POSCAR, extxyz, JSON), folders, or "
                                       "Materials Project ids (mp-149; needs MP_API_KEY)."),
    model: str = typer.Option("default", "--model", "-m", help="Model file, or 'default' (shipped model)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:1, mps."),
    dtype: str = typer.Option("float64", "--dtype", help="float64 or float32."),
    head: Optional[str] = typer.Option(None, "--head", help="Readout head of a multi-head model (default: "
                                       "the only head, else the head named 'default')."),
    backend: Optional[str] = typer.Option(None, "--backend", help="e3nn or cueq (cuEquivariance, extra "
                                          "'gpu'); default: the backend the model file was saved with."),
    field: Optional[str] = typer.Option(None, "--field", help="Uniform field in V/A, e.g. '0,0,0.01'."),
    relax: bool = typer.Option(True, "--relax/--no-relax", help="Relax the ions first."),
    relax_cell: bool = typer.Option(False, "--relax-cell/--fixed-cell", help="Also relax the cell."),
    fmax: float = typer.Option(0.01, "--fmax", help="Force criterion of the relaxation, eV/A."),
    store: Optional[str] = typer.Option(None, "--store", "-s", help="Store folder or mongodb:// URI "
                                        "(default $MACEFIELD_STORE or ~/.macefield/store)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes (one chunk each)."),
    chunk_size: int = typer.Option(50, "--chunk-size", help="Structures per job."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Recompute stored failures."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow pickled model files (runs code)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 3 when any input failed."),
    report: Optional[Path] = typer.Option(None, "--report", help="Run report (JSON) path (default: "
                                          "run_report_<time>.json in the store folder)."),
    phonons: bool = typer.Option(False, "--phonons/--no-phonons", help="Also compute full phonons (dispersion, "
                                 "DOS, LO-TO, IR; stability over the whole Brillouin zone used by the quality "
                                 "flags). Costs a supercell per structure."),
    phonon_min_length: float = typer.Option(10.0, "--phonon-min-length", help="With --phonons: smallest "
                                            "supercell length, Angstrom."),
):
    """Screen structures into the results store (already stored ones are skipped).

    Every input becomes a document: bad inputs (unreadable, disordered, not periodic,
    overlapping atoms...) are recorded as failed with the reason, and the run goes on.
    Exit status: 0 done, 1 error before any work (model, store, arguments), 3 with
    --strict when any input failed.
    """
    from macefield_flows.cli.screen import STRICT_EXIT_CODE, counts_line, summary_table

    with user_errors():
        fvec = _parse_field(field)
        if phonon_min_length <= 0:
            raise ValueError(f"--phonon-min-length {phonon_min_length}: expected > 0 (Angstrom)")
        phonon_settings = {"min_length": phonon_min_length} if phonons else None
        summary = _screen_items(inputs, model, device, fvec, relax, store, workers, chunk_size, head, fmax,
                                relax_cell, retry_failed, trust_pickle, dtype, report, phonon_settings,
                                backend=backend)
        console.print(counts_line(summary), soft_wrap=True)
        if summary.rows and console.is_terminal:
            console.print(summary_table(summary))
        for row in summary.rows if not console.is_terminal else ():  # full lines, never cut, when piped
            console.print(f"{row['status']}\t{row['input']}\t{row['reason']}", soft_wrap=True, highlight=False,
                          markup=False)
        console.print(f"run report: {summary.report_path}", soft_wrap=True, highlight=False)
    if strict and summary.n_failed:
        raise typer.Exit(STRICT_EXIT_CODE)


def _screen_items(inputs, model, device, fvec, relax, store_spec, workers, chunk_size, head, fmax, relax_cell,
                  retry_failed, trust_pickle, dtype, report=None, phonon_settings=None, backend=None):
    """Model pre-flight, inputs, screening and run report of ``screen`` (see cli/screen.py)."""
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from macefield_flows.cli.inputs import collect_inputs
    from macefield_flows.cli.screen import preflight_model, report_path_for, screen_inputs, write_report
    from macefield_flows.flows import ScreeningMaker
    from macefield_flows.stores import get_jobstore

    jstore = get_jobstore(store_spec)  # fails fast on an unreachable MongoDB
    model_file, info = preflight_model(model, head, trust_pickle, backend)  # fails fast, before any work
    maker = ScreeningMaker(model=str(model_file), device=device, dtype=dtype, head=head, electric_field=fvec,
                           relax=relax, relax_cell=relax_cell, fmax=fmax, chunk_size=chunk_size,
                           trust_pickle=trust_pickle, phonons=phonon_settings is not None,
                           phonon_settings=phonon_settings, backend=backend)
    items = collect_inputs(inputs, elements=info.elements)

    @contextlib.contextmanager
    def progress(total):
        with Progress(TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=False) as bar:
            task = bar.add_task("screen", total=total)
            yield lambda n: bar.advance(task, n)

    summary = screen_inputs(items, maker, jstore, info, workers, retry_failed, progress_factory=progress,
                            echo=lambda text: console.print(text, soft_wrap=True, highlight=False))
    settings = {"inputs": list(inputs), "model": str(model_file), "model_sha256": info.sha256, "head": head,
                "backend": backend, "device": device, "dtype": dtype, "relax": relax,
                "relax_cell": relax_cell, "fmax": fmax,
                "electric_field": fvec, "store": str(store_spec) if store_spec else None,
                "phonons": phonon_settings}
    write_report(summary, report or report_path_for(store_spec), settings)
    return summary


@app.command()
def demo(
    model: str = typer.Option("default", "--model", "-m", help="Model file, or 'default' (shipped model)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, mps."),
    store: Optional[str] = typer.Option(None, "--store", "-s", help="Store folder or mongodb:// URI."),
    relax: bool = typer.Option(True, "--relax/--no-relax", help="Relax the ions first (fixed cell)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N benchmark crystals."),
    output: Path = typer.Option(Path("macefield-demo"), "--output", "-o",
                                help="Folder for report.md and the parity plots."),
):
    """Screen the built-in benchmark set and compare with DFPT: tables, parity plots, Markdown report."""
    from macefield_flows.cli.demo import (aggregate_table, benchmark_structures, compare_benchmark,
                                          material_table)
    from macefield_flows.references.benchmark import load_benchmark_set
    from macefield_flows.stores import iter_task_docs

    with user_errors():
        if limit is not None and limit < 1:
            raise ValueError(f"--limit {limit}: expected >= 1")
        entries = load_benchmark_set()[:limit]
        jstore, keys = _screen(benchmark_structures(entries), model, device, None, relax, store, 1, 50, None,
                               0.01, False, False, False, "float64")
        docs = {d.get("task_id"): d for d in iter_task_docs(jstore)}
        result = compare_benchmark(entries, [docs.get(k) for k in keys], output)
        if console.is_terminal:
            console.print(aggregate_table(result))
            console.print(material_table(result))
        else:  # piped: Markdown with full values, never cut at 80 columns
            from macefield_flows.cli.demo import tables_markdown

            sys.stdout.write(tables_markdown(result))
        console.print(f"report: {result.report_path} ({len(result.plots)} parity plots)")


@app.command()
def query(
    store: Optional[str] = typer.Option(None, "--store", "-s", help="Store folder or mongodb:// URI."),
    formula: Optional[str] = typer.Option(None, "--formula", help="Reduced formula, e.g. BaTiO3."),
    elements: Optional[str] = typer.Option(None, "--elements", help="Comma-separated elements all present."),
    eps_min: Optional[float] = typer.Option(None, "--eps-min", help="Minimum e_total (poly eps_0)."),
    eps_max: Optional[float] = typer.Option(None, "--eps-max", help="Maximum e_total (poly eps_0)."),
    zmax_min: Optional[float] = typer.Option(None, "--zstar-min", help="Minimum max|Z*| component, e."),
    eij_min: Optional[float] = typer.Option(None, "--eij-min", help="Minimum e_ij_max, C/m^2."),
    failed: bool = typer.Option(False, "--failed", help="Only failed structures."),
    include_unreliable: bool = typer.Option(False, "--include-unreliable", help="Also results the quality "
                                            "assessment marks unreliable (left out by default)."),
    flag: Optional[List[str]] = typer.Option(None, "--flag", help="Only results with this quality flag "
                                             "(repeatable), e.g. imaginary_modes."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort by a column, largest first (e_ij_max, "
                                       "e_total, e_electronic, zstar_max, ...)."),
    ascending: bool = typer.Option(False, "--ascending", help="With --sort: smallest first."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="At most N documents."),
    model_name: Optional[str] = typer.Option(None, "--model-name", help="Only this provenance.model_name."),
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv, json or markdown (table becomes "
                            "markdown when the output is not a terminal: full values)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
):
    """Filter the results store (reliable results by default) and print a table, CSV, JSON or Markdown."""
    from macefield_flows.cli.tables import filter_docs, render, sort_docs

    from macefield_flows.stores import get_jobstore, iter_task_docs

    with user_errors():
        if fmt not in ("table", "csv", "json", "markdown"):
            raise ValueError(f"--format {fmt!r}: expected table, csv, json or markdown")
        if limit is not None and limit < 0:
            raise ValueError(f"--limit {limit}: expected >= 0")
        docs = filter_docs(iter_task_docs(get_jobstore(store, read_only=True)), formula=formula,
                           elements=[e.strip() for e in elements.split(",")] if elements else None,
                           eps_min=eps_min, eps_max=eps_max, zmax_min=zmax_min, eij_min=eij_min,
                           failed=failed, model_name=model_name, include_unreliable=include_unreliable,
                           flags=flag or None)
        if sort:
            docs = sort_docs(docs, sort, ascending, limit)
        elif limit is not None:
            docs = docs[:limit]
        if fmt == "table" and (output is not None or not console.is_terminal):
            fmt = "markdown"
        text = render(docs, fmt)
        if output:
            output.write_text(text if isinstance(text, str) else "")
            console.print(f"{len(docs)} documents written to {output}")
        elif isinstance(text, str):
            sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
        else:
            console.print(text)


def _register_show() -> None:
    from macefield_flows.cli.show import show_command

    app.command("show")(show_command)


_register_show()


@app.command()
def info(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model file to summarise ('default' ok)."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow pickled model files (runs code)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Load the model on e3nn or cueq."),
):
    """Versions, device and (optionally) a model summary."""
    from macefield_flows.screening import package_versions
    from macefield_flows.stores import default_store_dir

    with user_errors():
        for name, version in package_versions(package_versions.__defaults__[0] + (
                "jobflow-remote", "maggma", "atomate2")).items():
            console.print(f"{name:16s} {version}")
        import torch

        dev = "cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else "cpu"
        console.print(f"{'device':16s} {dev}")
        console.print(f"{'default store':16s} {default_store_dir()}")
        if model is not None:
            from macefield_flows.jobs._model import model_path
            from macefield_flows.model import load_model

            from macefield_flows.model.heads import HeadError, resolve_head

            m = load_model(model_path(model), device="cpu", trust_pickle=trust_pickle, backend=backend)
            for k, v in m.model_info.as_dict().items():
                if k != "metadata":
                    console.print(f"model.{k:10s} {v}")
            source = m.model_info.metadata
            if "source_class" in source:  # a pickle: what it was written as (model/legacy.py)
                console.print(f"model.{'source':10s} {source['source_class']} "
                              f"({source.get('source_layout', '')})")
            try:  # the head used when none is given (mace's rule, model/heads.py)
                default_head = resolve_head(m, None, warn=False)
            except HeadError:
                default_head = "(none: several heads, none named 'default'; pass --head)"
            console.print(f"model.{'head':10s} {default_head}")


@app.command()
def doctor(
    model: str = typer.Option("default", "--model", "-m", help="Model to check ('default', a registered "
                              "name or a file)."),
    store: Optional[str] = typer.Option(None, "--store", "-s", help="Store to check (folder or mongodb:// "
                                        "URI; default $MACEFIELD_STORE or ~/.macefield/store)."),
    device: str = typer.Option("auto", "--device", help="Device you intend to use (cuda makes a missing "
                               "GPU a failure)."),
    backend: Optional[str] = typer.Option(None, "--backend", help="Load the model on e3nn or cueq."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow a pickled model file (runs code)."),
    strict: bool = typer.Option(False, "--strict", help="Exit with status 2 when there are warnings."),
):
    """Check the installation: torch/CUDA, backends and their parity, the model file, the store, the
    references; prints what to fix. Exit status: 0 no failure, 1 a check failed, 2 warnings with --strict."""
    from rich.markup import escape

    from macefield_flows.cli.doctor import FAIL, OK, STRICT_EXIT_CODE, WARN, diagnose

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = diagnose(model=model, store=store, device=device, trust_pickle=trust_pickle, backend=backend)
    style = {OK: "green", WARN: "yellow", FAIL: "red"}
    for c in result.checks:
        colour = style.get(c.status, "dim")
        console.print(f"[{colour}]{c.status:4s}[/{colour}]  {c.group + ' ' + c.name:28s} {escape(c.detail)}",
                      soft_wrap=True, highlight=False)
    fixes = [c for c in result.checks if c.fix and c.status in (WARN, FAIL)]
    counts = {s: sum(c.status == s for c in result.checks) for s in (OK, WARN, FAIL)}
    console.print(f"\n{len(result.checks)} checks: {counts[OK]} ok, {counts[WARN]} warn, {counts[FAIL]} failed",
                  highlight=False)
    if fixes:
        console.print("to fix:", highlight=False)
        for c in fixes:
            console.print(f"  - {c.group} {c.name}: {escape(c.fix)}", soft_wrap=True, highlight=False)
    if result.failed:
        raise typer.Exit(1)
    if strict and result.warned:
        raise typer.Exit(STRICT_EXIT_CODE)


def _register_compare() -> None:
    try:
        from macefield_flows.comparison.cli import compare_command
    except ImportError as exc:  # the comparison package is optional at import time
        @app.command("compare")
        def compare_missing() -> None:
            """Predictions vs DFPT references (unavailable: comparison module missing)."""
            err_console.print(f"[red]error:[/red] compare is unavailable: {exc}")
            raise typer.Exit(1)
        return
    app.command("compare")(compare_command)
    from macefield_flows.comparison.cli import references_app

    app.add_typer(references_app, name="references")


_register_compare()


@app.command("train", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(ctx: typer.Context) -> None:
    """Train the project's field-aware model: labels, distill, finetune, ... (`macefield train --help`)."""
    # the training CLI (macefield_flows.training.cli.train_app) is imported only when `train` runs,
    # so that `macefield --help` stays fast whatever the training package imports
    try:
        from macefield_flows.training.cli import train_app
    except ImportError as exc:
        err_console.print(f"[red]error:[/red] train is unavailable: {exc}")
        raise typer.Exit(1) from None
    command = typer.main.get_command(train_app)
    command.main(args=list(ctx.args), prog_name=f"{ctx.find_root().info_name or 'macefield'} train",
                 standalone_mode=True)


@app.command("convert")
def convert(
    source: Path = typer.Argument(..., help="Model file to convert (MACE / MACE-Field pickle or ours)."),
    destination: Path = typer.Argument(..., help="Output file in the safe macefield-flows format."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow unpickling SOURCE (runs code "
                                      "from the file: only for files you trust)."),
    add_field_blocks: bool = typer.Option(False, "--add-field-blocks", help="Add random field blocks to a "
                                          "plain MACE model (FieldMACE.from_foundation) for fine-tuning."),
):
    """Convert a model file to the safe format (config + weights, loads without running code)."""
    from macefield_flows.model.io import convert_model

    with user_errors():
        info = convert_model(source, destination, trust_pickle=trust_pickle, add_field_blocks=add_field_blocks)
        console.print(f"wrote {destination} (sha256 {info.sha256}, elements {','.join(info.elements)}, "
                      f"heads {','.join(info.heads)}, field blocks {info.has_field_blocks})")


@app.command("export")
def export(
    output: Optional[Path] = typer.Argument(None, help="JSON file of task documents (input of `macefield compare`)."),
    store: Optional[str] = typer.Option(None, "--store", "-s", help="Store folder or mongodb:// URI."),
    structures: Optional[Path] = typer.Option(None, "--structures", help="Folder for CIF + POSCAR of each structure."),
    born: Optional[Path] = typer.Option(None, "--born", help="Folder for phonopy BORN files."),
    force_constants: Optional[Path] = typer.Option(None, "--force-constants", help="Folder for FORCE_CONSTANTS."),
    phonons: Optional[Path] = typer.Option(None, "--phonons", help="Folder for phonopy.yaml + phonon data."),
    supercell: Optional[List[int]] = typer.Option(None, "--supercell", help="3 integers: exact supercell force "
                                                  "constants with --model (dispersion), e.g. --supercell 3 --supercell 3 --supercell 3."),
    model: str = typer.Option("default", "--model", "-m", help="Model for --supercell force constants."),
    device: str = typer.Option("cpu", "--device", help="Device for --supercell force constants."),
):
    """Write the store's task documents to one JSON file and/or hand-off files (see cli/export.py)."""
    from macefield_flows.stores import get_jobstore, iter_task_docs

    with user_errors():
        job_store = get_jobstore(store)
        docs = list(iter_task_docs(job_store))
        if output is None and not any((structures, born, force_constants, phonons)):
            raise ValueError("nothing to export: give OUTPUT and/or --structures/--born/--force-constants/--phonons")
        if output is not None:
            output.write_text(json.dumps(docs, default=str))
            console.print(f"{len(docs)} documents written to {output}")
        if any((structures, born, force_constants, phonons)):
            from macefield_flows.cli.export import export_files

            if supercell and len(supercell) != 3:
                raise ValueError(f"--supercell {supercell}: expected 3 integers")
            counts = export_files(docs, job_store, structures, born, force_constants, phonons,
                                  supercell or None, model, device)
            console.print(", ".join(f"{v} {k}" for k, v in counts.items()))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
