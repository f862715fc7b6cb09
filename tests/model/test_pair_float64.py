"""float64 means float64 for the ZBL pair term, whatever torch's global default dtype."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms

from tests.model.helpers import run


@pytest.fixture(scope="module")
def pair_model():
    from macefield_flows.model.config import build_field_mace
    from macefield_flows.testing import tiny_model_config

    config = dict(tiny_model_config(["Ba", "Ti", "O"]), pair_repulsion=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        return build_field_mace(config, dtype=torch.float64).eval()


@pytest.fixture(scope="module")
def compressed() -> Atoms:
    """A 3 A BaTiO3 cell, rattled: Ti-O and Ba-O closer than their covalent-radius sums."""
    atoms = Atoms("BaTiO3", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5],
                                              [0, 0.5, 0.5]], cell=np.eye(3) * 3.0, pbc=True)
    atoms.positions += 0.1 * np.random.default_rng(0).standard_normal((5, 3))
    return atoms


def _pair_energy(model, atoms) -> float:
    from macefield_flows.model.graph import atoms_to_graph, collate
    from macefield_flows.model.pair import zbl_node_energy

    graph = atoms_to_graph(atoms, model.atomic_numbers.tolist(), float(model.r_max))
    data = collate([graph], len(model.atomic_numbers), torch.float64)
    sender, receiver = data["edge_index"]
    vectors = data["positions"][receiver] - data["positions"][sender] + data["shifts"]
    lengths = torch.linalg.norm(vectors, dim=-1, keepdim=True)
    return float(zbl_node_energy(model.pair_repulsion_fn, lengths, data["node_attrs"], data["edge_index"],
                                 model.atomic_numbers).sum())


def test_pair_term_is_float64_under_float32_default(pair_model, compressed):
    assert torch.get_default_dtype() == torch.float32
    assert abs(_pair_energy(pair_model, compressed)) > 0.5  # the pair term matters here (eV)
    ours = run(pair_model, compressed, compute_stress=True)
    assert torch.get_default_dtype() == torch.float32  # the caller's default is untouched
    # independent route: mace's own ScaleShiftMACE.forward with float64 as the global default
    from mace.modules.models import ScaleShiftMACE

    from macefield_flows.model.graph import atoms_to_graph, collate

    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        graph = atoms_to_graph(compressed, pair_model.atomic_numbers.tolist(), float(pair_model.r_max))
        data = collate([graph], len(pair_model.atomic_numbers), torch.float64)
        ref = ScaleShiftMACE.forward(pair_model, data, compute_stress=True)
    finally:
        torch.set_default_dtype(previous)
    assert ours["energy"][0] == pytest.approx(float(ref["energy"][0].detach()), rel=1e-14, abs=1e-12)
    np.testing.assert_allclose(ours["forces"], ref["forces"].detach().numpy(), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(ours["stress"], ref["stress"].detach().numpy(), rtol=1e-13, atol=1e-13)


def test_pair_forces_are_the_energy_gradient(pair_model, compressed):
    """Forces include the pair term consistently: central differences of the energy."""
    h = 1e-5
    forces = run(pair_model, compressed)["forces"]
    for k, a in ((1, 0), (2, 2)):
        plus, minus = compressed.copy(), compressed.copy()
        plus.positions[k, a] += h
        minus.positions[k, a] -= h
        fd = -(run(pair_model, plus, compute_force=False)["energy"][0]
               - run(pair_model, minus, compute_force=False)["energy"][0]) / (2 * h)
        assert forces[k, a] == pytest.approx(fd, abs=1e-6)
