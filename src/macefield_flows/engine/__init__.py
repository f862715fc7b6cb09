"""Batched GPU/CPU engine: evaluation and relaxation of many structures at once."""

from macefield_flows.engine.evaluate import DEFAULT_PROPERTIES, StructureResult, evaluate
from macefield_flows.engine.inputs import resolve_device, resolve_model
from macefield_flows.engine.relax import RelaxResult, relax

__all__ = ["DEFAULT_PROPERTIES", "RelaxResult", "StructureResult", "evaluate", "relax",
           "resolve_device", "resolve_model"]
