"""Physics on the anisotropic toy: tensor (non-symmetric) Born charges, anisotropic springs.

The isotropic toy (``Z = q I``) cannot tell ``Z[k, i, a]`` from ``Z[k, a, i]``;
this one can. Each ``check_*`` is run twice: on the correct code (must pass)
and with the wrong-index mutant of ``tests/mutants.py`` (must fail).
"""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.physics import (
    dielectric_response,
    epsilon_ionic,
    epsilon_ionic_from_modes,
    gamma_phonons,
    ionic_piezo,
    ir_intensities,
    mode_effective_charges,
    piezo_response,
    relaxed_ion_elastic,
)
from macefield_flows.physics.toymodels import SpringRigidIonToy, random_anisotropic_toy, two_atom_closed_form
from macefield_flows.units import EPS0, EV_PER_A2_AMU_TO_THZ2, E_PER_A2_TO_C_PER_M2, rank3_to_voigt
from tests import mutants

from .conftest import fd_field, fd_strain

Z3 = np.zeros((3, 3))
E0 = np.zeros(3)


@pytest.fixture(scope="module")
def atoy3() -> SpringRigidIonToy:
    return random_anisotropic_toy(n_atoms=3, seed=2)


@pytest.fixture(scope="module")
def atoy2() -> SpringRigidIonToy:
    return random_anisotropic_toy(n_atoms=2, seed=5)


