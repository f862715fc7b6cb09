"""Crystal symmetry operations and symmetrisation of response tensors.

The space-group operations of a structure are found with spglib and expressed
as Cartesian rotations ``R`` (3, 3) acting on column vectors
(``x'_cart = R @ x_cart``) together with the site permutation ``perm`` of each
operation (atom ``k`` is mapped onto atom ``perm[k]``).

Conventions
-----------
* ``lattice`` (3, 3): rows are the lattice vectors a, b, c in Angstrom
  (pymatgen / ASE convention), so ``x_cart = frac @ lattice``.
* With ``L = lattice.T`` (columns = lattice vectors) and the integer spglib
  rotation ``W`` acting on fractional column vectors, ``R = L W L^-1``.
* Tensors transform as proper polar tensors under every operation (improper
  ones included): ``t'[i, j] = R[i, a] R[j, b] t[a, b]``, etc.  Hence a
  rank-3 (piezoelectric-like) tensor vanishes in centrosymmetric crystals.
* The symmetry *violation* is the relative Frobenius deviation
  ``||t - t_sym|| / ||t||`` of the input from its symmetrised version
  (0 for a zero tensor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import spglib

from macefield_flows.exceptions import InvalidStructureError

__all__ = [
    "SymmetryOperations",
    "get_symmetry_operations",
    "relative_violation",
    "rotate_tensor",
    "symmetrize_tensor",
    "symmetrize_rank2",
    "symmetrize_rank3",
    "symmetrize_rank4",
    "symmetrize_per_atom_rank2",
    "structure_to_arrays",
]


@dataclass(frozen=True)
class SymmetryOperations:
    """Space-group operations of a structure in Cartesian form.

    Attributes
    ----------
    rotations : ndarray, shape (n_ops, 3, 3)
        Cartesian rotation matrices of all space-group operations (with
        repetitions for operations differing only by a translation).
    permutations : ndarray of int, shape (n_ops, n_atoms)
        ``permutations[g, k]`` is the index of the atom onto which atom ``k``
        is mapped by operation ``g``.
    point_group_rotations : ndarray, shape (n_pg, 3, 3)
        The distinct Cartesian rotations (the crystal point group).
    international : str
        Space-group symbol from spglib.
    number : int
        Space-group number.
    """

    rotations: np.ndarray
    permutations: np.ndarray
    point_group_rotations: np.ndarray
    international: str
    number: int


def structure_to_arrays(structure: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(lattice (3,3) A, frac_positions (N,3), numbers (N,))`` of a structure.

    Parameters
    ----------
    structure
        A pymatgen ``Structure``, an ASE ``Atoms`` or a tuple
        ``(lattice, frac_positions, numbers)``.
    """
    if hasattr(structure, "lattice") and hasattr(structure, "frac_coords"):  # pymatgen
        lattice = np.array(structure.lattice.matrix, dtype=float)
        frac = np.array(structure.frac_coords, dtype=float)
        numbers = np.array(structure.atomic_numbers, dtype=int)
    elif hasattr(structure, "get_scaled_positions"):  # ASE
        lattice = np.array(structure.cell[:], dtype=float)
        frac = np.array(structure.get_scaled_positions(wrap=False), dtype=float)
        numbers = np.array(structure.numbers, dtype=int)
    else:
        try:
            lattice, frac, numbers = structure
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"expected a pymatgen Structure, ASE Atoms or (lattice, frac, numbers), "
                f"got {type(structure)!r}"
            ) from exc
        lattice = np.array(lattice, dtype=float)
        frac = np.array(frac, dtype=float)
        numbers = np.array(numbers, dtype=int)
    if lattice.shape != (3, 3) or frac.ndim != 2 or frac.shape[1] != 3:
        raise ValueError(f"bad shapes: {lattice.shape=}, {frac.shape=}")
    if numbers.shape != (frac.shape[0],):
        raise ValueError(f"{numbers.shape=} does not match {frac.shape=}")
    return lattice, frac, numbers


