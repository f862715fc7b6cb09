"""Input adapters and model/device resolution at the engine boundary."""

from __future__ import annotations

import copy
import functools
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


DEFAULT_MODEL_ENV = "MACEFIELD_DEFAULT_MODEL"
"""Environment variable: path of the model file used for ``model=None`` / ``"default"``."""

_NO_MODEL_HINT = f"pass a model file with --model PATH (or set {DEFAULT_MODEL_ENV}=PATH)"


def model_registry_path() -> Path:
    """``<data>/models/registry.json`` (``MACEFIELD_DATA_DIR`` overrides ``<repo>/data``)."""
    return data_dir() / "models" / "registry.json"


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    from macefield_flows.model.io import file_sha256 as uncached_sha256

    return uncached_sha256(path)


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file, cached on (resolved path, mtime, size)."""
    p = Path(path).expanduser().resolve()
    st = p.stat()
    return _sha256_cached(str(p), st.st_mtime_ns, st.st_size)


def default_model_path(verify: bool = True) -> Path:
    """The file of the default model: the single place where ``"default"`` is resolved.

    1. ``$MACEFIELD_DEFAULT_MODEL`` (a path) when set;
    2. else ``data/models/registry.json``:
       ``{"default": name, "models": {name: {"file": ..., "sha256": ...}}}``,
       ``file`` relative to the registry's folder; with ``verify`` the file's
       sha256 is checked against the registry's when the registry gives one.

    Raises
    ------
    ModelLoadError
        the override is not a file; no registry / no default entry (the message
        says to pass ``--model PATH``); the registered file is missing; sha256 mismatch.
    """
    env = os.environ.get(DEFAULT_MODEL_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"{DEFAULT_MODEL_ENV}={env!r} is not a file: point it to a model file, "
                                 "or pass --model PATH")
        return path.resolve()
    registry = model_registry_path()
    if not registry.is_file():
        raise ModelLoadError(f"no default model: model registry {registry} not found; {_NO_MODEL_HINT}")
    try:
        entries = json.loads(registry.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read model registry {registry}: {exc}; {_NO_MODEL_HINT}") from exc
    name = entries.get("default") if isinstance(entries, dict) else None
    entry = (entries.get("models") or {}).get(name) if name else None
    if not entry or not entry.get("file"):
        raise ModelLoadError(f"model registry {registry} names no default model "
                             f"(default={name!r}); {_NO_MODEL_HINT}")
    path = (registry.parent / entry["file"]).resolve()
    if not path.is_file():
        raise ModelLoadError(f"default model {name!r} registered in {registry} is missing: {path}; "
                             f"{_NO_MODEL_HINT}")
    expected = entry.get("sha256")
    if verify and expected:
        actual = file_sha256(path)
        if actual.lower() != str(expected).lower():
            raise ModelLoadError(
                f"default model {name!r} at {path} has sha256 {actual}, but {registry} expects {expected} "
                f"(corrupt or stale file: restore it, or {_NO_MODEL_HINT})")
    return path


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
