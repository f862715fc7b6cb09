"""``macefield compare``: typer command, registered by the main CLI (cli/app.py).

Register with::

    from macefield_flows.comparison.cli import compare_command
    app.command("compare")(compare_command)

Options:

* ``--predictions PATH``: JSON file (list of ElectricResponseTaskDoc dicts; a maggma
  JSONStore, key ``--key``), required.
* ``--references PATH``: JSON file of ReferenceDoc dicts; default: ingest the
  shared reference files (``MACEFIELD_REFERENCE_DIR``) for ``--datasets``.
* ``--datasets``: comma-separated dataset names to ingest (default dielectric,
  piezo and Petretto Born charges).
* ``--output DIR``: folder for report.md and parity PNGs (default ``compare_report``).
* ``--property``, ``--model``, ``--split``: filters (see :func:`run_compare`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

logger = logging.getLogger(__name__)

DEFAULT_DATASETS = "mp_dielectric_petousis2017,mp_piezo_dejong2015,petretto2018_dfpt_becs_epsinf"


def compare_command(
    predictions: Path = typer.Option(..., "--predictions", "-p", help="JSON file of prediction documents."),
    references: Optional[Path] = typer.Option(None, "--references", "-r", help="JSON file of ReferenceDoc dicts."),
    datasets: str = typer.Option(DEFAULT_DATASETS, "--datasets", help="Reference datasets to ingest when --references is absent."),
    output: Path = typer.Option(Path("compare_report"), "--output", "-o", help="Output folder."),
    property: Optional[str] = typer.Option(None, "--property", help="Only this property (e.g. born, eps_electronic)."),
    model: Optional[str] = typer.Option(None, "--model", help="Only this provenance.model_name."),
    split: str = typer.Option("all", "--split", help="all, train, valid or test."),
    key: str = typer.Option("task_id", "--key", help="Unique key of the prediction documents."),
) -> None:
    """Compare predictions with DFPT references: aggregate table, parity plots, Markdown report."""
    from maggma.stores import JSONStore, MemoryStore
    from rich.console import Console
    from rich.table import Table

    from macefield_flows.comparison.report import TABLE_COLUMNS, _fmt, run_compare
    from macefield_flows.references.ingest import ingest_references

    preds = JSONStore(str(predictions), key=key, read_only=True)
    preds.connect()
    if references is not None:
        refs = JSONStore(str(references), key="reference_id", read_only=True)
        refs.connect()
    else:
        refs = MemoryStore(collection_name="references", key="reference_id")
        refs.connect()
        ingest_references(refs, [d.strip() for d in datasets.split(",") if d.strip()])
    report = run_compare(preds, refs, output, property=property, model=model, split=split)
    table = Table(title=f"MACE-Field vs DFPT ({split})")
    for col in TABLE_COLUMNS:
        table.add_column(col)
    for row in report.rows:
        table.add_row(*[_fmt(row[c]) for c in TABLE_COLUMNS])
    console = Console()
    console.print(table)
    console.print(f"report: {report.markdown_path}")


def make_app() -> typer.Typer:
    """A typer app with the single ``compare`` command (for stand-alone use or add_typer)."""
    app = typer.Typer(help="Compare predictions with DFPT references.")
    app.command("compare")(compare_command)
    return app
