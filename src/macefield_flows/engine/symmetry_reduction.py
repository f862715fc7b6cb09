"""Force constants from the rows of symmetry-inequivalent atoms only (as phonopy does).

For a space-group operation (R, perm) of the crystal, ``K[perm(k), perm(l)] =
R K[k, l] R^T`` (3x3 blocks). Differentiating only the representative atom of
each orbit and rotating its rows into the others cuts the ``3 N`` Hessian
passes to ``3 N_irreducible``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from macefield_flows.physics.symmetry import get_symmetry_operations


@dataclass(frozen=True)
class OrbitMap:
    """Representative atoms and, for every atom, (representative, operation) reaching it."""

    representatives: list[int]
    source: np.ndarray  # (N,) representative of each atom
    operation: np.ndarray  # (N,) index of an operation with perm[op][source[k]] = k
    rotations: np.ndarray  # (n_ops, 3, 3) Cartesian
    permutations: np.ndarray  # (n_ops, N)


def orbit_map(atoms, symprec: float = 1e-5) -> OrbitMap | None:
    """Orbits of the atoms under the space group, or None when reduction would not pay."""
    try:
        ops = get_symmetry_operations(atoms, symprec=symprec)
    except Exception:  # noqa: BLE001 (no usable symmetry: compute every row)
        return None
    n = len(atoms)
    source = -np.ones(n, dtype=int)
    operation = -np.ones(n, dtype=int)
    reps: list[int] = []
    for k in range(n):
        if source[k] >= 0:
            continue
        reps.append(k)
        for g, perm in enumerate(ops.permutations):
            target = perm[k]
            if source[target] < 0:
                source[target], operation[target] = k, g
    if len(reps) == n:
        return None
    return OrbitMap(reps, source, operation, np.asarray(ops.rotations), np.asarray(ops.permutations))


def expand_force_constants(rep_rows: np.ndarray, orbits: OrbitMap) -> np.ndarray:
    """Full (3N, 3N) force constants from the rows of the representatives.

    Parameters
    ----------
    rep_rows : (3 n_rep, 3 N) rows of K for ``orbits.representatives`` in order, eV/A^2.
    """
    n = len(orbits.source)
    blocks = rep_rows.reshape(len(orbits.representatives), 3, n, 3)
    row_of = {r: i for i, r in enumerate(orbits.representatives)}
    k_full = np.zeros((n, 3, n, 3))
    for k in range(n):
        r, g = orbits.source[k], orbits.operation[k]
        rot, perm = orbits.rotations[g], orbits.permutations[g]
        rotated = np.einsum("ab,lbc,dc->lad", rot, blocks[row_of[r]].transpose(1, 0, 2), rot)
        k_full[k, :, perm, :] = rotated
    k_full = k_full.reshape(3 * n, 3 * n)
    return 0.5 * (k_full + k_full.T)
