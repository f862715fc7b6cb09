"""CUDA checks (skipped without a GPU): same numbers on the GPU as on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.engine import evaluate

PROPS = ("energy", "forces", "stress", "born_charges", "epsilon_electronic", "force_constants",
         "dipole_strain", "internal_strain")


@pytest.mark.gpu
def test_cuda_matches_cpu(tiny_model, low_symmetry_structures):
    cpu = evaluate(low_symmetry_structures, tiny_model, properties=PROPS, device="cpu")
    gpu = evaluate(low_symmetry_structures, tiny_model, properties=PROPS, device="cuda")
    for a, b in zip(cpu, gpu):
        for key in PROPS:
            np.testing.assert_allclose(getattr(a, key), getattr(b, key), atol=1e-9, err_msg=key)
