"""Edge cases that mutation testing found untested (see docs/testing.md)."""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.physics import (
    e_ij_max_singular,
    gamma_phonons,
    piezo_strain_tensor,
    project_force_constants,
    pseudo_inverse_force_constants,
    translation_basis,
)
from macefield_flows.physics.symmetry import relative_violation


def test_zero_mass_is_rejected(toy3):
    masses = toy3.masses.copy()
    masses[1] = 0.0
    with pytest.raises(ValueError, match="masses"):
        gamma_phonons(toy3.force_constants(), masses)


def test_projected_force_constants(toy3):
    k = toy3.force_constants() + 2.0 * np.outer(np.ones(9), np.ones(9))  # violates translation invariance
    kp = project_force_constants(k)
    t = translation_basis(3)
    np.testing.assert_allclose(kp @ t, 0.0, atol=1e-12)
    p = np.eye(9) - t @ t.T
    np.testing.assert_allclose(kp, p @ (0.5 * (k + k.T)) @ p, atol=1e-12)


def test_single_atom_has_no_optical_space():
    k_plus, has_negative = pseudo_inverse_force_constants(np.eye(3))
    np.testing.assert_array_equal(k_plus, np.zeros((3, 3)))
    assert has_negative is False


def test_singular_elastic_tensor_gives_nan_d():
    d = piezo_strain_tensor(np.ones((3, 6)), np.zeros((6, 6)))
    assert d.shape == (3, 6) and np.all(np.isnan(d))


def test_singular_vectors_of_e_ij_max():
    e = np.random.default_rng(4).normal(size=(3, 6))
    s, u, v = e_ij_max_singular(e)
    np.testing.assert_allclose(e @ v, s * u, atol=1e-12)
    np.testing.assert_allclose(e.T @ u, s * v, atol=1e-12)


def test_relative_violation():
    t = np.diag([1.0, 2.0, 2.0])
    assert relative_violation(t, np.diag([1.0, 2.0, 4.0])) == pytest.approx(2.0 / 3.0)
    assert relative_violation(np.zeros((3, 3)), np.eye(3)) == 0.0
