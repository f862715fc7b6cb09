"""Every derivative of the enthalpy against central finite differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.model.helpers import ALL, energy, fd_force_constants, run, strained

H_POS = 1e-4  # A
H_FIELD = 1e-4  # V/A
H_STRAIN = 1e-5
FIELDS = [None, np.array([0.05, -0.03, 0.08])]


def _field(f):
    return np.zeros(3) if f is None else f


@pytest.mark.parametrize("field", FIELDS, ids=["E=0", "E=finite"])
def test_forces_and_stress_match_energy_differences(tiny_model, low_symmetry_structures, field):
    for atoms in low_symmetry_structures:
        out = run(tiny_model, atoms, field, compute_stress=True)
        fd_forces = np.zeros((len(atoms), 3))
        for k in range(len(atoms)):
            for a in range(3):
                plus, minus = atoms.copy(), atoms.copy()
                plus.positions[k, a] += H_POS
                minus.positions[k, a] -= H_POS
                fd_forces[k, a] = -(energy(tiny_model, plus, field) - energy(tiny_model, minus, field)) / (2 * H_POS)
        np.testing.assert_allclose(out["forces"], fd_forces, atol=1e-8, rtol=1e-6)
        assert np.abs(out["forces"]).max() > 1e-4  # the test would see a wrong sign
        volume = abs(np.linalg.det(atoms.cell.array))
        fd_stress = np.zeros((3, 3))
        for i in range(3):
            for j in range(3):
                eps = np.zeros((3, 3))
                eps[i, j] = eps[j, i] = H_STRAIN / (2 if i != j else 1)
                d = energy(tiny_model, strained(atoms, eps), field) - energy(tiny_model, strained(atoms, -eps), field)
                fd_stress[i, j] = d / (2 * H_STRAIN) / volume * (1 if i == j else 1)
        np.testing.assert_allclose(out["stress"][0], fd_stress, atol=1e-8, rtol=1e-5)


@pytest.mark.parametrize("field", FIELDS, ids=["E=0", "E=finite"])
def test_field_derivatives_match_differences(tiny_model, low_symmetry_structures, field):
    for atoms in low_symmetry_structures:
        e_field = _field(field)
        out = run(tiny_model, atoms, e_field, compute_force=True, **ALL)
        volume = abs(np.linalg.det(atoms.cell.array))
        # dipole = -dF/dE
        fd_dipole = np.array([
            -(energy(tiny_model, atoms, e_field + H_FIELD * np.eye(3)[i])
              - energy(tiny_model, atoms, e_field - H_FIELD * np.eye(3)[i])) / (2 * H_FIELD)
            for i in range(3)
        ])
        np.testing.assert_allclose(out["dipole"][0], fd_dipole, atol=1e-9, rtol=1e-6)
        np.testing.assert_allclose(out["polarization"][0], fd_dipole / volume, rtol=1e-6, atol=1e-10)
        # Born charges two ways: FD of forces in the field, FD of the dipole in positions
        z = out["born_charges"]
        assert np.abs(z).max() > 0.05
        fd_z_field = np.zeros_like(z)
        for i in range(3):
            fp = run(tiny_model, atoms, e_field + H_FIELD * np.eye(3)[i])["forces"]
            fm = run(tiny_model, atoms, e_field - H_FIELD * np.eye(3)[i])["forces"]
            fd_z_field[:, i, :] = (fp - fm) / (2 * H_FIELD)  # Z[k,i,j] = dF_kj/dE_i
        np.testing.assert_allclose(z, fd_z_field, atol=1e-7, rtol=1e-5)
        fd_z_pos = np.zeros_like(z)
        for k in range(len(atoms)):
            for j in range(3):
                plus, minus = atoms.copy(), atoms.copy()
                plus.positions[k, j] += H_POS
                minus.positions[k, j] -= H_POS
                dp = run(tiny_model, plus, e_field, compute_dipole=True)["dipole"][0]
                dm = run(tiny_model, minus, e_field, compute_dipole=True)["dipole"][0]
                fd_z_pos[k, :, j] = (dp - dm) / (2 * H_POS)
        np.testing.assert_allclose(z, fd_z_pos, atol=1e-7, rtol=1e-5)
        # susceptibility chi = (1/(eps0 Omega)) d dipole / dE
        from macefield_flows.units import EPS0

        fd_alpha = np.zeros((3, 3))
        for j in range(3):
            dp = run(tiny_model, atoms, e_field + H_FIELD * np.eye(3)[j], compute_dipole=True)["dipole"][0]
            dm = run(tiny_model, atoms, e_field - H_FIELD * np.eye(3)[j], compute_dipole=True)["dipole"][0]
            fd_alpha[:, j] = (dp - dm) / (2 * H_FIELD)
        np.testing.assert_allclose(out["polarizability"][0], fd_alpha, atol=1e-8, rtol=1e-5)
        np.testing.assert_allclose(out["susceptibility"][0], fd_alpha / (EPS0 * volume), atol=1e-7, rtol=1e-5)
        np.testing.assert_allclose(out["epsilon_electronic"][0], np.eye(3) + fd_alpha / (EPS0 * volume), atol=1e-7)
        assert np.abs(out["susceptibility"]).max() > 1e-3
        # clamped-ion dipole-strain derivative: atoms follow the strain
        fd_ds = np.zeros((3, 3, 3))
        for j in range(3):
            for l in range(3):
                eps = np.zeros((3, 3))
                eps[j, l] = eps[l, j] = H_STRAIN / (2 if j != l else 1)
                dp = run(tiny_model, strained(atoms, eps), e_field, compute_dipole=True)["dipole"][0]
                dm = run(tiny_model, strained(atoms, -eps), e_field, compute_dipole=True)["dipole"][0]
                fd_ds[:, j, l] = (dp - dm) / (2 * H_STRAIN)
        np.testing.assert_allclose(out["dipole_strain"][0], fd_ds, atol=1e-6, rtol=1e-5)


def test_hessian_matches_force_differences(tiny_model, low_symmetry_structures):
    atoms = low_symmetry_structures[1]
    out = run(tiny_model, atoms, None, compute_hessian=True)
    np.testing.assert_allclose(out["hessian"], fd_force_constants(tiny_model, atoms, H_POS), atol=1e-7, rtol=1e-5)
