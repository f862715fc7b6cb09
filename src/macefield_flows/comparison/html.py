"""Self-contained HTML comparison report: sortable tables and parity plots embedded as base64 PNG.

No external resource (no CDN, no separate image files): the page opens from an
e-mail attachment or a CI artefact. Clicking a column header sorts the table
(numbers numerically, missing values last); a small inline script does it.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from macefield_flows.comparison.plots import ParityPlot

_SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'); const body = table.tBodies[0];
  const idx = Array.from(th.parentNode.children).indexOf(th);
  const asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
  const key = td => { const v = td.dataset.v !== undefined ? td.dataset.v : td.textContent.trim();
                      const n = parseFloat(v); return (v === '' || v === '-') ? null : (isNaN(n) ? v : n); };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => { const x = key(a.cells[idx]), y = key(b.cells[idx]);
    if (x === null) return 1; if (y === null) return -1;
    if (typeof x === 'number' && typeof y === 'number') return asc ? x - y : y - x;
    return asc ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x)); });
  rows.forEach(r => body.appendChild(r));
}
window.addEventListener('load', () => {
  // a link ending in #sort=<column> opens the per-material table sorted by that column
  const m = decodeURIComponent(location.hash).match(/^#sort=(.+)$/);
  if (m) { const th = Array.from(document.querySelectorAll('#materials th')).find(t => t.textContent === m[1]);
           if (th) sortTable(th); }
  // what rendered (read by the headless-browser test and by anyone inspecting the page)
  const imgs = Array.from(document.images);
  document.body.dataset.imagesRendered = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesTotal = imgs.length;
  document.body.dataset.materialRows = document.querySelectorAll('#materials tbody tr').length;
});
"""

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }
td.t, th.t { text-align: left; white-space: normal; max-width: 28em; }
td.l, th.l { text-align: left; }
th { background: #eef; cursor: pointer; position: sticky; top: 0; }
tr:nth-child(even) td { background: #f8f8f8; }
td.bad { color: #a00000; }
td.ex { color: #999; text-decoration: line-through; }
.plots img { max-width: 48%; margin: 0.5em; border: 1px solid #ddd; }
"""


def _cell(v: Any) -> tuple[str, str]:
    """(display text, sort value) of a table cell."""
    if v is None:
        return "-", ""
    if isinstance(v, float):
        return ("nan", "") if np.isnan(v) else (f"{v:.4g}", repr(v))
    if isinstance(v, dict):
        text = ", ".join(f"{k}: {n}" for k, n in v.items())
        return text, text
    return str(v), str(v)


def table_html(columns: list[str] | tuple[str, ...], rows: list[dict[str, Any]], table_id: str,
               text_columns: tuple[str, ...] = (), left_columns: tuple[str, ...] = ()) -> str:
    """A sortable HTML table (header click sorts) with every value in full.

    ``text_columns`` are left-aligned and wrap; ``left_columns`` are left-aligned on one line.
    """
    def kind(c: str) -> str:
        return "t" if c in text_columns else "l" if c in left_columns else ""

    head = "".join(f'<th class="{kind(c)}" onclick="sortTable(this)">{html.escape(c)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            text, key = _cell(r.get(c))
            cls = kind(c)
            if c == "left out of metrics" and text:
                cls += " bad"
            if c in (r.get("excluded_columns") or ()):
                cls += " ex"
            cells.append(f'<td class="{cls.strip()}" data-v="{html.escape(key)}">{html.escape(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>' + "\n".join(body) +
            "</tbody></table>")


def _img(plot: ParityPlot) -> str:
    data = base64.b64encode(Path(plot.path).read_bytes()).decode()
    return (f'<img alt="parity plot {html.escape(plot.property)}" title="{html.escape(plot.property)}" '
            f'src="data:image/png;base64,{data}">')


def write_html(path: Path, title: str, rows: list[dict[str, Any]], plots: list[ParityPlot],
               worst: dict[str, list[dict[str, Any]]], materials: list[dict[str, Any]], split: str,
               include_unreliable: bool) -> Path:
    """Write the self-contained report; return its path."""
    from macefield_flows.comparison.report import MATERIAL_COLUMNS, TABLE_COLUMNS, rejected_rows

    rejected = rejected_rows(materials)
    agg_rows = [{**r, "left out (reasons)": r.get("excluded_reasons") or {}} for r in rows]
    worst_rows = [{"property": key, "material": c.get("label") or c.get("formula_pretty"), "reference": c.get(
        "reference_id"), "MAE": c["score"]} for key, cases in worst.items() for c in cases]
    policy = ("Unreliable values are included." if include_unreliable else
              "Values the predictions' quality flags mark unreliable are left out of the metrics and counted.")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Split: <b>{html.escape(split)}</b>. {html.escape(policy)} Click a column header to sort.</p>",
        "<h2>Aggregate metrics</h2>",
        table_html(list(TABLE_COLUMNS) + ["left out (reasons)"], agg_rows, "aggregate",
                   text_columns=("model", "property", "units", "left out (reasons)")),
        '<h2>Parity plots</h2><div class="plots">', *[_img(p) for p in plots], "</div>",
        "<h2>Worst cases</h2>",
        table_html(["property", "material", "reference", "MAE"], worst_rows, "worst",
                   text_columns=("property", "material", "reference")),
        f"<h2>Per material ({len(materials)})</h2>",
        "<p>eps as trace/3; |e|_F: Frobenius norm of the total piezo tensor (C/m<sup>2</sup>); Z* in e; "
        "match rms: StructureMatcher RMS distance (normalised). Struck-through grey values are left out of "
        "the metrics (see the last column).</p>",
        table_html(list(MATERIAL_COLUMNS), materials, "materials",
                   text_columns=("input", "reference", "left out of metrics"),
                   left_columns=("material", "id", "split", "space group pred/ref")),
        *(["<h2>Candidates not joined</h2>",
            table_html(["material", "input", "candidate not joined"], rejected, "rejected",
                       text_columns=("input", "candidate not joined"), left_columns=("material",))]
          if rejected else []),
        "</body></html>",
    ]
    path.write_text("\n".join(parts))
    return path
