"""Match a predicted structure to a reference structure: site mapping and rotation.

Born charges and dielectric tensors are compared in the Cartesian frame of the
REFERENCE structure. :func:`match_structures` finds, with pymatgen's
``StructureMatcher(primitive_cell=False)``, the integer supercell matrix ``S``
and the site mapping that bring the predicted cell onto the reference cell,
then the Cartesian rotation ``R`` (``x_ref = R x_pred``) from the mapped
lattices by orthogonal Procrustes (Kabsch). Tensors then follow
:mod:`macefield_flows.references.tensors`:
``Z_ref_frame[k] = R Z_pred[mapping[k]] R^T`` and ``eps = R eps_pred R^T``.

``R`` can be improper (det = -1) when the cells are related by a mirror; rank-2
polar tensors (Z*, eps) transform the same way either way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from macefield_flows.references.tensors import rotate_born, rotate_rank2

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCES = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5.0}
"""StructureMatcher tolerances (fractional length, site, degrees)."""


@dataclass(frozen=True)
class StructureMapping:
    """How a predicted structure maps onto a reference structure.

    Attributes
    ----------
    rotation
        R, shape (3, 3): Cartesian vectors of the prediction map to the reference
        frame as ``x_ref = R x_pred``.
    mapping
        shape (N_ref,): ``mapping[k]`` is the index of the predicted site that
        corresponds to reference site ``k``.
    supercell
        Integer matrix S, shape (3, 3), with ``S @ lattice_pred ~ lattice_ref`` (rows),
        up to the rotation.
    lattice_residual
        Relative Frobenius residual of the rotated, volume-scaled lattice.
    """

    rotation: np.ndarray
    mapping: np.ndarray
    supercell: np.ndarray
    lattice_residual: float

    @property
    def proper(self) -> bool:
        """True when det(R) = +1."""
        return bool(np.linalg.det(self.rotation) > 0)

    def born_to_reference(self, born_pred: np.ndarray) -> np.ndarray:
        """Predicted Z* (N, 3, 3), e, in the reference site order and frame."""
        return rotate_born(born_pred, self.rotation, self.mapping)

    def rank2_to_reference(self, t_pred: np.ndarray) -> np.ndarray:
        """A predicted 3x3 tensor in the reference frame."""
        return rotate_rank2(t_pred, self.rotation)


def kabsch_rotation(lat_from: np.ndarray, lat_to: np.ndarray) -> np.ndarray:
    """Orthogonal R minimising ``||lat_from @ R.T - lat_to||`` (row vectors), shape (3, 3)."""
    m = np.asarray(lat_from, dtype=float).T @ np.asarray(lat_to, dtype=float)
    u, _, vt = np.linalg.svd(m)
    return (u @ vt).T


def match_structures(
    predicted: Structure,
    reference: Structure,
    ltol: float = DEFAULT_TOLERANCES["ltol"],
    stol: float = DEFAULT_TOLERANCES["stol"],
    angle_tol: float = DEFAULT_TOLERANCES["angle_tol"],
) -> Optional[StructureMapping]:
    """Map ``predicted`` onto ``reference``; ``None`` when they do not match.

    The two cells must contain the same number of sites (a primitive prediction
    against a conventional reference returns ``None``; compare eigenvalues then).

    Parameters
    ----------
    predicted, reference
        pymatgen structures (Angstrom). ``predicted`` may be rotated, translated,
        permuted, and (within ``ltol``) strained relative to ``reference``.
    """
    if len(predicted) != len(reference):
        logger.debug("site counts differ (%d vs %d): no site mapping", len(predicted), len(reference))
        return None
    matcher = StructureMatcher(
        ltol=ltol, stol=stol, angle_tol=angle_tol, primitive_cell=False, scale=True,
        attempt_supercell=False,
    )
    if not matcher.fit(reference, predicted):
        return None
    result = matcher.get_transformation(reference, predicted)
    if result is None:
        return None
    supercell, _vector, mapping = result
    if any(m is None for m in mapping[: len(reference)]):
        return None
    lat_pred = np.asarray(supercell, dtype=float) @ predicted.lattice.matrix
    lat_ref = reference.lattice.matrix
    scale = (abs(np.linalg.det(lat_ref)) / abs(np.linalg.det(lat_pred))) ** (1.0 / 3.0)
    rot = kabsch_rotation(lat_pred * scale, lat_ref)
    resid = float(np.linalg.norm(lat_pred * scale @ rot.T - lat_ref) / np.linalg.norm(lat_ref))
    return StructureMapping(
        rotation=rot,
        mapping=np.asarray(mapping[: len(reference)], dtype=int),
        supercell=np.asarray(supercell, dtype=int),
        lattice_residual=resid,
    )


def random_rotation(seed: int = 0) -> np.ndarray:
    """A reproducible random proper rotation matrix, shape (3, 3) (for tests and demos)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


def rotate_and_permute(structure: Structure, rotation: np.ndarray, perm: np.ndarray) -> Structure:
    """New structure: Cartesian rotation ``x' = R x`` of lattice and sites, sites reordered.

    ``perm[k]`` is the original index of the new site ``k``.
    """
    rot = np.asarray(rotation, dtype=float)
    lattice = structure.lattice.matrix @ rot.T
    species = [structure[i].species for i in perm]
    frac = structure.frac_coords[np.asarray(perm)]
    return Structure(lattice, species, frac)


def space_group_numbers(structure: Structure, symprecs: tuple[float, ...] = (0.1, 0.01)) -> set[int]:
    """Space-group numbers of ``structure`` found with spglib at each tolerance (Angstrom).

    A relaxed or slightly noisy cell may be found in a subgroup at the tight
    tolerance and in its ideal group at the loose one; both are accepted.
    """
    out = set()
    for symprec in symprecs:
        try:
            out.add(int(structure.get_space_group_info(symprec=symprec)[1]))
        except Exception as exc:  # spglib fails on pathological cells: no number then
            logger.debug("no space group at symprec=%s: %s", symprec, exc)
    return out


def rms_distance(predicted: Structure, reference: Structure,
                 ltol: float = DEFAULT_TOLERANCES["ltol"], stol: float = DEFAULT_TOLERANCES["stol"],
                 angle_tol: float = DEFAULT_TOLERANCES["angle_tol"]) -> Optional[float]:
    """StructureMatcher RMS displacement (normalised by (V/N)^(1/3)), or None when they do not match.

    Cells may differ (primitive vs conventional): reduced to primitive cells first.
    """
    matcher = StructureMatcher(ltol=ltol, stol=stol, angle_tol=angle_tol, primitive_cell=True, scale=True)
    result = matcher.get_rms_dist(reference, predicted)
    return None if result is None else float(result[0])
