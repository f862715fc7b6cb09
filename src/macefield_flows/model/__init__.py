"""The field-aware MACE model, its graphs, derivative kernels and file I/O."""

from macefield_flows.model.field_mace import FieldMACE
from macefield_flows.model.io import ModelInfo, load_model, save_model

__all__ = ["FieldMACE", "ModelInfo", "load_model", "save_model"]
