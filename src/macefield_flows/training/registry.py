"""Models the project ships: ``data/models/registry.json`` (name -> file, sha256, card).

``resolve_model('default')`` (or a registered name) gives the path of a
shipped model file after checking its sha256; any other string is taken as a
path to a user's model file and returned unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from macefield_flows.exceptions import ModelLoadError

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

    Raises
    ------
    ModelLoadError
        a registered model's file is missing or its sha256 differs from the registry.
    """
    from macefield_flows.model.io import file_sha256

    reg = load_registry()
    name = str(name_or_path)
    if name == "default":
        name = reg.get("default") or ""
        if not name:
            raise ModelLoadError(f"no default model registered in {REGISTRY_FILE}")
    entry = reg.get("models", {}).get(name)
    if entry is None:
        return Path(name_or_path).expanduser()
    path = REGISTRY_FILE.parent / entry["file"]
    if not path.is_file():
        raise ModelLoadError(f"registered model {name!r} missing: {path} (see {entry.get('card')})")
    if verify:
        sha = file_sha256(path)
        if sha != entry["sha256"]:
            raise ModelLoadError(f"model {name!r} at {path}: sha256 {sha} != registered {entry['sha256']}")
    return path
