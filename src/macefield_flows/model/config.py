"""JSON-serialisable model configuration: extraction from MACE models and rebuilding.

``mace.tools.scripts_utils.extract_config_mace_model`` accepts only three class
names and returns Python objects (classes, functions, irreps); this module
turns such a config into plain JSON types and back, so that our model files
load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from mace import modules as mace_modules
from mace.tools.scripts_utils import extract_config_mace_model

from macefield_flows.model._compat import o3

_GATES = {"silu": torch.nn.functional.silu, "tanh": torch.tanh, "abs": torch.abs, None: None}
_IRREPS_KEYS = ("hidden_irreps", "MLP_irreps", "edge_irreps")
_CLASS_KEYS = {
    "interaction_cls": mace_modules.interaction_classes,
    "interaction_cls_first": mace_modules.interaction_classes,
    "readout_cls": mace_modules.readout_classes,
}


def _gate_name(gate: Any) -> str | None:
    if gate is None:
        return None
    for name, fn in _GATES.items():
        if fn is gate:
            return name
    name = getattr(gate, "__name__", str(gate))
    if name in _GATES:
        return name
    raise ValueError(f"unsupported gate nonlinearity {gate!r}; known: {sorted(k for k in _GATES if k)}")


def to_json_config(config: dict[str, Any]) -> dict[str, Any]:
    """Python-object config (as mace extracts it) -> plain JSON types."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key == "cueq_config":
            if value is not None and getattr(value, "enabled", False):
                out["backend"] = "cueq"  # kept: the weights of such a model are in cueq layout
            continue
        if key == "oeq_config":
            continue
        if key in _CLASS_KEYS:
            out[key] = value.__name__ if value is not None else None
        elif key == "gate":
            out[key] = _gate_name(value)
        elif key in _IRREPS_KEYS:
            out[key] = str(o3.Irreps(str(value))) if value is not None else None
        elif isinstance(value, (np.ndarray, torch.Tensor)):
            out[key] = np.asarray(value.cpu() if isinstance(value, torch.Tensor) else value).tolist()
        elif isinstance(value, (np.floating, np.integer)):
            out[key] = value.item()
        elif isinstance(value, (list, tuple)):
            out[key] = [v.item() if isinstance(v, (np.generic,)) else v for v in value]
        else:
            out[key] = value
    return out


