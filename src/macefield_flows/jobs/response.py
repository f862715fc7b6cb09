"""Property Makers: static, dielectric, piezoelectric and the full electric response.

Each Maker evaluates a batch (or one structure) with one engine call and
assembles documents with :mod:`macefield_flows.screening`. Given one
``Structure`` the job outputs one :class:`ElectricResponseTaskDoc` (so
``job.output.born`` / ``job.output.epsilon_static`` feed atomate2's phonon
flows); given a list it outputs an :class:`ElectricResponseBatchDoc`.
Force constants go to the additional ``data`` store (``@job(data=...)``).
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Optional, Sequence

from jobflow import Maker, job
from pymatgen.core import Structure

from macefield_flows import screening
from macefield_flows.jobs.base import ModelSettings, as_structure_list, check_field, make_provenance, structure_ids
from macefield_flows.schemas.task import ElectricResponseBatchDoc, ElectricResponseTaskDoc, RelaxBatchDoc, TaskStatus

logger = logging.getLogger(__name__)

_DOCUMENT_HOOKS: list[Callable[[str], None]] = []


@contextmanager
def on_document(callback: Callable[[str], None]) -> Iterator[None]:
    """Call ``callback(resume_key)`` each time a property job of this process finishes one structure's document.

    Progress reporting of the screening (one tick per structure, not per chunk); the
    callback must be cheap and must not raise (errors are logged and ignored).
    """
    _DOCUMENT_HOOKS.append(callback)
    try:
        yield
    finally:
        _DOCUMENT_HOOKS.remove(callback)


def _document_done(key: str) -> None:
    for hook in list(_DOCUMENT_HOOKS):
        try:
            hook(key)
        except Exception as exc:  # noqa: BLE001 (progress must never break a job)
            logger.debug("document hook failed: %s", exc)


@dataclass
class BaseResponseMaker(ModelSettings, Maker):
    """Common fields of the property Makers.

    Attributes
    ----------
    name : job name.
    electric_field : uniform field (3,) V/Angstrom at which properties are evaluated, or None.
    max_atoms_per_batch : cap of atoms per forward pass (None: engine's cost model).
    symmetrize : symmetrise Born charges, eps and piezo/elastic tensors to the space group
        (spglib, ``symprec``); the violations before symmetrisation are recorded.
    symprec : spglib tolerance, Angstrom.
    phonon_tol_thz : |nu| below which imaginary Gamma frequencies count as noise, THz.
    keep_force_constants : store the (3N, 3N) force constants (in the `data` store).
    relax_settings : settings of a preceding relaxation (set by the screening flow;
        part of the resume key).
    quality_thresholds : overrides of :class:`~macefield_flows.physics.quality.QualityThresholds`
        (name -> value) for the documents' ``quality`` section; None: defaults (docs/quality.md).
    full_phonons : None (off), or the settings of the optional full-phonon step
        (:func:`macefield_flows.jobs.phonons.screening_phonon_settings`): each successful
        document gets ``min_frequency_full_bz_thz``, ``full_phonons`` (in the `data` store)
        and a quality assessment that uses the full-BZ minimum. Costs a supercell per structure.
    (model, device, dtype, head, trust_pickle: see :class:`ModelSettings`.)
    """

    name: str = "electric response"
    electric_field: Optional[Sequence[float]] = None
    max_atoms_per_batch: Optional[int] = None
    symmetrize: bool = True
    symprec: float = 1e-3
    phonon_tol_thz: float = 0.1
    keep_force_constants: bool = True
    relax_settings: Optional[dict] = None
    quality_thresholds: Optional[dict] = None
    full_phonons: Optional[dict] = None

    properties: ClassVar[tuple[str, ...]] = screening.PIEZO_PROPERTIES
    task_label: ClassVar[str] = "electric response"

    def __post_init__(self) -> None:
        self._check_model_settings()
        self.electric_field = check_field(self.electric_field)
        if self.max_atoms_per_batch is not None and self.max_atoms_per_batch < 1:
            raise ValueError(f"{self.max_atoms_per_batch=}, expected a positive integer or None")
        from macefield_flows.physics.quality import QualityThresholds

        QualityThresholds.from_any(self.quality_thresholds)  # unknown names / bad values fail here
        if self.full_phonons is not None:
            from macefield_flows.jobs.phonons import screening_phonon_settings

            self.full_phonons = screening_phonon_settings(self.full_phonons)

    def settings(self) -> dict[str, Any]:
        """Settings that change the numbers (part of the resume key; no device)."""
        out = {"task": self.task_label, "properties": sorted(self.properties), "dtype": self.dtype,
               "electric_field": self.electric_field, "symmetrize": self.symmetrize,
               "symprec": self.symprec, "phonon_tol_thz": self.phonon_tol_thz,
               "relax": self.relax_settings}
        if self.full_phonons is not None:  # absent when off: keys of runs without phonons are unchanged
            out["full_phonons"] = self.full_phonons
        return out

    def resume_keys(self, structures: Sequence[Structure]) -> list[str]:
        """Resume key of each input structure (model file is hashed, not loaded)."""
        from macefield_flows.jobs._model import model_sha256

        sha = model_sha256(self.model)
        settings = self.settings()
        return [screening.settings_hash(s, sha, self.head, settings) for s in structures]

    @job(data=["force_constants", "full_phonons"])
    def make(self, structures: Structure | Sequence[Structure], relaxed: Optional[RelaxBatchDoc] = None,
             keys: Optional[Sequence[str]] = None):
        """Evaluate ``structures`` (after ``relaxed``, the output of a RelaxMaker job, if given).

        Parameters
        ----------
        structures : one Structure or a list (the INPUT structures; identifiers in
            ``structure.properties["material_id" / "structure_id"]``).
        relaxed : output of a :class:`~macefield_flows.jobs.relax.RelaxMaker` job on the same list.
        keys : precomputed resume keys (default: computed here).
        """
        return run_response(self, structures, relaxed, keys)


def run_response(maker: BaseResponseMaker, structures: Any, relaxed: Optional[RelaxBatchDoc] = None,
                 keys: Optional[Sequence[str]] = None) -> ElectricResponseTaskDoc | ElectricResponseBatchDoc:
    """Plain function behind the property Makers (see :meth:`BaseResponseMaker.make`)."""
    from macefield_flows.engine import evaluate
    from macefield_flows.jobs._model import get_model

    t0 = time.perf_counter()
    items, single = as_structure_list(structures)
    if isinstance(relaxed, dict):
        relaxed = RelaxBatchDoc.model_validate(relaxed)
    if relaxed is not None and len(relaxed.records) != len(items):
        raise ValueError(f"{len(relaxed.records)=} relaxation records for {len(items)} structures")
    keys = list(keys) if keys is not None else maker.resume_keys(items)
    model = get_model(maker.model, maker.device, maker.dtype, maker.trust_pickle, maker.backend)
    targets = [relaxed.structures[i] if relaxed is not None and relaxed.records[i].ok else s
               for i, s in enumerate(items)]
    labels = [structure_ids(s)[1] or str(i) for i, s in enumerate(items)]
    todo = [i for i in range(len(items)) if relaxed is None or relaxed.records[i].ok]
    results: dict[int, Any] = {}
    if todo:
        out = evaluate([targets[i] for i in todo], model, properties=maker.properties,
                       electric_field=maker.electric_field, device=maker.device, dtype=maker.dtype,
                       head=maker.head, labels=[labels[i] for i in todo],
                       max_atoms_per_batch=maker.max_atoms_per_batch)
        results = dict(zip(todo, out))
    engine_settings = {"properties": list(maker.properties), "max_atoms_per_batch": maker.max_atoms_per_batch,
                       "symmetrize": maker.symmetrize, "symprec": maker.symprec,
                       "phonon_tol_thz": maker.phonon_tol_thz, "relax": maker.relax_settings,
                       "full_phonons": maker.full_phonons}
    docs = []
    for i, s in enumerate(items):
        mid, sid = structure_ids(s)
        r = results.get(i)
        wall = getattr(r, "wall_time_s", None)
        prov = make_provenance(model, maker, engine_settings, maker.electric_field, keys[i], wall)
        rr = relaxed.records[i] if relaxed is not None else None
        relax_obj = _RelaxView(rr) if rr is not None else None
        if r is None:
            doc = screening.failed_task_doc(s, f"relaxation failed: {rr.error if rr else 'unknown'}", prov,
                                            mid, sid, maker.task_label)
        else:
            doc = screening.build_task_doc(s, r, prov, relax_obj, mid, sid, maker.task_label, maker.symmetrize,
                                           maker.symprec, maker.phonon_tol_thz, maker.keep_force_constants,
                                           maker.quality_thresholds)
        if maker.full_phonons is not None:
            from macefield_flows.jobs.phonons import attach_full_phonons

            doc = attach_full_phonons(doc, model, maker.full_phonons, maker.device, maker.dtype, maker.head)
        docs.append(doc)
        _document_done(keys[i])
    n_ok = sum(d.status == TaskStatus.SUCCESS for d in docs)
    logger.info("%s: %d structures, %d failed, %.1f s", maker.name, len(docs), len(docs) - n_ok,
                time.perf_counter() - t0)
    if single:
        return docs[0]
    return ElectricResponseBatchDoc(task_label=maker.task_label, tasks=docs, n_successful=n_ok,
                                    n_failed=len(docs) - n_ok, wall_time_s=time.perf_counter() - t0)


class _RelaxView:
    """Adapter: a stored RelaxRecord seen as an engine RelaxResult."""

    def __init__(self, rec: Any) -> None:
        self.ok, self.error, self.structure = rec.ok, rec.error, rec.structure
        self.converged, self.steps = bool(rec.converged), int(rec.steps or 0)
        self.max_force = float(rec.max_force) if rec.max_force is not None else float("nan")


@dataclass
class StaticMaker(BaseResponseMaker):
    """Energy, forces, stress, polarisation, Born charges and eps_inf (no force constants)."""

    name: str = "static"
    properties: ClassVar[tuple[str, ...]] = screening.STATIC_PROPERTIES
    task_label: ClassVar[str] = "static"


@dataclass
class DielectricMaker(BaseResponseMaker):
    """Born charges, eps_inf (``epsilon_static``), eps_ionic, eps_total and Gamma phonon stability.

    ``job.output.born`` and ``job.output.epsilon_static`` (single-structure input)
    are the ``born`` / ``epsilon_static`` arguments of atomate2's phonon flows.
    """

    name: str = "dielectric"
    properties: ClassVar[tuple[str, ...]] = screening.DIELECTRIC_PROPERTIES
    task_label: ClassVar[str] = "dielectric"


@dataclass
class PiezoelectricMaker(BaseResponseMaker):
    """Clamped-ion, ionic and total piezo tensors e (C/m^2), elastic tensors (GPa), d (pC/N)."""

    name: str = "piezoelectric"
    properties: ClassVar[tuple[str, ...]] = screening.PIEZO_PROPERTIES
    task_label: ClassVar[str] = "piezoelectric"


@dataclass
class ElectricResponseMaker(BaseResponseMaker):
    """Everything: static + dielectric + piezoelectric in one engine call (the screening default)."""

    name: str = "electric response"
    properties: ClassVar[tuple[str, ...]] = screening.PIEZO_PROPERTIES
    task_label: ClassVar[str] = "electric response"
