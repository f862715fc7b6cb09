"""The one resolver of model names: ``"default"``, registered names and paths -> a model file.

Every entry point that takes a model spec (``load_model``, ``MACEFieldCalculator``,
``engine.evaluate`` / ``relax``, the Makers and the CLI) calls
:func:`resolve_model_path`, so ``"default"`` and a registry name mean the same
file everywhere.

Rules, in this order:

1. ``None`` or ``"default"`` (any case): ``$MACEFIELD_DEFAULT_MODEL`` when set,
   else the ``"default"`` entry of ``<data>/models/registry.json``.
2. A name registered in ``registry.json`` that is not an existing file path:
   that entry's file.
3. Anything else is a path to a user's model file.

Registered files are checked against the registry's sha256 (when it gives
one). ``<data>`` is ``$MACEFIELD_DATA_DIR`` or the repository's ``data/``.
The registry layout is::

    {"default": name, "models": {name: {"file": "x.pt", "sha256": "...", ...}}}

with ``file`` relative to the registry's folder.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Optional

from macefield_flows.exceptions import ModelLoadError

DEFAULT_MODEL_ENV = "MACEFIELD_DEFAULT_MODEL"
"""Environment variable: path of the model file used for ``model=None`` / ``"default"``."""

DATA_DIR_ENV = "MACEFIELD_DATA_DIR"
_NO_MODEL_HINT = f"pass a model file with --model PATH (or set {DEFAULT_MODEL_ENV}=PATH)"


def data_dir() -> Path:
    """The project's data folder (env ``MACEFIELD_DATA_DIR`` overrides ``<repo>/data``)."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[3] / "data"


def model_registry_path() -> Path:
    """``<data>/models/registry.json``."""
    return data_dir() / "models" / "registry.json"


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file, cached on (resolved path, mtime, size)."""
    p = Path(path).expanduser().resolve()
    st = p.stat()
    return _sha256_cached(str(p), st.st_mtime_ns, st.st_size)


def read_registry(path: Optional[str | os.PathLike] = None) -> dict[str, Any]:
    """The registry dict (``{"default": None, "models": {}}`` when there is no file).

    Raises
    ------
    ModelLoadError
        the file exists but is not a JSON object.
    """
    path = Path(path) if path is not None else model_registry_path()
    if not path.is_file():
        return {"default": None, "models": {}}
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read model registry {path}: {exc}; {_NO_MODEL_HINT}") from exc
    if not isinstance(entries, dict):
        raise ModelLoadError(f"model registry {path} is not a JSON object; {_NO_MODEL_HINT}")
    entries.setdefault("models", {})
    return entries


def registered_names() -> list[str]:
    """Names of the models in the registry (may be empty)."""
    return sorted(read_registry().get("models") or {})


def _registered_file(name: str, registry: Path, entry: dict[str, Any], verify: bool,
                     what: str) -> Path:
    if not entry.get("file"):
        raise ModelLoadError(f"{what} {name!r} in {registry} has no 'file'; {_NO_MODEL_HINT}")
    path = (registry.parent / entry["file"]).resolve()
    if not path.is_file():
        raise ModelLoadError(f"{what} {name!r} registered in {registry} is missing: {path}; "
                             f"{_NO_MODEL_HINT}")
    expected = entry.get("sha256")
    if verify and expected:
        actual = file_sha256(path)
        if actual.lower() != str(expected).lower():
            raise ModelLoadError(
                f"{what} {name!r} at {path} has sha256 {actual}, but {registry} expects {expected} "
                f"(corrupt or stale file: restore it, or {_NO_MODEL_HINT})")
    return path


def default_model_path(verify: bool = True) -> Path:
    """The file of the default model (rule 1 of the module docstring).

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
    entries = read_registry(registry)
    name = entries.get("default")
    entry = entries["models"].get(name) if name else None
    if not entry or not entry.get("file"):
        raise ModelLoadError(f"model registry {registry} names no default model "
                             f"(default={name!r}); {_NO_MODEL_HINT}")
    return _registered_file(name, registry, entry, verify, "default model")


def is_default_spec(spec: Any) -> bool:
    """True for ``None`` and ``"default"`` (any case)."""
    return spec is None or (isinstance(spec, str) and spec.strip().lower() == "default")


def resolve_model_path(spec: Optional[str | os.PathLike] = None, verify: bool = True) -> Path:
    """Model file named by ``spec``: ``None``/``"default"``, a registered name, or a path.

    Parameters
    ----------
    spec : see the module docstring for the order of the rules.
    verify : check registered files against the registry's sha256.

    Returns
    -------
    Path
        an existing file (resolved).

    Raises
    ------
    ModelLoadError
        no such file or registered name (the message lists the registered names),
        a registered file missing or with the wrong sha256.
    """
    if is_default_spec(spec):
        return default_model_path(verify=verify)
    path = Path(spec).expanduser()
    if path.is_file():
        return path.resolve()
    registry = model_registry_path()
    models = read_registry(registry)["models"] if registry.is_file() else {}
    if str(spec) in models:
        return _registered_file(str(spec), registry, models[str(spec)], verify, "registered model")
    known = ", ".join(["default", *sorted(models)])
    raise ModelLoadError(f"model file not found: {path} (not a file, nor a registered model name: {known})")
