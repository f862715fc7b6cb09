"""Batched relaxation Maker (optional cell relaxation, symmetry, finite field)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from jobflow import Maker, job
from pymatgen.core import Structure

from macefield_flows.jobs.base import ModelSettings, as_structure_list, check_field, make_provenance, structure_ids
from macefield_flows.schemas.task import RelaxBatchDoc, RelaxRecord

logger = logging.getLogger(__name__)


@dataclass
class RelaxMaker(ModelSettings, Maker):
    """Relax a batch of structures (or one) with a MACE-Field model.

    Attributes
    ----------
    name : job name.
    fmax : force criterion, eV/Angstrom.
    max_steps : optimiser step limit.
    relax_cell : also relax the cell (stress criterion; ``pressure_gpa`` applied).
    pressure_gpa : external pressure, GPa.
    keep_symmetry : constrain the relaxation to the initial space group.
    electric_field : uniform field (3,) in V/Angstrom during the relaxation, or None.
    (model, device, dtype, head, trust_pickle: see :class:`ModelSettings`.)
    """

    name: str = "relax"
    fmax: float = 0.01
    max_steps: int = 500
    relax_cell: bool = False
    pressure_gpa: float = 0.0
    keep_symmetry: bool = False
    electric_field: Optional[Sequence[float]] = None

    def __post_init__(self) -> None:
        self._check_model_settings()
        self.electric_field = check_field(self.electric_field)
        if self.fmax <= 0 or self.max_steps < 0:
            raise ValueError(f"{self.fmax=} must be > 0 and {self.max_steps=} >= 0")

    def settings(self) -> dict[str, Any]:
        """Settings that change the relaxed structure (part of the resume key)."""
        return {"fmax": self.fmax, "max_steps": self.max_steps, "relax_cell": self.relax_cell,
                "pressure_gpa": self.pressure_gpa, "keep_symmetry": self.keep_symmetry,
                "electric_field": self.electric_field}

    @job(name="relax")
    def make(self, structures: Structure | Sequence[Structure], keys: Optional[Sequence[str]] = None,
             reuse: Optional[Sequence[Optional[dict]]] = None) -> RelaxBatchDoc:
        """Relax ``structures``; output a :class:`RelaxBatchDoc` (one record per input).

        ``keys`` (resume keys, recorded in the records) and ``reuse`` (per structure:
        a stored successful :class:`RelaxRecord` dict of the same key, or None) let a
        screening reuse relaxations finished before an interruption.
        """
        return run_relax(self, structures, keys, reuse)


def run_relax(maker: RelaxMaker, structures: Any, keys: Optional[Sequence[str]] = None,
              reuse: Optional[Sequence[Optional[dict]]] = None) -> RelaxBatchDoc:
    """Plain function behind :meth:`RelaxMaker.make`."""
    from macefield_flows.engine import relax
    from macefield_flows.jobs._model import get_model

    items, _ = as_structure_list(structures)
    keys = list(keys) if keys is not None else [None] * len(items)
    reuse = list(reuse) if reuse is not None else [None] * len(items)
    if len(keys) != len(items) or len(reuse) != len(items):
        raise ValueError(f"{len(items)} structures but {len(keys)} keys and {len(reuse)} reused records")
    t0 = time.perf_counter()
    model = get_model(maker.model, maker.device, maker.dtype, maker.trust_pickle, maker.backend)
    labels = [structure_ids(s)[1] or str(i) for i, s in enumerate(items)]
    todo = [i for i in range(len(items)) if not reuse[i]]
    fresh = relax([items[i] for i in todo], model, fmax=maker.fmax, max_steps=maker.max_steps,
                  relax_cell=maker.relax_cell, pressure_gpa=maker.pressure_gpa, keep_symmetry=maker.keep_symmetry,
                  electric_field=maker.electric_field, device=maker.device, dtype=maker.dtype,
                  head=maker.head, labels=[labels[i] for i in todo]) if todo else []
    by_index = dict(zip(todo, fresh))
    records, out_structures = [], []
    for i, s in enumerate(items):
        mid, sid = structure_ids(s)
        if reuse[i]:
            rec = RelaxRecord.model_validate({**reuse[i], "structure_id": sid, "material_id": mid,
                                              "resume_key": keys[i], "reused": True})
            relaxed = rec.structure.copy()
            relaxed.properties = {**(s.properties or {}), **(relaxed.properties or {})}
            rec.structure = relaxed
            records.append(rec)
            out_structures.append(relaxed)
            continue
        r = by_index[i]
        relaxed = r.structure if (r.ok and r.structure is not None) else s
        if r.ok and relaxed is not s:
            relaxed = relaxed.copy()
            relaxed.properties = {**(s.properties or {}), **(relaxed.properties or {})}
        records.append(RelaxRecord(ok=bool(r.ok), error=r.error, structure=relaxed if r.ok else None,
                                   energy=r.energy, converged=r.converged, steps=r.steps,
                                   max_force=r.max_force, max_stress=r.max_stress,
                                   structure_id=sid, material_id=mid, resume_key=keys[i]))
        out_structures.append(relaxed)
    prov = make_provenance(model, maker, {"relax": maker.settings()}, maker.electric_field,
                           wall_time_s=time.perf_counter() - t0)
    n_bad = sum(not r.ok for r in records)
    logger.info("relaxed %d structures (%d reused, %d failed) in %.1f s", len(records), len(items) - len(todo),
                n_bad, prov.wall_time_s)
    return RelaxBatchDoc(records=records, structures=out_structures, provenance=prov)
