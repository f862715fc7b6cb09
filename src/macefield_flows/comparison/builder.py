"""maggma Builder joining predictions with DFPT references into a ``comparisons`` collection.

* sources: predictions (``ElectricResponseTaskDoc`` dicts, keyed by the store's
  ``key``) and references (``ReferenceDoc`` dicts, key ``reference_id``);
* target: comparisons (key ``comparison_id``): one ``MaterialComparisonDoc`` per
  prediction and one ``AggregateMetricsDoc`` per (model, property, split).

Join: candidates by ``material_id`` (references' own id or their
``mp_id_candidates``), else by reduced formula + StructureMatcher. A candidate is
joined only when its space group is one of the prediction's (input structure,
spglib at symprec 0.1 and 0.01) unless ``any_space_group=True``: rutile SnO2
(P4_2/mnm) never takes the values of CaCl2-type SnO2 (Pnnm). Rejected candidates
are listed with the reason in the material document. Incremental: predictions
whose key already has a material comparison are skipped; aggregates are
recomputed from all material comparisons at the end of every run, leaving out
values marked unreliable (``include_unreliable=True`` keeps them) and counting
them by reason.
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
from macefield_flows.references.matching import match_structures, rms_distance, space_group_numbers
from macefield_flows.references.splits import material_split
from macefield_flows.schemas.comparison import PROPERTY_UNITS, AggregateMetricsDoc, ReferenceMatch, WorstCase

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
                 query: Optional[dict] = None, any_space_group: bool = False, include_unreliable: bool = False,
                 **kwargs: Any):
        self.predictions = predictions
        self.references = references
        self.comparisons = comparisons
        self.query = dict(query or {})
        self.any_space_group = any_space_group
        self.include_unreliable = include_unreliable
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
            yield {"prediction": pred, "prediction_id": str(k), **self._join(pred)}

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        doc = compare_prediction(item["prediction"], item["references"], item["prediction_id"],
                                 matched_by=item["matched_by"], mappings=item["mappings"])
        doc.space_group = item["space_group"]
        doc.matches = item["matches"]
        doc.rejected = item["rejected"]
        doc.structure_id = item["prediction"].get("structure_id")
        if doc.formula_pretty and doc.space_group:
            doc.split = material_split(doc.formula_pretty, doc.space_group)
        if not item["references"]:
            doc.warnings.append("no reference found" + (" with the same space group" if item["rejected"] else ""))
        return doc.model_dump()

    def update_targets(self, items: list[dict[str, Any]]) -> None:
        if items:
            self.comparisons.update(items, key="comparison_id")
            self.n_processed += len(items)

    def finalize(self) -> None:
        """Recompute the aggregate documents; stores are left open (the caller owns them)."""
        aggs = [a.model_dump() for a in compute_aggregates(self.comparisons,
                                                           include_unreliable=self.include_unreliable)]
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
    def _join(self, pred: dict[str, Any]) -> dict[str, Any]:
        """Joined references, how, mappings, the prediction's space group and rejected candidates."""
        sdict = pred.get("input_structure") or pred.get("structure")
        s = None if sdict is None else (sdict if isinstance(sdict, Structure) else Structure.from_dict(sdict))
        sdict_relaxed = pred.get("structure")
        relaxed = None if not sdict_relaxed else (sdict_relaxed if isinstance(sdict_relaxed, Structure)
                                                  else Structure.from_dict(sdict_relaxed))
        sgs = space_group_numbers(s) if s is not None else set()
        sg_pred = _preferred_sg(s) if s is not None else None
        mid = pred.get("material_id")
        candidates: list[tuple[dict, str]] = []
        if mid:
            candidates = [(r, "material_id") for r in self.references.query({"material_id": mid})]
            have = {r["reference_id"] for r, _ in candidates}
            candidates += [(r, "mp_id_candidates") for r in self.references.query({"mp_id_candidates": mid})
                           if r["reference_id"] not in have]
        by_id = bool(candidates)
        if not candidates and s is not None:
            candidates = [(r, "structure") for r in self.references.query(
                {"formula_pretty": s.composition.reduced_formula})]
        refs, matches, rejected, mappings = [], [], [], {}
        for ref, how in candidates:
            sg_ref = int(ref["space_group"])
            if sgs and sg_ref not in sgs and not self.any_space_group:
                rejected.append(f"{ref['reference_id']} ({ref['formula_pretty']}, space group {sg_ref}): "
                                f"space group differs from the prediction's {sorted(sgs)}")
                continue
            rs = Structure.from_dict(ref["structure"])
            m = None
            if relaxed is not None:
                m = match_structures(relaxed, rs)
            dist = rms_distance(s, rs) if s is not None else None
            if not by_id and dist is None and m is None:
                rejected.append(f"{ref['reference_id']}: structures do not match (StructureMatcher)")
                continue
            mappings[ref["reference_id"]] = m
            refs.append(ref)
            matches.append(ReferenceMatch(reference_id=ref["reference_id"], dataset=ref["dataset"],
                                          source_id=ref["source_id"], matched_by=how, space_group_reference=sg_ref,
                                          space_group_prediction=sg_pred, rms_distance=dist))
        matched_by = matches[0].matched_by if matches else None
        return {"references": refs, "matched_by": matched_by, "mappings": mappings, "space_group": sg_pred,
                "matches": matches, "rejected": rejected}


