"""Is an input a crystal that can be screened? Plain-words reasons, no exceptions.

:func:`structure_problem` inspects a pymatgen ``Structure`` (or anything read
from a file) and returns ``None`` when it can be screened, else one sentence
that names the problem in plain words: no sites, non-finite or singular
lattice, non-finite positions, disordered (partial occupancy), not periodic,
unknown element, overlapping atoms. The checks are cheap (one neighbour search
within ``min_distance``) and run before any model is evaluated, so a bad input
becomes a failed document naming the input instead of stopping a screening.

Distances in Angstrom.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

#: Shortest interatomic distance (Angstrom) below which two atoms overlap.
#: The shortest bond in any crystal (O-H) is about 0.95 A; 0.5 A is unphysical.
MIN_DISTANCE_A = 0.5

#: Smallest cell volume per atom (Angstrom^3) of a non-singular cell.
MIN_VOLUME_PER_ATOM_A3 = 0.5


def structure_problem(
    structure: Any,
    elements: Optional[Sequence[str]] = None,
    min_distance: float = MIN_DISTANCE_A,
) -> Optional[str]:
    """Why ``structure`` cannot be screened, or None when it can.

    Parameters
    ----------
    structure : pymatgen Structure (a Molecule or other object is "not periodic").
    elements : element symbols the model knows (None: not checked).
    min_distance : shortest allowed interatomic distance, Angstrom.

    Returns
    -------
    None, or one sentence in plain words with the numbers (Angstrom, A^3).
    """
    from pymatgen.core import Structure

    if not isinstance(structure, Structure):
        return (f"not periodic ({type(structure).__name__} without a lattice): screening needs a crystal; "
                "use MACEFieldCalculator for the dipole of a molecule")
    if len(structure) == 0:
        return "no sites: the structure has no atoms"
    matrix = np.asarray(structure.lattice.matrix, dtype=float)
    if not np.all(np.isfinite(matrix)):
        return "lattice is not finite (NaN or inf lattice parameters)"
    volume = abs(float(np.linalg.det(matrix)))
    if volume / len(structure) < MIN_VOLUME_PER_ATOM_A3:
        return (f"singular lattice: cell volume {volume:.3g} A^3 for {len(structure)} atoms "
                f"(< {MIN_VOLUME_PER_ATOM_A3} A^3 per atom)")
    frac = np.asarray(structure.frac_coords, dtype=float)
    if not np.all(np.isfinite(frac)):
        return "positions are not finite (NaN or inf coordinates)"
    if not structure.is_ordered:
        for i, site in enumerate(structure):
            if not site.is_ordered:
                return (f"disordered: partial occupancy on site {i} ({site.species.formula}); order it "
                        "first (e.g. pymatgen OrderDisorderedStructureTransformation)")
    symbols = []
    for i, site in enumerate(structure):
        sp = site.specie
        symbol = getattr(sp, "symbol", str(sp))
        if type(sp).__name__ == "DummySpecies" or not _is_element(symbol):
            return f"unknown element {symbol!r} on site {i}"
        symbols.append(symbol)
    if elements is not None:
        missing = sorted(set(symbols) - set(elements))
        if missing:
            return f"unknown element(s) {missing} for this model (it knows {len(elements)} elements)"
    if len(structure) > 1 or structure.lattice.abc and min(structure.lattice.abc) < min_distance:
        dmin = shortest_distance(structure, min_distance)
        if dmin is not None and dmin < min_distance:
            return f"overlapping atoms: shortest interatomic distance {dmin:.3g} A (< {min_distance} A)"
    return None


def _is_element(symbol: str) -> bool:
    from pymatgen.core import Element

    try:
        Element(symbol)
    except ValueError:
        return False
    return True


def shortest_distance(structure: Any, r_max: float) -> Optional[float]:
    """Shortest distance between two atoms (periodic images included) within ``r_max``, Angstrom.

    None when no pair lies within ``r_max``.
    """
    _, _, _, dist = structure.get_neighbor_list(r=float(r_max), exclude_self=True)
    dist = np.asarray(dist, dtype=float)
    return float(dist.min()) if dist.size else None
