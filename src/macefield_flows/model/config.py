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
        if key in ("cueq_config", "oeq_config"):
            continue  # backend choice is a runtime option, not part of the model
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


def build_field_mace(json_config: dict[str, Any], dtype: torch.dtype = torch.float64):
    """Build a :class:`FieldMACE` from a JSON config, in ``dtype``, on the CPU.

    e3nn's generated modules are built as ``torch.fx`` graphs whose concatenations
    get a split-based backward (:mod:`macefield_flows.model.fast_double_backward`):
    same values, cheaper second derivatives.
    """
    from macefield_flows.model.fast_double_backward import fx_codegen, patch_cat_backward
    from macefield_flows.model.field_mace import FieldMACE

    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype)
        kwargs = from_json_config(json_config)
        field_coupling = kwargs.pop("field_coupling", True)
        with fx_codegen():
            model = FieldMACE(field_coupling=field_coupling, **kwargs)
    finally:
        torch.set_default_dtype(previous)
    patch_cat_backward(model)
    model.json_config = dict(json_config, field_coupling=field_coupling)
    return model.to(dtype)
