"""The screening flow: chunked, batched relax -> electric-response jobs.

Structures are split into chunks of ``chunk_size`` (tens to hundreds per GPU job:
each job pays seconds and ~0.5 GB to start and load the model). Each chunk is one
relaxation job (optional) followed by one property job that evaluates every
structure of the chunk in batched engine calls.

Resume: every input structure has a key (:func:`macefield_flows.screening.settings_hash`
of structure, model sha256, head and settings). ``make(..., skip_keys=...)`` (or
:func:`build_screening_flow` with a store) leaves out structures already stored,
so a rerun computes nothing and an interrupted screening continues.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from jobflow import Flow, Maker
from pymatgen.core import Structure

from macefield_flows.jobs.base import ModelSettings, as_structure_list, check_field
from macefield_flows.jobs.relax import RelaxMaker
from macefield_flows.jobs.response import ElectricResponseMaker

logger = logging.getLogger(__name__)


@dataclass
class ScreeningMaker(ModelSettings, Maker):
    """Screen many structures: chunks of ``chunk_size``, each relax -> properties.

    Attributes
    ----------
    name : flow name.
    chunk_size : structures per job (>= 1).
    relax : relax the ions before the property evaluation.
    relax_cell, fmax, max_steps, keep_symmetry : relaxation settings (eV/Angstrom).
    electric_field : uniform field (3,) V/Angstrom for relaxation and properties, or None.
    max_atoms_per_batch : engine batch cap (None: engine's cost model).
    symmetrize : symmetrise Born charges, eps and piezo/elastic tensors to the space group.
    quality_thresholds : overrides of the quality thresholds (docs/quality.md), or None.
    phonons : optional full-phonon step (default off: it costs a supercell per structure):
        dispersion and DOS with NAC, full-BZ stability, IR spectrum, LO-TO, stored with
        each document (big arrays in the `data` store); the quality flags then use the
        lowest frequency over the whole Brillouin zone.
    phonon_settings : overrides of :data:`~macefield_flows.jobs.phonons.SCREENING_PHONON_DEFAULTS`
        (``min_length`` A, ``supercell_matrix``, ``mesh``, ``nac``, ...), used when ``phonons``.
    (model, device, dtype, head, trust_pickle: see :class:`ModelSettings`.)
    """

    name: str = "macefield screening"
    chunk_size: int = 50
    relax: bool = True
    relax_cell: bool = False
    fmax: float = 0.01
    max_steps: int = 500
    keep_symmetry: bool = False
    electric_field: Optional[Sequence[float]] = None
    max_atoms_per_batch: Optional[int] = None
    symmetrize: bool = True
    quality_thresholds: Optional[dict] = None
    phonons: bool = False
    phonon_settings: Optional[dict] = None

    def __post_init__(self) -> None:
        self._check_model_settings()
        self.electric_field = check_field(self.electric_field)
        if int(self.chunk_size) < 1:
            raise ValueError(f"{self.chunk_size=}, expected >= 1")
        if self.phonons:
            from macefield_flows.jobs.phonons import screening_phonon_settings

            screening_phonon_settings(self.phonon_settings)  # unknown names fail here

    def _common(self) -> dict[str, Any]:
        return dict(model=self.model, device=self.device, dtype=self.dtype, head=self.head,
                    trust_pickle=self.trust_pickle, backend=self.backend,
                    electric_field=self.electric_field)

    def relax_maker(self) -> Optional[RelaxMaker]:
        """The RelaxMaker of each chunk (None when ``relax`` is False)."""
        if not self.relax:
            return None
        return RelaxMaker(fmax=self.fmax, max_steps=self.max_steps, relax_cell=self.relax_cell,
                          keep_symmetry=self.keep_symmetry, **self._common())

    def response_maker(self) -> ElectricResponseMaker:
        """The property Maker of each chunk."""
        rm = self.relax_maker()
        return ElectricResponseMaker(max_atoms_per_batch=self.max_atoms_per_batch, symmetrize=self.symmetrize,
                                     relax_settings=rm.settings() if rm else None,
                                     quality_thresholds=self.quality_thresholds,
                                     full_phonons=(self.phonon_settings or {}) if self.phonons else None,
                                     **self._common())

    def resume_keys(self, structures: Sequence[Structure]) -> list[str]:
        """Resume key of each structure under this Maker's settings."""
        return self.response_maker().resume_keys(structures)

    def make(self, structures: Structure | Sequence[Structure] | Sequence[str],
             skip_keys: Optional[Iterable[str]] = None, reuse_relaxations: Optional[dict[str, dict]] = None) -> Flow:
        """Build the screening flow.

        Parameters
        ----------
        structures : Structures (identifiers in ``structure.properties``), one
            Structure, or Materials Project ids (``"mp-149"``; fetched through
            :mod:`macefield_flows.references.mp_source`, needs ``MP_API_KEY``).
        skip_keys : resume keys already stored; those structures are left out.
        reuse_relaxations : resume key -> stored successful RelaxRecord dict (see
            :func:`macefield_flows.stores.results.stored_relaxations`): those structures
            are not relaxed again (an interrupted screening keeps its finished relaxations).

        Returns
        -------
        Flow of ``2 * n_chunks`` jobs (``n_chunks`` without relaxation); its
        output is the list of the property jobs' outputs. Empty when nothing is left.
        """
        items = _materialize(structures)
        keys = self.resume_keys(items)
        skip = set(skip_keys or ())
        todo = [(s, k) for s, k in zip(items, keys) if k not in skip]
        if len(todo) < len(items):
            logger.info("resume: %d of %d structures already stored, %d to compute",
                        len(items) - len(todo), len(items), len(todo))
        jobs, outputs = [], []
        relax_maker, response_maker = self.relax_maker(), self.response_maker()
        size = int(self.chunk_size)
        for c, start in enumerate(range(0, len(todo), size)):
            chunk = todo[start:start + size]
            chunk_structs = [s for s, _ in chunk]
            chunk_keys = [k for _, k in chunk]
            relaxed = None
            if relax_maker is not None:
                reuse = [(reuse_relaxations or {}).get(k) for k in chunk_keys]
                rjob = relax_maker.make(chunk_structs, keys=chunk_keys, reuse=reuse if any(reuse) else None)
                rjob.name = f"relax {c}"
                jobs.append(rjob)
                relaxed = rjob.output
            pjob = response_maker.make(chunk_structs, relaxed=relaxed, keys=chunk_keys)
            pjob.name = f"electric response {c}"
            jobs.append(pjob)
            outputs.append(pjob.output)
        return Flow(jobs, output=outputs, name=self.name)


def _materialize(structures: Any) -> list[Structure]:
    if isinstance(structures, (list, tuple)) and structures and all(isinstance(s, str) for s in structures):
        return fetch_materials_project(structures)
    items, _ = as_structure_list(structures)
    return items


def fetch_materials_project(material_ids: Sequence[str]) -> list[Structure]:
    """Structures of Materials Project ids, with ``properties["material_id"]`` set."""
    from macefield_flows.references.mp_source import MaterialsProjectSource

    found = MaterialsProjectSource().structures(list(material_ids))
    out = []
    for mid in material_ids:
        s = found[mid].copy()
        s.properties = {**(s.properties or {}), "material_id": mid, "structure_id": mid}
        out.append(s)
    return out


def build_screening_flow(maker: ScreeningMaker, structures: Any, store: Any = None,
                         retry_failed: bool = False) -> tuple[Flow, int, int]:
    """``(flow, n_total, n_skipped)``: the screening flow without what ``store`` already holds."""
    from macefield_flows.stores import stored_keys

    items = _materialize(structures)
    skip: set[str] = set()
    if store is not None:
        skip = stored_keys(store, maker.resume_keys(items), include_failed=not retry_failed)
    return maker.make(items, skip_keys=skip), len(items), len(skip)
