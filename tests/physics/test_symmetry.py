"""Point-group symmetrisation with spglib."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from macefield_flows.physics import (
    asr_residual,
    enforce_asr,
    get_symmetry_operations,
    rotate_tensor,
    symmetrize_born_charges,
    symmetrize_rank2,
    symmetrize_rank3,
    symmetrize_rank4,
    symmetrize_tensor,
)
from macefield_flows.units import rank3_to_voigt


@pytest.fixture(scope="module")
def nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def zno() -> Structure:
    return Structure.from_spacegroup(
        "P6_3mc", Lattice.hexagonal(3.25, 5.21), ["Zn", "O"], [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.382]]
    )


def test_operations(nacl, zno):
    ops = get_symmetry_operations(nacl)
    assert ops.number == 225 and len(ops.point_group_rotations) == 48
    for r in ops.rotations:
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-10)
    ops_w = get_symmetry_operations(zno)
    assert ops_w.number == 186 and len(ops_w.point_group_rotations) == 12
    # the permutation maps atoms onto atoms of the same species
    z = np.array(zno.atomic_numbers)
    for perm in ops_w.permutations:
        np.testing.assert_array_equal(z[perm], z)
    # tuple input gives the same group
    tup = (zno.lattice.matrix, zno.frac_coords, zno.atomic_numbers)
    assert get_symmetry_operations(tup).number == 186


@pytest.mark.parametrize("rank", [2, 3, 4])
def test_random_tensor_becomes_invariant(zno, rank):
    rng = np.random.default_rng(rank)
    t = rng.normal(size=(3,) * rank)
    ops = get_symmetry_operations(zno)
    t_sym, viol = symmetrize_tensor(t, ops)
    assert viol > 0.1
    for r in ops.rotations:
        np.testing.assert_allclose(rotate_tensor(t_sym, r), t_sym, atol=1e-10)
    t2, viol2 = symmetrize_tensor(t_sym, ops)
    assert viol2 < 1e-12
    np.testing.assert_allclose(t2, t_sym, atol=1e-12)


def test_specialised_wrappers(nacl):
    rng = np.random.default_rng(0)
    eps, _ = symmetrize_rank2(rng.normal(size=(3, 3)), nacl)
    np.testing.assert_allclose(eps, np.eye(3) * np.trace(eps) / 3, atol=1e-12)
    e, _ = symmetrize_rank3(rng.normal(size=(3, 3, 3)), nacl)  # centrosymmetric
    np.testing.assert_allclose(e, 0.0, atol=1e-12)
    c = rng.normal(size=(3, 3, 3, 3))
    c_sym, _ = symmetrize_rank4(c, nacl)
    assert c_sym[0, 0, 0, 0] == pytest.approx(c_sym[1, 1, 1, 1]) and abs(c_sym[0, 0, 0, 1]) < 1e-12
    with pytest.raises(ValueError):
        symmetrize_rank3(np.zeros((3, 3)), nacl)


def test_born_charges_rocksalt_isotropic(nacl):
    rng = np.random.default_rng(1)
    n = len(nacl)
    z = np.where(np.array(nacl.atomic_numbers) == 11, 1.1, -1.1)[:, None, None] * np.eye(3)
    z_noisy = z + 0.05 * rng.normal(size=(n, 3, 3))
    z_sym, viol = symmetrize_born_charges(nacl, z_noisy)
    assert viol > 0.01
    na = np.array(nacl.atomic_numbers) == 11
    for k in range(n):
        np.testing.assert_allclose(z_sym[k], np.eye(3) * z_sym[k, 0, 0], atol=1e-12)
    np.testing.assert_allclose(z_sym[na, 0, 0], z_sym[na][0, 0, 0], atol=1e-12)  # equivalent atoms equal
    # an already symmetric input is reported as such
    z_again, viol0 = symmetrize_born_charges(nacl, z)
    assert viol0 < 1e-12
    np.testing.assert_allclose(z_again, z, atol=1e-12)
    # ASR: enforce, then symmetrisation keeps it
    z_asr = enforce_asr(z_noisy)
    assert asr_residual(z_asr) < 1e-12 < asr_residual(z_noisy)
    assert asr_residual(symmetrize_born_charges(nacl, z_asr)[0]) < 1e-12


def test_wurtzite_piezo_pattern(zno):
    rng = np.random.default_rng(3)
    t = rng.normal(size=(3, 3, 3))
    t = 0.5 * (t + t.transpose(0, 2, 1))
    e, viol = symmetrize_rank3(t, zno)
    v = rank3_to_voigt(e)  # Voigt: 0 xx 1 yy 2 zz 3 yz 4 xz 5 xy
    assert v[2, 0] == pytest.approx(v[2, 1])  # e31 = e32
    assert v[0, 4] == pytest.approx(v[1, 3])  # e15 = e24
    assert abs(v[2, 2]) > 1e-3 and abs(v[2, 0]) > 1e-3 and abs(v[0, 4]) > 1e-3
    mask = np.zeros((3, 6), bool)
    mask[2, [0, 1, 2]] = mask[0, 4] = mask[1, 3] = True
    np.testing.assert_allclose(v[~mask], 0.0, atol=1e-12)
    assert viol > 0.1
    assert symmetrize_rank3(e, zno)[1] < 1e-12


def test_born_charges_wurtzite_site_symmetry(zno):
    rng = np.random.default_rng(4)
    z_sym, _ = symmetrize_born_charges(zno, rng.normal(size=(len(zno), 3, 3)))
    for k in range(len(zno)):  # C3v site: Z = diag(a, a, b)
        np.testing.assert_allclose(z_sym[k] - np.diag(np.diag(z_sym[k])), 0.0, atol=1e-12)
        assert z_sym[k, 0, 0] == pytest.approx(z_sym[k, 1, 1])
    with pytest.raises(ValueError, match="atoms"):
        symmetrize_born_charges(zno, np.zeros((3, 3, 3)))
