"""Model specs of the Makers: resolve to a file and sha256 without torch, load once per process."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Optional

from macefield_flows.exceptions import ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ENV = "MACEFIELD_DEFAULT_MODEL"
"""Environment variable naming the model file used for ``model="default"``."""


def default_model_path() -> Path:
    """The shipped default model: ``$MACEFIELD_DEFAULT_MODEL`` or ``<data>/models/*.pt``.

    Raises
    ------
    ModelLoadError
        when no default model is shipped or configured.
    """
    env = os.environ.get(DEFAULT_MODEL_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"{DEFAULT_MODEL_ENV}={env!r} is not a file")
        return path
    from macefield_flows.references.paths import resolve_data_dir

    folder = resolve_data_dir() / "models"
    candidates = sorted(folder.glob("*.pt")) + sorted(folder.glob("*.model"))
    if not candidates:
        raise ModelLoadError(
            f"no default model found in {folder} (and {DEFAULT_MODEL_ENV} is unset): "
            "pass a model file with --model PATH"
        )
    return candidates[0]


def model_path(spec: Optional[str | os.PathLike]) -> Path:
    """File of a Maker's ``model`` field (a path, or ``None`` / ``"default"``)."""
    if spec is None or str(spec) == "default":
        return default_model_path()
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    return path


@functools.lru_cache(maxsize=64)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_sha256(spec: Optional[str | os.PathLike]) -> str:
    """sha256 of the model file named by ``spec`` (cached on path, mtime and size)."""
    path = model_path(spec).resolve()
    st = path.stat()
    return _sha256_cached(str(path), st.st_mtime_ns, st.st_size)


_MODEL_CACHE: dict[tuple, Any] = {}


def get_model(spec: Optional[str | os.PathLike], device: str = "auto", dtype: str = "float64",
              trust_pickle: bool = False) -> Any:
    """Load (once per process) the model named by ``spec`` on ``device`` in ``dtype``."""
    from macefield_flows.engine import resolve_model

    path = model_path(spec).resolve()
    key = (str(path), model_sha256(path), device, dtype, trust_pickle)
    if key not in _MODEL_CACHE:
        logger.info("loading model %s on %s (%s)", path, device, dtype)
        _MODEL_CACHE.clear()  # keep at most one model resident (GPU memory)
        _MODEL_CACHE[key] = resolve_model(str(path), device=device, dtype=dtype, trust_pickle=trust_pickle)
    return _MODEL_CACHE[key]


def model_device(model: Any) -> str:
    """Device string of a loaded torch model."""
    try:
        return str(next(model.parameters()).device)
    except (StopIteration, AttributeError):
        return "unknown"
