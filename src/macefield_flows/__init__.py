"""macefield-flows: high-throughput Born charges, dielectric and piezoelectric tensors
from field-aware MACE (MACE-Field) models, as jobflow workflows.

Importing the package is cheap: torch, mace and jobflow are imported only by the
sub-packages that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
