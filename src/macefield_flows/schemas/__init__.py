"""Pydantic task documents (emmet-core / atomate2 names, units in every field)."""

from macefield_flows.schemas.task import (
    ElectricResponseBatchDoc,
    ElectricResponseTaskDoc,
    FieldSweepDoc,
    Provenance,
    RelaxBatchDoc,
    RelaxRecord,
    TaskStatus,
)

__all__ = ["ElectricResponseBatchDoc", "ElectricResponseTaskDoc", "FieldSweepDoc", "Provenance", "RelaxBatchDoc", "RelaxRecord", "TaskStatus"]
