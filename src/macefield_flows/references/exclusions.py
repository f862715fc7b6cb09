"""Reference values kept for provenance but never used in metrics, with the reason.

A value is faithful to its source yet unusable as a DFPT reference when the
source's own physics makes it meaningless (e.g. a semiconductor that is nearly
metallic at the functional's lattice). Such values stay in the data; the
comparison marks them ``reliable: false`` with the reason below and counts them.
"""

from __future__ import annotations

GAAS_PBESOL_EPS_INF = (
    "Petretto et al. (ABINIT DFPT, PBEsol) give eps_inf = 35.1 for zinc-blende GaAs, faithful to the source but "
    "not a usable reference: at the PBEsol lattice GaAs is nearly metallic (DFT gap close to zero), so eps_inf "
    "diverges (experiment about 11, typical LDA/PBE DFPT 12-15). Kept for provenance, left out of every metric.")

UNUSABLE: dict[tuple[str, str], dict[str, str]] = {
    ("petretto2018_dfpt_becs_epsinf", "row1010"): {"eps_electronic": GAAS_PBESOL_EPS_INF},
}
"""(dataset, source_id) -> {property: reason}."""


def unusable_values(dataset: str, source_id: str) -> dict[str, str]:
    """Properties of one reference row that must not enter metrics, with the reason (empty: none)."""
    return dict(UNUSABLE.get((dataset, str(source_id)), {}))
