"""Dielectric response and phonons against the analytic rigid-ion toy model."""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.physics import (
    detect_unstable_modes,
    dielectric_response,
    epsilon_ionic,
    epsilon_ionic_from_modes,
    gamma_phonons,
    mode_effective_charges,
    pseudo_inverse_force_constants,
    translation_basis,
)
from macefield_flows.physics.toymodels import two_atom_closed_form
from macefield_flows.units import EPS0, EV_PER_A2_AMU_TO_THZ2

from .conftest import fd_field

Z3 = np.zeros((3, 3))


def test_closed_form_derivatives_match_finite_differences(toy3):
    n = toy3.n_atoms
    u0 = np.zeros((n, 3))
    # Born charges: d Force_kj / d E_i and d dipole_i / d u_kj
    dforce_de = fd_field(lambda e: toy3.forces(u0, Z3, e))  # (3, N, 3): [i, k, j]
    np.testing.assert_allclose(dforce_de.transpose(1, 0, 2), toy3.born_charges(), atol=1e-9)
    # force constants from the bond-form forces
    np.testing.assert_allclose(toy3._fd_hessian, toy3.force_constants(), atol=1e-8)
    # dipole = -dF/dE, chi = (1/(eps0 Omega)) d dipole / dE
    dip_fd = -fd_field(lambda e: toy3.enthalpy(u0, Z3, e))
    e1 = np.array([0.01, -0.02, 0.03])
    np.testing.assert_allclose(
        -fd_field(lambda e: toy3.enthalpy(u0, Z3, e1 + e)), toy3.dipole(u0, Z3, e1), atol=1e-9
    )
    np.testing.assert_allclose(dip_fd, toy3.dipole(u0, Z3, np.zeros(3)), atol=1e-9)


