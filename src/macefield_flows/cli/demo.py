"""``macefield demo``: screen the built-in benchmark set and compare it with its DFPT values.

Only ``data/benchmark_set.json`` is needed (no shared reference files): each
benchmark entry becomes one reference document (:func:`benchmark_reference_docs`),
the predictions are joined to it by entry, and the project's comparison tools
(:class:`~macefield_flows.comparison.builder.ComparisonBuilder` through
:func:`~macefield_flows.comparison.report.run_compare`, metrics from
:mod:`macefield_flows.comparison.metrics`) give the aggregate metrics, parity
plots and ``report.md``; a per-material table is added to the report.

Frames: benchmark tensors (Z*, eps) are in the frame and site order of the entry
structure, which is the structure screened. The demo relaxes ions at fixed cell,
so site order and Cartesian frame are unchanged and the predictions are matched
to the entry structure (identity mapping). Piezo tensors are compared through
rotation-invariant measures only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from macefield_flows.references.benchmark import DEMO_DATASET, _join_id, benchmark_reference_docs  # noqa: F401

logger = logging.getLogger(__name__)

AGG_PROPERTIES = ("born", "eps_electronic", "eps_ionic", "eps_total", "piezo_frobenius", "piezo_sv_max",
                  "piezo_longitudinal_max")
LABELS = {"born": "Z* diagonal", "eps_electronic": "eps_inf", "eps_ionic": "eps_ionic", "eps_total": "eps_total",
          "piezo_frobenius": "piezo |e|_F", "piezo_sv_max": "piezo sv_max(e)",
          "piezo_longitudinal_max": "piezo e_long,max"}
AGG_COLUMNS = ("property", "units", "count", "n_excluded", "n_points", "mae", "rmse", "r2_true", "pearson_r2")
MATERIAL_COLUMNS = ("crystal", "split", "status", "Z* MAE", "eps_inf pred", "eps_inf DFPT", "eps_ion pred",
                    "eps_ion DFPT", "eps_0 pred", "eps_0 DFPT", "|e|_F pred", "|e|_F DFPT")


def benchmark_structures(entries: Sequence[Any]) -> list[Any]:
    """The entries' structures (copies) with ``structure_id`` (= entry name) and ``material_id``."""
    out = []
    for e in entries:
        s = e.structure.copy()
        s.properties = {**(s.properties or {}), "structure_id": e.name,
                        **({"material_id": e.material_id} if e.material_id else {})}
        out.append(s)
    return out


@dataclass
class DemoResult:
    """What :func:`compare_benchmark` produced."""

    aggregate: list[dict[str, Any]]
    materials: list[dict[str, Any]]
    report_path: Path
    plots: list[Any] = field(default_factory=list)
    model_name: str = ""


def _prediction_copies(entries: Sequence[Any], docs: Sequence[Optional[dict]]) -> list[dict[str, Any]]:
    """Prediction dicts for the builder: joined by entry, matched to the entry structure (see module doc)."""
    out = []
    for e, d in zip(entries, docs):
        if not d or d.get("status") == "failed" or not d.get("task_id"):
            continue
        p = dict(d)
        p["material_id"] = _join_id(e.name)
        p["structure"] = e.structure.as_dict()  # fixed-cell relaxation: same frame and site order
        out.append(p)
    return out


def _poly(pc: Optional[dict]) -> tuple[Optional[float], Optional[float]]:
    if not pc:
        return None, None
    return float(np.mean(pc["parity_pred"])), float(np.mean(pc["parity_ref"]))


def compare_benchmark(entries: Sequence[Any], docs: Sequence[Optional[dict]], output_dir: str | Path
                      ) -> DemoResult:
    """Compare task documents (one per entry, None if missing) with the benchmark values.

    Writes parity plots and ``report.md`` (aggregate metrics, per-material table)
    to ``output_dir``.
    """
    from maggma.stores import MemoryStore

    from macefield_flows.comparison.metrics import mae
    from macefield_flows.comparison.report import run_compare

    out = Path(output_dir)
    preds = MemoryStore(collection_name="demo_predictions", key="task_id")
    refs = MemoryStore(collection_name="demo_references", key="reference_id")
    comps = MemoryStore(collection_name="demo_comparisons", key="comparison_id")
    for store in (preds, refs, comps):
        store.connect()
    pred_docs = _prediction_copies(entries, docs)
    if pred_docs:
        preds.update(pred_docs, key="task_id")
    refs.update(benchmark_reference_docs(entries), key="reference_id")
    report = run_compare(preds, refs, out, comparisons_store=comps)

    by_prop = {r["property"]: r for r in report.rows}
    aggregate = [{**{c: by_prop[p].get(c) for c in AGG_COLUMNS}, "property": p, "label": LABELS[p]}
                 for p in AGG_PROPERTIES if p in by_prop]
    material_docs = {d["material_id"]: d for d in comps.query({"kind": "material"})}
    materials = []
    for e, d in zip(entries, docs):
        props = (material_docs.get(_join_id(e.name)) or {}).get("properties") or {}
        born = props.get("born")
        row: dict[str, Any] = {
            "crystal": e.name, "split": e.split,
            "status": "missing" if not d else d.get("status", "?"),
            "failure_reason": (d or {}).get("failure_reason"),
            "Z* MAE": mae(born["parity_pred"], born["parity_ref"]) if born else None,
        }
        for label, prop in (("eps_inf", "eps_electronic"), ("eps_ion", "eps_ionic"), ("eps_0", "eps_total")):
            row[f"{label} pred"], row[f"{label} DFPT"] = _poly(props.get(prop))
        row["|e|_F pred"], row["|e|_F DFPT"] = _poly(props.get("piezo_frobenius"))
        materials.append(row)
    model_name = next((((d or {}).get("provenance") or {}).get("model_name") for d in docs if d), "") or ""
    _append_markdown(report.markdown_path, aggregate, materials, model_name)
    return DemoResult(aggregate=aggregate, materials=materials, report_path=report.markdown_path,
                      plots=list(report.plots), model_name=model_name)


