"""Finite-field sweeps: relaxation and polarisation at a list of fields (hysteresis-type studies)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
from jobflow import Maker, job
from pymatgen.core import Structure

from macefield_flows.jobs.base import ModelSettings, as_structure_list, check_field, make_provenance, structure_ids
from macefield_flows.schemas.task import FieldSweepDoc, TaskStatus
from macefield_flows.units import E_PER_A2_TO_C_PER_M2

logger = logging.getLogger(__name__)


def triangle_sweep(e_max: float, n_steps: int, direction: Sequence[float] = (0.0, 0.0, 1.0)) -> list[list[float]]:
    """Fields 0 -> +e_max -> -e_max -> 0 along ``direction`` (V/A): one hysteresis loop."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    up = np.linspace(0.0, e_max, n_steps + 1)
    amps = np.concatenate([up, up[::-1][1:], -up[1:], -up[::-1][1:]])
    return [(a * d).tolist() for a in amps]


@dataclass
class FieldSweepMaker(ModelSettings, Maker):
    """Relax (optionally) and evaluate P at each field of ``electric_fields``, in order.

    Each step starts from the previous step's structure, so a sweep up and down
    (:func:`triangle_sweep`) traces a hysteresis loop. Polarisation is one branch,
    not folded: compare only differences along the path.

    Attributes
    ----------
    electric_fields : list of (3,) fields in V/Angstrom, in sweep order.
    relax : relax the ions at each field.
    relax_cell, fmax, max_steps : relaxation settings (eV/Angstrom).
    """

    name: str = "field sweep"
    electric_fields: list = field(default_factory=lambda: triangle_sweep(0.05, 2))
    relax: bool = True
    relax_cell: bool = False
    fmax: float = 0.01
    max_steps: int = 300

    def __post_init__(self) -> None:
        self._check_model_settings()
        if not self.electric_fields:
            raise ValueError("electric_fields is empty: give at least one (3,) field in V/A")
        self.electric_fields = [check_field(f) for f in self.electric_fields]

    @job
    def make(self, structures: Structure | Sequence[Structure]):
        """One :class:`FieldSweepDoc` (single structure) or a list of them."""
        return run_field_sweep(self, structures)


def run_field_sweep(maker: FieldSweepMaker, structures: Any) -> FieldSweepDoc | list[FieldSweepDoc]:
    """Plain function behind :meth:`FieldSweepMaker.make`."""
    from macefield_flows.engine import evaluate, relax
    from macefield_flows.jobs._model import get_model

    t0 = time.perf_counter()
    items, single = as_structure_list(structures)
    model = get_model(maker.model, maker.device, maker.dtype, maker.trust_pickle, maker.backend)
    current = list(items)
    alive = [True] * len(items)
    reasons: list[Optional[str]] = [None] * len(items)
    per = [dict(pol=[], en=[], st=[], conv=[]) for _ in items]
    for e in maker.electric_fields:
        idx = [i for i in range(len(items)) if alive[i]]
        if not idx:
            break
        conv: dict[int, Optional[bool]] = {i: None for i in idx}
        if maker.relax:
            rel = relax([current[i] for i in idx], model, fmax=maker.fmax, max_steps=maker.max_steps,
                        relax_cell=maker.relax_cell, electric_field=e, device=maker.device,
                        dtype=maker.dtype, head=maker.head)
            for i, r in zip(idx, rel):
                if r.ok:
                    current[i], conv[i] = r.structure, bool(r.converged)
                else:
                    alive[i], reasons[i] = False, f"relaxation at field {e} failed: {r.error}"
            idx = [i for i in idx if alive[i]]
        res = evaluate([current[i] for i in idx], model, properties=("energy", "polarization"),
                       electric_field=e, device=maker.device, dtype=maker.dtype, head=maker.head)
        for i, r in zip(idx, res):
            if not r.ok:
                alive[i], reasons[i] = False, f"evaluation at field {e} failed: {r.error}"
                continue
            per[i]["pol"].append((np.asarray(r.polarization) * E_PER_A2_TO_C_PER_M2).tolist())
            per[i]["en"].append(float(r.energy))
            per[i]["st"].append(current[i])
            per[i]["conv"].append(conv[i])
    settings = {"electric_fields": maker.electric_fields, "relax": maker.relax, "relax_cell": maker.relax_cell,
                "fmax": maker.fmax, "max_steps": maker.max_steps}
    prov = make_provenance(model, maker, settings, None, wall_time_s=time.perf_counter() - t0)
    docs = []
    for i, s in enumerate(items):
        mid, sid = structure_ids(s)
        n = len(per[i]["pol"])
        docs.append(FieldSweepDoc(
            structure_id=sid, material_id=mid, formula_pretty=s.composition.reduced_formula, input_structure=s,
            status=TaskStatus.SUCCESS if alive[i] else TaskStatus.FAILED, failure_reason=reasons[i],
            electric_fields=maker.electric_fields[:n], polarization=per[i]["pol"], energies=per[i]["en"],
            structures=per[i]["st"], relaxed=maker.relax, relax_converged=per[i]["conv"], provenance=prov))
    return docs[0] if single else docs
