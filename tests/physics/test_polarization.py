"""Polarisation quantum, folding and branch-continuous paths."""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.physics import fold_polarization_difference, polarization_quantum, spontaneous_polarization
from macefield_flows.units import E_PER_A2_TO_C_PER_M2

LATTICE = np.array([[4.0, 0.0, 0.0], [0.3, 4.2, 0.0], [0.2, -0.1, 5.0]])


def test_quantum_and_folding():
    q = polarization_quantum(LATTICE)
    vol = abs(np.linalg.det(LATTICE))
    np.testing.assert_allclose(q[2], LATTICE[2] / vol)
    dp = np.array([0.001, -0.002, 0.003])
    shifted = dp + 2 * q[2] - q[0] + 3 * q[1]
    np.testing.assert_allclose(fold_polarization_difference(shifted, LATTICE), dp, atol=1e-14)
    batch = np.stack([shifted, dp - q[1]])
    np.testing.assert_allclose(fold_polarization_difference(batch, LATTICE), [dp, dp], atol=1e-14)


def _path(n, lats):
    lam = np.linspace(0, 1, n)
    true = np.outer(lam, [0.004, -0.002, 0.045]) + np.outer(lam**2, [0.0, 0.0, 0.01])
    return lam, true


def test_path_crossing_a_branch():
    lam, true = _path(11, LATTICE)
    q = polarization_quantum(LATTICE)
    # raw values folded into the cell around zero: the path crosses the branch cut along c
    raw = fold_polarization_difference(true, LATTICE)
    assert np.any(np.abs(raw - true) > 1e-6)  # the branch is really crossed
    res = spontaneous_polarization(raw, LATTICE)
    np.testing.assert_allclose(res.polarization - res.polarization[0], true - true[0], atol=1e-12)
    np.testing.assert_allclose(res.spontaneous, true[-1] - true[0], atol=1e-12)
    np.testing.assert_allclose(res.spontaneous_c_per_m2, (true[-1] - true[0]) * E_PER_A2_TO_C_PER_M2)
    assert res.is_continuous and res.is_smooth
    # arbitrary integer quanta added to every frame do not matter
    rng = np.random.default_rng(0)
    res2 = spontaneous_polarization(raw + rng.integers(-3, 4, (11, 3)) @ q, LATTICE)
    np.testing.assert_allclose(res2.spontaneous, res.spontaneous, atol=1e-12)


def test_per_frame_lattices_and_discontinuity_flag():
    lats = np.array([LATTICE * (1 + 0.01 * s) for s in np.linspace(0, 1, 6)])
    _, true = _path(6, lats)
    raw = np.array([fold_polarization_difference(p, lat) for p, lat in zip(true, lats)])
    res = spontaneous_polarization(raw, lats)
    np.testing.assert_allclose(res.spontaneous, true[-1] - true[0], atol=1e-12)
    # too coarse a path (step of 0.45 quanta) is flagged as ambiguous
    q = polarization_quantum(LATTICE)
    coarse = np.array([np.zeros(3), 0.45 * q[2], 0.9 * q[2]])
    assert not spontaneous_polarization(coarse, LATTICE).is_continuous
    # a kinked path is flagged as not smooth
    kink = np.outer(np.linspace(0, 1, 8), q[2] * 0.3)
    kink[4] += 0.2 * q[2]
    assert not spontaneous_polarization(kink, LATTICE).is_smooth
    with pytest.raises(ValueError):
        spontaneous_polarization(np.zeros((1, 3)), LATTICE)
