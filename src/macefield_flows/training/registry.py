"""Models the project ships: ``data/models/registry.json`` (name -> file, sha256, card).

``resolve_model('default')`` (or a registered name) gives the path of a
shipped model file after checking its sha256; any other string is taken as a
path to a user's model file and returned unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
MODELS_DIR = REPO_ROOT / "data" / "models"
REGISTRY_FILE = MODELS_DIR / "registry.json"


def load_registry(path: str | Path = REGISTRY_FILE) -> dict[str, Any]:
    """The registry dict: ``{"default": name, "models": {name: {"file", "sha256", ...}}}``."""
    path = Path(path)
    if not path.is_file():
        return {"default": None, "models": {}}
    return json.loads(path.read_text())


def register_model(name: str, file: str | Path, sha256: str, card: str, default: bool = True,
                   extra: dict[str, Any] | None = None, path: str | Path = REGISTRY_FILE) -> None:
    """Add or replace ``name`` in the registry (``file`` relative to the registry folder)."""
    path = Path(path)
    reg = load_registry(path)
    reg.setdefault("models", {})[name] = {"file": str(Path(file).name), "sha256": sha256,
                                          "card": card, **(extra or {})}
    if default:
        reg["default"] = name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(reg, indent=1) + "\n")


def resolve_model(name_or_path: str | Path = "default", verify: bool = True) -> Path:
    """Path of a registered model (``'default'`` or a name), else ``name_or_path`` as a path.

    Names are resolved by :func:`macefield_flows.model.registry.resolve_model_path`
    (the one place that honours ``MACEFIELD_DEFAULT_MODEL`` and ``MACEFIELD_DATA_DIR``).

    Raises
    ------
    ModelLoadError
        a registered model's file is missing or its sha256 differs from the registry.
    """
    from macefield_flows.model.registry import is_default_spec, registered_names, resolve_model_path

    if is_default_spec(str(name_or_path)) or str(name_or_path) in registered_names():
        return resolve_model_path(name_or_path, verify=verify)  # the one resolver
    return Path(name_or_path).expanduser()
