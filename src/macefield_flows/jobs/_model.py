"""Model specs of the Makers: resolve to a file (model.registry) and sha256, load once per process."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

logger = logging.getLogger(__name__)


def model_path(spec: Optional[str | os.PathLike]) -> Path:
    """File of a Maker's ``model`` field: a path, a registered name, or ``None`` / ``"default"``.

    Resolved by :func:`macefield_flows.model.registry.resolve_model_path`, the one resolver
    (``$MACEFIELD_DEFAULT_MODEL``, else ``data/models/registry.json`` with sha256 check).
    """
    from macefield_flows.model.registry import resolve_model_path

    return resolve_model_path(spec)


def model_sha256(spec: Optional[str | os.PathLike]) -> str:
    """sha256 of the model file named by ``spec`` (cached on path, mtime and size)."""
    from macefield_flows.model.registry import file_sha256

    return file_sha256(model_path(spec))


_MODEL_CACHE: dict[tuple, Any] = {}


def get_model(spec: Optional[str | os.PathLike], device: str = "auto", dtype: str = "float64",
              trust_pickle: bool = False, backend: Optional[str] = None) -> Any:
    """Load (once per process) the model named by ``spec`` on ``device`` in ``dtype`` and ``backend``."""
    from macefield_flows.engine import resolve_model

    path = model_path(spec).resolve()
    key = (str(path), model_sha256(path), device, dtype, trust_pickle, backend)
    if key not in _MODEL_CACHE:
        logger.info("loading model %s on %s (%s)", path, device, dtype)
        _MODEL_CACHE.clear()  # keep at most one model resident (GPU memory)
        _MODEL_CACHE[key] = resolve_model(str(path), device=device, dtype=dtype, trust_pickle=trust_pickle,
                                            backend=backend)
    return _MODEL_CACHE[key]


def model_device(model: Any) -> str:
    """Device string of a loaded torch model."""
    try:
        return str(next(model.parameters()).device)
    except (StopIteration, AttributeError):
        return "unknown"
