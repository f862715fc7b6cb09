"""The three routes of the engine benchmark agree (keeps workflows/benchmarks honest).

The finite-difference route is independent of the engine's autograd kernels: it only
calls the ASE calculator for energies, forces, stresses and dipoles.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from macefield_flows.testing import tiny_field_model

BENCH = Path(__file__).resolve().parents[2] / "workflows" / "benchmarks" / "bench_engine.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_engine_loop_and_finite_differences_agree(bench):
    structures = bench.make_structures(4, max_atoms=4)[:2]  # rocksalt NaCl, then a P1 MgO cell
    assert len(structures[0]) == 2 and len(structures[1]) == 2
    model = tiny_field_model(["Na", "Cl", "Mg", "O"], seed=1, channels=8, max_ell=2, correlation=2, r_max=4.5)
    engine, raw = bench.route_engine(structures, model, "cpu")
    loop = bench.route_per_structure(structures, model, "cpu")
    fd = bench.route_finite_differences(structures, model, "cpu")
    assert all(r.ok for r in raw)
    dev_loop = bench.max_dev(engine, loop)
    assert max(dev_loop.values()) < 1e-8, dev_loop
    rel_fd = bench.max_rel_dev(engine, fd)
    for key in ("born", "eps_inf", "elastic"):
        assert rel_fd[key] < 1e-4, (key, rel_fd)
    # non-trivial: the quantities compared are not zero
    assert np.abs(engine[1]["born"]).max() > 1e-2 and np.abs(engine[1]["elastic"]).max() > 1.0
