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
from typing import Any, Optional, Sequence

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
