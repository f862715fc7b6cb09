"""``run_compare``: build comparisons, then write the aggregate and per-material tables, plots and reports.

Outputs in ``output_dir``: ``report.md`` (Markdown), ``report.html`` (self-contained:
sortable tables, plots embedded as base64 PNG; :mod:`macefield_flows.comparison.html`)
and one parity PNG per property.

Metrics leave out values marked unreliable (the prediction's quality flags affect
the property, or the reference value is marked unusable) unless
``include_unreliable``; how many were left out, and why, is in every table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from maggma.core import Store
from maggma.stores import MemoryStore

from macefield_flows.comparison.builder import ComparisonBuilder, material_label
from macefield_flows.comparison.plots import ParityPlot, parity_plot
from macefield_flows.schemas.comparison import PROPERTY_UNITS

logger = logging.getLogger(__name__)

TABLE_COLUMNS = ("model", "property", "split", "units", "count", "n_excluded", "n_points", "mae", "rmse",
                 "r2_true", "pearson_r2", "spearman")
LABELS = {"born": "Z* (diagonal)", "eps_electronic": "eps_inf", "eps_ionic": "eps_ionic", "eps_total": "eps_total",
          "piezo_frobenius": "piezo |e|_F", "piezo_sv_max": "piezo sv_max(e)",
          "piezo_longitudinal_max": "piezo e_long,max", "piezo_clamped_frobenius": "clamped-ion |e|_F"}
MATERIAL_PROPS = (("eps_inf", "eps_electronic"), ("eps_ionic", "eps_ionic"), ("eps_0", "eps_total"),
                  ("|e|_F", "piezo_frobenius"))
MATERIAL_COLUMNS = ("material", "id", "input", "reference", "split", "space group pred/ref", "match rms", "Z* MAE",
                    "max|Z*| pred", "max|Z*| DFPT", "eps_inf pred", "eps_inf DFPT", "eps_ionic pred",
                    "eps_ionic DFPT", "eps_0 pred", "eps_0 DFPT", "|e|_F pred", "|e|_F DFPT", "left out of metrics")


@dataclass
class Report:
    """What ``run_compare`` produced."""

    rows: list[dict[str, Any]]
    plots: list[ParityPlot]
    markdown_path: Path
    output_dir: Path
    n_new_comparisons: int
    worst: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    materials: list[dict[str, Any]] = field(default_factory=list)
    html_path: Optional[Path] = None
    excluded: dict[str, dict[str, int]] = field(default_factory=dict)

    def table(self) -> str:
        """Aggregate table as Markdown."""
        return format_table(self.rows)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def _md_cell(v: Any) -> str:
    return _fmt(v).replace("|", "\\|").replace("\n", " ")


def md_table(columns: tuple[str, ...] | list[str], rows: list[dict[str, Any]]) -> str:
    """Markdown table of ``rows`` (dicts) with full values (never truncated)."""
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of aggregate rows (TABLE_COLUMNS)."""
    return md_table(TABLE_COLUMNS, rows)


def _mean(values: Optional[list[float]]) -> Optional[float]:
    return None if not values else float(np.mean(values))


