"""The tool's own judgement of a prediction: machine-readable flags and ``reliable``.

Every :class:`~macefield_flows.schemas.task.ElectricResponseTaskDoc` carries a
:class:`Quality` section. A :class:`QualityFlag` names one problem, the number that
raised it, the threshold it crossed and the properties it makes unreliable. A
property is reliable when no flag affects it; the document is ``reliable`` when no
flag affects any of its properties. Flags are data, not prose: users filter on
``quality.reliable`` and ``quality.flags.name``.

Property names used in ``affects`` are the document's field names (``born``,
``epsilon_static``, ``epsilon_ionic``, ``piezo_tensor``, ...) or the group name
``"all"`` (absurd geometry: nothing computed on it can be trusted).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from pydantic import BaseModel, Field

#: Group name meaning "every property of the document".
ALL = "all"


class QualityFlag(BaseModel):
    """One problem found in a prediction, with the number that raised it."""

    name: str = Field(description="Machine-readable flag name, e.g. 'imaginary_modes'.")
    message: str = Field(description="One sentence in plain words, with the numbers.")
    value: Optional[float] = Field(None, description="The measured number (units in `unit`).")
    threshold: Optional[float] = Field(None, description="The threshold it crossed (same units).")
    unit: Optional[str] = Field(None, description="Unit of `value` and `threshold`, e.g. 'eV/Angstrom'.")
    affects: list[str] = Field(
        default_factory=lambda: [ALL],
        description="Document fields this flag makes unreliable; ['all'] for every property.",
    )


class Quality(BaseModel):
    """Quality assessment of one prediction."""

    reliable: bool = Field(True, description="True when no flag affects any computed property.")
    flags: list[QualityFlag] = Field(default_factory=list, description="Every problem found.")
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="The thresholds in force when the flags were computed."
    )

    def unreliable_properties(self) -> set[str]:
        """Names of the fields some flag affects (``'all'`` when one affects everything)."""
        return {name for flag in self.flags for name in flag.affects}

    def is_reliable(self, prop: str) -> bool:
        """Whether no flag affects field `prop` (and none affects everything)."""
        return property_reliable({"quality": self.model_dump()}, prop)


def _as_mapping(doc: Any) -> Mapping[str, Any]:
    if isinstance(doc, Mapping):
        return doc
    if hasattr(doc, "model_dump"):
        return doc.model_dump()
    raise TypeError(f"expected a task document or its dict, got {type(doc).__name__}")


def property_reliable(doc: Any, prop: str) -> bool:
    """Whether property `prop` of a task document (object or stored dict) is reliable.

    A failed document is never reliable. A document without a ``quality`` section
    (written before quality assessment existed) is treated as reliable for lack of
    judgement, as it was stored.
    """
    data = _as_mapping(doc)
    status = data.get("status", "successful")
    if getattr(status, "value", status) != "successful":
        return False
    quality = data.get("quality")
    if not quality:
        return True
    affected = {name for flag in quality.get("flags", []) for name in flag.get("affects", [ALL])}
    return ALL not in affected and prop not in affected
