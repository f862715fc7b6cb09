"""Exact properties of the enthalpy: E=0 backbone equality, O(3) equivariance, sum rules,
translation/permutation invariance, batch == single."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from tests.model.helpers import ALL, run

FIELD = np.array([0.04, -0.07, 0.02])


def _backbone_from(field_model):
    """A plain mace ScaleShiftMACE with the backbone weights of ``field_model``."""
    from mace.modules.models import ScaleShiftMACE

    from macefield_flows.model.config import from_json_config

    kwargs = from_json_config(field_model.json_config)
    kwargs.pop("field_coupling", None)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        backbone = ScaleShiftMACE(**kwargs)
    finally:
        torch.set_default_dtype(previous)
    state = {k: v for k, v in field_model.state_dict().items() if not k.startswith("field_")}
    backbone.load_state_dict(state, strict=True)
    return backbone.double().eval()


def _mace_outputs(backbone, atoms):
    from macefield_flows.model.graph import atoms_to_graph, collate

    g = atoms_to_graph(atoms, backbone.atomic_numbers.tolist(), float(backbone.r_max))
    data = collate([g], len(backbone.atomic_numbers), torch.float64)
    out = backbone(data, compute_stress=True)
    return {k: out[k].detach().numpy() for k in ("energy", "forces", "stress")}


def test_zero_field_equals_backbone(tiny_model, low_symmetry_structures):
    backbone = _backbone_from(tiny_model)
    for atoms in low_symmetry_structures:
        ref = _mace_outputs(backbone, atoms)
        ours = run(tiny_model, atoms, None, compute_stress=True)
        assert abs(ours["energy"][0] - ref["energy"][0]) < 1e-10
        np.testing.assert_allclose(ours["forces"], ref["forces"], atol=1e-10, rtol=0)
        np.testing.assert_allclose(ours["stress"], ref["stress"], atol=1e-10, rtol=0)
        # ... and a finite field really changes the energy
        assert abs(run(tiny_model, atoms, FIELD)["energy"][0] - ref["energy"][0]) > 1e-6


def test_from_foundation_reproduces_backbone(tiny_model, low_symmetry_structures):
    from macefield_flows.model import FieldMACE

    backbone = _backbone_from(tiny_model)
    converted = FieldMACE.from_foundation(backbone, seed=3).eval()
    assert converted.has_field_blocks
    for atoms in low_symmetry_structures:
        ref = _mace_outputs(backbone, atoms)
        ours = run(converted, atoms, None, compute_stress=True, compute_dipole=True, compute_bec=True)
        assert abs(ours["energy"][0] - ref["energy"][0]) < 1e-10
        np.testing.assert_allclose(ours["forces"], ref["forces"], atol=1e-10, rtol=0)
        np.testing.assert_allclose(ours["stress"], ref["stress"], atol=1e-10, rtol=0)
        assert np.abs(ours["born_charges"]).max() > 0  # field blocks are live at E = 0


@pytest.mark.parametrize("improper", [False, True], ids=["rotation", "rotoinversion"])
def test_o3_equivariance(tiny_model, low_symmetry_structures, improper):
    rng = np.random.default_rng(7)
    q = Rotation.random(random_state=11).as_matrix()
    if improper:
        q = -q
    for atoms in low_symmetry_structures:
        ref = run(tiny_model, atoms, FIELD, **ALL)
        rot = atoms.copy()
        rot.set_cell(atoms.cell.array @ q.T, scale_atoms=False)
        rot.positions = atoms.positions @ q.T
        out = run(tiny_model, rot, q @ FIELD, **ALL)
        assert abs(out["energy"][0] - ref["energy"][0]) < 1e-10
        np.testing.assert_allclose(out["forces"], ref["forces"] @ q.T, atol=1e-10)
        np.testing.assert_allclose(out["stress"][0], q @ ref["stress"][0] @ q.T, atol=1e-10)
        np.testing.assert_allclose(out["polarization"][0], q @ ref["polarization"][0], atol=1e-10)
        np.testing.assert_allclose(
            out["born_charges"], np.einsum("ia,kab,jb->kij", q, ref["born_charges"], q), atol=1e-9
        )
        np.testing.assert_allclose(out["susceptibility"][0], q @ ref["susceptibility"][0] @ q.T, atol=1e-9)
        np.testing.assert_allclose(
            out["dipole_strain"][0],
            np.einsum("ia,jb,lc,abc->ijl", q, q, q, ref["dipole_strain"][0]),
            atol=1e-9,
        )
    del rng


def test_sum_rules_and_symmetry(tiny_model, low_symmetry_structures):
    for field in (None, FIELD):
        for atoms in low_symmetry_structures:
            out = run(tiny_model, atoms, field, **ALL)
            assert np.abs(out["born_charges"].sum(axis=0)).max() < 1e-8  # acoustic sum rule
            chi = out["susceptibility"][0]
            assert np.abs(chi - chi.T).max() < 1e-10
            stress = out["stress"][0]
            assert np.abs(stress - stress.T).max() < 1e-12


def test_translation_and_permutation_invariance(tiny_model, low_symmetry_structures):
    for atoms in low_symmetry_structures:
        ref = run(tiny_model, atoms, FIELD, **ALL)
        moved = atoms.copy()
        moved.positions += np.array([0.31, -1.7, 2.2])
        out = run(tiny_model, moved, FIELD, **ALL)
        for key in ("energy", "forces", "stress", "born_charges", "susceptibility", "dipole_strain"):
            np.testing.assert_allclose(out[key], ref[key], atol=1e-9, err_msg=key)
        # the dipole of a periodic cell shifts by (sum of charges) x translation = 0 (ASR)
        np.testing.assert_allclose(out["dipole"], ref["dipole"], atol=1e-9)
        perm = np.random.default_rng(0).permutation(len(atoms))
        permuted = atoms[perm]
        out = run(tiny_model, permuted, FIELD, **ALL)
        assert abs(out["energy"][0] - ref["energy"][0]) < 1e-10
        np.testing.assert_allclose(out["forces"], ref["forces"][perm], atol=1e-10)
        np.testing.assert_allclose(out["born_charges"], ref["born_charges"][perm], atol=1e-10)
        np.testing.assert_allclose(out["susceptibility"], ref["susceptibility"], atol=1e-10)


def test_batch_equals_single(tiny_model, low_symmetry_structures):
    structures = list(low_symmetry_structures) + [low_symmetry_structures[0] * (1, 1, 2)]
    fields = np.array([FIELD, -FIELD, [0.0, 0.0, 0.1]])
    from macefield_flows.model.graph import atoms_to_graph, collate

    graphs = [atoms_to_graph(a, tiny_model.atomic_numbers.tolist(), float(tiny_model.r_max)) for a in structures]
    data = collate(graphs, len(tiny_model.atomic_numbers), torch.float64, electric_field=fields)
    batch = tiny_model(data, **ALL)
    ptr = data["ptr"].tolist()
    for g, atoms in enumerate(structures):
        single = run(tiny_model, atoms, fields[g], **ALL)
        s, e = ptr[g], ptr[g + 1]
        np.testing.assert_allclose(batch["energy"][g].item(), single["energy"][0], atol=1e-10)
        np.testing.assert_allclose(batch["forces"][s:e].detach().numpy(), single["forces"], atol=1e-10)
        np.testing.assert_allclose(batch["born_charges"][s:e].detach().numpy(), single["born_charges"], atol=1e-10)
        for key in ("stress", "dipole", "susceptibility", "dipole_strain"):
            np.testing.assert_allclose(batch[key][g].detach().numpy(), single[key][0], atol=1e-10, err_msg=key)


def test_non_periodic_input_returns_dipole_only(tiny_model):
    from ase import Atoms

    molecule = Atoms("TiO2", positions=[[0, 0, 0], [1.7, 0.2, 0.1], [-0.5, 1.6, -0.3]], pbc=False)
    out = run(tiny_model, molecule, FIELD, compute_dipole=True, compute_bec=True, compute_polarizability=True)
    assert np.all(np.isfinite(out["dipole"]))
    assert np.all(np.isnan(out["polarization"]))
    assert np.all(np.isnan(out["susceptibility"]))
    assert np.abs(out["born_charges"].sum(axis=0)).max() < 1e-8
