"""Ingest the DFPT reference files into a maggma store with one schema (:class:`ReferenceDoc`).

Usage::

    from maggma.stores import MemoryStore
    store = MemoryStore(collection_name="references", key="reference_id")
    store.connect()
    ingest_references(store)                       # every dataset
    ingest_references(store, ["mp_piezo_dejong2015"], limit=50)

The files are found by :func:`~macefield_flows.references.paths.reference_file`:
``MACEFIELD_REFERENCE_DIR`` when set, else the sets shipped in ``data/references/``.
A missing or corrupt file raises :class:`ReferenceDataError` naming it.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any, Callable, Optional

import numpy as np
from pymatgen.core import Structure

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.physics.piezo import emmet_piezo_maximum
from macefield_flows.references.exclusions import unusable_values
from macefield_flows.references.paths import reference_file
from macefield_flows.references.splits import allowed_for_training, dataset_info, material_split
from macefield_flows.references.tensors import e_ij_max_longitudinal_legacy, piezo_invariants
from macefield_flows.schemas.reference import ReferenceDoc

logger = logging.getLogger(__name__)


def _read_rows(filename: str, reference_dir: Optional[str | os.PathLike]) -> list[dict[str, Any]]:
    path = reference_file(filename, reference_dir)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceDataError(f"reference file {str(path)!r} is unreadable or corrupt: {exc}") from None
    return list(data.values()) if isinstance(data, dict) else data


def _means(doc: dict[str, Any]) -> None:
    for key, mean_key in (("eps_electronic", "e_electronic"), ("eps_ionic", "e_ionic"), ("eps_total", "e_total")):
        if doc.get(key) is not None:
            doc[mean_key] = float(np.trace(np.asarray(doc[key], dtype=float)) / 3.0)
    if doc.get("e_electronic") is not None and doc["e_electronic"] > 0:
        doc["n"] = float(np.sqrt(doc["e_electronic"]))


_TENSORS_IN_IEEE_FRAME = {"mp_piezo_dejong2015"}
"""Datasets whose piezo tensors are emmet's output, already converted to the IEEE frame
(the Materials Project serves them so): emmet's ``e_ij_max`` is their largest singular
value as given. Converting them a second time is not the identity for 207 of the 941
de Jong tensors (pymatgen re-symmetrises them in another setting, e.g. -42m, -43m)."""


def _e_ij_max_ieee(doc: dict[str, Any], e: np.ndarray) -> Optional[float]:
    """emmet's ``e_ij_max`` (C/m^2): largest singular value of the tensor in the IEEE frame.

    A tensor that is not already in the IEEE frame is converted as emmet does
    (`emmet_piezo_maximum` on the structure of its frame: ``piezo_structure``,
    or ``structure`` when ``piezo_frame`` is ``"structure"``). ``None`` when that
    frame is unknown or pymatgen finds no IEEE frame for it (emmet-core could not
    compute it either).
    """
    if doc["dataset"] in _TENSORS_IN_IEEE_FRAME:
        return float(np.linalg.svd(e, compute_uv=False)[0])
    frame_structure = doc.get("piezo_structure")
    if frame_structure is None and doc.get("piezo_frame") in (None, "structure"):
        frame_structure = doc["structure"]
    if frame_structure is None:
        logger.info("%s: piezo frame unknown, e_ij_max_emmet left empty", doc["reference_id"])
        return None
    try:
        return emmet_piezo_maximum(e, Structure.from_dict(frame_structure))[0]
    except ValueError as exc:
        logger.info("%s: e_ij_max_emmet left empty (%s)", doc["reference_id"], exc)
        return None


def make_reference_doc(dataset: str, source_id: str, structure: dict[str, Any], **values: Any) -> ReferenceDoc:
    """Build a :class:`ReferenceDoc`, filling split, permissions, means and piezo measures.

    ``values`` are ReferenceDoc fields; ``space_group`` and ``formula_pretty`` are
    computed from ``structure`` when absent.
    """
    info = dataset_info(dataset)
    s = Structure.from_dict(structure)
    formula = values.pop("formula_pretty", None) or s.composition.reduced_formula
    sg = values.pop("space_group", None) or s.get_space_group_info(symprec=0.01)[1]
    split = material_split(formula, sg)
    doc: dict[str, Any] = dict(
        reference_id=f"{dataset}:{source_id}",
        dataset=dataset,
        source_id=str(source_id),
        citation=info.citation,
        method=info.method,
        formula_pretty=formula,
        space_group=int(sg),
        nsites=len(s),
        structure=structure,
        split=split,
        allowed_for_training=allowed_for_training(dataset, split),
    )
    doc.update(values)
    unusable = unusable_values(dataset, str(source_id))
    if unusable:
        doc["extra"] = {**(doc.get("extra") or {}), "unusable": unusable}
    _means(doc)
    if doc.get("piezo_total") is not None:
        e = np.asarray(doc["piezo_total"], dtype=float)
        doc["e_ij_max_longitudinal"] = e_ij_max_longitudinal_legacy(e)
        doc["e_ij_max_emmet"] = _e_ij_max_ieee(doc, e)
        doc["piezo_invariants"] = piezo_invariants(e)
    return ReferenceDoc(**doc)


def _petousis(row: dict[str, Any]) -> ReferenceDoc:
    return make_reference_doc(
        "mp_dielectric_petousis2017", row["material_id"], row["structure"],
        material_id=row["material_id"], formula_pretty=row["reduced_formula"], space_group=row["space_group"],
        band_gap=row.get("band_gap_eV"), eps_electronic=row["eps_electronic"], eps_ionic=row["eps_ionic"],
        eps_total=row["eps_total"], extra={"poly_electronic": row.get("poly_electronic"),
                                            "poly_total": row.get("poly_total"),
                                            "pot_ferroelectric": row.get("pot_ferroelectric")},
    )


_PIEZO_FRAME_ORDER = ("structure", "structure_ieee", "structure_tensor_frame", "structure_conventional_standard")


def _dejong(row: dict[str, Any]) -> ReferenceDoc:
    consistent = row.get("frames_symmetry_consistent") or []
    frame = next((f for f in _PIEZO_FRAME_ORDER if f in consistent and row.get(f)), "unknown")
    return make_reference_doc(
        "mp_piezo_dejong2015", row["material_id"], row["structure"],
        material_id=row["material_id"], formula_pretty=row["reduced_formula"], space_group=row["space_group"],
        piezo_total=row["piezo_e_voigt_C_m2"], piezo_frame=frame,
        piezo_structure=row.get(frame) if frame != "unknown" else None,
        e_ij_max_longitudinal_as_given=row.get("eij_max_C_m2"),
        extra={"point_group": row.get("point_group"), "frames_symmetry_consistent": consistent},
    )


def _petretto(row: dict[str, Any]) -> ReferenceDoc:
    return make_reference_doc(
        "petretto2018_dfpt_becs_epsinf", f"row{row['index']}", row["structure"],
        mp_id_candidates=row.get("mp_id_candidates") or [], formula_pretty=row["reduced_formula"],
        space_group=row["space_group"], born=row["born_charges"], born_asr_residual=row.get("asr_max_abs"),
        eps_electronic=row["eps_electronic"],
    )


def _macefield_subset(row: dict[str, Any], index: int) -> ReferenceDoc:
    return make_reference_doc(
        "mp_dielectric_becs_macefield_subset", f"row{index}", row["structure"],
        mp_id_candidates=row.get("mp_id_candidates") or [], formula_pretty=row["reduced_formula"],
        space_group=row["space_group"], born=row["born_charges"], born_asr_residual=row.get("asr_max_abs"),
        eps_electronic=row["eps_electronic"], eps_ionic=row["eps_ionic"], eps_total=row["eps_total"],
        piezo_clamped_ion=row.get("piezo_e_clamped_ion_voigt_C_m2"), piezo_frame="structure",
        piezo_structure=row["structure"], extra={"sources": row.get("sources")},
    )


def _smidt(row: dict[str, Any]) -> ReferenceDoc:
    polar = row["structures"][-1]
    return make_reference_doc(
        "mp_ferroelectric_paths_smidt2020", row["wfid"], polar,
        material_id=row["polar_id"], nonpolar_id=row.get("nonpolar_id"), space_group=row.get("polar_spacegroup"),
        spontaneous_polarization_abc=row.get("Ps_vector_abc_uC_cm2"),
        spontaneous_polarization_norm=row.get("polarization_change_norm_uC_cm2"),
        extra={"category": row.get("category"), "workflow_status": row.get("workflow_status")},
    )


def _phonopy(row: dict[str, Any]) -> ReferenceDoc:
    return make_reference_doc(
        "phonopy_born_examples", row["example"], row["structure_primitive"],
        born=row["born_charges"], born_asr_residual=row.get("asr_max_abs"), eps_electronic=row["eps_electronic"],
    )


_CONVERTERS: dict[str, Callable[[dict[str, Any], int], ReferenceDoc]] = {
    "mp_dielectric_petousis2017": lambda r, i: _petousis(r),
    "mp_piezo_dejong2015": lambda r, i: _dejong(r),
    "petretto2018_dfpt_becs_epsinf": lambda r, i: _petretto(r),
    "mp_dielectric_becs_macefield_subset": _macefield_subset,
    "mp_ferroelectric_paths_smidt2020": lambda r, i: _smidt(r),
    "phonopy_born_examples": lambda r, i: _phonopy(r),
}
FILE_DATASETS: tuple[str, ...] = tuple(_CONVERTERS)
"""Datasets that can be ingested from the shared reference files."""


def iter_reference_docs(
    dataset: str,
    reference_dir: Optional[str | os.PathLike] = None,
    rows: Optional[Iterable[int]] = None,
    limit: Optional[int] = None,
) -> Iterator[ReferenceDoc]:
    """Yield the :class:`ReferenceDoc` of one dataset.

    Parameters
    ----------
    dataset
        One of :data:`FILE_DATASETS`.
    rows
        Row indices to convert (0-based, file order); default all.
    limit
        Stop after this many documents.
    """
    if dataset not in _CONVERTERS:
        raise ReferenceDataError(f"{dataset=} cannot be ingested from files; known: {FILE_DATASETS}")
    data = _read_rows(dataset_info(dataset).filename, reference_dir)
    indices = list(rows) if rows is not None else range(len(data))
    for count, i in enumerate(indices):
        if limit is not None and count >= limit:
            return
        try:
            yield _CONVERTERS[dataset](data[i], i)
        except (KeyError, ValueError, TypeError) as exc:
            raise ReferenceDataError(f"{dataset} row {i}: malformed entry ({exc!r})") from exc


def ingest_references(
    store: Any,
    datasets: Optional[Iterable[str]] = None,
    reference_dir: Optional[str | os.PathLike] = None,
    limit: Optional[int] = None,
) -> int:
    """Convert reference files and upsert them into a connected maggma store.

    Documents are keyed by ``reference_id``. Returns the number of documents written.
    """
    total = 0
    for name in datasets or FILE_DATASETS:
        docs = [d.model_dump() for d in iter_reference_docs(name, reference_dir, limit=limit)]
        if docs:
            store.update(docs, key="reference_id")
        logger.info("ingested %d documents of %s", len(docs), name)
        total += len(docs)
    return total
