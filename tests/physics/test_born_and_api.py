"""Born-charge sum rule, Voigt helpers, import hygiene and emmet/pymatgen compatibility."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from macefield_flows.physics import asr_residual, e_ij_max_singular, enforce_asr, piezo_response
from macefield_flows.units import rank4_to_voigt, symmetric_to_voigt, voigt_to_rank4, voigt_to_symmetric


def test_asr_methods():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3, 3))
    z0 = z.copy()
    m = np.array([1.0, 2.0, 3.0, 10.0])
    assert asr_residual(z) == pytest.approx(np.max(np.abs(z.sum(0))))
    for method in ("uniform", "mass-weighted"):
        z_new = enforce_asr(z, method=method, masses=m)
        assert asr_residual(z_new) < 1e-13
    np.testing.assert_allclose(enforce_asr(z) - z, -np.broadcast_to(z.mean(0), z.shape))
    heavy = enforce_asr(z, "mass-weighted", m) - z
    assert np.linalg.norm(heavy[3]) > np.linalg.norm(heavy[0])
    np.testing.assert_array_equal(z, z0)  # not mutated
    with pytest.raises(ValueError, match="masses"):
        enforce_asr(z, "mass-weighted")
    with pytest.raises(ValueError, match="shape"):
        asr_residual(np.zeros((3, 3)))


def test_voigt_rank2_rank4_round_trip():
    rng = np.random.default_rng(1)
    s = rng.normal(size=(3, 3))
    s = s + s.T
    np.testing.assert_allclose(voigt_to_symmetric(symmetric_to_voigt(s)), s)
    c = rng.normal(size=(6, 6))
    c = c + c.T
    np.testing.assert_allclose(rank4_to_voigt(voigt_to_rank4(c)), c)


def test_emmet_compatible_e_ij_max():
    """Same value as emmet-core PiezoelectricDoc (svd of pymatgen's PiezoTensor.voigt)."""
    piezo = pytest.importorskip("pymatgen.analysis.piezo")
    v = np.random.default_rng(2).normal(size=(3, 6))
    ref = np.linalg.svd(piezo.PiezoTensor.from_voigt(v).voigt, full_matrices=False)[1]
    assert e_ij_max_singular(v)[0] == pytest.approx(ref[np.argmax(np.abs(ref))])


def test_piezo_inputs_not_mutated(toy3):
    args = [
        toy3.born_charges(),
        toy3.force_constants(),
        toy3.dipole_strain_derivative(),
        toy3.internal_strain(),
        toy3.strain_hessian(),
    ]
    copies = [a.copy() for a in args]
    piezo_response(*args, toy3.volume)
    for a, b in zip(args, copies):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="internal_strain"):
        piezo_response(*args[:3], args[3][:2], args[4], toy3.volume)


def test_physics_imports_without_torch_or_jobflow():
    code = (
        "import sys; import macefield_flows.physics, macefield_flows.physics.toymodels; "
        "bad = [m for m in ('torch', 'jobflow', 'mace') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
