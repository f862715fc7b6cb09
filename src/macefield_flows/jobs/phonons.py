"""Full-phonon Maker: dispersion, DOS, full-BZ stability, LO-TO and IR for screened documents.

Optional step after a :class:`~macefield_flows.jobs.response.DielectricMaker` (or a
screening chunk): give it the task document(s); it computes supercell force
constants with the engine (exact second derivatives, no displacements), runs
phonopy and returns :class:`~macefield_flows.schemas.phonon.FullPhononDoc` (one
document) or :class:`FullPhononBatchDoc` (a batch), each carrying the input task
document with ``min_frequency_full_bz_thz`` set (``.task``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from jobflow import Maker, job
from pydantic import BaseModel, Field

from macefield_flows.jobs.base import ModelSettings
from macefield_flows.schemas.phonon import FullPhononDoc

logger = logging.getLogger(__name__)


class FullPhononBatchDoc(BaseModel):
    """Full phonons of a batch of task documents (input order; failures recorded, not raised)."""

    kind: str = Field("full_phonon_batch", description="Marker of this output kind.")
    phonons: list[Optional[FullPhononDoc]] = Field(default_factory=list, description="One per input (None: failed).")
    errors: list[Optional[str]] = Field(default_factory=list, description="Error of each failed input, else None.")

    model_config = {"arbitrary_types_allowed": True}


@dataclass
class FullPhononMaker(ModelSettings, Maker):
    """Phonons over the whole Brillouin zone from exact supercell force constants.

    Attributes
    ----------
    supercell_matrix : 3 integers or 3x3 matrix; None: diagonal with spacings >= ``min_length`` (A).
    mesh : q-mesh (3 integers) or phonopy length (A) for DOS and stability.
    nac : LO-TO correction from the document's born / epsilon_static.
    force_constants : "engine" (exact Hessian) or "displacements" (phonopy finite differences).
    tol_imaginary_thz : frequencies below ``-tol`` are imaginary (THz).
    fwhm_cm1 : IR line width, cm^-1.
    keep_force_constants : store the supercell force constants (in the `data` store).
    """

    name: str = "full phonons"
    supercell_matrix: Optional[Sequence] = None
    min_length: float = 10.0
    mesh: Any = 20.0
    nac: bool = True
    force_constants: str = "engine"
    npoints: int = 51
    tol_imaginary_thz: float = 0.1
    fwhm_cm1: float = 10.0
    keep_force_constants: bool = False

    def __post_init__(self) -> None:
        self._check_model_settings()
        if self.force_constants not in ("engine", "displacements"):
            raise ValueError(f"{self.force_constants=}, expected 'engine' or 'displacements'")

    @job(data="force_constants")
    def make(self, docs: Any) -> FullPhononDoc | FullPhononBatchDoc:
        """Full phonons of one task document, or of every successful one of a batch document."""
        return run_full_phonons(self, docs)


def run_full_phonons(maker: FullPhononMaker, docs: Any) -> FullPhononDoc | FullPhononBatchDoc:
    """Plain function behind :meth:`FullPhononMaker.make`."""
    from macefield_flows.exceptions import MacefieldError
    from macefield_flows.interop.phonons import full_phonons
    from macefield_flows.jobs._model import get_model

    tasks = docs.get("tasks") if isinstance(docs, dict) else getattr(docs, "tasks", None)
    model = get_model(maker.model, maker.device, maker.dtype, maker.trust_pickle, maker.backend)
    settings = dict(model=model, supercell_matrix=maker.supercell_matrix, min_length=maker.min_length,
                    mesh=maker.mesh, nac=maker.nac, force_constants=maker.force_constants, npoints=maker.npoints,
                    tol_imaginary_thz=maker.tol_imaginary_thz, fwhm_cm1=maker.fwhm_cm1, device=maker.device,
                    dtype=maker.dtype, head=maker.head, keep_force_constants=maker.keep_force_constants)
    if tasks is None:
        return full_phonons(docs, **settings)
    out = FullPhononBatchDoc()
    for task in tasks:
        status = task.get("status") if isinstance(task, dict) else task.status
        if getattr(status, "value", status) != "successful":
            out.phonons.append(None)
            out.errors.append("failed task document: no phonons")
            continue
        try:
            out.phonons.append(full_phonons(task, **settings))
            out.errors.append(None)
        except (MacefieldError, ValueError, ArithmeticError) as exc:
            logger.warning("full phonons failed: %s", exc)
            out.phonons.append(None)
            out.errors.append(f"{type(exc).__name__}: {exc}")
    return out


#: settings of the screening's optional phonon step (``ScreeningMaker(phonons=True)``, ``screen --phonons``)
SCREENING_PHONON_DEFAULTS: dict[str, Any] = {
    "supercell_matrix": None, "min_length": 10.0, "mesh": 20.0, "nac": True, "force_constants": "engine",
    "npoints": 51, "tol_imaginary_thz": 0.1, "fwhm_cm1": 10.0,
}


def screening_phonon_settings(overrides: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """:data:`SCREENING_PHONON_DEFAULTS` with ``overrides`` (unknown names are an error)."""
    unknown = set(overrides or {}) - set(SCREENING_PHONON_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown phonon settings {sorted(unknown)}; known: {sorted(SCREENING_PHONON_DEFAULTS)}")
    out = {**SCREENING_PHONON_DEFAULTS, **dict(overrides or {})}
    if out["force_constants"] not in ("engine", "displacements"):
        raise ValueError(f"phonon force_constants {out['force_constants']!r}, expected 'engine' or 'displacements'")
    if out["supercell_matrix"] is None and not float(out["min_length"]) > 0:
        raise ValueError(f"phonon min_length {out['min_length']!r}, expected > 0 (Angstrom)")
    return out


def attach_full_phonons(doc: Any, model: Any, settings: Mapping[str, Any], device: str = "auto",
                        dtype: str = "float64", head: Optional[str] = None) -> Any:
    """The screening's phonon step for one task document (a new document; ``doc`` is not mutated).

    A successful document gets ``min_frequency_full_bz_thz`` (THz), its quality assessed
    again with it (:func:`macefield_flows.screening.with_full_bz_minimum`: stable at
    Gamma but unstable elsewhere -> ``imaginary_modes``) and ``full_phonons`` (the
    :class:`FullPhononDoc` fields without ``task``, as a JSON dict routed to the `data`
    store). When the phonons fail the document keeps its Gamma-only assessment plus a
    ``full_phonons_failed`` note (affects nothing). Failed documents are returned as they are.

    Parameters
    ----------
    settings : :func:`screening_phonon_settings` (supercell, mesh, NAC...).
    """
    from monty.json import jsanitize

    from macefield_flows.exceptions import MacefieldError
    from macefield_flows.interop.phonons import full_phonons
    from macefield_flows.schemas.quality import QualityFlag
    from macefield_flows.schemas.task import TaskStatus
    from macefield_flows.screening import with_full_bz_minimum

    if doc.status != TaskStatus.SUCCESS:
        return doc
    label = doc.structure_id or doc.material_id or doc.formula_pretty
    settings, notes = dict(settings), []
    if settings.get("nac") and not (doc.quality.is_reliable("epsilon_static") and doc.quality.is_reliable("born")):
        # phonopy's NAC with an unphysical eps_inf (eigenvalue < 1) gives NaN everywhere
        settings["nac"] = False
        notes.append(QualityFlag(name="full_phonons_without_nac", message="full phonons without the LO-TO "
                                 "correction: Born charges or eps_inf flagged unreliable", affects=[]))
    try:
        p = full_phonons(doc, model=model, device=device, dtype=dtype, head=head, **settings)
    except (MacefieldError, ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError) as exc:
        logger.warning("full phonons of %s failed: %s", label, exc)
        notes.append(QualityFlag(name="full_phonons_failed", message=f"full phonons failed ({type(exc).__name__}: "
                                 f"{exc}); stability judged at Gamma only", affects=[]))
        return _with_notes(doc, notes)
    new = _with_notes(with_full_bz_minimum(doc, p.min_frequency_full_bz_thz), notes)
    data = jsanitize(p.model_dump(exclude={"task"}), strict=True, enum_values=True, allow_bson=True)
    return new.model_copy(update={"full_phonons": data,
                                  "large_data_keys": sorted({*new.large_data_keys, "full_phonons"})})


def _with_notes(doc: Any, notes: list) -> Any:
    if not notes:
        return doc
    quality = doc.quality.model_copy(update={"flags": [*doc.quality.flags, *notes]})
    return doc.model_copy(update={"quality": quality, "warnings": [*doc.warnings, *(n.message for n in notes)]})
