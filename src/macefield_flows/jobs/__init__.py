"""jobflow Makers: thin, serialisable, one plain run function each."""

from macefield_flows.jobs.field import FieldSweepMaker, triangle_sweep
from macefield_flows.jobs.relax import RelaxMaker
from macefield_flows.jobs.response import (
    BaseResponseMaker,
    DielectricMaker,
    ElectricResponseMaker,
    PiezoelectricMaker,
    StaticMaker,
)

__all__ = [
    "BaseResponseMaker",
    "DielectricMaker",
    "ElectricResponseMaker",
    "FieldSweepMaker",
    "PiezoelectricMaker",
    "RelaxMaker",
    "StaticMaker",
    "triangle_sweep",
]
