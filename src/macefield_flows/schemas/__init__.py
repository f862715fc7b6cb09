"""Pydantic task documents (emmet-core / atomate2 names, units in every field)."""

from macefield_flows.schemas.quality import Quality, QualityFlag, property_reliable
from macefield_flows.schemas.task import (
    ElectricResponseBatchDoc,
    ElectricResponseTaskDoc,
    FieldSweepDoc,
    Provenance,
    RelaxBatchDoc,
    RelaxRecord,
    TaskStatus,
)

__all__ = ["Quality", "QualityFlag", "property_reliable", "ElectricResponseBatchDoc", "ElectricResponseTaskDoc", "FieldSweepDoc", "Provenance", "RelaxBatchDoc", "RelaxRecord", "TaskStatus"]