def fmt(v: Any) -> str:
    """Table cell text."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.3f}"
    return str(v)


def _md_table(columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    columns = [c.replace("|", "\\|") for c in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(v).replace("|", "\\|") for v in r) + " |" for r in rows]
    return lines


def _append_markdown(path: Path, aggregate: list[dict], materials: list[dict], model_name: str) -> None:
    text = path.read_text()
    head = ["# macefield demo: built-in benchmark set vs DFPT", "",
            f"Model: `{model_name or 'unknown'}`. Reference values: `data/benchmark_set.json` (first verified "
            "value of each property; sources and citations there). Metrics pool all splits; the split of "
            "each crystal is in the per-material table (the shipped model may have trained on 'train').", "",
            "## Summary", ""]
    head += _md_table(("property", "units", "materials", "left out (unreliable)", "points", "MAE", "RMSE",
                       "R^2 (y=x)", "Pearson R^2"),
                      [(a["label"], a["units"], a["count"], a.get("n_excluded", 0), a["n_points"], a["mae"],
                        a["rmse"], a["r2_true"], a["pearson_r2"]) for a in aggregate])
    head += ["", "## Per material", "", "eps values are trace/3; |e|_F is the Frobenius norm of the total "
             "piezo stress tensor (C/m^2); Z* MAE over diagonal components (e).", ""]
    head += _md_table(MATERIAL_COLUMNS + ("note",),
                      [[m[c] for c in MATERIAL_COLUMNS] + [(m.get("failure_reason") or "")[:80]] for m in materials])
    body = text.replace("# MACE-Field vs DFPT comparison", "## Comparison details", 1)
    path.write_text("\n".join(head) + "\n\n" + body)


def _units(u: str) -> str:
    return "-" if u == "dimensionless" else u


def aggregate_table(result: DemoResult) -> Any:
    """rich Table of the aggregate metrics."""
    from rich.table import Table

    table = Table(title=f"{result.model_name or 'model'} vs DFPT, built-in benchmark set (all splits)")
    for c in ("property", "units", "N", "left out", "MAE", "RMSE", "R2 y=x", "Pearson R2"):
        table.add_column(c, justify="left" if c in ("property", "units") else "right",
                         no_wrap=c == "property")
    for a in result.aggregate:
        table.add_row(a["label"], _units(a["units"]), str(a["count"]), str(a.get("n_excluded") or 0), fmt(a["mae"]),
                      fmt(a["rmse"]), fmt(a["r2_true"]), fmt(a["pearson_r2"]))
    return table


def _pair(m: dict, label: str) -> str:
    p, r = m[f"{label} pred"], m[f"{label} DFPT"]
    return "-" if p is None and r is None else f"{fmt(p)} / {fmt(r)}"


def material_table(result: DemoResult) -> Any:
    """rich Table of the per-material values: predicted / DFPT (eps as trace/3, piezo Frobenius norm)."""
    from rich.table import Table

    table = Table(title="per material: predicted / DFPT (eps: trace/3; |e|_F: C/m^2; Z* MAE: e)")
    for c in ("crystal", "split", "status", "Z* MAE", "eps_inf", "eps_ionic", "eps_0", "|e|_F"):
        table.add_column(c, justify="left" if c in ("crystal", "split", "status") else "right",
                         no_wrap=c == "crystal")
    for m in result.materials:
        status = {"success": "ok", "successful": "ok"}.get(m["status"], m["status"])
        table.add_row(m["crystal"], m["split"], status, fmt(m["Z* MAE"]), _pair(m, "eps_inf"), _pair(m, "eps_ion"),
                      _pair(m, "eps_0"), _pair(m, "|e|_F"))
    return table


def tables_markdown(result: DemoResult) -> str:
    """Both demo tables as Markdown with full values (for output that is not a terminal: never cut)."""
    agg = _md_table(("property", "units", "N", "left out", "MAE", "RMSE", "R2 y=x", "Pearson R2"),
                    [(a["label"], _units(a["units"]), a["count"], a.get("n_excluded") or 0, a["mae"], a["rmse"],
                      a["r2_true"], a["pearson_r2"]) for a in result.aggregate])
    mat = _md_table(("crystal", "split", "status", "Z* MAE", "eps_inf", "eps_ionic", "eps_0", "|e|_F"),
                    [(m["crystal"], m["split"], m["status"], m["Z* MAE"], _pair(m, "eps_inf"), _pair(m, "eps_ion"),
                      _pair(m, "eps_0"), _pair(m, "|e|_F")) for m in result.materials])
    return "\n".join(agg) + "\n\nper material: predicted / DFPT (eps: trace/3; |e|_F: C/m^2; Z* MAE: e)\n\n" + \
        "\n".join(mat) + "\n"
