"""The batched engine against finite differences, serial evaluation and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from macefield_flows.engine import evaluate
from tests.model.helpers import energy, fd_force_constants, run, strained

H_POS, H_STRAIN = 1e-4, 1e-5
RESPONSE = ("energy", "forces", "stress", "dipole", "polarization", "born_charges",
            "susceptibility", "epsilon_electronic", "force_constants", "dipole_strain",
            "internal_strain", "strain_hessian")


@pytest.fixture(scope="module")
def engine_results(tiny_model, low_symmetry_structures):
    return evaluate(low_symmetry_structures, tiny_model, properties=RESPONSE, device="cpu")


def test_force_constants_match_force_differences(tiny_model, low_symmetry_structures, engine_results):
    for atoms, res in zip(low_symmetry_structures, engine_results):
        n = len(atoms)
        fd = fd_force_constants(tiny_model, atoms, H_POS)
        fd = 0.5 * (fd + fd.T)
        np.testing.assert_allclose(res.force_constants, fd, atol=1e-7, rtol=1e-5)
        # translations are zero modes of the force constants
        t = np.tile(np.eye(3), (n, 1))
        assert np.abs(res.force_constants @ t).max() < 1e-8


def test_strain_derivatives_match_strained_cells(tiny_model, low_symmetry_structures, engine_results):
    for atoms, res in zip(low_symmetry_structures, engine_results):
        fd_lam = np.zeros((len(atoms), 3, 3, 3))
        fd_w = np.zeros((3, 3, 3, 3))
        volume = abs(np.linalg.det(atoms.cell.array))
        for j in range(3):
            for l in range(3):
                eps = np.zeros((3, 3))
                eps[j, l] = eps[l, j] = H_STRAIN / (2 if j != l else 1)
                plus = run(tiny_model, strained(atoms, eps), compute_stress=True)
                minus = run(tiny_model, strained(atoms, -eps), compute_stress=True)
                fd_lam[:, :, j, l] = (plus["forces"] - minus["forces"]) / (2 * H_STRAIN)
                # strain Hessian: at finite strain dF/d eta = sym(Omega sigma (I + eta)^-1)
                gp, gm = (
                    volume * np.linalg.det(np.eye(3) + sgn * eps) * out["stress"][0]
                    @ np.linalg.inv(np.eye(3) + sgn * eps)
                    for sgn, out in ((1, plus), (-1, minus))
                )
                fd_w[:, :, j, l] = (0.5 * (gp + gp.T) - 0.5 * (gm + gm.T)) / (2 * H_STRAIN)
        np.testing.assert_allclose(res.internal_strain, fd_lam, atol=1e-6, rtol=1e-5)
        assert np.abs(res.internal_strain).max() > 1e-3
        np.testing.assert_allclose(res.strain_hessian, fd_w, atol=1e-6, rtol=1e-5)
        assert np.abs(res.strain_hessian).max() > 1e-2
        fd_e = np.zeros(6)
        for a, (j, l) in enumerate(((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))):
            eps = np.zeros((3, 3))
            eps[j, l] = eps[l, j] = H_STRAIN
            fd_e[a] = (energy(tiny_model, strained(atoms, eps)) + energy(tiny_model, strained(atoms, -eps))
                       - 2 * res.energy) / H_STRAIN**2
            want = sum(res.strain_hessian[p, q, r, s] for p, q in {(j, l), (l, j)} for r, s in {(j, l), (l, j)})
            assert fd_e[a] == pytest.approx(want, rel=1e-3, abs=1e-4)


def test_batch_equals_serial(tiny_model, low_symmetry_structures, engine_results):
    for atoms, batched in zip(low_symmetry_structures, engine_results):
        (single,) = evaluate([atoms], tiny_model, properties=RESPONSE)
        for key in RESPONSE:
            np.testing.assert_allclose(getattr(batched, key), getattr(single, key), atol=1e-10, err_msg=key)


def test_results_in_input_order_and_failures_isolated(tiny_model, low_symmetry_structures):
    good_a, good_b = low_symmetry_structures
    unknown = bulk("GaAs", "zincblende", a=5.65)
    overlapping = Atoms("NaCl", positions=[[0, 0, 0], [0.01, 0, 0]], cell=np.eye(3) * 5, pbc=True)
    inputs = [good_a, unknown, good_b, overlapping, good_a * (2, 1, 1)]
    results = evaluate(inputs, tiny_model, properties=("energy", "forces", "born_charges"),
                       labels=["a", "gaas", "b", "overlap", "a2"], max_atoms_per_batch=12)
    assert [r.index for r in results] == list(range(5))
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert "gaas" in results[1].error and "['Ga', 'As']" in results[1].error
    assert results[1].error_type == "UnknownElementError"
    assert "overlapping atoms" in results[3].error
    assert results[4].energy == pytest.approx(2 * results[0].energy, abs=1e-8)  # extensive
    assert results[0].stress is None  # not asked for, not computed


def test_engine_accepts_pymatgen_and_does_not_mutate(tiny_model, low_symmetry_structures):
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = low_symmetry_structures[0]
    before = atoms.positions.copy()
    structure = AseAtomsAdaptor.get_structure(atoms)
    (from_pmg,) = evaluate([structure], tiny_model, properties=("energy", "polarization"),
                           electric_field=[0.0, 0.0, 0.05])
    (from_ase,) = evaluate([atoms], tiny_model, properties=("energy", "polarization"),
                           electric_field=[0.0, 0.0, 0.05])
    assert from_pmg.energy == pytest.approx(from_ase.energy, abs=1e-10)
    np.testing.assert_allclose(from_pmg.polarization, from_ase.polarization, atol=1e-12)
    np.testing.assert_array_equal(atoms.positions, before)


def test_unknown_property_is_refused(tiny_model, low_symmetry_structures):
    with pytest.raises(ValueError, match="unknown properties \\['phonons'\\]"):
        evaluate(low_symmetry_structures, tiny_model, properties=("energy", "phonons"))


def test_symmetry_reduced_force_constants_equal_full(tiny_model):
    from macefield_flows.engine.symmetry_reduction import orbit_map

    wurtzite = bulk("ZnO", "wurtzite", a=3.25, c=5.2)
    supercell = bulk("MgO", "rocksalt", a=4.2, cubic=True)  # 8 atoms, 2 orbits
    perovskite = Atoms("BaTiO3", cell=np.eye(3) * 4.0, pbc=True,
                       scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    perovskite.positions[1, 2] += 0.1  # polar P4mm: Ba, Ti, apical O, 2 equatorial O
    structures = [wurtzite, supercell, perovskite]
    assert [len(orbit_map(s).representatives) for s in structures] == [2, 2, 4]
    reduced = evaluate(structures, tiny_model, properties=("force_constants",), symmetry_reduce=True)
    full = evaluate(structures, tiny_model, properties=("force_constants",), symmetry_reduce=False)
    for r, f in zip(reduced, full):
        assert np.abs(f.force_constants).max() > 1e-3
        np.testing.assert_allclose(r.force_constants, f.force_constants, atol=1e-10)
