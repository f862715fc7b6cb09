"""Shared fixtures and finite-difference helpers of the physics tests."""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.physics.toymodels import SpringRigidIonToy, random_spring_toy


def strain_basis(j: int, l: int) -> np.ndarray:
    """Symmetric unit perturbation: ones at (j, l) and (l, j)."""
    s = np.zeros((3, 3))
    s[j, l] = s[l, j] = 1.0
    return s


def fd_strain(fun, h: float = 1e-4) -> np.ndarray:
    """Symmetric tensor derivative d fun / d eta_jl (fun returns an array), shape fun.shape + (3, 3)."""
    out = None
    for j in range(3):
        for l in range(j, 3):
            s = strain_basis(j, l)
            d = (np.asarray(fun(h * s)) - np.asarray(fun(-h * s))) / (2 * h)
            if j != l:
                d = d / 2.0  # both (j,l) and (l,j) were perturbed
            if out is None:
                out = np.zeros(d.shape + (3, 3))
            out[..., j, l] = d
            out[..., l, j] = d
    return out


def fd_field(fun, h: float = 1e-3) -> np.ndarray:
    """d fun / d E_i, shape (3,) + fun.shape."""
    rows = []
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        rows.append((np.asarray(fun(e)) - np.asarray(fun(-e))) / (2 * h))
    return np.array(rows)


@pytest.fixture(scope="module")
def toy3() -> SpringRigidIonToy:
    """Random triclinic 3-atom toy (anisotropic)."""
    return random_spring_toy(n_atoms=3, seed=1)


@pytest.fixture(scope="module")
def toy2() -> SpringRigidIonToy:
    """Random triclinic 2-atom toy (closed forms available)."""
    return random_spring_toy(n_atoms=2, seed=4)
