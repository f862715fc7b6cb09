"""Per-material errors of one prediction against its joined DFPT references.

Frames (see :mod:`macefield_flows.references.matching`): Born charges and eps
tensors are rotated into the reference structure's frame (site mapping applied
to Z*); without a match, eps falls back to eigenvalues and Born charges are
skipped. Piezo tensors are compared only through rotation-invariant measures
(the de Jong tensors are in an IEEE frame, not that of their structure).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np
from pymatgen.core import Structure

from macefield_flows.comparison.metrics import mae, rmse
from macefield_flows.references.matching import StructureMapping, match_structures
from macefield_flows.references.tensors import piezo_invariants, symmetric_eigvals
from macefield_flows.schemas.comparison import PROPERTY_UNITS, MaterialComparisonDoc, PropertyComparison

logger = logging.getLogger(__name__)

REFERENCE_PRIORITY: dict[str, tuple[str, ...]] = {
    "born": ("mp_dielectric_becs_macefield_subset", "petretto2018_dfpt_becs_epsinf", "phonopy_born_examples"),
    "eps_electronic": ("materials_project_api", "mp_dielectric_petousis2017", "mp_dielectric_becs_macefield_subset",
                       "petretto2018_dfpt_becs_epsinf", "phonopy_born_examples"),
    "eps_ionic": ("materials_project_api", "mp_dielectric_petousis2017", "mp_dielectric_becs_macefield_subset"),
    "eps_total": ("materials_project_api", "mp_dielectric_petousis2017", "mp_dielectric_becs_macefield_subset"),
    "piezo": ("materials_project_api", "mp_piezo_dejong2015"),
    "piezo_clamped": ("mp_dielectric_becs_macefield_subset",),
}
"""Preferred reference datasets per property, best first (also benchmark entries: 'benchmark')."""

PRED_FIELDS = {"eps_electronic": "epsilon_static", "eps_ionic": "epsilon_ionic", "eps_total": "epsilon_total"}
"""Prediction-document (ElectricResponseTaskDoc) field of each eps property."""

DOC_FIELD = {**PRED_FIELDS, "born": "born", "piezo_frobenius": "piezo_tensor", "piezo_sv_max": "piezo_tensor",
             "piezo_longitudinal_max": "piezo_tensor", "piezo_clamped_frobenius": "piezo_electronic_tensor"}
"""Task-document field behind each compared property (quality flags name these fields)."""


def unreliable_reasons(prediction: dict[str, Any], prop: str) -> list[str]:
    """Names of the prediction's quality flags that make property ``prop`` unreliable (empty: reliable)."""
    from macefield_flows.schemas.quality import ALL

    field = DOC_FIELD.get(prop, prop)
    quality = prediction.get("quality") or {}
    return sorted({f.get("name", "?") for f in quality.get("flags", []) or []
                   if ALL in (f.get("affects") or [ALL]) or field in (f.get("affects") or [])})


def reference_unusable(ref: dict[str, Any], prop: str) -> Optional[str]:
    """Why the reference's value of ``prop`` must not be used (``extra.unusable``), else None."""
    base = "piezo_total" if prop.startswith("piezo_") and prop != "piezo_clamped_frobenius" else prop
    reason = ((ref.get("extra") or {}).get("unusable") or {}).get(base)
    return f"reference unusable: {reason}" if reason else None


def _structure(d: Any) -> Optional[Structure]:
    if d is None:
        return None
    return d if isinstance(d, Structure) else Structure.from_dict(d)


def _pick(refs: list[dict[str, Any]], prop: str, field: str) -> Optional[dict[str, Any]]:
    order = REFERENCE_PRIORITY[prop]
    usable = [r for r in refs if r.get(field) is not None]
    usable.sort(key=lambda r: -1 if str(r["dataset"]).startswith("user:")  # the user's own references first
                else order.index(r["dataset"]) if r["dataset"] in order else len(order))
    return usable[0] if usable else None


def _tensor_comparison(prop: str, ref: dict, pred_t: np.ndarray, ref_t: np.ndarray,
                       mapping: Optional[StructureMapping]) -> PropertyComparison:
    ev_err = (symmetric_eigvals(pred_t) - symmetric_eigvals(ref_t)).tolist()
    if mapping is not None:
        p = mapping.rank2_to_reference(pred_t)
        diff = p - ref_t
        return PropertyComparison(
            property=prop, units=PROPERTY_UNITS[prop], reference_id=ref["reference_id"], dataset=ref["dataset"],
            frame="reference_structure", mae=mae(p, ref_t), rmse=rmse(p, ref_t), max_abs_error=float(np.abs(diff).max()),
            frobenius_error=float(np.linalg.norm(diff)),
            relative_frobenius_error=float(np.linalg.norm(diff) / max(np.linalg.norm(ref_t), 1e-12)),
            eigenvalue_errors=ev_err, parity_pred=np.diag(p).tolist(), parity_ref=np.diag(ref_t).tolist(),
            score=mae(p, ref_t),
        )
    ep, er = symmetric_eigvals(pred_t), symmetric_eigvals(ref_t)
    return PropertyComparison(
        property=prop, units=PROPERTY_UNITS[prop], reference_id=ref["reference_id"], dataset=ref["dataset"],
        frame="eigenvalues", mae=mae(ep, er), rmse=rmse(ep, er), max_abs_error=float(np.abs(ep - er).max()),
        eigenvalue_errors=ev_err, parity_pred=ep.tolist(), parity_ref=er.tolist(), score=mae(ep, er),
    )


