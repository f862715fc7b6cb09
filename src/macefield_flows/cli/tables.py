"""Filtering and rendering task documents for ``macefield query`` and ``demo``."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Optional

import numpy as np
from rich.table import Table

COLUMNS = ("structure_id", "formula_pretty", "status", "e_electronic", "e_ionic", "e_total", "n",
           "zstar_max", "e_ij_max", "has_imaginary_modes", "reliable", "flags", "failure_reason", "task_id")
#: columns ``--sort`` accepts (numbers; documents without the value go last)
SORTABLE = ("e_electronic", "e_ionic", "e_total", "n", "zstar_max", "e_ij_max", "e_ij_max_longitudinal",
            "energy_per_atom", "nsites")


def zstar_max(doc: dict) -> Optional[float]:
    """max |Z*| component of a document, e."""
    born = doc.get("born")
    return None if not born else float(np.abs(np.asarray(born)).max())


def flag_names(doc: dict) -> list[str]:
    """Names of the quality flags of a document."""
    return [f.get("name") for f in ((doc.get("quality") or {}).get("flags") or [])]


def is_reliable(doc: dict) -> bool:
    """Successful and judged reliable (documents without a quality section count as reliable)."""
    return doc.get("status") == "successful" and bool((doc.get("quality") or {}).get("reliable", True))


def filter_docs(docs: Iterable[dict], formula=None, elements=None, eps_min=None, eps_max=None, zmax_min=None,
                eij_min=None, failed=False, model_name=None, include_unreliable: bool = True,
                flags: Optional[list[str]] = None) -> list[dict]:
    """Documents matching every given criterion (None = no criterion).

    ``include_unreliable=False`` leaves out successful documents whose quality
    section says unreliable; ``flags`` keeps only documents carrying all those flags.
    """
    out = []
    for d in docs:
        if failed != (d.get("status") == "failed"):
            continue
        if flags and not set(flags) <= set(flag_names(d)):
            continue
        if not failed and not flags and not include_unreliable and not is_reliable(d):
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


def sort_docs(docs: list[dict], field: str, ascending: bool = False, limit: Optional[int] = None) -> list[dict]:
    """Documents sorted by a numeric column (descending by default; missing values last), first ``limit``."""
    if field not in SORTABLE:
        raise ValueError(f"--sort {field!r}: expected one of {', '.join(SORTABLE)}")

    def value(d: dict) -> Optional[float]:
        v = zstar_max(d) if field == "zstar_max" else d.get(field)
        return None if v is None else float(v)

    have = [d for d in docs if value(d) is not None]
    have.sort(key=value, reverse=not ascending)
    out = have + [d for d in docs if value(d) is None]
    return out[:limit] if limit is not None else out


def _row(d: dict) -> dict[str, Any]:
    row = {c: d.get(c) for c in COLUMNS}
    row["zstar_max"] = zstar_max(d)
    row["flags"] = ",".join(flag_names(d))
    row["reliable"] = is_reliable(d) if d.get("status") == "successful" else False
    return row


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def render(docs: list[dict], fmt: str = "table") -> Any:
    """A rich Table (terminal), or CSV / JSON / Markdown text with full values (never truncated)."""
    if fmt == "json":
        return json.dumps(docs, default=str, indent=1)
    rows = [_row(d) for d in docs]
    if fmt == "markdown":
        def cell(v: Any) -> str:
            return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    table = Table(title=f"{len(rows)} documents")
    for c in COLUMNS:
        table.add_column(c, overflow="fold")
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
