"""Input adapters and model/device resolution at the engine boundary."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from ase import Atoms

from macefield_flows.exceptions import ModelLoadError

_MODEL_CACHE: dict[tuple[str, str, str, bool], Any] = {}


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


def data_dir() -> Path:
    """The project's data folder (env ``MACEFIELD_DATA_DIR`` overrides ``<repo>/data``)."""
    env = os.environ.get("MACEFIELD_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "data"


def default_model_path() -> Path:
    """Path of the shipped default model, from ``data/models/registry.json``."""
    registry = data_dir() / "models" / "registry.json"
    if not registry.is_file():
        raise ModelLoadError(
            f"no default model registry at {registry}: pass a model file with --model PATH"
        )
    entries = json.loads(registry.read_text())
    name = entries.get("default")
    entry = entries.get("models", {}).get(name) if name else None
    if not entry:
        raise ModelLoadError(f"{registry} names no default model")
    return (registry.parent / entry["file"]).resolve()


def resolve_model(
    model_spec: Any = None,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float64",
    trust_pickle: bool = False,
):
    """A loaded FieldMACE from an instance, a file path, or ``None``/``"default"``.

    Files are loaded once per process and device/dtype (jobs of one worker share them).
    """
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
        model.eval()
        if getattr(model, "model_info", None) is None:
            model.model_info = describe_model(model)
        return model
    torch_device = resolve_device(device)
    path = default_model_path() if model_spec in (None, "default") else Path(model_spec)
    key = (str(path), str(torch_device), str(torch_dtype), trust_pickle)
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load_model(path, device=torch_device, dtype=torch_dtype,
                                       trust_pickle=trust_pickle)
    return _MODEL_CACHE[key]


def head_index(model: Any, head: Optional[str]) -> int:
    heads: Sequence[str] = list(getattr(model, "heads", ["Default"]))
    if head is None:
        return 0
    if head not in heads:
        raise ValueError(f"head={head!r} not in the model's heads {list(heads)}")
    return list(heads).index(head)