def _born_comparison(ref: dict, z_ref_frame: np.ndarray, z_ref: np.ndarray) -> PropertyComparison:
    diff = z_ref_frame - z_ref
    diag_idx = (slice(None), [0, 1, 2], [0, 1, 2])
    return PropertyComparison(
        property="born", units="e", reference_id=ref["reference_id"], dataset=ref["dataset"],
        frame="reference_structure", mae=mae(z_ref_frame, z_ref), rmse=rmse(z_ref_frame, z_ref),
        max_abs_error=float(np.abs(diff).max()), frobenius_error=float(np.linalg.norm(diff)),
        relative_frobenius_error=float(np.linalg.norm(diff) / max(np.linalg.norm(z_ref), 1e-12)),
        per_site_errors=np.linalg.norm(diff, axis=(1, 2)).tolist(),
        parity_pred=z_ref_frame[diag_idx].ravel().tolist(), parity_ref=z_ref[diag_idx].ravel().tolist(),
        score=mae(z_ref_frame, z_ref),
    )


def _scalar_comparison(prop: str, ref: dict, p: float, r: float) -> PropertyComparison:
    return PropertyComparison(
        property=prop, units=PROPERTY_UNITS[prop], reference_id=ref["reference_id"], dataset=ref["dataset"],
        frame="rotation_invariant", mae=abs(p - r), rmse=abs(p - r), max_abs_error=abs(p - r),
        parity_pred=[p], parity_ref=[r], score=abs(p - r),
    )


def compare_prediction(
    prediction: dict[str, Any],
    references: list[dict[str, Any]],
    prediction_id: str,
    matched_by: Optional[str] = None,
    mappings: Optional[dict[str, Optional[StructureMapping]]] = None,
) -> MaterialComparisonDoc:
    """Compare one prediction (ElectricResponseTaskDoc as a dict) with its references (ReferenceDoc dicts).

    Parameters
    ----------
    mappings
        Precomputed structure mappings by reference_id (``None`` = no match);
        computed here when absent.
    """
    prov = prediction.get("provenance") or {}
    warnings: list[str] = []
    pred_struct = _structure(prediction.get("structure") or prediction.get("input_structure"))
    mappings = dict(mappings or {})

    def mapping_for(ref: dict) -> Optional[StructureMapping]:
        if ref["reference_id"] not in mappings:
            rs = _structure(ref["structure"])
            mappings[ref["reference_id"]] = match_structures(pred_struct, rs) if pred_struct and rs else None
        return mappings[ref["reference_id"]]

    props: dict[str, PropertyComparison] = {}
    for prop, pfield in PRED_FIELDS.items():
        if prediction.get(pfield) is None:
            continue
        ref = _pick(references, prop, prop)
        if ref is None:
            continue
        m = mapping_for(ref)
        if m is None:
            warnings.append(f"{prop}: no structure match with {ref['reference_id']}; eigenvalues only")
        props[prop] = _tensor_comparison(prop, ref, np.asarray(prediction[pfield], float), np.asarray(ref[prop], float), m)

    if prediction.get("born") is not None:
        ref = _pick(references, "born", "born")
        if ref is not None:
            m = mapping_for(ref)
            if m is None:
                warnings.append(f"born: no site mapping to {ref['reference_id']}; Born charges not compared")
            else:
                z = m.born_to_reference(np.asarray(prediction["born"], float))
                props["born"] = _born_comparison(ref, z, np.asarray(ref["born"], float))

    if prediction.get("piezo_tensor") is not None:
        ref = _pick(references, "piezo", "piezo_total")
        if ref is not None:
            ip = piezo_invariants(np.asarray(prediction["piezo_tensor"], float))
            ir = ref.get("piezo_invariants") or piezo_invariants(np.asarray(ref["piezo_total"], float))
            for key in ("frobenius", "sv_max", "longitudinal_max"):
                props[f"piezo_{key}"] = _scalar_comparison(f"piezo_{key}", ref, ip[key], ir[key])
    if prediction.get("piezo_electronic_tensor") is not None:
        ref = _pick(references, "piezo_clamped", "piezo_clamped_ion")
        if ref is not None:
            fp = piezo_invariants(np.asarray(prediction["piezo_electronic_tensor"], float))["frobenius"]
            fr = piezo_invariants(np.asarray(ref["piezo_clamped_ion"], float))["frobenius"]
            props["piezo_clamped_frobenius"] = _scalar_comparison("piezo_clamped_frobenius", ref, fp, fr)

    for prop, pc in props.items():
        reasons = unreliable_reasons(prediction, prop)
        ref_reason = reference_unusable(next(r for r in references if r["reference_id"] == pc.reference_id), prop)
        if ref_reason:
            reasons.append(ref_reason)
        pc.excluded_reasons = reasons
        pc.reliable = not reasons

    first = references[0] if references else {}
    return MaterialComparisonDoc(
        comparison_id=f"material:{prediction_id}", prediction_id=prediction_id,
        material_id=prediction.get("material_id") or first.get("material_id"),
        formula_pretty=prediction.get("formula_pretty") or first.get("formula_pretty"),
        model_name=prov.get("model_name") or "unknown", model_sha256=prov.get("model_sha256"),
        split=first.get("split"), matched_by=matched_by, reference_ids=[r["reference_id"] for r in references],
        properties=props, warnings=warnings,
    )
