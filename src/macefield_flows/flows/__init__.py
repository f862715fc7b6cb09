"""jobflow flow makers (screening)."""

from macefield_flows.flows.screening import ScreeningMaker, build_screening_flow, fetch_materials_project

__all__ = ["ScreeningMaker", "build_screening_flow", "fetch_materials_project"]
