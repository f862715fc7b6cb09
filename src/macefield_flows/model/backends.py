"""Equivariant-kernel backends: e3nn (reference) and NVIDIA cuEquivariance ("cueq").

A FieldMACE runs on one backend. ``"e3nn"`` is the reference (pure PyTorch,
every device). ``"cueq"`` builds the same model with mace-torch's
``CuEquivarianceConfig`` (``wrapper_ops`` then creates cuequivariance-torch
modules for the linear maps, tensor products, symmetric contractions *and our
field blocks*) and moves the weights with mace-torch's own converters
(``mace.cli.convert_e3nn_cueq`` / ``convert_cueq_e3nn``). It needs the
optional packages ``cuequivariance`` and ``cuequivariance-torch`` (extra
``gpu``); their pure-PyTorch path also runs on a CPU, the fused kernels need
CUDA (``cuequivariance-ops-torch-cu12``).

Model files always hold the e3nn layout of the weights plus the backend the
model was saved with (``config["backend"]``): a file saved under one backend
loads under the other, and without cuequivariance installed.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import torch

from macefield_flows.exceptions import MacefieldError

logger = logging.getLogger(__name__)

BACKENDS = ("e3nn", "cueq")
_ALIASES = {"e3nn": "e3nn", "cueq": "cueq", "cuequivariance": "cueq", "cuet": "cueq"}
INSTALL_HINT = ("cuEquivariance is not installed: pip install 'macefield-flows[gpu]' "
                "(cuequivariance, cuequivariance-torch; cuequivariance-ops-torch-cu12 for CUDA kernels)")


class BackendError(MacefieldError):
    """Unknown backend, or a backend whose packages are not installed."""


def normalize_backend(backend: Optional[str]) -> Optional[str]:
    """``"e3nn"`` / ``"cueq"`` (aliases: ``"cuequivariance"``), or None unchanged."""
    if backend is None:
        return None
    key = str(backend).strip().lower()
    if key not in _ALIASES:
        raise BackendError(f"backend={backend!r}, expected one of {list(BACKENDS)}")
    return _ALIASES[key]


def cueq_available() -> tuple[bool, str]:
    """(True, version) when cuequivariance-torch imports and mace sees it, else (False, reason)."""
    try:
        import cuequivariance  # noqa: F401
        import cuequivariance_torch  # noqa: F401
    except Exception as exc:  # noqa: BLE001 (any import failure means: not usable)
        return False, f"{type(exc).__name__}: {exc}"
    from mace.modules import wrapper_ops

    if getattr(wrapper_ops, "cue", None) is None:
        return False, "mace-torch did not pick up cuequivariance (import it before mace?)"
    return True, getattr(cuequivariance_torch, "__version__", "?")


def model_backend(model: Any) -> str:
    """Backend a FieldMACE instance was built with."""
    return getattr(model, "backend", "e3nn")


def cueq_config(device: str | torch.device = "cpu") -> Any:
    """mace's ``CuEquivarianceConfig`` as mace's own calculator uses it (layout ir_mul, O3_e3nn)."""
    ok, why = cueq_available()
    if not ok:
        raise BackendError(f"{INSTALL_HINT} ({why})")
    from mace.modules.wrapper_ops import CuEquivarianceConfig

    return CuEquivarianceConfig(enabled=True, layout="ir_mul", group="O3_e3nn", optimize_all=True,
                                conv_fusion=torch.device(device).type == "cuda")


def _transfer(source: torch.nn.Module, target: torch.nn.Module, to_cueq: bool) -> None:
    if to_cueq:
        from mace.cli.convert_e3nn_cueq import transfer_weights
    else:
        from mace.cli.convert_cueq_e3nn import transfer_weights
    hidden = source.json_config["hidden_irreps"]
    from macefield_flows.model._compat import o3

    transfer_weights(
        source, target,
        num_product_irreps=len(o3.Irreps(hidden).slices()) - 1,
        correlation=_max_correlation(source.json_config["correlation"]),
        num_layers=int(source.json_config["num_interactions"]),
        use_reduced_cg=bool(getattr(source, "use_reduced_cg", True)),
        keep_last_layer_irreps=bool(getattr(source, "keep_last_layer_irreps", False)),
    )


def _max_correlation(correlation: Any) -> int:
    return int(max(correlation)) if isinstance(correlation, (list, tuple)) else int(correlation)


def convert_backend(model: Any, backend: str, device: Optional[str | torch.device] = None) -> Any:
    """A copy of ``model`` on ``backend`` (the same model if it already is), same dtype and device.

    Weights are moved with mace-torch's converters; the field blocks (``field_feats``,
    ``field_linear``) are plain linear / fully connected tensor products whose
    weights keep their order and only change shape. ``model_info`` is carried over.

    Raises
    ------
    BackendError
        unknown backend, or cuequivariance missing for ``"cueq"``.
    """
    from macefield_flows.model.config import build_field_mace

    target_backend = normalize_backend(backend)
    if model_backend(model) == target_backend:
        return model
    param = next(model.parameters())
    device = torch.device(device) if device is not None else param.device
    config = dict(model.json_config, backend=target_backend)
    target = build_field_mace(config, dtype=param.dtype, device=device)
    source = model.to("cpu") if param.device.type != "cpu" else model
    target = target.to("cpu")
    _transfer(source, target, to_cueq=target_backend == "cueq")
    if source is not model:
        model.to(param.device)
    target = target.to(device)
    target.train(model.training)
    trainable = any(p.requires_grad for p in model.parameters())
    for p in target.parameters():
        p.requires_grad_(trainable)
    info = getattr(model, "model_info", None)
    if info is not None:
        import copy

        target.model_info = copy.copy(info)
        target.model_info.backend = target_backend
    logger.info("converted model to backend %s", target_backend)
    return target
