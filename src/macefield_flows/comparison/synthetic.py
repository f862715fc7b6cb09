"""Synthetic predictions with known errors, made from reference documents (tests, demos).

A prediction is ``pred = scale * ref + offset`` (componentwise, in the reference
frame) then expressed in a rotated, site-permuted copy of the reference
structure, as a real model run on an arbitrarily oriented input would give.
The comparison must undo the rotation and permutation and recover the known error.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
from pymatgen.core import Structure

from macefield_flows.references.matching import random_rotation, rotate_and_permute
from macefield_flows.references.tensors import rotate_born, rotate_piezo_voigt, rotate_rank2
from macefield_flows.schemas.task import ElectricResponseTaskDoc, Provenance


def synthetic_prediction(
    reference: dict[str, Any],
    model_name: str = "synthetic",
    scale: float = 1.0,
    offset: float = 0.0,
    seed: int = 0,
    rotate: bool = True,
    permute: bool = True,
    keep_material_id: bool = True,
    noise: float = 0.0,
) -> dict[str, Any]:
    """ElectricResponseTaskDoc (as a JSON-able dict) derived from a ReferenceDoc dict.

    Parameters
    ----------
    reference
        A ReferenceDoc dict (``born`` e, ``eps_*`` dimensionless, ``piezo_total`` C/m^2).
    scale, offset
        Known error: every component of Z*, eps and e becomes ``scale * x + offset``
        (piezo: ``scale * e`` only, so that its invariants scale exactly).
    noise
        Standard deviation of extra Gaussian noise on each component (same units).
    """
    rng = np.random.default_rng(seed)
    s = Structure.from_dict(reference["structure"])
    rot = random_rotation(seed) if rotate else np.eye(3)
    perm = rng.permutation(len(s)) if permute else np.arange(len(s))
    s_pred = rotate_and_permute(s, rot, perm)

    def err(x: Any) -> np.ndarray:
        a = np.asarray(x, float)
        return scale * a + offset + noise * rng.normal(size=a.shape)

    values: dict[str, Any] = {}
    if reference.get("born") is not None:
        values["born"] = rotate_born(err(reference["born"]), rot, perm).tolist()
    for ref_key, pred_key in (("eps_electronic", "epsilon_static"), ("eps_ionic", "epsilon_ionic"),
                              ("eps_total", "epsilon_total")):
        if reference.get(ref_key) is not None:
            values[pred_key] = rotate_rank2(err(reference[ref_key]), rot).tolist()
    if reference.get("piezo_total") is not None:
        values["piezo_tensor"] = rotate_piezo_voigt(scale * np.asarray(reference["piezo_total"], float), rot).tolist()
    doc = ElectricResponseTaskDoc(
        material_id=reference.get("material_id") if keep_material_id else None,
        structure_id=f"synthetic:{reference['reference_id']}",
        formula_pretty=s.composition.reduced_formula,
        nsites=len(s),
        structure=s_pred,
        provenance=Provenance(model_name=model_name, model_sha256="0" * 64, device="cpu", dtype="float64"),
        **values,
    )
    out = doc.model_dump()
    out["structure"] = s_pred.as_dict()
    out["input_structure"] = None
    out["task_id"] = f"{model_name}:{reference['reference_id']}:{seed}"
    out["status"] = doc.status.value
    return out


def synthetic_predictions(references: list[dict[str, Any]], model_name: str = "synthetic",
                          scale: float = 1.0, offset: float = 0.0, noise: float = 0.0,
                          seed: Optional[int] = 0) -> list[dict[str, Any]]:
    """One synthetic prediction per reference; seeds ``seed + i``."""
    return [synthetic_prediction(r, model_name, scale, offset, (seed or 0) + i, noise=noise)
            for i, r in enumerate(references)]