def test_eps_ionic_equals_relaxed_finite_difference(toy3):
    """d dipole/dE with u relaxed at finite field = eps0 Omega (chi + Z K+ Z / (eps0 Omega))."""

    def relaxed_dipole(e):
        return toy3.dipole(toy3.relax(Z3, e), Z3, e)

    fd = fd_field(relaxed_dipole, h=1e-2).T / (EPS0 * toy3.volume)  # [i, j] = d d_i / d E_j
    res = dielectric_response(
        toy3.born_charges(), toy3.susceptibility(), toy3.force_constants(), toy3.masses, toy3.volume
    )
    np.testing.assert_allclose(res.total, np.eye(3) + fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(res.ionic, fd - toy3.chi, rtol=1e-7, atol=1e-9)
    # anisotropic, positive definite, symmetric
    assert np.ptp(np.diag(res.ionic)) > 1e-3 and abs(res.ionic[0, 1]) > 1e-3
    assert np.all(np.linalg.eigvalsh(res.ionic) > 0)
    assert res.ionic_reliable and not res.has_imaginary_modes
    assert res.asr_residual < 1e-12
    assert res.e_total == pytest.approx(np.trace(res.total) / 3)
    assert res.n == pytest.approx(np.sqrt(np.trace(np.eye(3) + toy3.chi) / 3))


def test_two_atom_closed_form(toy2):
    cf = two_atom_closed_form(toy2)
    eps = epsilon_ionic(toy2.born_charges(), toy2.force_constants(), toy2.volume)
    np.testing.assert_allclose(eps, cf["eps_ionic"], rtol=1e-10)
    assert np.ptp(np.diag(eps)) > 1e-3  # anisotropic


def test_mode_sum_equals_pseudo_inverse(toy3):
    z, k, m, v = toy3.born_charges(), toy3.force_constants(), toy3.masses, toy3.volume
    np.testing.assert_allclose(
        epsilon_ionic_from_modes(z, k, m, v), epsilon_ionic(z, k, v), rtol=1e-9, atol=1e-12
    )
    # also for Born charges that are not of point-charge form (but satisfy the ASR)
    rng = np.random.default_rng(3)
    z2 = rng.normal(size=(3, 3, 3))
    z2 -= z2.mean(axis=0)
    np.testing.assert_allclose(
        epsilon_ionic_from_modes(z2, k, m, v), epsilon_ionic(z2, k, v), rtol=1e-9, atol=1e-12
    )


def test_phonons_units_and_acoustic_detection(toy3):
    k, m = toy3.force_constants(), toy3.masses
    ph = gamma_phonons(k, m)
    assert ph.acoustic.sum() == 3
    np.testing.assert_allclose(ph.frequencies[ph.acoustic], 0.0, atol=1e-5)
    # orthonormal eigenvectors; eigen-displacements solve K u = w^2 M u
    np.testing.assert_allclose(ph.eigenvectors.T @ ph.eigenvectors, np.eye(9), atol=1e-12)
    mm = np.repeat(m, 3)
    for j in np.flatnonzero(~ph.acoustic):
        u = ph.displacements[:, j]
        np.testing.assert_allclose(k @ u, ph.eigenvalues[j] * mm * u, atol=1e-10)
        assert ph.frequencies[j] == pytest.approx(np.sqrt(ph.eigenvalues[j] * EV_PER_A2_AMU_TO_THZ2))
    # unit check: 1 eV/(A^2 amu) is 15.633 THz
    assert np.sqrt(EV_PER_A2_AMU_TO_THZ2) == pytest.approx(15.633, rel=1e-4)
    # acoustic modes are found by overlap even when an optical mode is softer
    t = translation_basis(3)
    p = np.eye(9) - t @ t.T
    soft = p @ np.random.default_rng(0).normal(size=9)
    soft /= np.linalg.norm(soft)
    k_shift = k + 50.0 * (t @ t.T)  # translations now stiff (violates ASR)
    k_shift = k_shift - (np.linalg.eigvalsh(p @ k @ p)[3] - 1e-3) * np.outer(soft, soft)
    ph2 = gamma_phonons(k_shift, np.ones(3))
    lowest = np.argsort(np.abs(ph2.frequencies))[:3]
    assert not set(lowest) == set(np.flatnonzero(ph2.acoustic))
    np.testing.assert_allclose(ph2.eigenvalues[ph2.acoustic], 50.0, rtol=1e-10)  # the translations
    # mode charges vanish for acoustic modes (ASR)
    zm = mode_effective_charges(toy3.born_charges(), ph.eigenvectors, m)
    np.testing.assert_allclose(zm[ph.acoustic], 0.0, atol=1e-10)


def test_unstable_structure_is_flagged(toy3):
    k, m = toy3.force_constants(), toy3.masses
    ph = gamma_phonons(k, m)
    j = np.flatnonzero(~ph.acoustic)[0]
    # make the softest optical mode imaginary: D -> D - 2 lambda e e^T
    sm = np.repeat(np.sqrt(m), 3)
    e = ph.eigenvectors[:, j]
    k_bad = k - 2 * ph.eigenvalues[j] * np.outer(sm * e, sm * e)
    ph_bad = gamma_phonons(k_bad, m)
    unstable = detect_unstable_modes(ph_bad.frequencies, 0.1, eigenvectors=ph_bad.eigenvectors, masses=m)
    assert len(unstable) == 1 and ph_bad.frequencies[unstable[0]] < -1.0
    assert len(detect_unstable_modes(ph.frequencies, 0.1, eigenvectors=ph.eigenvectors, masses=m)) == 0
    _, has_neg = pseudo_inverse_force_constants(k_bad)
    assert has_neg
    res = dielectric_response(toy3.born_charges(), toy3.chi, k_bad, m, toy3.volume)
    assert res.has_imaginary_modes and not res.ionic_reliable
    assert list(res.unstable_modes) == list(unstable)


def test_pseudo_inverse_properties(toy3):
    k = toy3.force_constants()
    kp, has_neg = pseudo_inverse_force_constants(k)
    assert not has_neg
    t = translation_basis(3)
    p = np.eye(9) - t @ t.T
    np.testing.assert_allclose(kp @ t, 0.0, atol=1e-12)
    np.testing.assert_allclose(k @ kp, p, atol=1e-10)
    # translation-violating K gives the same K+ (translations are excluded)
    kp2, _ = pseudo_inverse_force_constants(k + 3.0 * t @ t.T)
    np.testing.assert_allclose(kp2, kp, atol=1e-12)


def test_inputs_not_mutated_and_errors(toy3):
    z, k, m = toy3.born_charges(), toy3.force_constants(), toy3.masses.copy()
    z0, k0, m0 = z.copy(), k.copy(), m.copy()
    dielectric_response(z, toy3.chi, k, m, toy3.volume)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(k, k0)
    np.testing.assert_array_equal(m, m0)
    with pytest.raises(ValueError, match="volume"):
        epsilon_ionic(z, k, 0.0)
    with pytest.raises(ValueError, match="atoms"):
        epsilon_ionic(z[:2], k, 10.0)
    with pytest.raises(ValueError, match="masses"):
        gamma_phonons(k, m[:2])
