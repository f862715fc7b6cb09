"""The built-in benchmark set: ~16 textbook crystals with DFPT reference values.

``data/benchmark_set.json`` (``MACEFIELD_DATA_DIR`` overrides ``<repo>/data``) is
written by :func:`build_benchmark_set` from the shared reference files: each
entry's structure is taken from its first source and re-serialised with
pymatgen; every further source's Born charges / eps tensors are mapped onto that
structure (site mapping + rotation, :func:`match_structures`) so that all
tensors of an entry are in the frame of the entry's structure. Piezo tensors keep
their source frame (``piezo_frame``) and carry rotation-invariant measures.

Every number carries ``source`` (dataset), ``source_id`` and ``citation``;
values read from the reference files are ``verified: true``. Literature values
recalled in ``textbook_materials_reference.json`` are carried only as
``literature_unverified`` with ``verified: false`` and are never used for metrics.
Overlapping sources are cross-checked (``cross_checks``: eigenvalue differences).
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from pymatgen.core import Structure

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.references.exclusions import GAAS_PBESOL_EPS_INF
from macefield_flows.references.ingest import iter_reference_docs
from macefield_flows.references.matching import match_structures
from macefield_flows.references.paths import reference_file, resolve_data_dir
from macefield_flows.references.tensors import symmetric_eigvals

logger = logging.getLogger(__name__)

BENCHMARK_FILENAME = "benchmark_set.json"

# name, description, [(dataset, source_id)], textbook material name for literature values
BENCHMARK_SPEC: list[tuple[str, str, list[tuple[str, str]], Optional[str]]] = [
    ("MgO", "rock-salt", [("phonopy_born_examples", "MgO"), ("petretto2018_dfpt_becs_epsinf", "row595")], "MgO"),
    ("NaCl", "rock-salt", [("phonopy_born_examples", "NaCl"), ("petretto2018_dfpt_becs_epsinf", "row1428")], "NaCl"),
    ("BaTiO3-cubic", "cubic perovskite Pm-3m", [("mp_dielectric_petousis2017", "mp-2998")], None),
    ("BaTiO3-P4mm", "tetragonal perovskite P4mm", [("mp_dielectric_petousis2017", "mp-5986"),
     ("mp_piezo_dejong2015", "mp-5986"), ("petretto2018_dfpt_becs_epsinf", "row648"),
     ("petretto2018_dfpt_becs_epsinf", "row765")], "BaTiO3"),
    ("KNbO3-P4mm", "tetragonal perovskite P4mm", [("mp_dielectric_petousis2017", "mp-4342"),
     ("mp_piezo_dejong2015", "mp-4342"), ("petretto2018_dfpt_becs_epsinf", "row694")], "KNbO3"),
    ("SrTiO3-I4mcm", "tetragonal perovskite I4/mcm", [("mp_dielectric_petousis2017", "mp-4651"),
     ("petretto2018_dfpt_becs_epsinf", "row198")], None),
    ("LiNbO3", "R3c ferroelectric", [("petretto2018_dfpt_becs_epsinf", "row26"), ("mp_piezo_dejong2015", "mp-3731")], "LiNbO3"),
    ("SiO2-alpha-quartz", "alpha-quartz P3_121", [("petretto2018_dfpt_becs_epsinf", "row752"),
     ("mp_piezo_dejong2015", "mp-7000")], "SiO2"),
    ("GaAs", "zinc-blende", [("petretto2018_dfpt_becs_epsinf", "row1010"), ("mp_piezo_dejong2015", "mp-2534")], "GaAs"),
    ("SiC-3C", "zinc-blende", [("mp_dielectric_petousis2017", "mp-8062"), ("mp_piezo_dejong2015", "mp-8062")], None),
    ("ZnO", "wurtzite", [("phonopy_born_examples", "ZnO"), ("petretto2018_dfpt_becs_epsinf", "row995"),
     ("mp_piezo_dejong2015", "mp-2133")], "ZnO"),
    ("AlN", "wurtzite", [("petretto2018_dfpt_becs_epsinf", "row90"), ("mp_piezo_dejong2015", "mp-661")], "AlN"),
    ("GaN", "wurtzite", [("mp_piezo_dejong2015", "mp-804")], None),
    ("Al2O3", "corundum", [("phonopy_born_examples", "Al2O3")], None),
    ("SnO2", "rutile", [("phonopy_born_examples", "SnO2")], None),
    ("SiO2-stishovite", "rutile-type stishovite", [("phonopy_born_examples", "SiO2-HP")], None),
    ("TiO2-anatase", "anatase", [("phonopy_born_examples", "TiO2-anatase")], None),
]


EXCLUDED_VALUES: dict[tuple[str, str, str], str] = {
    ("GaAs", "eps_electronic", "row1010"): GAAS_PBESOL_EPS_INF,
}
"""Values carried with ``use_in_metrics: false`` and their reason: (entry, property, source_id) -> reason."""


@dataclass
class BenchmarkEntry:
    """One benchmark crystal: structure (Angstrom) and reference values in its frame."""

    name: str
    description: str
    structure: Structure
    formula: str
    space_group: int
    split: str
    material_id: Optional[str]
    values: dict[str, list[dict[str, Any]]]
    cross_checks: list[dict[str, Any]] = field(default_factory=list)
    literature_unverified: list[dict[str, Any]] = field(default_factory=list)

    def value(self, prop: str) -> Optional[np.ndarray]:
        """First verified value usable in metrics of a property ('born', 'eps_electronic', ..., 'piezo_total').

        Values marked ``use_in_metrics: false`` (see :data:`EXCLUDED_VALUES`) are skipped; None if none is left.
        """
        for v in self.values.get(prop, []):
            if v.get("verified") and v.get("use_in_metrics", True):
                return np.asarray(v["value"], dtype=float)
        return None


def _docs_by_id(needed: set[tuple[str, str]], reference_dir: Any) -> dict[tuple[str, str], dict]:
    out = {}
    for ds in sorted({d for d, _ in needed}):
        ids = {s for d, s in needed if d == ds}
        rows = [int(s[3:]) for s in ids if s.startswith("row")] or None
        for doc in iter_reference_docs(ds, reference_dir, rows=rows):
            if doc.source_id in ids:
                out[(ds, doc.source_id)] = doc.model_dump()
    return out


def _entry(spec: tuple, docs: dict, literature: list[dict]) -> dict[str, Any]:
    name, desc, sources, lit_name = spec
    base = docs[sources[0]]
    base_s = Structure.from_dict(base["structure"])
    values: dict[str, list[dict[str, Any]]] = {}
    material_id = None
    for key in sources:
        doc = docs[key]
        material_id = material_id or doc.get("material_id") or (doc.get("mp_id_candidates") or [None])[0]
        meta = {"source": doc["dataset"], "source_id": doc["source_id"], "citation": doc["citation"],
                "method": doc["method"], "verified": True, "note": "read from the reference file"}
        m = None if key == sources[0] else match_structures(Structure.from_dict(doc["structure"]), base_s)
        same = key == sources[0]
        for prop in ("eps_electronic", "eps_ionic", "eps_total", "born"):
            if doc.get(prop) is None:
                continue
            if not same and m is None:
                logger.warning("%s: %s of %s not mapped (no structure match); skipped", name, prop, key)
                continue
            val = np.asarray(doc[prop], float)
            if not same:
                val = m.born_to_reference(val) if prop == "born" else m.rank2_to_reference(val)
            item = {**meta, "value": np.round(val, 6).tolist(), "frame": "entry structure"}
            reason = EXCLUDED_VALUES.get((name, prop, doc["source_id"]))
            if reason:
                item.update(use_in_metrics=False, exclusion_reason=reason)
            values.setdefault(prop, []).append(item)
        if doc.get("piezo_total") is not None:
            values.setdefault("piezo_total", []).append({
                **meta, "value": doc["piezo_total"], "frame": f"source {doc['piezo_frame']} (not the entry structure)",
                "invariants": doc["piezo_invariants"], "e_ij_max_longitudinal": doc["e_ij_max_longitudinal"],
                "e_ij_max_emmet": doc["e_ij_max_emmet"]})
    checks = []
    for prop in ("eps_electronic", "born"):
        vs = values.get(prop, [])
        for other in vs[1:]:
            a, b = np.asarray(vs[0]["value"]), np.asarray(other["value"])
            diff = float(np.abs(a - b).max())
            checks.append({"property": prop, "between": [vs[0]["source"], other["source"]],
                           "max_abs_component_difference": round(diff, 4),
                           "eigvals_first_tensor": [symmetric_eigvals(a if a.ndim == 2 else a[0]).round(4).tolist(),
                                                    symmetric_eigvals(b if b.ndim == 2 else b[0]).round(4).tolist()]})
    lit = [{**item, "verified": False} for item in literature if lit_name and item.get("material") == lit_name]
    return {"name": name, "description": desc, "formula": base["formula_pretty"], "space_group": base["space_group"],
            "split": base["split"], "material_id": material_id, "structure": base_s.as_dict(),
            "values": values, "cross_checks": checks, "literature_unverified": lit}


def build_benchmark_set(reference_dir: Optional[str | os.PathLike] = None,
                        path: Optional[str | os.PathLike] = None) -> Path:
    """Write ``benchmark_set.json`` from the shared reference files; return its path."""
    needed = {k for spec in BENCHMARK_SPEC for k in spec[2]}
    docs = _docs_by_id(needed, reference_dir)
    missing = sorted(needed - set(docs))
    if missing:
        raise ReferenceDataError(f"benchmark sources not found: {missing}")
    with open(reference_file("textbook_materials_reference.json", reference_dir)) as fh:
        literature = json.load(fh)["literature_values_unverified"]
    entries = [_entry(spec, docs, literature) for spec in BENCHMARK_SPEC]
    out = Path(path) if path else resolve_data_dir() / BENCHMARK_FILENAME
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"description": __doc__.split("\n\n")[0], "units": {"born": "e", "eps": "dimensionless",
               "piezo_total": "C/m^2, 3x6 Voigt xx,yy,zz,yz,xz,xy"}, "entries": entries}
    out.write_text(json.dumps(payload, separators=(",", ":")))
    return out


def load_benchmark_set(path: Optional[str | os.PathLike] = None) -> list[BenchmarkEntry]:
    """Load the built-in benchmark set (default ``resolve_data_dir() / 'benchmark_set.json'``)."""
    f = Path(path) if path else resolve_data_dir() / BENCHMARK_FILENAME
    if not f.exists():
        raise ReferenceDataError(f"benchmark set not found at {str(f)!r} (set MACEFIELD_DATA_DIR)")
    opener = gzip.open if f.suffix == ".gz" else open
    with opener(f, "rt") as fh:
        data = json.load(fh)
    return [BenchmarkEntry(name=e["name"], description=e["description"], structure=Structure.from_dict(e["structure"]),
                           formula=e["formula"], space_group=e["space_group"], split=e["split"],
                           material_id=e.get("material_id"), values=e["values"], cross_checks=e["cross_checks"],
                           literature_unverified=e["literature_unverified"]) for e in data["entries"]]


DEMO_DATASET = "benchmark"
"""Dataset name of the benchmark set's reference documents."""


