"""Tests written for surviving mutants of the physics package (docs/testing.md, mutation testing).

Each checks a property against an independent route: brute force over lattice
images, exact polynomial paths, the rotation array route of symmetrisation.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from macefield_flows.physics.polarization import (
    fold_polarization_difference,
    polarization_quantum,
    spontaneous_polarization,
)
from macefield_flows.physics.symmetry import get_symmetry_operations, symmetrize_tensor


def test_fold_is_the_shortest_image_in_a_strongly_oblique_cell():
    """Brute force over images -3..3 along each quantum: the folded vector is the shortest one.

    In a strongly oblique cell the shortest image is often a +-1 neighbour of the
    rounded reduced coordinates, so every one of the 27 searched shifts matters.
    """
    lattice = np.array([[4.0, 0.0, 0.0], [3.7, 1.2, 0.0], [3.6, 1.0, 1.1]])  # very oblique
    q = polarization_quantum(lattice)
    rng = np.random.default_rng(0)
    dp = rng.normal(scale=2.0, size=(400, 3)) @ q
    folded = fold_polarization_difference(dp, lattice)
    r = np.arange(-3, 4)
    shifts = np.array(np.meshgrid(r, r, r, indexing="ij")).reshape(3, -1).T @ q  # (343, 3)
    c = (dp @ np.linalg.inv(q)) % 1.0 @ q  # any image of dp
    brute = np.min(np.linalg.norm(c[:, None, :] + shifts[None], axis=-1), axis=1)
    np.testing.assert_allclose(np.linalg.norm(folded, axis=1), brute, rtol=1e-12, atol=1e-12)
    # folded is an image of dp: they differ by an integer combination of the quanta
    n = (dp - folded) @ np.linalg.inv(q)
    np.testing.assert_allclose(n, np.round(n), atol=1e-9)


@pytest.mark.parametrize("n", [4, 5, 6])
def test_smoothness_residual_vanishes_on_polynomial_paths(n):
    """A path that is a polynomial of degree min(3, n - 2) is smooth: the fit residual is zero.

    (A fit of lower degree leaves a residual of the order of the curvature.)
    """
    lattice = np.diag([4.0, 4.0, 4.2])
    x = np.linspace(0.0, 1.0, n)
    deg = min(3, n - 2)
    coef = np.array([[0.0, 0.0, 0.0], [0.01, -0.02, 0.05], [0.03, 0.01, -0.04], [-0.02, 0.02, 0.03]])[: deg + 1]
    path = np.polynomial.polynomial.polyval(x, coef).T  # (n, 3) e/A^2, far below the quantum
    res = spontaneous_polarization(path, lattice)
    assert res.max_smoothness_residual < 1e-12
    np.testing.assert_allclose(res.spontaneous, path[-1] - path[0], atol=1e-14)
    # one degree less would not fit it: the residual of that fit is large
    low = np.polynomial.polynomial.polyfit(x, path, deg - 1)
    assert np.abs(path - np.polynomial.polynomial.polyval(x, low).T).max() > 1e-4


def test_symmetrize_with_a_rotation_array_equals_with_operations():
    """Rotations given as an (n, 3, 3) array are used as they are (same result as the operations)."""
    zno = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.25, 5.21), ["Zn", "O"],
                                    [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, 0.382]])
    ops = get_symmetry_operations(zno, 1e-3)
    rots = np.asarray(ops.point_group_rotations)
    assert rots.ndim == 3 and rots.shape[1:] == (3, 3) and len(rots) == 12
    t = np.random.default_rng(1).normal(size=(3, 3, 3))
    by_ops, v_ops = symmetrize_tensor(t, ops)
    by_array, v_array = symmetrize_tensor(t, rots)
    np.testing.assert_allclose(by_array, by_ops, atol=1e-14)
    assert v_array == pytest.approx(v_ops)
    # the array route is not a structure route: a single rotation (identity) leaves t unchanged
    same, violation = symmetrize_tensor(t, np.eye(3)[None])
    np.testing.assert_allclose(same, t, atol=1e-15)
    assert violation == 0.0
