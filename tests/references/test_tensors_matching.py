import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from macefield_flows.references.matching import match_structures, random_rotation, rotate_and_permute
from macefield_flows.references.tensors import (
    e_ij_max_emmet,
    e_ij_max_longitudinal_legacy,
    piezo_invariants,
    rotate_born,
    rotate_piezo_voigt,
    rotate_rank2,
)
from macefield_flows.units import E_PER_A2_TO_C_PER_M2, rank3_to_voigt, voigt_to_rank3


def _wurtzite():
    s = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.11, 4.98), ["Al", "N"],
                                  [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.382]])
    # symmetry-consistent tensors (6mm): Z* = diag(Zp, Zp, Zz) per site, eps uniaxial
    born = np.array([np.diag([2.5, 2.5, 2.7]) * (1 if sp.symbol == "Al" else -1) for sp in s.species])
    return s, born, np.diag([4.2, 4.2, 4.4])


def _triclinic():
    """P1 cell: the site mapping and rotation are unique, so arbitrary tensors must be recovered."""
    rng = np.random.default_rng(7)
    lat = Lattice.from_parameters(4.1, 5.3, 6.2, 81.0, 97.0, 104.0)
    s = Structure(lat, ["Ba", "Ti", "O", "O", "S"], rng.random((5, 3)))
    born = rng.normal(size=(5, 3, 3))
    born -= born.mean(axis=0)
    a = rng.normal(size=(3, 3))
    return s, born, a @ a.T + 3 * np.eye(3)


def test_rotation_roundtrip_rank2_rank3():
    r = random_rotation(1)
    eps = np.array([[4.0, 0.1, 0.0], [0.1, 5.0, 0.2], [0.0, 0.2, 6.0]])
    assert np.allclose(rotate_rank2(rotate_rank2(eps, r), r.T), eps)
    e = np.random.default_rng(2).normal(size=(3, 6))
    e2 = rotate_piezo_voigt(e, r)
    assert np.allclose(rotate_piezo_voigt(e2, r.T), e)
    # full-tensor einsum check
    t = voigt_to_rank3(e)
    assert np.allclose(voigt_to_rank3(e2), np.einsum("ia,jb,kc,abc->ijk", r, r, r, t))
    assert np.allclose(rank3_to_voigt(voigt_to_rank3(e)), e)


def test_piezo_invariants_are_rotation_invariant():
    e = np.random.default_rng(3).normal(size=(3, 6))
    a = piezo_invariants(e)
    b = piezo_invariants(rotate_piezo_voigt(e, random_rotation(5)))
    assert a["frobenius"] == pytest.approx(b["frobenius"], rel=1e-10)
    assert np.allclose(a["singular_values"], b["singular_values"])
    assert a["longitudinal_max"] == pytest.approx(b["longitudinal_max"], rel=1e-5)


def test_e_ij_max_definitions_differ():
    # AgI (de Jong mp-22925), -43m: e14 = -0.15842, eij_max as given 0.091464 C/m^2
    e = np.zeros((3, 6))
    e[0, 3] = e[1, 4] = e[2, 5] = -0.15842
    assert e_ij_max_longitudinal_legacy(e) == pytest.approx(0.091464, rel=1e-4)
    assert e_ij_max_emmet(e) == pytest.approx(0.15842)
    assert piezo_invariants(e)["longitudinal_max"] == pytest.approx(2 * 0.091464, rel=1e-4)


def test_unit_conversion():
    assert E_PER_A2_TO_C_PER_M2 == pytest.approx(16.0218, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("make", [_wurtzite, _triclinic])
def test_match_permuted_rotated_structure(seed, make):
    s, born, eps = make()
    rot = random_rotation(seed)
    perm = np.random.default_rng(seed).permutation(len(s))
    s_pred = rotate_and_permute(s, rot, perm)
    born_pred = rotate_born(born, rot, perm)
    m = match_structures(s_pred, s)
    assert m is not None and m.lattice_residual < 1e-6
    assert np.allclose(m.born_to_reference(born_pred), born, atol=1e-8)
    assert np.allclose(m.rank2_to_reference(rotate_rank2(eps, rot)), eps, atol=1e-8)


def test_no_match_returns_none():
    s, _, _ = _wurtzite()
    other = Structure(Lattice.cubic(4.0), ["Al", "N"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert match_structures(other, s) is None
