"""Filtering and rendering task documents for ``macefield query`` and ``demo``."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Optional

import numpy as np
from rich.table import Table

COLUMNS = ("structure_id", "formula_pretty", "status", "e_electronic", "e_ionic", "e_total", "n",
           "zstar_max", "e_ij_max", "has_imaginary_modes", "failure_reason")


def zstar_max(doc: dict) -> Optional[float]:
    """max |Z*| component of a document, e."""
    born = doc.get("born")
    return None if not born else float(np.abs(np.asarray(born)).max())


def filter_docs(docs: Iterable[dict], formula=None, elements=None, eps_min=None, eps_max=None, zmax_min=None,
                eij_min=None, failed=False, model_name=None) -> list[dict]:
    """Documents matching every given criterion (None = no criterion)."""
    out = []
    for d in docs:
        if failed != (d.get("status") == "failed"):
            continue
        if formula and d.get("formula_pretty") != formula:
            continue
        if elements and not set(elements) <= set(d.get("elements") or []):
            continue
        if model_name and (d.get("provenance") or {}).get("model_name") != model_name:
            continue
        e = d.get("e_total")
        if eps_min is not None and (e is None or e < eps_min):
            continue
        if eps_max is not None and (e is None or e > eps_max):
            continue
        z = zstar_max(d)
        if zmax_min is not None and (z is None or z < zmax_min):
            continue
        if eij_min is not None and (d.get("e_ij_max") is None or d["e_ij_max"] < eij_min):
            continue
        out.append(d)
    return out


def _row(d: dict) -> dict[str, Any]:
    row = {c: d.get(c) for c in COLUMNS}
    row["zstar_max"] = zstar_max(d)
    return row


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def render(docs: list[dict], fmt: str = "table") -> Any:
    """A rich Table, or CSV / JSON text."""
    if fmt == "json":
        return json.dumps(docs, default=str, indent=1)
    rows = [_row(d) for d in docs]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    table = Table(title=f"{len(rows)} documents")
    for c in COLUMNS:
        table.add_column(c)
    for r in rows:
        table.add_row(*[_fmt(r[c]) for c in COLUMNS])
    return table


def benchmark_table(entries: list, docs: list[Optional[dict]]) -> Table:
    """Predicted vs reference (DFPT) eps_inf, eps_0 and max|Z*| for the benchmark set."""
    table = Table(title="MACE-Field vs DFPT (built-in benchmark set)")
    for c in ("crystal", "status", "eps_inf pred", "eps_inf DFPT", "eps_0 pred", "eps_0 DFPT",
              "max|Z*| pred", "max|Z*| DFPT"):
        table.add_column(c)

    def poly(x):
        return None if x is None else float(np.trace(np.asarray(x)) / 3)

    for e, d in zip(entries, docs):
        d = d or {}
        zref = e.value("born")
        table.add_row(e.name, _fmt(d.get("status", "missing")), _fmt(d.get("e_electronic")),
                      _fmt(poly(e.value("eps_electronic"))), _fmt(d.get("e_total")),
                      _fmt(poly(e.value("eps_total"))), _fmt(zstar_max(d) if d else None),
                      _fmt(None if zref is None else float(np.abs(zref).max())))
    return table
