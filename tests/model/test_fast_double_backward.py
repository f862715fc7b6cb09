"""The split-backward concatenation changes cost, never values (any derivative order)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import bulk

from macefield_flows.engine import evaluate
from macefield_flows.model import fast_double_backward as fdb
from macefield_flows.model.config import from_json_config
from macefield_flows.model.field_mace import FieldMACE
from macefield_flows.testing import tiny_field_model

PROPS = ("energy", "forces", "stress", "born_charges", "susceptibility", "force_constants",
         "dipole_strain", "internal_strain", "strain_hessian")


def test_cat_split_backward_matches_cat_to_third_order() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(5, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(5, 5, dtype=torch.float64, generator=gen)

    def f(cat):
        x = cat([a.sin(), b**3], dim=-1)
        return (x @ w * x).sum()

    derivs = []
    for cat in (torch.cat, fdb.cat_split_backward):
        (ga,) = torch.autograd.grad(f(cat), [a], create_graph=True)
        (gb,) = torch.autograd.grad(ga.sum(), [b], create_graph=True)
        (gbb,) = torch.autograd.grad((gb**2).sum(), [b])
        derivs.append((ga.detach(), gb.detach(), gbb))
    for x, y in zip(*derivs):
        assert torch.allclose(x, y, atol=1e-13, rtol=0)
    assert torch.autograd.gradcheck(lambda x, y: fdb.cat_split_backward([x, y], 1), (a, b))
    assert torch.autograd.gradgradcheck(lambda x, y: fdb.cat_split_backward([x, y], 1), (a, b))


def _scripted_twin(model: FieldMACE) -> FieldMACE:
    """The same model built with e3nn's stock TorchScript code (no patch)."""
    kwargs = from_json_config(model.json_config)
    kwargs.pop("field_coupling", None)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        twin = FieldMACE(field_coupling=True, **kwargs)
    finally:
        torch.set_default_dtype(previous)
    twin.load_state_dict(model.state_dict())
    twin.json_config = model.json_config
    return twin.double().eval()


def _n_split_cats(model: torch.nn.Module) -> int:
    return sum(node.target is fdb.cat_split_backward for m in model.modules()
               if isinstance(m, torch.fx.GraphModule) for node in m.graph.nodes)


def test_patched_model_equals_stock_e3nn_code() -> None:
    model = tiny_field_model(["Ba", "Ti", "O"], seed=3)
    assert fdb.patch_cat_backward(model) == 0  # already patched at build time
    twin = _scripted_twin(model)
    assert _n_split_cats(model) >= 4 and _n_split_cats(twin) == 0
    rng = np.random.default_rng(1)
    atoms = Atoms("BaTiO3", cell=np.eye(3) * 4.0 + 0.05 * rng.standard_normal((3, 3)), pbc=True,
                  scaled_positions=[[0, 0, 0], [0.5, 0.52, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    fast, stock = (evaluate([atoms], m, properties=PROPS, electric_field=[0.02, -0.01, 0.03],
                            device="cpu", symmetry_reduce=False)[0] for m in (model, twin))
    for key in PROPS:
        x, y = np.asarray(getattr(fast, key)), np.asarray(getattr(stock, key))
        assert np.allclose(x, y, atol=1e-11, rtol=1e-11), key
    assert np.abs(fast.force_constants).max() > 1e-2  # non-trivial comparison


def test_deepcopy_rebuilds_a_working_copy() -> None:
    model = tiny_field_model(["Na", "Cl"], seed=0)
    model.model_info = {"name": "x"}
    clone = copy.deepcopy(model)
    assert clone is not model and clone.model_info == {"name": "x"}
    for (k, p), (_, q) in zip(model.state_dict().items(), clone.state_dict().items()):
        assert torch.equal(p, q), k
        assert p.numel() == 0 or p.data_ptr() != q.data_ptr()
    atoms = bulk("NaCl", "rocksalt", a=5.6)
    atoms.positions[0] += 0.05
    a, b = (evaluate([atoms], m, properties=("forces", "born_charges"), device="cpu")[0]
            for m in (model, clone))
    assert np.array_equal(a.forces, b.forces) and np.array_equal(a.born_charges, b.born_charges)


@pytest.mark.parametrize("dtype", ["float32"])
def test_resolve_model_copy_to_other_dtype(dtype: str) -> None:
    from macefield_flows.engine import resolve_model

    model = tiny_field_model(["Na", "Cl"], seed=0)
    other = resolve_model(model, device="cpu", dtype=dtype)
    assert next(other.parameters()).dtype == getattr(torch, dtype)
    assert next(model.parameters()).dtype == torch.float64
