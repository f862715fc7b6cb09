"""Born effective charges: acoustic sum rule and symmetrisation.

Convention: ``Z[k, i, j]`` in units of e, ``i`` the field / polarisation
direction, ``j`` the displacement direction, ``Z[k, i, j] = d dipole_i / d R_kj
= d Force_kj / d E_i``.  Translation invariance requires the charge-neutrality
(acoustic) sum rule ``sum_k Z[k] = 0``; the model satisfies it by construction
(up to round-off), DFPT reference data violate it slightly.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from macefield_flows.physics.symmetry import SymmetryOperations, symmetrize_per_atom_rank2

__all__ = ["check_born_charges", "asr_residual", "enforce_asr", "symmetrize_born_charges"]


def check_born_charges(born_charges: np.ndarray) -> np.ndarray:
    """Return ``born_charges`` as a float array of shape (N, 3, 3), or raise ValueError."""
    z = np.asarray(born_charges, dtype=float)
    if z.ndim != 3 or z.shape[1:] != (3, 3) or z.shape[0] == 0:
        raise ValueError(f"born charges must have shape (N, 3, 3) with N >= 1, got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("born charges contain non-finite values")
    return z


def asr_residual(born_charges: np.ndarray) -> float:
    """Largest absolute element of ``sum_k Z[k]`` (e): the violation of charge neutrality.

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3)
        Born charges in e.

    Returns
    -------
    float
        ``max_ij |sum_k Z[k, i, j]|`` in e.
    """
    z = check_born_charges(born_charges)
    return float(np.max(np.abs(z.sum(axis=0))))


def enforce_asr(
    born_charges: np.ndarray,
    method: Literal["uniform", "mass-weighted"] = "uniform",
    masses: np.ndarray | None = None,
) -> np.ndarray:
    """Return Born charges satisfying ``sum_k Z[k] = 0`` (input not modified).

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3)
        Born charges in e.
    method : {"uniform", "mass-weighted"}
        ``"uniform"`` subtracts the mean ``(1/N) sum_k Z[k]`` from every atom
        (the phonopy / VASP choice). ``"mass-weighted"`` distributes the
        residual proportionally to the atomic masses, ``Z[k] -= M_k/sum(M) sum Z``.
    masses : ndarray, shape (N,), optional
        Atomic masses in amu, required for ``"mass-weighted"``.

    Returns
    -------
    ndarray, shape (N, 3, 3)
    """
    z = check_born_charges(born_charges)
    total = z.sum(axis=0)
    if method == "uniform":
        weights = np.full(len(z), 1.0 / len(z))
    elif method == "mass-weighted":
        if masses is None:
            raise ValueError("method='mass-weighted' needs masses")
        m = np.asarray(masses, dtype=float)
        if m.shape != (len(z),) or np.any(m <= 0):
            raise ValueError(f"masses must be positive with shape ({len(z)},), got {m.shape}")
        weights = m / m.sum()
    else:
        raise ValueError(f"{method=}, expected 'uniform' or 'mass-weighted'")
    return z - weights[:, None, None] * total[None]


def symmetrize_born_charges(
    structure: Any | SymmetryOperations,
    born_charges: np.ndarray,
    symprec: float = 1e-3,
) -> tuple[np.ndarray, float]:
    """Symmetrise Born charges to the space group of ``structure``.

    ``Z_sym[perm_g(k)] = (1/|G|) sum_g R_g Z[k] R_g^T`` (see
    `macefield_flows.physics.symmetry.symmetrize_per_atom_rank2`). The sum
    ``sum_k Z[k]`` is symmetrised too, so charges that satisfy the ASR keep
    satisfying it.

    Parameters
    ----------
    structure
        pymatgen ``Structure``, ASE ``Atoms``, ``(lattice, frac, numbers)`` or
        precomputed `SymmetryOperations`; site order must match ``born_charges``.
    born_charges : ndarray, shape (N, 3, 3)
        Born charges in e.
    symprec : float
        spglib tolerance in Angstrom.

    Returns
    -------
    z_sym : ndarray, shape (N, 3, 3)
        Symmetrised Born charges (e).
    violation : float
        Relative Frobenius deviation of the input from ``z_sym``.
    """
    z = check_born_charges(born_charges)
    return symmetrize_per_atom_rank2(z, structure, symprec)
