"""The field-aware MACE model, its graphs, derivative kernels and file I/O."""

# first: imports mace and e3nn in the order they need, then restores torch's safe load default
from macefield_flows.model import _compat  # noqa: F401  isort: skip
from macefield_flows.model.field_mace import FieldMACE
from macefield_flows.model.io import ModelInfo, load_model, save_model

__all__ = ["FieldMACE", "ModelInfo", "load_model", "save_model"]