def material_rows(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per material comparison: ids, split, space groups, predicted / DFPT per property, exclusions.

    eps values are trace/3 (mean of the compared diagonal components or eigenvalues);
    |e|_F is the Frobenius norm of the total piezo stress tensor (C/m^2); Z* in e.
    """
    rows = []
    for d in sorted(docs, key=lambda x: (x.get("formula_pretty") or "", x.get("prediction_id") or "")):
        props = d.get("properties") or {}
        matches = d.get("matches") or []
        sg_ref = sorted({m["space_group_reference"] for m in matches})
        rms = [m["rms_distance"] for m in matches if m.get("rms_distance") is not None]
        born = props.get("born")
        excluded = sorted({f"{LABELS.get(p, p)}: {', '.join(pc.get('excluded_reasons') or ['unreliable'])}"
                           for p, pc in props.items() if not pc.get("reliable", True)})
        row: dict[str, Any] = {
            "material": d.get("formula_pretty") or "?",
            "id": d.get("material_id") or "-",
            "input": d.get("structure_id") or d.get("prediction_id"),
            "excluded_columns": sorted(f"{label} pred" for label, prop in MATERIAL_PROPS
                                       if not (props.get(prop) or {}).get("reliable", True))
            + (["max|Z*| pred"] if born and not born.get("reliable", True) else []),
            "reference": ", ".join(sorted({pc["reference_id"] for pc in props.values()})) or "-",
            "split": d.get("split") or "-",
            "space group pred/ref": f"{d.get('space_group') or '?'} / {','.join(map(str, sg_ref)) or '-'}",
            "match rms": min(rms) if rms else None,
            "Z* MAE": born["mae"] if born else None,
            "max|Z*| pred": float(np.max(np.abs(born["parity_pred"]))) if born else None,
            "max|Z*| DFPT": float(np.max(np.abs(born["parity_ref"]))) if born else None,
            "left out of metrics": "; ".join(excluded) or "",
            "warnings": "; ".join(d.get("warnings") or []),
            "rejected": "; ".join(d.get("rejected") or []),
        }
        for label, prop in MATERIAL_PROPS:
            pc = props.get(prop)
            row[f"{label} pred"] = _mean(pc["parity_pred"]) if pc else None
            row[f"{label} DFPT"] = _mean(pc["parity_ref"]) if pc else None
        rows.append(row)
    return rows


def run_compare(
    predictions_store: Store,
    references_store: Store,
    output_dir: str | Path,
    property: Optional[str] = None,
    model: Optional[str] = None,
    split: Optional[str] = None,
    comparisons_store: Optional[Store] = None,
    any_space_group: bool = False,
    include_unreliable: bool = False,
    title: str = "MACE-Field vs DFPT comparison",
) -> Report:
    """Compare predictions with references and write plots, ``report.md`` and ``report.html`` to ``output_dir``.

    Parameters
    ----------
    predictions_store, references_store
        maggma stores of ElectricResponseTaskDoc and ReferenceDoc dicts.
    property
        Restrict the table/plots to one property (see PROPERTY_UNITS); default all.
    model
        Restrict to one ``provenance.model_name``.
    split
        'train', 'valid', 'test' or 'all' (default 'all' pooled).
    comparisons_store
        Where the comparisons go (kept between runs: incremental); default a new MemoryStore.
    any_space_group
        Join references of another space group too (default: same space group only).
    include_unreliable
        Keep values marked unreliable in the metrics (default: left out and counted).
    """
    if property is not None and property not in PROPERTY_UNITS:
        raise ValueError(f"unknown property {property!r}; expected one of {', '.join(PROPERTY_UNITS)}")
    split = split or "all"
    if split not in ("all", "train", "valid", "test"):
        raise ValueError(f"unknown split {split!r}; expected all, train, valid or test")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    comps = comparisons_store or MemoryStore(collection_name="comparisons", key="comparison_id")
    query = {"provenance.model_name": model} if model else None
    builder = ComparisonBuilder(predictions_store, references_store, comps, query=query,
                                any_space_group=any_space_group, include_unreliable=include_unreliable)
    n_new = builder.build()

    crit: dict[str, Any] = {"kind": "aggregate", "split": split}
    if property:
        crit["property"] = property
    if model:
        crit["model_name"] = model
    order = list(PROPERTY_UNITS)
    aggs = sorted(comps.query(crit), key=lambda a: (a["model_name"], order.index(a["property"])
                                                     if a["property"] in order else 99))
    rows = [{"model": a["model_name"], **{c: a.get(c) for c in TABLE_COLUMNS[1:]}, "label": LABELS.get(a["property"]),
             "measure": a.get("measure"), "excluded_reasons": a.get("excluded_reasons") or {}} for a in aggs]
    worst = {f"{a['model_name']}:{a['property']}": a["worst"] for a in aggs}
    excluded = {f"{a['model_name']}:{a['property']}": a.get("excluded_reasons") or {} for a in aggs}

    mcrit: dict[str, Any] = {"kind": "material"}
    if model:
        mcrit["model_name"] = model
    if split != "all":
        mcrit["split"] = split
    mdocs = list(comps.query(mcrit))
    plots = [_plot(a, mdocs, split, out, include_unreliable) for a in aggs if a["count"]]
    materials = material_rows(mdocs)

    md = out / "report.md"
    md.write_text(_markdown(title, rows, plots, worst, materials, split, out, include_unreliable, any_space_group))
    from macefield_flows.comparison.html import write_html

    html = write_html(out / "report.html", title, rows, plots, worst, materials, split, include_unreliable)
    logger.info("wrote %s and %s", md, html)
    return Report(rows=rows, plots=plots, markdown_path=md, output_dir=out, n_new_comparisons=n_new, worst=worst,
                  materials=materials, html_path=html, excluded=excluded)


def _plot(a: dict[str, Any], mdocs: list[dict], split: str, out: Path, include_unreliable: bool) -> ParityPlot:
    prop = a["property"]
    pred, ref, splits, labels = [], [], [], []
    for d in mdocs:
        pc = (d.get("properties") or {}).get(prop)
        if d["model_name"] != a["model_name"] or pc is None:
            continue
        if not include_unreliable and not pc.get("reliable", True):
            continue
        n = len(pc["parity_pred"])
        pred += pc["parity_pred"]
        ref += pc["parity_ref"]
        splits += [d.get("split") or "unknown"] * n
        labels += [material_label(d, pc)] * n
    note = (f"N = {a['count']} materials\n({a['n_points']} points)\nleft out: {a.get('n_excluded', 0)}\n"
            f"MAE  = {a['mae']:.3g}\nRMSE = {a['rmse']:.3g}\nR2 (y=x)   = {a['r2_true']:.3f}\n"
            f"Pearson R2 = {a['pearson_r2']:.3f}")
    fname = f"parity_{a['model_name']}_{prop}_{split}.png".replace("/", "_").replace(" ", "_")
    title = f"{a['model_name']}: {LABELS.get(prop, prop)} vs DFPT ({split})"
    return parity_plot(np.array(pred), np.array(ref), prop, a["units"], out / fname, title=title,
                       annotate=note, splits=splits, labels=labels, label=LABELS.get(prop, prop))


def _markdown(title: str, rows: list[dict], plots: list[ParityPlot], worst: dict, materials: list[dict], split: str,
              out: Path, include_unreliable: bool, any_space_group: bool) -> str:
    policy = ("Values marked unreliable are **included** (--include-unreliable)." if include_unreliable else
              "Values the prediction's own quality flags mark unreliable (or reference values marked unusable) are "
              "**left out** of the metrics; `n_excluded` counts them and the reasons follow the table.")
    parts = [
        f"# {title}", "",
        f"Split: **{split}**. `r2_true` = 1 - SS_res/SS_tot (agreement with y = x); "
        "`pearson_r2` = squared Pearson correlation (the MACE-Field paper's 'R^2'). "
        "Born charges and eps tensors are compared in the reference structure's frame after structure "
        "matching; piezo tensors only through rotation-invariant measures (Frobenius norm, largest singular "
        "value of e[i,(jk)], longitudinal maximum). A prediction is joined to a reference only with the same "
        "space group" + (" (here: any space group, --any-space-group)." if any_space_group else ".") + " " + policy,
        "", "## Aggregate metrics", "", format_table(rows), "",
    ]
    reasons = [(r, r["excluded_reasons"]) for r in rows if r.get("excluded_reasons")]
    if reasons:
        parts += ["Left out of the metrics (materials per reason):", ""]
        parts += [f"- **{r['property']}** ({r['model']}): " + ", ".join(f"{k} {v}" for k, v in ex.items())
                  for r, ex in reasons]
        parts.append("")
    parts += ["## Parity plots", ""]
    parts += [f"![{p.property}]({p.path.relative_to(out)})" for p in plots]
    parts += ["", "## Worst cases", ""]
    for key, cases in worst.items():
        if cases:
            parts.append(f"- **{key}**: " + ", ".join(
                f"{c.get('label') or c.get('formula_pretty')} {c['score']:.3g}" for c in cases))
    parts += ["", "## Per material", "",
              "Predicted and DFPT values: eps as trace/3, |e|_F = Frobenius norm of the total piezo tensor "
              "(C/m^2), Z* in e. `match rms`: StructureMatcher RMS distance (normalised) between the screened "
              "and the reference structure.", "", md_table(MATERIAL_COLUMNS, materials), ""]
    rejected = rejected_rows(materials)
    if rejected:
        parts += ["## Candidates not joined", "",
                  "References of the same formula or MP id that were not compared, and why (another space group "
                  "unless --any-space-group; structures that do not match).", "",
                  md_table(("material", "input", "candidate not joined"), rejected), ""]
    return "\n".join(parts)


def rejected_rows(materials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per rejected candidate reference: material, input id, reason."""
    return [{"material": m["material"], "input": m["input"], "candidate not joined": reason}
            for m in materials for reason in (m.get("rejected") or "").split("; ") if reason]
