"""maggma Builder joining predictions with DFPT references into a ``comparisons`` collection.

* sources: predictions (``ElectricResponseTaskDoc`` dicts, keyed by the store's
  ``key``) and references (``ReferenceDoc`` dicts, key ``reference_id``);
* target: comparisons (key ``comparison_id``): one ``MaterialComparisonDoc`` per
  prediction and one ``AggregateMetricsDoc`` per (model, property, split).

Join: by ``material_id`` (references' own id or their ``mp_id_candidates``),
else by reduced formula + StructureMatcher. Incremental: predictions whose key
already has a material comparison are skipped; aggregates are recomputed from
all material comparisons at the end of every run.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, Optional

import numpy as np
from maggma.core import Builder, Store
from pymatgen.core import Structure

from macefield_flows.comparison.errors import compare_prediction
from macefield_flows.comparison.metrics import summarize
from macefield_flows.references.matching import match_structures
from macefield_flows.schemas.comparison import PROPERTY_UNITS, AggregateMetricsDoc, WorstCase

logger = logging.getLogger(__name__)

MEASURES = {
    "born": "Z* diagonal components per site, reference frame",
    "eps_electronic": "eps_inf diagonal components, reference frame (eigenvalues if unmatched)",
    "eps_ionic": "eps_ionic diagonal components, reference frame (eigenvalues if unmatched)",
    "eps_total": "eps_0 diagonal components, reference frame (eigenvalues if unmatched)",
    "piezo_frobenius": "rotation-invariant Frobenius norm of the rank-3 total e",
    "piezo_sv_max": "rotation-invariant largest singular value of e[i,(jk)] (3x9)",
    "piezo_longitudinal_max": "rotation-invariant max_n |e_ijk n_i n_j n_k|",
    "piezo_clamped_frobenius": "rotation-invariant Frobenius norm of the clamped-ion e",
}
N_WORST = 5


class ComparisonBuilder(Builder):
    """Compare predictions with DFPT references, per material and in aggregate.

    Parameters
    ----------
    predictions, references, comparisons
        maggma stores (see module docstring).
    query
        Extra criteria on predictions (e.g. ``{"provenance.model_name": "m"}``).
    """

    def __init__(self, predictions: Store, references: Store, comparisons: Store,
                 query: Optional[dict] = None, **kwargs: Any):
        self.predictions = predictions
        self.references = references
        self.comparisons = comparisons
        self.query = dict(query or {})
        self.n_processed = 0
        super().__init__(sources=[predictions, references], targets=[comparisons], **kwargs)

    # --- maggma protocol ----------------------------------------------------------------
    def get_items(self) -> Iterator[dict[str, Any]]:
        key = self.predictions.key
        done = set(self.comparisons.distinct("prediction_id", criteria={"kind": "material"}))
        criteria = {**self.query, "status": {"$ne": "failed"}}
        todo = [d[key] for d in self.predictions.query(criteria, properties=[key]) if str(d[key]) not in done]
        self.total = len(todo)
        logger.info("%d new predictions to compare (%d already done)", len(todo), len(done))
        for k in todo:
            pred = self.predictions.query_one({key: k})
            refs, matched_by, mappings = self._join(pred)
            yield {"prediction": pred, "prediction_id": str(k), "references": refs,
                   "matched_by": matched_by, "mappings": mappings}

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        doc = compare_prediction(item["prediction"], item["references"], item["prediction_id"],
                                 matched_by=item["matched_by"], mappings=item["mappings"])
        if not item["references"]:
            doc.warnings.append("no reference found")
        return doc.model_dump()

    def update_targets(self, items: list[dict[str, Any]]) -> None:
        if items:
            self.comparisons.update(items, key="comparison_id")
            self.n_processed += len(items)

    def finalize(self) -> None:
        """Recompute the aggregate documents; stores are left open (the caller owns them)."""
        aggs = [a.model_dump() for a in compute_aggregates(self.comparisons)]
        if aggs:
            self.comparisons.update(aggs, key="comparison_id")

    def build(self) -> int:
        """Run serially without touching logging configuration; return the number of new comparisons."""
        self.n_processed = 0
        for store in (self.predictions, self.references, self.comparisons):
            store.connect()
        batch = [self.process_item(item) for item in self.get_items()]
        self.update_targets(batch)
        self.finalize()
        return self.n_processed

    # --- joining --------------------------------------------------------------------------
    def _join(self, pred: dict[str, Any]) -> tuple[list[dict], Optional[str], dict]:
        mid = pred.get("material_id")
        if mid:
            refs = list(self.references.query({"material_id": mid}))
            if refs:
                return refs + self._others(mid, refs), "material_id", {}
            refs = list(self.references.query({"mp_id_candidates": mid}))
            if refs:
                return refs, "mp_id_candidates", {}
        sdict = pred.get("structure") or pred.get("input_structure")
        if sdict is None:
            return [], None, {}
        s = sdict if isinstance(sdict, Structure) else Structure.from_dict(sdict)
        refs, mappings = [], {}
        for ref in self.references.query({"formula_pretty": s.composition.reduced_formula}):
            m = match_structures(s, Structure.from_dict(ref["structure"]))
            if m is not None:
                refs.append(ref)
                mappings[ref["reference_id"]] = m
        return refs, ("structure" if refs else None), mappings

    def _others(self, mid: str, refs: list[dict]) -> list[dict]:
        have = {r["reference_id"] for r in refs}
        return [r for r in self.references.query({"mp_id_candidates": mid}) if r["reference_id"] not in have]


def compute_aggregates(comparisons: Store, n_worst: int = N_WORST) -> list[AggregateMetricsDoc]:
    """Aggregate metrics per (model, property, split) from the material comparison documents.

    ``split='all'`` pools every split.
    """
    groups: dict[tuple[str, str, str], list[tuple[dict, dict]]] = defaultdict(list)
    for doc in comparisons.query({"kind": "material"}):
        for prop, pc in (doc.get("properties") or {}).items():
            for split in ("all", doc.get("split") or "unknown"):
                groups[(doc["model_name"], prop, split)].append((doc, pc))
    out = []
    for (model, prop, split), entries in sorted(groups.items()):
        pred = np.concatenate([np.asarray(pc["parity_pred"], float) for _, pc in entries])
        ref = np.concatenate([np.asarray(pc["parity_ref"], float) for _, pc in entries])
        stats = summarize(pred, ref)
        worst = sorted(entries, key=lambda e: -e[1]["score"])[:n_worst]
        out.append(AggregateMetricsDoc(
            comparison_id=f"aggregate:{model}:{prop}:{split}", model_name=model, property=prop,
            units=PROPERTY_UNITS.get(prop, ""), split=split, measure=MEASURES.get(prop, prop),
            count=len(entries), **stats,
            worst=[WorstCase(prediction_id=d["prediction_id"], material_id=d.get("material_id"),
                             formula_pretty=d.get("formula_pretty"), score=pc["score"]) for d, pc in worst],
        ))
    return out
