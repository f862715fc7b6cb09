"""Pydantic task documents (emmet-core / atomate2 names, units in every field)."""

from macefield_flows.schemas.task import (
    ElectricResponseTaskDoc,
    Provenance,
    TaskStatus,
)

__all__ = ["ElectricResponseTaskDoc", "Provenance", "TaskStatus"]
