"""Users' own DFPT references: read emmet, atomate2, benchmark and plain JSON files into ReferenceDocs.

``read_reference_file(path)`` accepts a JSON file (optionally gzipped) holding
one document or a list of documents in any of these forms (detected per record):

* **ReferenceDoc** dicts (this project's schema; e.g. written by ``macefield
  references update``): recognised by ``reference_id`` and ``dataset``.
* **benchmark set** (``data/benchmark_set.json``, ``{"entries": [...]}``).
* **emmet-core** ``DielectricDoc`` (``property_name: "dielectric"``: ``electronic``,
  ``ionic``, ``total`` 3x3) and ``PiezoelectricDoc`` (``property_name:
  "piezoelectric"``: ``total`` 3x6 C/m^2, Voigt xx,yy,zz,yz,xz,xy, in the IEEE
  frame of ``structure``); documents of the same ``material_id`` are merged. emmet's
  JSON carries no structure: a ``structure`` key is used when present, else the
  structure of that MP id in the shipped Petousis / de Jong sets.
* **atomate2 / emmet VASP task documents** (``calcs_reversed``) of DFPT runs
  (LEPSILON): eps_inf = ``output.epsilon_static`` (or
  ``dielectric_properties.dielectric_tensor``), eps_ionic = ``output.epsilon_ionic``
  (or ``dielectric_ionic_tensor``), Z* = ``outcar.born`` (or
  ``dielectric_properties.born_charges``; Z*[atom][field][displacement], e),
  piezo total = ``piezo_tensor + piezo_ionic_tensor`` (VASP column order xx, yy,
  zz, xy, yz, zx, reordered to standard Voigt), structure =
  ``calcs_reversed[0].output.structure``.
* **plain JSON** (documented in ``docs/references.md``)::

      {"id": "my-BaTiO3", "structure": <pymatgen Structure dict>,
       "material_id": "mp-5986",              # optional
       "eps_electronic": [[..3..]x3], "eps_ionic": ..., "eps_total": ...,   # dimensionless
       "born": [[[..]]]  (N x 3 x 3, e),  "piezo_total": [[..6..]x3] (C/m^2, Voigt),
       "citation": "...", "method": "..."}  # optional

  A top-level ``{"references": [...], "citation": ..., "method": ...}`` gives
  defaults for its records.

Every tensor is in the Cartesian frame of the record's structure (piezo: see
above). A record that fits none of the forms, or a file that is not valid JSON,
raises :class:`ReferenceDataError` naming the file and record.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pydantic import ValidationError
from pymatgen.core import Structure

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.references.splits import material_split
from macefield_flows.references.tensors import e_ij_max_emmet, e_ij_max_longitudinal_legacy, piezo_invariants
from macefield_flows.schemas.reference import ReferenceDoc

VASP_TO_VOIGT = [0, 1, 2, 4, 5, 3]
"""Columns of a VASP-ordered (xx, yy, zz, xy, yz, zx) 3x6 tensor in standard Voigt order (xx, yy, zz, yz, xz, xy)."""


def _structure(value: Any) -> Structure:
    return value if isinstance(value, Structure) else Structure.from_dict(value)


def user_reference_doc(dataset: str, source_id: str, structure: Any, citation: str, method: str,
                       material_id: Optional[str] = None, **values: Any) -> dict[str, Any]:
    """A ReferenceDoc dict from a structure and tensors (eps dimensionless, born e, piezo_total C/m^2 Voigt)."""
    s = _structure(structure)
    formula = s.composition.reduced_formula
    sg = int(s.get_space_group_info(symprec=0.1)[1])
    vals = {k: np.asarray(v, dtype=float).tolist() for k, v in values.items() if v is not None}
    if "eps_total" not in vals and "eps_electronic" in vals and "eps_ionic" in vals:
        vals["eps_total"] = (np.asarray(vals["eps_electronic"]) + np.asarray(vals["eps_ionic"])).tolist()
    for key, mean in (("eps_electronic", "e_electronic"), ("eps_ionic", "e_ionic"), ("eps_total", "e_total")):
        if key in vals:
            vals[mean] = float(np.trace(np.asarray(vals[key])) / 3)
    if "piezo_total" in vals:
        e = np.asarray(vals["piezo_total"])
        vals.update(piezo_frame="structure", e_ij_max_emmet=e_ij_max_emmet(e),
                    e_ij_max_longitudinal=e_ij_max_longitudinal_legacy(e), piezo_invariants=piezo_invariants(e))
    doc = ReferenceDoc(reference_id=f"{dataset}:{source_id}", dataset=dataset, source_id=str(source_id),
                       citation=citation, method=method, material_id=material_id, formula_pretty=formula,
                       space_group=sg, nsites=len(s), structure=s.as_dict(), split=material_split(formula, sg),
                       allowed_for_training=False, **vals)
    return doc.model_dump()


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _from_task_doc(rec: dict[str, Any], dataset: str, index: int) -> dict[str, Any]:
    calc = (rec.get("calcs_reversed") or [{}])[0] or {}
    out = calc.get("output") or {}
    props = out.get("dielectric_properties") or {}
    outcar = out.get("outcar") or {}
    structure = out.get("structure") or rec.get("structure") or _get(rec, "output", "structure")
    if structure is None:
        raise ValueError("task document without a structure")
    eps_inf = out.get("epsilon_static") or props.get("dielectric_tensor")
    eps_ion = out.get("epsilon_ionic") or props.get("dielectric_ionic_tensor")
    born = outcar.get("born") or props.get("born_charges")
    pe = outcar.get("piezo_tensor") or props.get("piezo_tensor")
    pi = outcar.get("piezo_ionic_tensor") or props.get("piezo_ionic_tensor")
    piezo = None
    if pe is not None or pi is not None:
        total = sum(np.asarray(x, dtype=float) for x in (pe, pi) if x is not None)
        piezo = np.asarray(total)[:, VASP_TO_VOIGT]
    if eps_inf is None and born is None and piezo is None:
        raise ValueError("task document has no DFPT output (epsilon_static, born, piezo_tensor)")
    source_id = str(rec.get("task_id") or rec.get("uuid") or f"task{index}")
    return user_reference_doc(dataset, source_id, structure, citation=rec.get("citation", "user atomate2/VASP DFPT"),
                              method=f"VASP DFPT ({rec.get('run_type') or 'functional not stated'}; atomate2 task)",
                              material_id=rec.get("material_id"), eps_electronic=eps_inf, eps_ionic=eps_ion,
                              born=born, piezo_total=piezo)


def _plain_mp_id(value: Any) -> Optional[str]:
    """'mp-661' from an MP id in either emmet form ('mp-661' or the alphabetic JSON form 'mp-aaaaaazl')."""
    if value is None:
        return None
    text = str(value)
    if "-" in text and text.split("-", 1)[1].isalpha():
        from emmet.core.mpid import AlphaID

        return str(AlphaID(text).string)
    return text


def _shipped_structure(mid: str) -> Optional[dict[str, Any]]:
    """Structure of an MP id in the shipped Petousis / de Jong sets (emmet JSON carries none)."""
    from macefield_flows.references.ingest import _read_rows

    for name in ("mp_dielectric_petousis2017.jsonl.gz", "mp_piezo_dejong2015.jsonl.gz"):
        for row in _read_rows(name, None):
            if row.get("material_id") == mid:
                return row["structure"]
    return None


def _from_emmet(records: list[dict[str, Any]], dataset: str) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for rec in records:
        mid = _plain_mp_id(rec.get("material_id")) or str(rec.get("task_id") or f"doc{len(by_id)}")
        entry = by_id.setdefault(mid, {"structure": rec.get("structure")})
        entry["structure"] = entry["structure"] or rec.get("structure")
        entry[rec["property_name"]] = rec
    out = []
    for mid, entry in by_id.items():
        if entry["structure"] is None:
            entry["structure"] = _shipped_structure(mid)
        if entry["structure"] is None:
            raise ValueError(f"emmet document {mid} has no structure and {mid} is not in the shipped sets: add "
                             "'structure' (pymatgen Structure dict) to the document")
        diel, piezo = entry.get("dielectric"), entry.get("piezoelectric")
        values: dict[str, Any] = {}
        if diel:
            values.update(eps_electronic=diel["electronic"], eps_ionic=diel["ionic"], eps_total=diel["total"])
        doc = user_reference_doc(dataset, mid, entry["structure"], citation="user emmet-core documents",
                                 method="as in the emmet documents", material_id=mid if mid.startswith("mp-") else None,
                                 piezo_total=piezo["total"] if piezo else None, **values)
        if piezo:
            doc["piezo_frame"] = "structure_ieee"
        out.append(doc)
    return out


def _from_plain(rec: dict[str, Any], dataset: str, index: int, defaults: dict[str, Any]) -> dict[str, Any]:
    return user_reference_doc(
        dataset, str(rec.get("id") or rec.get("material_id") or f"row{index}"), rec["structure"],
        citation=rec.get("citation") or defaults.get("citation") or "user reference",
        method=rec.get("method") or defaults.get("method") or "not stated", material_id=rec.get("material_id"),
        eps_electronic=rec.get("eps_electronic"), eps_ionic=rec.get("eps_ionic"), eps_total=rec.get("eps_total"),
        born=rec.get("born"), piezo_total=rec.get("piezo_total"))


def _load_json(path: Path) -> Any:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt") as fh:
                return json.load(fh)
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ReferenceDataError(f"reference file not found: {str(path)!r}") from None
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReferenceDataError(f"reference file {str(path)!r} is not valid JSON: {exc}") from None


def read_reference_file(path: str | os.PathLike, dataset: Optional[str] = None) -> list[dict[str, Any]]:
    """ReferenceDoc dicts from one user file (formats in the module docstring).

    Parameters
    ----------
    dataset
        Dataset name given to converted records (default ``'user:<file stem>'``).

    Raises
    ------
    ReferenceDataError
        Missing file, invalid JSON, or a record of no known form (file and record named).
    """
    path = Path(path)
    data = _load_json(path)
    dataset = dataset or f"user:{path.name.split('.')[0]}"
    if isinstance(data, dict) and "entries" in data and isinstance(data["entries"], list):
        from macefield_flows.references.benchmark import benchmark_reference_docs, load_benchmark_set

        try:
            return benchmark_reference_docs(load_benchmark_set(path))
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferenceDataError(f"{path}: not a valid benchmark set ({exc!r})") from None
    defaults: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("references"), list):
        defaults = {k: v for k, v in data.items() if k != "references"}
        data = data["references"]
    records = data if isinstance(data, list) else [data]
    if not records:
        raise ReferenceDataError(f"reference file {str(path)!r} holds no records")
    out: list[dict[str, Any]] = []
    emmet: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        try:
            if not isinstance(rec, dict):
                raise ValueError(f"expected a JSON object, got {type(rec).__name__}")
            if "reference_id" in rec and "dataset" in rec:
                out.append(ReferenceDoc(**rec).model_dump())
            elif rec.get("property_name") in ("dielectric", "piezoelectric"):
                emmet.append(rec)
            elif "calcs_reversed" in rec:
                out.append(_from_task_doc(rec, dataset, i))
            elif "structure" in rec and any(k in rec for k in ("eps_electronic", "eps_ionic", "eps_total", "born",
                                                                  "piezo_total")):
                out.append(_from_plain(rec, dataset, i, defaults))
            else:
                raise ValueError("not a ReferenceDoc, emmet DielectricDoc/PiezoelectricDoc, atomate2 task "
                                 "document or plain reference (structure + eps_*/born/piezo_total)")
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise ReferenceDataError(f"{path}: record {i}: {msg}") from None
    if emmet:
        try:
            out += _from_emmet(emmet, dataset)
        except (KeyError, TypeError, ValueError) as exc:
            raise ReferenceDataError(f"{path}: emmet documents: {exc}") from None
    return out
