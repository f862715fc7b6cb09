"""``run_compare``: build comparisons, print/write the aggregate table, parity plots and a Markdown report."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
from maggma.core import Store
from maggma.stores import MemoryStore

from macefield_flows.comparison.builder import ComparisonBuilder
from macefield_flows.comparison.plots import ParityPlot, parity_plot
from macefield_flows.schemas.comparison import PROPERTY_UNITS

logger = logging.getLogger(__name__)

TABLE_COLUMNS = ("model", "property", "split", "units", "count", "n_points", "mae", "rmse", "r2_true", "pearson_r2", "spearman")


@dataclass
class Report:
    """What ``run_compare`` produced."""

    rows: list[dict[str, Any]]
    plots: list[ParityPlot]
    markdown_path: Path
    output_dir: Path
    n_new_comparisons: int
    worst: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def table(self) -> str:
        """Aggregate table as Markdown."""
        return format_table(self.rows)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of aggregate rows (TABLE_COLUMNS)."""
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |", "|" + "---|" * len(TABLE_COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in TABLE_COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def run_compare(
    predictions_store: Store,
    references_store: Store,
    output_dir: str | Path,
    property: Optional[str] = None,
    model: Optional[str] = None,
    split: Optional[str] = None,
    comparisons_store: Optional[Store] = None,
) -> Report:
    """Compare predictions with references and write plots and ``report.md`` to ``output_dir``.

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
    """
    if property is not None and property not in PROPERTY_UNITS:
        raise ValueError(f"{property=}, expected one of {sorted(PROPERTY_UNITS)}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    comps = comparisons_store or MemoryStore(collection_name="comparisons", key="comparison_id")
    query = {"provenance.model_name": model} if model else None
    builder = ComparisonBuilder(predictions_store, references_store, comps, query=query)
    n_new = builder.build()

    split = split or "all"
    crit: dict[str, Any] = {"kind": "aggregate", "split": split}
    if property:
        crit["property"] = property
    if model:
        crit["model_name"] = model
    aggs = sorted(comps.query(crit), key=lambda a: (a["model_name"], list(PROPERTY_UNITS).index(a["property"])
                                                     if a["property"] in PROPERTY_UNITS else 99))
    rows = [{"model": a["model_name"], **{c: a[c] for c in TABLE_COLUMNS[1:]}} for a in aggs]
    worst = {f"{a['model_name']}:{a['property']}": a["worst"] for a in aggs}

    plots: list[ParityPlot] = []
    for a in aggs:
        mcrit: dict[str, Any] = {"kind": "material", "model_name": a["model_name"],
                                 f"properties.{a['property']}": {"$exists": True}}
        if split != "all":
            mcrit["split"] = split
        pred, ref = [], []
        for d in comps.query(mcrit, properties=[f"properties.{a['property']}"]):
            pc = d["properties"][a["property"]]
            pred += pc["parity_pred"]
            ref += pc["parity_ref"]
        note = f"N={a['count']} MAE={a['mae']:.3g}\nR2(y=x)={a['r2_true']:.3f}\nPearson R2={a['pearson_r2']:.3f}"
        fname = f"parity_{a['model_name']}_{a['property']}_{split}.png".replace("/", "_")
        plots.append(parity_plot(np.array(pred), np.array(ref), a["property"], a["units"], out / fname,
                                 title=f"{a['model_name']}: {a['measure']}", annotate=note))

    md = out / "report.md"
    md.write_text(_markdown(rows, plots, worst, split, out))
    logger.info("wrote %s", md)
    return Report(rows=rows, plots=plots, markdown_path=md, output_dir=out, n_new_comparisons=n_new, worst=worst)


def _markdown(rows: list[dict], plots: list[ParityPlot], worst: dict, split: str, out: Path) -> str:
    parts = [
        "# MACE-Field vs DFPT comparison", "",
        f"Split: **{split}**. `r2_true` = 1 - SS_res/SS_tot (agreement with y = x); "
        "`pearson_r2` = squared Pearson correlation (the MACE-Field paper's 'R^2'). "
        "Born charges and eps tensors are compared in the reference structure's frame after structure "
        "matching; piezo tensors only through rotation-invariant measures (Frobenius norm, largest singular "
        "value of e[i,(jk)], longitudinal maximum).", "",
        "## Aggregate metrics", "", format_table(rows), "", "## Parity plots", "",
    ]
    parts += [f"![{p.property}]({p.path.relative_to(out)})  " for p in plots]
    parts += ["", "## Worst cases", ""]
    for key, cases in worst.items():
        parts.append(f"**{key}**: " + ", ".join(
            f"{c.get('formula_pretty')} ({c.get('material_id') or c['prediction_id']}) {c['score']:.3g}" for c in cases))
        parts.append("")
    return "\n".join(parts)