def get_symmetry_operations(structure: Any, symprec: float = 1e-3) -> SymmetryOperations:
    """Find the space-group operations of ``structure`` with spglib.

    Parameters
    ----------
    structure
        pymatgen ``Structure``, ASE ``Atoms`` or ``(lattice, frac_positions, numbers)``.
    symprec : float
        spglib tolerance in Angstrom.

    Returns
    -------
    SymmetryOperations

    Raises
    ------
    InvalidStructureError
        If spglib finds no symmetry or a site permutation cannot be built.
    """
    lattice, frac, numbers = structure_to_arrays(structure)
    cell = (lattice, frac, numbers)
    sym = spglib.get_symmetry(cell, symprec=symprec)
    dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if sym is None or dataset is None:
        raise InvalidStructureError(f"spglib found no symmetry ({symprec=}, n_atoms={len(numbers)})")
    w_frac = np.asarray(sym["rotations"], dtype=float)
    trans = np.asarray(sym["translations"], dtype=float)
    lt = lattice.T
    lt_inv = np.linalg.inv(lt)
    rotations = np.einsum("ij,gjk,kl->gil", lt, w_frac, lt_inv)

    # site permutations: W x_k + t == x_perm[k] (mod lattice), tolerance in Angstrom
    perms = np.empty((len(w_frac), len(numbers)), dtype=int)
    for g, (w, t) in enumerate(zip(w_frac, trans)):
        new = frac @ w.T + t  # (N, 3)
        diff = new[:, None, :] - frac[None, :, :]
        diff -= np.round(diff)
        dist = np.linalg.norm(diff @ lattice, axis=-1)  # (N, N)
        dist[numbers[:, None] != numbers[None, :]] = np.inf
        perm = np.argmin(dist, axis=1)
        if np.any(dist[np.arange(len(numbers)), perm] > max(10 * symprec, 1e-6)) or len(
            set(perm.tolist())
        ) != len(numbers):
            raise InvalidStructureError(
                f"cannot map sites for symmetry operation {g} ({symprec=}); "
                f"max mismatch {dist[np.arange(len(numbers)), perm].max():.3g} A"
            )
        perms[g] = perm

    # distinct point-group rotations (a supercell repeats each one per lattice translation):
    # dedupe the integer (fractional) matrices, exact, O(n_ops)
    _, first = np.unique(np.round(w_frac).astype(int).reshape(len(w_frac), 9), axis=0, return_index=True)
    unique = rotations[np.sort(first)]
    return SymmetryOperations(
        rotations=rotations,
        permutations=perms,
        point_group_rotations=np.array(unique),
        international=str(_get(dataset, "international")),
        number=int(_get(dataset, "number")),
    )


def _get(dataset: Any, key: str) -> Any:
    """Read a key of an spglib dataset (dict in old, object in new spglib)."""
    return dataset[key] if isinstance(dataset, dict) else getattr(dataset, key)


def _rotations(ops: SymmetryOperations | np.ndarray | Any, symprec: float) -> np.ndarray:
    if isinstance(ops, SymmetryOperations):
        return ops.point_group_rotations
    if isinstance(ops, np.ndarray) and ops.ndim == 3 and ops.shape[1:] == (3, 3):
        return ops
    return get_symmetry_operations(ops, symprec).point_group_rotations


