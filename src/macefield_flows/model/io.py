"""Model files: our safe format, and opt-in loading of pickled MACE / MACE-Field models.

Our format (suffix ``.pt`` by convention) is a ``torch.save`` of a plain dict::

    {"format": "macefield-flows-model", "format_version": 1,
     "config": <JSON config>, "state_dict": <tensors>, "metadata": <JSON dict>}

and is read with ``torch.load(weights_only=True)``: loading it executes no code.

Published MACE-Field checkpoints and plain MACE model files are whole pickled
modules. Unpickling runs arbitrary code, so they load only with
``trust_pickle=True``; their classes (``mace.modules.extensions.MACEField``,
``mace.modules.mace_field.MACEField``, ``mace.modules.models.ScaleShiftFieldMACE``,
``ScaleShiftMACE``) are mapped onto :class:`FieldMACE` through their state dicts;
files of older mace versions and refused designs are handled in
:mod:`macefield_flows.model.legacy`.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from mace.modules.models import ScaleShiftMACE

from macefield_flows.exceptions import ModelLoadError, UntrustedPickleError
from macefield_flows.model import legacy
from macefield_flows.model.config import (
    build_and_load,
    build_matching_basis,
    config_from_mace_model,
)
from macefield_flows.model.field_mace import FieldMACE
from macefield_flows.model.registry import resolve_model_path

logger = logging.getLogger(__name__)

FORMAT_NAME = "macefield-flows-model"
FORMAT_VERSION = 1
PUBLISHED_FIELD_CLASSES = set(legacy.FIELD_CLASSES)


@dataclass
class ModelInfo:
    """What a loaded model is: reported by every load, recorded in provenance."""

    name: str
    path: str
    sha256: str
    format: str  # "macefield" | "published-pickle" | "mace-pickle" | "in-memory"
    elements: list[str]
    heads: list[str]
    dtype: str
    r_max: float
    has_field_blocks: bool
    num_parameters: int
    metadata: dict[str, Any] = field(default_factory=dict)
    backend: str = "e3nn"  # "e3nn" | "cueq" (model/backends.py)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def describe_model(
    model: FieldMACE, name: str = "in-memory", path: str = "", sha256: str = "", fmt: str = "in-memory"
) -> ModelInfo:
    """Build the :class:`ModelInfo` of a model instance."""
    from ase.data import chemical_symbols

    param = next(model.parameters())
    return ModelInfo(
        name=name,
        path=path,
        sha256=sha256,
        format=fmt,
        elements=[chemical_symbols[int(z)] for z in model.atomic_numbers.tolist()],
        heads=list(getattr(model, "heads", ["Default"])),
        dtype=str(param.dtype).replace("torch.", ""),
        r_max=float(model.r_max),
        has_field_blocks=bool(model.has_field_blocks),
        num_parameters=sum(p.numel() for p in model.parameters()),
        backend=getattr(model, "backend", "e3nn"),
    )


def save_model(model: FieldMACE, path: str | Path, metadata: Optional[dict[str, Any]] = None) -> str:
    """Write ``model`` in our safe format; returns the file's sha256.

    ``metadata`` must be JSON-like (str, numbers, lists, dicts): it is stored
    verbatim and returned in ``ModelInfo.metadata``.
    """
    from macefield_flows.model.backends import convert_backend

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = config_from_mace_model(model)  # keeps the backend the model runs on
    weights = convert_backend(model, "e3nn")  # files hold the e3nn layout: load under any backend
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in weights.state_dict().items()},
        "metadata": dict(metadata or {}),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return file_sha256(path)


class _MappingUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        stand_in = legacy.stand_in_class(module, name)
        return stand_in if stand_in is not None else super().find_class(module, name)


class _mapping_pickle_module:  # noqa: N801 (a module-like namespace for torch.load)
    Unpickler = _MappingUnpickler
    load = staticmethod(lambda f, **kw: _MappingUnpickler(f, **kw).load())
    __name__ = "macefield_mapping_pickle"


def _resolve_dtype(dtype: str | torch.dtype | None) -> Optional[torch.dtype]:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float64": torch.float64, "float32": torch.float32, "double": torch.float64,
                "float": torch.float32}[dtype]
    except KeyError:
        raise ValueError(f"dtype={dtype!r}, expected 'float32' or 'float64'") from None


def _floating_dtype(state: dict[str, torch.Tensor]) -> torch.dtype:
    """dtype of the first floating-point tensor of a state dict (float64 if none)."""
    return next((v.dtype for v in state.values() if v.is_floating_point()), torch.float64)


def _from_pickled_module(obj: torch.nn.Module, path: Path) -> tuple[FieldMACE, str, dict[str, Any]]:
    obj, source = legacy.adapt_pickled_model(obj, path)
    published = legacy.is_published_field_class(obj)
    json_config = config_from_mace_model(obj)
    state = obj.state_dict()
    has_field = any(k.startswith("field_feats.") for k in state)
    json_config["field_coupling"] = has_field
    model = build_matching_basis(json_config, state, dtype=_floating_dtype(state))  # see config.py
    state = legacy.complete_state_dict(state, model, source)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelLoadError(
            f"{path}: state dict of {source.source_class} does not map onto FieldMACE "
            f"(missing={list(missing)[:5]}, unexpected={list(unexpected)[:5]})"
        )
    fmt = "published-pickle" if (published or has_field) else "mace-pickle"
    return model, fmt, source.as_metadata()


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    trust_pickle: bool = False,
    backend: Optional[str] = None,
) -> FieldMACE:
    """Load a model file as a :class:`FieldMACE` in eval mode; ``model.model_info`` describes it.

    Parameters
    ----------
    path : file in our format, or (with ``trust_pickle=True``) a pickled MACE/MACE-Field model;
        ``"default"`` or a registered name (:func:`~macefield_flows.model.registry.resolve_model_path`).
    device : torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : ``"float32"`` / ``"float64"``; default keeps the file's dtype.
    trust_pickle : allow unpickling (executes code from the file): only for files you trust.
    backend : ``"e3nn"`` or ``"cueq"`` (:mod:`~macefield_flows.model.backends`); default: the
        backend the file was saved with, e3nn when cuequivariance is not installed.

    Raises
    ------
    ModelLoadError
        missing or corrupt file, unknown format.
    UntrustedPickleError
        the file is a pickle and ``trust_pickle`` is False.
    """
    path = resolve_model_path(path)  # "default", registered names and paths: the one resolver
    torch_dtype = _resolve_dtype(dtype)
    sha = file_sha256(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        is_pickle = False
    except pickle.UnpicklingError as exc:
        # a real pickled module fails the safe load on its classes ("Unsupported global");
        # anything else (bad opcodes, truncated data) is a damaged or foreign file
        if "unsupported global" not in str(exc).lower():
            reason = str(exc).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
            raise ModelLoadError(f"{path}: corrupt or not a model file ({reason})") from exc
        payload, is_pickle = None, True
    except Exception as exc:  # torch raises RuntimeError/EOFError/zipfile errors on bad bytes
        raise ModelLoadError(f"{path}: corrupt or not a model file ({type(exc).__name__}: {exc})") from exc

    if is_pickle:
        if not trust_pickle:
            raise UntrustedPickleError(
                f"{path} is a pickled Python object (e.g. a published MACE-Field or MACE model); "
                "loading it executes code from the file. Pass trust_pickle=True (CLI: "
                "--trust-pickle) only if you trust its origin, or convert it once with "
                "`macefield convert`."
            )
        logger.warning("unpickling trusted model file %s (sha256 %s)", path, sha)
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False,
                             pickle_module=_mapping_pickle_module)
        except Exception as exc:
            raise ModelLoadError(f"{path}: could not unpickle model ({type(exc).__name__}: {exc})") from exc
        if isinstance(obj, dict) and "model" in obj:
            obj = obj["model"]
        if not isinstance(obj, torch.nn.Module):
            raise ModelLoadError(f"{path}: pickle holds {type(obj).__name__}, not a model")
        model, fmt, metadata = _from_pickled_module(obj, path)
    else:
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
            raise ModelLoadError(
                f"{path}: not a macefield-flows model file (no '{FORMAT_NAME}' header)"
            )
        if int(payload.get("format_version", 0)) > FORMAT_VERSION:
            raise ModelLoadError(
                f"{path}: format version {payload['format_version']} is newer than supported "
                f"({FORMAT_VERSION}); upgrade macefield-flows"
            )
        state = payload["state_dict"]
        file_dtype = _floating_dtype(state)
        try:
            model = build_and_load(dict(payload["config"], backend="e3nn"), state,
                                   dtype=torch_dtype or file_dtype)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ModelLoadError(f"{path}: config and weights do not match ({exc})") from exc
        fmt, metadata = "macefield", dict(payload.get("metadata", {}))
    if torch_dtype is not None:
        model = model.to(torch_dtype)
    model = _on_backend(model, backend, payload["config"].get("backend") if not is_pickle else None,
                        device, path)
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    info = describe_model(model, name=path.stem, path=str(path), sha256=sha, fmt=fmt)
    info.metadata = metadata
    model.model_info = info
    logger.info("loaded model %s (%s, sha256 %s, elements %s, heads %s, %s)", info.name,
                fmt, sha[:12], info.elements, info.heads, info.dtype)
    return model


def _on_backend(model: FieldMACE, requested: Optional[str], saved: Optional[str],
                device: Any, path: Path) -> FieldMACE:
    """``model`` on the requested backend, else on the one it was saved with (if installed)."""
    from macefield_flows.model.backends import cueq_available, convert_backend, normalize_backend

    target = normalize_backend(requested)
    if target is None:
        target = normalize_backend(saved) or model_backend_name(model)
        if target == "cueq" and not cueq_available()[0]:
            logger.warning("%s was saved for the cueq backend, which is not installed: using e3nn", path)
            target = "e3nn"
    return convert_backend(model, target, device=device)


def model_backend_name(model: FieldMACE) -> str:
    return getattr(model, "backend", "e3nn")


def convert_model(
    source: str | Path, destination: str | Path, trust_pickle: bool = False,
    add_field_blocks: bool = False, seed: int = 0,
) -> ModelInfo:
    """Convert a (pickled) MACE / MACE-Field model file to our safe format.

    Parameters
    ----------
    source : model file; a pickle needs ``trust_pickle=True``.
    destination : output path of the safe-format file.
    add_field_blocks : for a plain MACE model, add seeded random field blocks
        (:meth:`FieldMACE.from_foundation`) so it can be fine-tuned on response data.

    Returns the :class:`ModelInfo` of the written file.
    """
    model = load_model(source, trust_pickle=trust_pickle)
    source_info = model.model_info
    if add_field_blocks and not model.has_field_blocks:
        model = FieldMACE.from_foundation(model, seed=seed)
    save_model(model, destination, metadata={
        "converted_from": source_info.name, "source_sha256": source_info.sha256,
        "source_format": source_info.format, **source_info.metadata,
    })
    return load_model(destination).model_info