def _join_id(entry_name: str) -> str:
    return f"{DEMO_DATASET}:{entry_name}"


def benchmark_reference_docs(entries: Optional[Sequence[Any]] = None) -> list[dict[str, Any]]:
    """One ``ReferenceDoc`` dict per benchmark entry (dataset ``'benchmark'``).

    Each property takes the entry's first verified value (unverified literature
    values are never used). ``material_id`` is ``'benchmark:<name>'``, the key
    the demo joins predictions on; the Materials Project id, if any, is in
    ``mp_id_candidates``.
    """
    from macefield_flows.schemas.reference import ReferenceDoc

    entries = load_benchmark_set() if entries is None else entries
    out = []
    for e in entries:
        used = [v for vals in e.values.values() for v in vals if v.get("verified")]
        citations = list(dict.fromkeys(v.get("citation", "") for v in used if v.get("citation")))
        methods = list(dict.fromkeys(v.get("method", "") for v in used if v.get("method")))
        values: dict[str, Any] = {}
        for prop in ("born", "eps_electronic", "eps_ionic", "eps_total"):
            val = e.value(prop)
            if val is not None:
                values[prop] = val.tolist()
        piezo = next((v for v in e.values.get("piezo_total", []) if v.get("verified")), None)
        if piezo is not None:
            values.update(piezo_total=piezo["value"], piezo_invariants=piezo.get("invariants"),
                          piezo_frame="unknown", e_ij_max_longitudinal=piezo.get("e_ij_max_longitudinal"),
                          e_ij_max_emmet=piezo.get("e_ij_max_emmet"))
        for key, prop in (("e_electronic", "eps_electronic"), ("e_ionic", "eps_ionic"), ("e_total", "eps_total")):
            if prop in values:
                values[key] = float(np.trace(np.asarray(values[prop])) / 3)
        doc = ReferenceDoc(
            reference_id=_join_id(e.name), dataset=DEMO_DATASET, source_id=e.name,
            citation="; ".join(citations) or "see data/benchmark_set.json",
            method="; ".join(methods) or "DFPT", material_id=_join_id(e.name),
            mp_id_candidates=[e.material_id] if e.material_id else [], formula_pretty=e.formula,
            space_group=int(e.space_group), nsites=len(e.structure), structure=e.structure.as_dict(),
            split=e.split, allowed_for_training=False,
            extra={"description": e.description, "sources": sorted({v.get("source") for v in used})},
            **values,
        )
        out.append(doc.model_dump())
    return out
