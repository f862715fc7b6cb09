"""Input adapters and model/device resolution at the engine boundary."""

from __future__ import annotations

import copy
from typing import Any, Optional

import torch
from ase import Atoms

# the model-name resolver and the head rule live in model/ (one place each); re-exported here
from macefield_flows.model.heads import resolve_head
from macefield_flows.model.registry import (  # noqa: F401
    DEFAULT_MODEL_ENV,
    data_dir,
    default_model_path,
    file_sha256,
    model_registry_path,
    resolve_model_path,
)

_MODEL_CACHE: dict[tuple, Any] = {}


def to_atoms(structure: Any) -> Atoms:
    """pymatgen Structure/Molecule or ASE Atoms -> a new ASE Atoms (inputs never mutated)."""
    if isinstance(structure, Atoms):
        return structure.copy()
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        return AseAtomsAdaptor.get_atoms(structure)
    except Exception as exc:  # noqa: BLE001 (report what it was)
        raise TypeError(f"cannot convert {type(structure).__name__} to ASE Atoms: {exc}") from exc


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> cuda if available else cpu; anything else as torch understands it."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float64": torch.float64, "float32": torch.float32}
    if dtype not in table:
        raise ValueError(f"dtype={dtype!r}, expected one of {sorted(table)}")
    return table[dtype]


def resolve_model(
    model_spec: Any = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float64",
    trust_pickle: bool = False,
    backend: Optional[str] = None,
):
    """A loaded FieldMACE from an instance, a file path, a registered name or ``None``/``"default"``.

    Files are loaded once per process and device/dtype/backend (jobs of one worker share
    them). ``backend`` ("e3nn" / "cueq", :mod:`macefield_flows.model.backends`): None keeps
    an instance's backend and a file's saved backend.
    """
    from macefield_flows.model.backends import convert_backend, normalize_backend

    from macefield_flows.model import FieldMACE, load_model
    from macefield_flows.model.io import describe_model

    torch_dtype = resolve_dtype(dtype)
    if isinstance(model_spec, FieldMACE):
        param = next(model_spec.parameters())
        torch_device = param.device if device == "auto" else resolve_device(device)
        model = model_spec
        if param.device != torch_device or param.dtype != torch_dtype:
            # never move the caller's model: work on a copy on the requested device/dtype
            model = copy.deepcopy(model_spec).to(device=torch_device, dtype=torch_dtype)
        if backend is not None and normalize_backend(backend) != getattr(model, "backend", "e3nn"):
            model = convert_backend(model, backend, device=torch_device)  # a new model
        model.eval()
        if getattr(model, "model_info", None) is None:
            model.model_info = describe_model(model)
        return model
    torch_device = resolve_device(device)
    path = resolve_model_path(model_spec)
    key = (str(path), str(torch_device), str(torch_dtype), trust_pickle, normalize_backend(backend))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(path, device=torch_device, dtype=torch_dtype,
                                       trust_pickle=trust_pickle, backend=backend)
    return _MODEL_CACHE[key]


def head_index(model: Any, head: Optional[str]) -> int:
    """Index of the head to evaluate (:func:`macefield_flows.model.heads.resolve_head`'s rule)."""
    from macefield_flows.model.heads import model_heads

    return model_heads(model).index(resolve_head(model, head))