def rotate_tensor(t: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Apply the Cartesian rotation ``r`` (3, 3) to every index of a rank-n tensor ``t``."""
    t = np.asarray(t, dtype=float)
    out = t
    for axis in range(t.ndim):
        out = np.moveaxis(np.tensordot(r, out, axes=([1], [axis])), 0, axis)
    return out


def relative_violation(t: np.ndarray, t_sym: np.ndarray) -> float:
    """Relative Frobenius deviation ``||t - t_sym|| / ||t||`` (0 when ``t`` is zero)."""
    norm = float(np.linalg.norm(t))
    if norm == 0.0:
        return 0.0
    return float(np.linalg.norm(np.asarray(t) - np.asarray(t_sym)) / norm)


def symmetrize_tensor(
    t: np.ndarray, ops: SymmetryOperations | np.ndarray | Any, symprec: float = 1e-3
) -> tuple[np.ndarray, float]:
    """Average a Cartesian tensor of any rank over the crystal point group.

    Parameters
    ----------
    t : ndarray, shape (3,)*rank
        Tensor in Cartesian coordinates (any unit).
    ops
        ``SymmetryOperations``, an array of rotations (n, 3, 3) or a structure.
    symprec : float
        spglib tolerance when ``ops`` is a structure.

    Returns
    -------
    t_sym : ndarray, same shape as ``t``
        ``(1/|G|) sum_R R...R t``.
    violation : float
        Relative Frobenius deviation of ``t`` from ``t_sym``.
    """
    t = np.asarray(t, dtype=float)
    if t.shape != (3,) * t.ndim:
        raise ValueError(f"expected a Cartesian tensor of shape (3,)*rank, got {t.shape=}")
    rots = _rotations(ops, symprec)
    t_sym = np.mean([rotate_tensor(t, r) for r in rots], axis=0)
    return t_sym, relative_violation(t, t_sym)


def symmetrize_rank2(t, ops, symprec: float = 1e-3) -> tuple[np.ndarray, float]:
    """Symmetrise a (3, 3) tensor (e.g. eps, chi) to the point group. See `symmetrize_tensor`."""
    if np.shape(t) != (3, 3):
        raise ValueError(f"expected shape (3, 3), got {np.shape(t)}")
    return symmetrize_tensor(t, ops, symprec)


def symmetrize_rank3(t, ops, symprec: float = 1e-3) -> tuple[np.ndarray, float]:
    """Symmetrise a (3, 3, 3) tensor (piezo e[i, j, k]) to the point group.

    ``t'[i, j, k] = R[i, a] R[j, b] R[k, c] t[a, b, c]`` averaged over the group.
    """
    if np.shape(t) != (3, 3, 3):
        raise ValueError(f"expected shape (3, 3, 3), got {np.shape(t)}")
    return symmetrize_tensor(t, ops, symprec)


def symmetrize_rank4(t, ops, symprec: float = 1e-3) -> tuple[np.ndarray, float]:
    """Symmetrise a (3, 3, 3, 3) tensor (elastic c[i, j, k, l]) to the point group."""
    if np.shape(t) != (3, 3, 3, 3):
        raise ValueError(f"expected shape (3, 3, 3, 3), got {np.shape(t)}")
    return symmetrize_tensor(t, ops, symprec)


def symmetrize_per_atom_rank2(
    z: np.ndarray, structure_or_ops: SymmetryOperations | Any, symprec: float = 1e-3
) -> tuple[np.ndarray, float]:
    """Symmetrise per-atom rank-2 tensors (Born charges) over the space group.

    ``Z_sym[perm_g(k)] = (1/|G|) sum_g R_g Z[k] R_g^T``: the site-symmetry
    constraints and the equivalence of symmetry-related atoms are imposed.

    Parameters
    ----------
    z : ndarray, shape (N, 3, 3)
        Per-atom tensors, e.g. Born charges ``Z[k, i, j]`` in e.
    structure_or_ops
        A structure (see `structure_to_arrays`) or its `SymmetryOperations`.
    symprec : float
        spglib tolerance in Angstrom.

    Returns
    -------
    z_sym : ndarray, shape (N, 3, 3)
    violation : float
        Relative Frobenius deviation of ``z`` from ``z_sym``.
    """
    z = np.asarray(z, dtype=float)
    ops = (
        structure_or_ops
        if isinstance(structure_or_ops, SymmetryOperations)
        else get_symmetry_operations(structure_or_ops, symprec)
    )
    n = ops.permutations.shape[1]
    if z.shape != (n, 3, 3):
        raise ValueError(f"{z.shape=} does not match the structure's {n} atoms, expected ({n}, 3, 3)")
    acc = np.zeros_like(z)
    for r, perm in zip(ops.rotations, ops.permutations):
        acc[perm] += np.einsum("ia,kab,jb->kij", r, z, r)
    z_sym = acc / len(ops.rotations)
    return z_sym, relative_violation(z, z_sym)
