"""Field textbook checks of the v4 campaign: the centrosymmetric image of a P4mm perovskite and the
model's spontaneous polarisation against the integral of its own Born charges along the path."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from macefield_flows.testing import tiny_field_model
from macefield_flows.training.textbook_checks import (centrosymmetric_perovskite,
                                                      model_spontaneous_polarization, ti_offset)
from macefield_flows.units import E_PER_A2_TO_C_PER_M2


def _p4mm_batio3(shift: float = 0.13) -> Atoms:
    """P4mm BaTiO3 (a = 4.0, c = 4.2 A) with Ba at z = ``shift``: Ti +0.015, O -0.02/-0.015 (fractional)."""
    frac = np.array([[0, 0, 0], [0.5, 0.5, 0.515], [0.5, 0.5, -0.02], [0.5, 0, 0.485], [0, 0.5, 0.485]])
    frac[:, 2] += shift
    return Atoms("BaTiO3", scaled_positions=frac % 1.0, cell=np.diag([4.0, 4.0, 4.2]), pbc=True)


def _space_group(atoms) -> int:
    import spglib

    cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.get_atomic_numbers())
    return int(spglib.get_symmetry_dataset(cell, symprec=1e-4).number)


def test_centrosymmetric_image_of_p4mm_is_p4_mmm():
    polar = _p4mm_batio3()
    assert _space_group(polar) == 99
    centro = centrosymmetric_perovskite(polar)
    assert _space_group(centro) == 123
    assert abs(ti_offset(centro)) < 1e-12
    assert ti_offset(polar) == pytest.approx(0.035 * 4.2, abs=1e-12)


def test_model_ps_equals_integral_of_its_born_charges_along_the_path():
    """dP/du = Z*/Omega exactly in this model, so Ps = (1/Omega) int sum_k Z*_k(t) d_k dt (Simpson)."""
    from macefield_flows.engine.evaluate import evaluate

    model = tiny_field_model(["Ba", "Ti", "O"], seed=3)
    polar = _p4mm_batio3()
    got = model_spontaneous_polarization(model, polar, n_frames=9)
    start = centrosymmetric_perovskite(polar)
    f0 = start.get_scaled_positions()
    d = ((polar.get_scaled_positions() - f0 + 0.5) % 1.0 - 0.5) @ polar.cell.array  # (N, 3) A
    ts = np.linspace(0.0, 1.0, 41)
    frames = []
    for t in ts:
        frame = polar.copy()
        frame.set_scaled_positions(f0 + t * (d @ np.linalg.inv(polar.cell.array)))
        frames.append(frame)
    res = evaluate(frames, model, properties=("born_charges",), device="cpu", symmetry_reduce=False)
    integrand = np.stack([np.einsum("kia,ka->i", r.born_charges, d) for r in res]) / polar.get_volume()
    w = np.ones(len(ts))
    w[1:-1:2], w[2:-1:2] = 4, 2
    expected = (w[:, None] * integrand).sum(0) * (ts[1] - ts[0]) / 3 * E_PER_A2_TO_C_PER_M2
    assert np.linalg.norm(expected) > 1e-3  # the path does move charge
    np.testing.assert_allclose(got["Ps_C_m2"], expected, atol=1e-6 * np.linalg.norm(expected) + 1e-12)
    assert got["Ps_norm_C_m2"] == pytest.approx(np.linalg.norm(expected), rel=1e-6)
    assert got["path_continuous"]


def test_teacher_worker_labels_equal_in_process_labels():
    """The worker protocol (JSON lines, 3x3 stress with ASE's sign) loses nothing: CHGNet through the
    worker subprocess equals CHGNet called in this process."""
    import sys

    pytest.importorskip("chgnet")
    from ase.build import bulk

    from macefield_flows.training.data import Sample
    from macefield_flows.training.labels import label_with_chgnet
    from macefield_flows.training.teacher import label_with_teacher

    atoms = bulk("MgO", "rocksalt", a=4.25)
    atoms.positions[0] += [0.05, -0.03, 0.02]
    atoms.set_cell(atoms.cell.array @ np.array([[1.01, 0.005, 0], [0.005, 0.99, 0], [0, 0, 1.0]]),
                   scale_atoms=True)

    def samples():
        return [Sample(atoms=atoms.copy(), name="MgO", dataset="toy", split="test")]

    (direct,) = label_with_chgnet(samples())
    (worker,) = label_with_teacher(samples(), "chgnet", python=sys.executable)
    assert np.abs(direct.forces).max() > 0.05 and np.abs(direct.stress).max() > 1e-3
    assert worker.energy == pytest.approx(direct.energy, abs=1e-5)
    np.testing.assert_allclose(worker.forces, direct.forces, atol=1e-5)
    np.testing.assert_allclose(worker.stress, direct.stress, atol=1e-7)


def test_relaxed_ion_elastic_by_finite_differences_equals_the_engines_analytic_tensor():
    """The teacher comparison's FD elastic tensor (stress and forces under strain, FD force constants)
    equals the engine's exact relaxed-ion tensor C0 - Lambda^T K+ Lambda / Omega at equilibrium."""
    from ase.build import bulk

    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.engine.evaluate import evaluate
    from macefield_flows.physics.piezo import elastic_to_voigt, relaxed_ion_elastic
    from macefield_flows.training.teacher_compare import full_relax, relaxed_ion_elastic_fd

    model = tiny_field_model(["Zn", "O"], seed=1)
    atoms, converged = full_relax(bulk("ZnO", "wurtzite", a=3.25, c=5.2), MACEFieldCalculator(model),
                                  fmax=1e-5, steps=2000)
    assert converged
    fd = relaxed_ion_elastic_fd(atoms, MACEFieldCalculator(model), strain=1e-3)
    (res,) = evaluate([atoms], model, properties=("strain_hessian", "internal_strain", "force_constants"),
                      device="cpu", symmetry_reduce=False)
    exact = elastic_to_voigt(relaxed_ion_elastic(res.strain_hessian, res.force_constants, res.internal_strain,
                                                 atoms.get_volume()))
    scale = np.abs(exact).max()
    assert np.abs(exact - elastic_to_voigt(res.strain_hessian / atoms.get_volume())).max() > 0.01 * scale
    np.testing.assert_allclose(fd["relaxed_gpa"], exact, atol=2e-3 * scale)
