"""Supercell force constants as exact second derivatives (no finite displacements).

phonopy's supercell force constants are the second derivatives of the energy of
the periodic supercell with respect to the atomic positions,
``Phi[k, l, a, b] = d2F / dR_ka dR_lb`` (eV/Angstrom^2), periodic images of ``l``
inside the supercell included. That is exactly the Gamma-point Hessian of the
supercell, which the engine computes by batched autograd: only the rows of the
symmetry-inequivalent atoms of the supercell are differentiated (``3 n_irr``
backward passes, where ``n_irr`` is the number of inequivalent atoms of the
primitive cell, because the lattice translations of the supercell are symmetry
operations) and rotated into the other rows as phonopy does with its
displacement datasets. The result is free of finite-difference error.

The engine knows nothing of phonopy: give it the supercell in phonopy's atom
order (``macefield_flows.interop.phonopy`` does) and it returns the array in
phonopy's full layout ``(N, N, 3, 3)``.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from macefield_flows.exceptions import MacefieldError

logger = logging.getLogger(__name__)


def hessian_to_pair_layout(k: np.ndarray) -> np.ndarray:
    """(3N, 3N) site-major Hessian ``K[3k+a, 3l+b]`` -> phonopy's full layout ``fc[k, l, a, b]``."""
    k = np.asarray(k, dtype=float)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 3:
        raise ValueError(f"expected a (3N, 3N) Hessian, got shape {k.shape}")
    n = k.shape[0] // 3
    return np.ascontiguousarray(k.reshape(n, 3, n, 3).transpose(0, 2, 1, 3))


def pair_layout_to_hessian(fc: np.ndarray) -> np.ndarray:
    """phonopy's full layout ``fc[k, l, a, b]`` (N, N, 3, 3) -> (3N, 3N) site-major ``K``."""
    fc = np.asarray(fc, dtype=float)
    if fc.ndim != 4 or fc.shape[0] != fc.shape[1] or fc.shape[2:] != (3, 3):
        raise ValueError(f"expected force constants of shape (N, N, 3, 3), got {fc.shape}")
    n = fc.shape[0]
    return np.ascontiguousarray(fc.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n))


def supercell_force_constants(
    supercell: Any,
    model: Any,
    device: str = "auto",
    dtype: str = "float64",
    head: Optional[str] = None,
    symmetry_reduce: bool = True,
    symprec: float = 1e-5,
    label: Optional[str] = None,
    trust_pickle: bool = False,
    backend: Optional[str] = None,
) -> np.ndarray:
    """Exact supercell force constants of ``model`` in phonopy's full layout.

    Parameters
    ----------
    supercell : ASE Atoms or pymatgen Structure of the (periodic) supercell, atoms in
        the order the force constants should have (phonopy's supercell order).
    model : FieldMACE, model file path, registry name or "default".
    device, dtype, head : engine settings (float64 recommended for second derivatives).
    symmetry_reduce : differentiate only rows of symmetry-inequivalent atoms (space
        group found with ``symprec``, Angstrom) and rotate them into the rest.

    Returns
    -------
    ndarray, shape (N, N, 3, 3)
        ``fc[k, l, a, b] = d2F / dR_ka dR_lb`` in eV/Angstrom^2 (symmetric under
        ``(k, a) <-> (l, b)``); zero electric field.

    Raises
    ------
    MacefieldError
        When the engine could not evaluate the supercell (the message names it).
    """
    from macefield_flows.engine.evaluate import evaluate

    (res,) = evaluate([supercell], model, properties=("energy", "force_constants"), device=device,
                      dtype=dtype, head=head, labels=[label] if label else None,
                      symmetry_reduce=symmetry_reduce, symprec=symprec, trust_pickle=trust_pickle, backend=backend)
    if not res.ok:
        raise MacefieldError(f"supercell force constants failed: {res.error}")
    logger.debug("supercell force constants of %s: %d atoms", res.label, res.n_atoms)
    return hessian_to_pair_layout(res.force_constants)