def _preferred_sg(structure: Structure) -> Optional[int]:
    try:
        return int(structure.get_space_group_info(symprec=0.1)[1])
    except Exception:  # spglib failure on a pathological cell
        return None


def material_label(doc: dict[str, Any], pc: Optional[dict[str, Any]] = None) -> str:
    """Readable label of a material comparison: formula (MP id, else the reference's source id, else input id)."""
    ident = doc.get("material_id")
    if not ident and pc:
        ident = pc.get("reference_id", "").split(":", 1)[-1] or None
    ident = ident or doc.get("structure_id") or doc.get("prediction_id", "")[:12]
    return f"{doc.get('formula_pretty') or '?'} ({ident})"


def compute_aggregates(comparisons: Store, n_worst: int = N_WORST,
                       include_unreliable: bool = False) -> list[AggregateMetricsDoc]:
    """Aggregate metrics per (model, property, split) from the material comparison documents.

    ``split='all'`` pools every split. Values with ``reliable: false`` are left out
    (unless ``include_unreliable``) and counted in ``n_excluded`` / ``excluded_reasons``.
    """
    groups: dict[tuple[str, str, str], list[tuple[dict, dict]]] = defaultdict(list)
    for doc in comparisons.query({"kind": "material"}):
        for prop, pc in (doc.get("properties") or {}).items():
            for split in ("all", doc.get("split") or "unknown"):
                groups[(doc["model_name"], prop, split)].append((doc, pc))
    out = []
    for (model, prop, split), entries in sorted(groups.items()):
        used = [e for e in entries if include_unreliable or e[1].get("reliable", True)]
        left_out = [e for e in entries if e not in used]
        reasons: dict[str, int] = defaultdict(int)
        for _, pc in left_out:
            for r in pc.get("excluded_reasons") or ["unreliable"]:
                reasons[r.split(":")[0] if r.startswith("reference unusable") else r] += 1
        if used:
            pred = np.concatenate([np.asarray(pc["parity_pred"], float) for _, pc in used])
            ref = np.concatenate([np.asarray(pc["parity_ref"], float) for _, pc in used])
        else:
            pred = ref = np.zeros(0)
        stats = summarize(pred, ref)
        worst = sorted(used, key=lambda e: -e[1]["score"])[:n_worst]
        out.append(AggregateMetricsDoc(
            comparison_id=f"aggregate:{model}:{prop}:{split}", model_name=model, property=prop,
            units=PROPERTY_UNITS.get(prop, ""), split=split, measure=MEASURES.get(prop, prop),
            count=len(used), n_excluded=len(left_out), excluded_reasons=dict(sorted(reasons.items())), **stats,
            worst=[WorstCase(prediction_id=d["prediction_id"], material_id=d.get("material_id"),
                             formula_pretty=d.get("formula_pretty"), reference_id=pc.get("reference_id"),
                             label=material_label(d, pc), score=pc["score"]) for d, pc in worst],
        ))
    return out