def _fd_modes(toy: SpringRigidIonToy) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (eV/(A^2 amu)) and eigen-displacements (3N, 3N) of the FD Hessian of the forces."""
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(toy.masses), 3)
    lam, vec = np.linalg.eigh(inv_sqrt_m[:, None] * toy._fd_hessian * inv_sqrt_m[None, :])
    return lam, inv_sqrt_m[:, None] * vec


def _fd_ir(toy: SpringRigidIonToy) -> np.ndarray:
    """IR intensity of every mode: |d dipole / dQ|^2 by finite differences along the eigen-displacement."""
    _, disp = _fd_modes(toy)
    h = 1e-3
    out = []
    for m in range(disp.shape[1]):
        u = disp[:, m].reshape(-1, 3)
        dd = (toy.dipole(h * u, Z3, E0) - toy.dipole(-h * u, Z3, E0)) / (2 * h)
        out.append(float(dd @ dd))
    return np.array(out)


# ---- checks (each one is also run against the wrong-index mutant) --------------------
def check_eps_ionic(toy: SpringRigidIonToy) -> None:
    """eps_ionic = relaxed-ion d dipole/dE (FD) minus the clamped part, three code routes."""
    fd = fd_field(lambda e: toy.dipole(toy.relax(Z3, e), Z3, e), h=1e-2).T / (EPS0 * toy.volume)
    eps_ion_fd = fd - toy.chi
    z, k, m, v = toy.born_charges(), toy.force_constants(), toy.masses, toy.volume
    res = dielectric_response(z, toy.chi, k, m, v)
    np.testing.assert_allclose(res.ionic, eps_ion_fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.total, np.eye(3) + fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(epsilon_ionic(z, k, v), eps_ion_fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(epsilon_ionic_from_modes(z, k, m, v), eps_ion_fd, rtol=1e-7, atol=1e-9)


def check_ionic_piezo(toy: SpringRigidIonToy) -> None:
    """e_total = (1/Omega) d dipole/d eta with ions relaxed at each strain (FD)."""
    fd = fd_strain(lambda s: toy.dipole(toy.relax(s, E0), s, E0), h=1e-3) / toy.volume
    e0 = toy.dipole_strain_derivative() / toy.volume
    e_ion = ionic_piezo(toy.born_charges(), toy.force_constants(), toy.internal_strain(), toy.volume)
    np.testing.assert_allclose(e_ion, fd - e0, rtol=1e-7, atol=1e-10)
    res = piezo_response(toy.born_charges(), toy.force_constants(), toy.dipole_strain_derivative(),
                         toy.internal_strain(), toy.strain_hessian(), toy.volume)
    np.testing.assert_allclose(res.total, rank3_to_voigt(fd) * E_PER_A2_TO_C_PER_M2, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.ionic, rank3_to_voigt(fd - e0) * E_PER_A2_TO_C_PER_M2, rtol=1e-7, atol=1e-9)


def check_ir(toy: SpringRigidIonToy) -> None:
    """IR intensities and frequencies against FD dipoles along FD eigen-displacements."""
    lam_fd, _ = _fd_modes(toy)
    ir_fd = _fd_ir(toy)
    res = dielectric_response(toy.born_charges(), toy.chi, toy.force_constants(), toy.masses, toy.volume)
    nu_fd = np.sign(lam_fd) * np.sqrt(np.abs(lam_fd) * EV_PER_A2_AMU_TO_THZ2)
    np.testing.assert_allclose(res.frequencies, nu_fd, atol=1e-4)
    scale = float(np.max(ir_fd))
    np.testing.assert_allclose(res.ir_intensities, ir_fd, rtol=1e-6, atol=1e-8 * scale)


def check_two_atom_closed_form(toy: SpringRigidIonToy) -> None:
    cf = two_atom_closed_form(toy)
    z, k, m, v = toy.born_charges(), toy.force_constants(), toy.masses, toy.volume
    np.testing.assert_allclose(epsilon_ionic(z, k, v), cf["eps_ionic"], rtol=1e-9)
    np.testing.assert_allclose(ionic_piezo(z, k, toy.internal_strain(), v), cf["e_ionic"], rtol=1e-9, atol=1e-14)
    res = dielectric_response(z, toy.chi, k, m, v)
    optical = ~gamma_phonons(k, m).acoustic
    np.testing.assert_allclose(res.ir_intensities[optical], cf["ir_intensities"], rtol=1e-9)
    np.testing.assert_allclose(gamma_phonons(k, m).eigenvalues[optical], cf["optical_eigenvalues"], rtol=1e-9)


CHECKS = {"eps_ionic": check_eps_ionic, "ionic_piezo": check_ionic_piezo, "ir": check_ir}


# ---- the tests -----------------------------------------------------------------------
def test_anisotropic_toy_is_anisotropic_and_exact(atoy3):
    z = atoy3.born_charges()
    assert np.min([np.max(np.abs(zk - zk.T)) for zk in z]) > 0.3  # non-symmetric on every site
    assert np.max(np.abs(z.sum(axis=0))) < 1e-12
    u0 = np.zeros((3, 3))
    # Z[k, i, a] = d Force_ka / d E_i = d dipole_i / d u_ka (both index orders pinned)
    np.testing.assert_allclose(fd_field(lambda e: atoy3.forces(u0, Z3, e)).transpose(1, 0, 2), z, atol=1e-9)
    ddu = np.array([[(atoy3.dipole(np.eye(9)[3 * k + a].reshape(3, 3) * 1e-3, Z3, E0)
                      - atoy3.dipole(-np.eye(9)[3 * k + a].reshape(3, 3) * 1e-3, Z3, E0)) / 2e-3
                     for a in range(3)] for k in range(3)])  # [k, a, i]
    np.testing.assert_allclose(ddu.transpose(0, 2, 1), z, atol=1e-9)
    np.testing.assert_allclose(atoy3._fd_hessian, atoy3.force_constants(), atol=1e-8)
    np.testing.assert_allclose(fd_strain(lambda s: atoy3.forces(u0, s, E0)), atoy3.internal_strain(), atol=1e-8)
    h_fd = fd_strain(lambda s: fd_strain(lambda t: atoy3.enthalpy(u0, s + t, E0), h=1e-3), h=1e-3)
    np.testing.assert_allclose(h_fd, atoy3.strain_hessian(), atol=1e-6)
    # springs are not central: a central-force network has Lambda fully symmetric in (b, j, l)
    lam = atoy3.internal_strain()
    assert np.max(np.abs(lam - lam.transpose(0, 2, 1, 3))) > 1e-2


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_anisotropic_physics(atoy3, name):
    CHECKS[name](atoy3)


def test_anisotropic_relaxed_elastic(atoy3):
    fd = fd_strain(lambda s: fd_strain(lambda t: atoy3.relaxed_enthalpy(s + t, E0), h=1e-3), h=1e-3)
    c = relaxed_ion_elastic(atoy3.strain_hessian(), atoy3.force_constants(), atoy3.internal_strain(), atoy3.volume)
    np.testing.assert_allclose(c, fd / atoy3.volume, rtol=1e-6, atol=1e-8)


def test_two_atom_anisotropic_closed_form(atoy2):
    check_two_atom_closed_form(atoy2)
    # direct mode charges agree with the closed-form IR intensities too
    ph = gamma_phonons(atoy2.force_constants(), atoy2.masses)
    zm = mode_effective_charges(atoy2.born_charges(), ph.eigenvectors, atoy2.masses)
    np.testing.assert_allclose(ir_intensities(zm)[~ph.acoustic], two_atom_closed_form(atoy2)["ir_intensities"],
                               rtol=1e-9)


@pytest.mark.parametrize("name", sorted(CHECKS) + ["two_atom"])
def test_wrong_index_contraction_is_caught(atoy3, atoy2, monkeypatch, name):
    """The wrong-index mutant makes each check fail on the anisotropic toy."""
    check = CHECKS.get(name, check_two_atom_closed_form)
    toy = atoy2 if name == "two_atom" else atoy3
    mutants.wrong_index_born(monkeypatch)
    with pytest.raises(AssertionError):
        check(toy)


def test_isotropic_toy_cannot_catch_the_wrong_index(toy3, monkeypatch):
    """Why the anisotropic toy exists: with Z = q I the mutant passes every check."""
    mutants.wrong_index_born(monkeypatch)
    for check in CHECKS.values():
        check(toy3)
