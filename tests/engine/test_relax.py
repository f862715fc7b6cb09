"""Batched FIRE relaxation against ASE's FIRE + FrechetCellFilter."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE

from macefield_flows.calculator import MACEFieldCalculator
from macefield_flows.engine import relax
from macefield_flows.physics.symmetry import get_symmetry_operations


@pytest.fixture(scope="module")
def perturbed_minima(tiny_model, low_symmetry_structures):
    """Minima of the random model, then rattled and strained by ~1 %: a well-defined basin.

    (Far from a minimum the random model's landscape is flat with many minima, so two
    optimisers may legitimately end in different ones.)
    """
    out = []
    rng = np.random.default_rng(5)
    for atoms in low_symmetry_structures[1:]:
        ref = atoms.copy()
        ref.calc = MACEFieldCalculator(model=tiny_model)
        BFGS(FrechetCellFilter(ref), logfile=None).run(fmax=1e-3, steps=1000)
        start = ref.copy()
        start.set_cell(ref.cell.array @ (np.eye(3) + 0.01 * rng.standard_normal((3, 3))), scale_atoms=True)
        start.positions += 0.02 * rng.standard_normal(start.positions.shape)
        out.append(start)
    return out


@pytest.mark.parametrize("relax_cell", [False, True], ids=["positions", "positions+cell"])
def test_relax_matches_ase(tiny_model, perturbed_minima, relax_cell):
    fmax = 0.001
    ours = relax(perturbed_minima, tiny_model, fmax=fmax, max_steps=1500, relax_cell=relax_cell)
    for atoms, res in zip(perturbed_minima, ours):
        assert res.ok and res.converged, res
        assert res.steps > 5 and res.energies[0] - res.energy > 1e-5  # a real relaxation
        ref = atoms.copy()
        ref.calc = MACEFieldCalculator(model=tiny_model)
        target = FrechetCellFilter(ref) if relax_cell else ref
        FIRE(target, logfile=None).run(fmax=fmax, steps=2000)
        assert res.energy == pytest.approx(ref.get_potential_energy(), abs=1e-4)
        assert res.energy <= res.energies[0] + 1e-12  # went downhill
        # the relaxed structure is a stationary point of the model
        ref_check = res.atoms.copy()
        ref_check.calc = MACEFieldCalculator(model=tiny_model)
        assert np.abs(ref_check.get_forces()).max() < 2 * fmax


def test_relax_keeps_symmetry_and_isolates_failures(tiny_model):
    tetragonal = bulk("MgO", "rocksalt", a=4.3)
    tetragonal.set_cell(tetragonal.cell.array @ np.diag([1.0, 1.0, 1.03]), scale_atoms=True)
    tetragonal = tetragonal * (1, 1, 2)
    before = get_symmetry_operations(tetragonal).number
    gaas = bulk("GaAs", "zincblende", a=5.65)
    results = relax([tetragonal, gaas], tiny_model, fmax=0.005, relax_cell=True, keep_symmetry=True,
                    max_steps=300)
    assert results[0].ok and not results[1].ok
    assert "not known to the model" in results[1].error
    after = get_symmetry_operations(results[0].atoms, symprec=1e-4).number
    assert after == before


def test_relax_at_finite_field_displacement_is_k_plus_zt_e():
    """Relaxing at field E moves the ions by u = K+ Z^T E (exact for the harmonic toy crystal).

    The toy has non-symmetric Born charges, so a force Z E (wrong index) or -Z^T E
    (wrong sign) gives a different displacement; K and Z come from its closed forms.
    """
    from macefield_flows.testing import anisotropic_toy_system

    toy, model, atoms = anisotropic_toy_system()
    field = np.array([0.1, -0.07, 0.12])
    res = relax([atoms], model, fmax=1e-7, max_steps=3000, electric_field=field)[0]
    assert res.converged
    u = res.atoms.positions - atoms.positions
    k_plus = np.linalg.pinv(toy.force_constants(), rcond=1e-10)
    z = toy.born_charges()
    expected = (k_plus @ np.einsum("kia,i->ka", z, field).ravel()).reshape(-1, 3)
    u, expected = u - u.mean(axis=0), expected - expected.mean(axis=0)
    assert np.abs(expected).max() > 1e-3  # the ions really move
    k_soft = np.linalg.eigvalsh(toy.force_constants())[3]  # softest optical eigenvalue, eV/A^2
    np.testing.assert_allclose(u, expected, atol=3e-7 / k_soft)  # fmax / k bounds the residual
    wrong = (k_plus @ np.einsum("kai,i->ka", z, field).ravel()).reshape(-1, 3)
    assert np.abs(u - (wrong - wrong.mean(axis=0))).max() > 0.1 * np.abs(expected).max()