def from_json_config(config: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON config -> keyword arguments of :class:`FieldMACE`."""
    kwargs = dict(config)
    for key, table in _CLASS_KEYS.items():
        if kwargs.get(key) is not None:
            if kwargs[key] not in table:
                raise ValueError(f"unknown {key} {kwargs[key]!r}; known: {sorted(table)}")
            kwargs[key] = table[kwargs[key]]
    kwargs["gate"] = _GATES[kwargs.get("gate")]
    for key in _IRREPS_KEYS:
        if kwargs.get(key) is not None:
            kwargs[key] = o3.Irreps(kwargs[key])
    kwargs["atomic_energies"] = np.asarray(kwargs["atomic_energies"], dtype=float)
    for key in ("atomic_inter_scale", "atomic_inter_shift"):
        value = np.asarray(kwargs[key], dtype=float)
        kwargs[key] = value.tolist() if value.ndim else float(value)
    kwargs.pop("embedding_specs", None) if kwargs.get("embedding_specs") is None else None
    kwargs.pop("backend", None)  # a runtime choice (model/backends.py), not a constructor argument
    return kwargs


def config_from_mace_model(model: torch.nn.Module) -> dict[str, Any]:
    """JSON config of a ``ScaleShiftMACE`` (or of a FieldMACE) instance."""
    stored = getattr(model, "json_config", None)
    if stored is not None:
        return dict(stored)
    if model.__class__.__name__ != "ScaleShiftMACE" and not isinstance(
        model, mace_modules.ScaleShiftMACE
    ):
        raise ValueError(f"expected a ScaleShiftMACE model, got {type(model).__name__}")
    # extract_config_mace_model checks the class name: present the instance as the base class
    cls = model.__class__
    try:
        model.__class__ = mace_modules.ScaleShiftMACE
        config = extract_config_mace_model(model)
    finally:
        model.__class__ = cls
    if "error" in config:
        raise ValueError(config["error"])
    json_config = to_json_config(config)
    json_config["field_coupling"] = bool(len(getattr(model, "field_feats", [])) > 0)
    return json_config


def build_field_mace(json_config: dict[str, Any], dtype: torch.dtype = torch.float64,
                     device: Any = "cpu"):
    """Build a :class:`FieldMACE` from a JSON config, in ``dtype``, on the CPU.

    ``json_config["backend"]`` (``"e3nn"`` when absent, or ``"cueq"``) selects the
    equivariant kernels (:mod:`macefield_flows.model.backends`); ``device`` only tells
    the cueq backend whether CUDA-only fusions apply.

    e3nn's generated modules are built as ``torch.fx`` graphs whose concatenations
    get a split-based backward (:mod:`macefield_flows.model.fast_double_backward`):
    same values, cheaper second derivatives.
    """
    from macefield_flows.model.backends import cueq_config, normalize_backend
    from macefield_flows.model.fast_double_backward import fx_codegen, patch_cat_backward
    from macefield_flows.model.field_mace import FieldMACE

    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype)
        kwargs = from_json_config(json_config)
        field_coupling = kwargs.pop("field_coupling", True)
        # mace's use_reduced_cg=True (its default) means "cuequivariance's reduced basis if
        # cuequivariance is importable, else e3nn's full basis": record the basis really built
        kwargs["use_reduced_cg"] = effective_reduced_cg(kwargs.get("use_reduced_cg", True))
        backend = normalize_backend(json_config.get("backend")) or "e3nn"
        if backend == "cueq":
            kwargs["cueq_config"] = cueq_config(device)
        with fx_codegen():
            model = FieldMACE(field_coupling=field_coupling, **kwargs)
    finally:
        torch.set_default_dtype(previous)
    patch_cat_backward(model)
    model.json_config = dict(json_config, field_coupling=field_coupling, backend=backend,
                             use_reduced_cg=kwargs["use_reduced_cg"])
    model.backend = backend
    return model.to(dtype)


def effective_reduced_cg(requested: Any = True) -> bool:
    """Whether mace builds its symmetric contractions in the reduced (cuequivariance) basis.

    mace-torch 0.3.16 uses the reduced basis only when asked *and* cuequivariance is
    importable; otherwise the e3nn basis (more weights per channel). A file written in
    one environment therefore records the basis it really has.
    """
    from mace.tools import cg

    return bool(requested if requested is not None else True) and bool(getattr(cg, "CUET_AVAILABLE", False))


def build_and_load(json_config: dict[str, Any], state: dict[str, torch.Tensor],
                   dtype: torch.dtype = torch.float64) -> Any:
    """:func:`build_field_mace` + strict ``load_state_dict``.

    For files whose config does not say which symmetric-contraction basis the weights
    are in (written before we recorded it): when the reduced basis does not fit the
    weights, the e3nn basis is tried. In float64, Clebsch-Gordan buffers stored with
    float32 rounding are made exact (:func:`exact_cg_buffers`).

    Raises the ``RuntimeError`` of ``load_state_dict`` when the weights do not fit.
    """
    model = build_matching_basis(json_config, state, dtype=dtype)
    exact = _cg_buffers(model)
    model.load_state_dict(state, strict=True)
    if dtype == torch.float64:
        exact_cg_buffers(model, exact)
    return model


CG_BUFFERS = ("U_matrix", "._w3j_")
"""Name parts of the Clebsch-Gordan constant buffers (symmetric contractions, e3nn tensor products)."""


def build_matching_basis(json_config: dict[str, Any], state: dict[str, torch.Tensor],
                         dtype: torch.dtype = torch.float64) -> Any:
    """:func:`build_field_mace` in the symmetric-contraction basis the weights of ``state`` are in.

    mace's ``use_reduced_cg=True`` gives cuequivariance's reduced basis where cuequivariance
    is importable and e3nn's elsewhere, so a file or pickle written in one environment
    may record ``True`` and hold e3nn-basis weights: when the shapes of the
    ``symmetric_contractions`` tensors do not fit, the e3nn basis is built instead.
    """
    model = build_field_mace(json_config, dtype=dtype)
    if not model.json_config["use_reduced_cg"]:
        return model
    target = model.state_dict()
    if all(v.shape == target[k].shape for k, v in state.items()
           if "symmetric_contractions" in k and k in target):
        return model
    return build_field_mace(dict(json_config, use_reduced_cg=False), dtype=dtype)


def _cg_buffers(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_buffers() if any(p in k for p in CG_BUFFERS)}


def exact_cg_buffers(model: Any, exact: dict[str, torch.Tensor]) -> list[str]:
    """Put the exact Clebsch-Gordan buffers (``exact``, as built in the model's dtype) back
    where the loaded ones are the same constants rounded to float32.

    The ``U_matrix_*`` buffers of mace's symmetric contractions and the ``_w3j_*`` buffers
    of e3nn's tensor products are constants of the irreps, computed in the default dtype
    when a model is built; a model built under float32 and saved in float64 carries them
    with float32 rounding (up to 6e-8 in the shipped model), so a "float64" evaluation
    used float32 coupling coefficients (and cuEquivariance, which computes its own,
    disagreed with e3nn at 1e-8). Buffers
    equal to the exact ones within float32 rounding (relative 1e-6) are replaced; any
    other difference (another basis convention) is left as loaded.
    Returns the names of the replaced buffers.
    """
    replaced = []
    with torch.no_grad():
        for name, value in exact.items():
            loaded = model.get_buffer(name)
            if loaded.shape != value.shape or not value.numel():
                continue
            diff = float((loaded - value).abs().max())
            if 0.0 < diff <= 1e-6 * max(1.0, float(value.abs().max())):
                loaded.copy_(value)
                replaced.append(name)
    return replaced
