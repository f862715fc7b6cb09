"""Shared pieces of the Makers: common fields, input normalisation, provenance."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
from pymatgen.core import Structure

from macefield_flows.schemas.task import Provenance

logger = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
DTYPES = ("float32", "float64")


def as_structure_list(structures: Any) -> tuple[list[Structure], bool]:
    """``(list of Structures, single)``; ``single`` is True when one structure was given.

    Accepts a pymatgen ``Structure``, an ASE ``Atoms``, or a sequence of them.
    Inputs are never mutated (ASE input is converted to new Structures).
    """
    single = isinstance(structures, Structure) or type(structures).__name__ == "Atoms"
    items = [structures] if single else list(structures)
    out = []
    for i, s in enumerate(items):
        if isinstance(s, Structure):
            out.append(s)
        elif type(s).__name__ == "Atoms":
            from pymatgen.io.ase import AseAtomsAdaptor

            out.append(AseAtomsAdaptor.get_structure(s))
        elif isinstance(s, dict):
            out.append(Structure.from_dict(s))
        else:
            raise TypeError(f"structure {i} is a {type(s).__name__}, expected pymatgen Structure or ASE Atoms")
    return out, single


def structure_ids(structure: Structure) -> tuple[Optional[str], Optional[str]]:
    """``(material_id, structure_id)`` carried in ``structure.properties``."""
    props = getattr(structure, "properties", None) or {}
    mid = props.get("material_id")
    sid = props.get("structure_id") or mid
    return (str(mid) if mid else None), (str(sid) if sid else None)


def check_field(electric_field: Optional[Sequence[float]]) -> Optional[list[float]]:
    """Validate a field (3,) in V/A; ``None`` stays None."""
    if electric_field is None:
        return None
    arr = np.asarray(electric_field, dtype=float)
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{electric_field=}, expected three finite numbers in V/Angstrom")
    return arr.tolist()


@dataclass
class ModelSettings:
    """The model fields every Maker has (plain serialisable data, no loaded model).

    Attributes
    ----------
    model : str
        Model file path, or ``"default"`` for the shipped default model.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
    dtype : str
        ``"float64"`` (default; needed for second derivatives on CPU) or ``"float32"``.
    head : str or None
        Readout head of a multi-head model (recorded in provenance).
    trust_pickle : bool
        Allow loading pickled (published) model files; executes code from the file.
    backend : str or None
        ``"e3nn"`` or ``"cueq"`` (cuEquivariance, extra ``gpu``); None: the backend the model
        file was saved with. Recorded in provenance.
    """

    model: str = "default"
    device: str = "auto"
    dtype: str = "float64"
    head: Optional[str] = None
    trust_pickle: bool = False
    backend: Optional[str] = None

    def _check_model_settings(self) -> None:
        from macefield_flows.model.backends import normalize_backend

        self.model = str(self.model)
        self.backend = normalize_backend(self.backend)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r}, expected one of {DTYPES}")
        if self.device.split(":")[0] not in DEVICES:
            raise ValueError(f"device={self.device!r}, expected one of {DEVICES} (optionally with ':index')")


def _resolved_head(model: Any, head: Optional[str]) -> Optional[str]:
    """The head the engine evaluated (model/heads.py rule), recorded even when none was given."""
    from macefield_flows.model.heads import HeadError, resolve_head

    if getattr(model, "heads", None) is None:
        return head
    try:
        return resolve_head(model, head, warn=False)
    except HeadError:
        return head


def make_provenance(
    model: Any,
    maker: ModelSettings,
    engine_settings: dict[str, Any],
    electric_field: Optional[Sequence[float]] = None,
    settings_hash: str = "",
    wall_time_s: Optional[float] = None,
) -> Provenance:
    """Provenance of a result computed with the loaded ``model`` by ``maker``."""
    from macefield_flows.jobs._model import model_device
    from macefield_flows.screening import package_versions

    info = getattr(model, "model_info", None)
    return Provenance(
        model_name=getattr(info, "name", str(maker.model)),
        model_sha256=getattr(info, "sha256", ""),
        head=_resolved_head(model, maker.head),
        device=model_device(model),
        dtype=maker.dtype,
        backend=getattr(info, "backend", None) or "e3nn",
        electric_field=list(electric_field) if electric_field is not None else [0.0, 0.0, 0.0],
        versions=package_versions(),
        engine_settings=dict(engine_settings),
        settings_hash=settings_hash,
        wall_time_s=wall_time_s,
    )


@dataclass
class BatchSettings:
    """Batching fields: ``max_atoms_per_batch`` caps atoms per forward pass (None: engine default)."""

    max_atoms_per_batch: Optional[int] = None
    extra: dict[str, Any] = field(default_factory=dict)
