"""``macefield compare`` and ``macefield references``: typer commands, registered by cli/app.py.

``macefield compare`` with no option compares what the results store holds (the
same ``--store`` as ``query``) with the shipped DFPT references and the built-in
benchmark set, and writes ``report.md``, ``report.html`` and parity PNGs to
``--output`` (default ``macefield-compare``). Options:

* ``--store`` / ``--predictions FILE`` (a ``macefield export`` JSON file);
* ``--model NAME``, ``--run REPORT|latest`` (a ``screen`` run report), ``--split``,
  ``--property``: filters;
* ``--references FILE`` (repeatable): the user's own references (emmet
  DielectricDoc/PiezoelectricDoc, atomate2 task documents, benchmark set,
  plain JSON; see :mod:`macefield_flows.references.user`); ``--only-references``
  uses them alone; ``--datasets`` chooses the shipped sets;
* ``--any-space-group``: also join references of another space group;
* ``--include-unreliable``: keep values the quality flags mark unreliable in the metrics.

``macefield references list`` lists the reference sets (shipped, fetched,
configured) with counts, licence and integrity; ``macefield references update``
fetches the Materials Project dielectric/piezoelectric documents of the shipped
sets' ids (or ``--ids``) through mp-api (key from ``MP_API_KEY``) into
``$MACEFIELD_HOME/references``, which ``compare`` then uses first.

Every expected problem prints one ``error:`` line and exits with status 1.
"""

from __future__ import annotations

import gzip
import json
import logging
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

logger = logging.getLogger(__name__)

DEFAULT_OUTPUT = Path("macefield-compare")


def _print_tables(report: Any, show_materials: bool) -> None:
    from rich.table import Table

    from macefield_flows.cli.common import console
    from macefield_flows.comparison.report import MATERIAL_COLUMNS, TABLE_COLUMNS, _fmt, md_table

    if not console.is_terminal:  # piped: Markdown with full values, never cut
        sys.stdout.write(md_table(TABLE_COLUMNS, report.rows) + "\n")
        if show_materials:
            sys.stdout.write("\n" + md_table(MATERIAL_COLUMNS, report.materials) + "\n")
    else:
        table = Table(title="predictions vs DFPT (unreliable values left out: n_excluded)")
        for col in TABLE_COLUMNS:
            table.add_column(col, overflow="fold")
        for row in report.rows:
            table.add_row(*[_fmt(row[c]) for c in TABLE_COLUMNS])
        console.print(table)
        if show_materials:
            mt = Table(title="per material: predicted / DFPT")
            for col in MATERIAL_COLUMNS:
                mt.add_column(col, overflow="fold")
            for row in report.materials:
                mt.add_row(*[_fmt(row.get(c)) for c in MATERIAL_COLUMNS])
            console.print(mt)
    for key, reasons in report.excluded.items():
        if reasons:
            console.print(f"left out of {key}: " + ", ".join(f"{k} {v}" for k, v in reasons.items()),
                          soft_wrap=True, highlight=False, markup=False)
    console.print(f"report: {report.markdown_path} and {report.html_path} ({len(report.plots)} parity plots)",
                  soft_wrap=True, highlight=False, markup=False)


def compare_command(
    store: Optional[str] = typer.Option(None, "--store", "-s", help="Results store folder or mongodb:// URI "
                                        "(default $MACEFIELD_STORE or ~/.macefield/store), as for `query`."),
    predictions: Optional[Path] = typer.Option(None, "--predictions", "-p", help="JSON file of task documents "
                                               "(`macefield export`) instead of the store."),
    references: Optional[List[Path]] = typer.Option(None, "--references", "-r", help="Your own reference file "
                                                    "(repeatable): emmet, atomate2, benchmark or plain JSON."),
    only_references: bool = typer.Option(False, "--only-references", help="Use only the --references files."),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="Comma-separated shipped datasets (default: "
                                           "Petousis, de Jong, Petretto, phonopy examples)."),
    no_benchmark: bool = typer.Option(False, "--no-benchmark", help="Leave out the built-in benchmark set."),
    output: Path = typer.Option(DEFAULT_OUTPUT, "--output", "-o", help="Folder for report.md, report.html, plots."),
    property: Optional[str] = typer.Option(None, "--property", help="Only this property (born, eps_electronic, "
                                           "eps_ionic, eps_total, piezo_frobenius, ...)."),
    model: Optional[str] = typer.Option(None, "--model", help="Only this provenance.model_name."),
    run: Optional[str] = typer.Option(None, "--run", help="Only the documents of one `screen` run: its run "
                                      "report JSON, or 'latest'."),
    split: str = typer.Option("all", "--split", help="all, train, valid or test."),
    any_space_group: bool = typer.Option(False, "--any-space-group", help="Also match references of another "
                                         "space group (default: same space group and composition only)."),
    include_unreliable: bool = typer.Option(False, "--include-unreliable", help="Keep values the quality flags "
                                            "mark unreliable in the metrics."),
    materials: bool = typer.Option(False, "--materials", help="Also print the per-material table."),
) -> None:
    """Compare predictions (results store or file) with DFPT references: tables, parity plots, MD + HTML report."""
    from maggma.stores import MemoryStore

    from macefield_flows.cli.common import err_console, user_errors
    from macefield_flows.comparison.report import run_compare
    from macefield_flows.comparison.sources import COMPARED_DATASETS, load_predictions, load_references
    from macefield_flows.schemas.comparison import PROPERTY_UNITS

    with user_errors():
        if property is not None and property not in PROPERTY_UNITS:
            raise ValueError(f"unknown property {property!r}; expected one of {', '.join(PROPERTY_UNITS)}")
        if split not in ("all", "train", "valid", "test"):
            raise ValueError(f"unknown split {split!r}; expected all, train, valid or test")
        if only_references and not references:
            raise ValueError("--only-references needs at least one --references FILE")
        names = [d.strip() for d in datasets.split(",") if d.strip()] if datasets else list(COMPARED_DATASETS)
        preds = load_predictions(store, predictions, model=model, run=run)
        refs = load_references(preds, [] if only_references else names, references or (),
                               benchmark=not (no_benchmark or only_references), user_mp=not only_references)
        pstore = MemoryStore(collection_name="predictions", key="task_id")
        rstore = MemoryStore(collection_name="references", key="reference_id")
        for s in (pstore, rstore):
            s.connect()
        from monty.json import jsanitize

        pstore.update([jsanitize(p, allow_bson=True) for p in preds], key="task_id")
        rstore.update(refs, key="reference_id")
        report = run_compare(pstore, rstore, output, property=property, model=model, split=split,
                             any_space_group=any_space_group, include_unreliable=include_unreliable)
        if not report.rows:
            raise ValueError(f"no prediction matched a reference with the same space group ({len(preds)} "
                             f"predictions, split {split}); see {report.markdown_path} for what was rejected")
        _print_tables(report, materials)
        if not any(r["count"] for r in report.rows):
            err_console.print("warning: every compared value is marked unreliable and left out of the metrics "
                              "(see the reasons above; --include-unreliable keeps them)", soft_wrap=True,
                              highlight=False, markup=False)


references_app = typer.Typer(help="DFPT reference sets: list them, update the Materials Project ones.",
                             no_args_is_help=True)


@references_app.command("list")
def references_list() -> None:
    """The reference sets: shipped (with integrity check), fetched from MP, configured folder."""
    from macefield_flows.cli.common import console, user_errors
    from macefield_flows.comparison.sources import MP_USER_FILE, user_reference_dir
    from macefield_flows.references.paths import external_reference_dir, shipped_reference_dir
    from macefield_flows.references.shipped import load_manifest, verify_shipped

    with user_errors():
        manifest = load_manifest()["datasets"]
        verify_shipped()
        console.print(f"shipped ({shipped_reference_dir()}), sha256 verified:", soft_wrap=True, highlight=False)
        for name, info in manifest.items():
            console.print(f"  {name:36s} {info['entries']:5d}  {info['citation']}; licence: {info['licence']}",
                          soft_wrap=True, highlight=False, markup=False)
        mp = user_reference_dir() / MP_USER_FILE
        if mp.exists():
            with gzip.open(mp, "rt") as fh:
                n = len(json.load(fh))
            console.print(f"fetched: materials_project_api {n} documents ({mp})", soft_wrap=True, highlight=False)
        ext = external_reference_dir()
        if ext is not None:
            files = sorted(p.name for p in ext.iterdir() if p.name.endswith((".jsonl.gz", ".json")))
            console.print(f"configured (MACEFIELD_REFERENCE_DIR={ext}): {', '.join(files)}", soft_wrap=True,
                          highlight=False, markup=False)


@references_app.command("update")
def references_update(
    ids: Optional[str] = typer.Option(None, "--ids", help="Comma-separated MP ids (default: the ids of the "
                                      "shipped Petousis and de Jong sets)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most N ids."),
) -> None:
    """Fetch current Materials Project dielectric/piezo documents (mp-api; key from MP_API_KEY)."""
    from macefield_flows.cli.common import console, user_errors

    with user_errors():
        if limit is not None and limit < 1:
            raise ValueError(f"--limit {limit}: expected >= 1")
        path = update_mp_references(ids.split(",") if ids else None, limit)
        with gzip.open(path, "rt") as fh:
            n = len(json.load(fh))
        console.print(f"{n} Materials Project reference documents written to {path}", soft_wrap=True,
                      highlight=False)


def update_mp_references(ids: Optional[list[str]] = None, limit: Optional[int] = None,
                         client_factory: Any = None) -> Path:
    """Fetch MP references for ``ids`` (default: the shipped sets' MP ids) and write them; return the file.

    The API key is read by :class:`~macefield_flows.references.mp_source.MaterialsProjectSource`
    from the environment and never written.
    """
    from macefield_flows.comparison.sources import MP_USER_FILE, user_reference_dir
    from macefield_flows.references.ingest import _read_rows
    from macefield_flows.references.mp_source import MaterialsProjectSource
    from macefield_flows.references.splits import dataset_info

    if not ids:
        ids = []
        for name in ("mp_dielectric_petousis2017", "mp_piezo_dejong2015"):
            ids += [r["material_id"] for r in _read_rows(dataset_info(name).filename, None)]
    ids = [i.strip() for i in dict.fromkeys(ids) if i.strip()][:limit]
    docs = MaterialsProjectSource(client_factory).fetch(ids, strict=False)
    out = user_reference_dir() / MP_USER_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wt") as fh:
        json.dump([d.model_dump() for d in docs], fh)
    tmp.replace(out)
    return out


def make_app() -> typer.Typer:
    """A typer app with the ``compare`` command (for stand-alone use or add_typer)."""
    app = typer.Typer(help="Compare predictions with DFPT references.")
    app.command("compare")(compare_command)
    return app
