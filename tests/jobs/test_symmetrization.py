"""Symmetrised documents obey the point group; violations are reported before symmetrisation."""

from __future__ import annotations

import json

import numpy as np
from ase.build import bulk
from pymatgen.io.ase import AseAtomsAdaptor

from macefield_flows.engine import evaluate
from macefield_flows.physics.symmetry import get_symmetry_operations, rotate_tensor
from macefield_flows.schemas.task import Provenance
from macefield_flows.screening import PIEZO_PROPERTIES, build_task_doc
from macefield_flows.units import voigt_to_rank3, voigt_to_rank4


def _doc(model, atoms, symmetrize):
    (res,) = evaluate([atoms], model, properties=PIEZO_PROPERTIES)
    prov = Provenance(model_name="tiny", model_sha256="0" * 64, device="cpu", dtype="float64")
    return build_task_doc(AseAtomsAdaptor.get_structure(atoms), res, prov, symmetrize=symmetrize)


def test_wurtzite_tensors_obey_6mm(tiny_field_model_zno):
    atoms = bulk("ZnO", "wurtzite", a=3.25, c=5.2)
    doc = _doc(tiny_field_model_zno, atoms, symmetrize=True)
    assert doc.status.value == "successful", doc.failure_reason
    ops = get_symmetry_operations(atoms)
    e = voigt_to_rank3(np.array(doc.piezo_tensor))
    c = voigt_to_rank4(np.array(doc.elastic_tensor))
    for rot in ops.point_group_rotations:
        np.testing.assert_allclose(rotate_tensor(e, rot), e, atol=1e-10)
        np.testing.assert_allclose(rotate_tensor(c, rot), c, atol=1e-8)
        np.testing.assert_allclose(rotate_tensor(np.array(doc.epsilon_static), rot), doc.epsilon_static, atol=1e-12)
    e_v = np.array(doc.piezo_tensor)
    assert abs(e_v[2, 2]) > 1e-4 and abs(e_v[2, 0] - e_v[2, 1]) < 1e-10  # e33 != 0, e31 = e32
    # the model is exactly equivariant: the raw tensors already had the symmetry
    assert max(doc.symmetry_violations.values()) < 1e-6
    assert set(doc.symmetry_violations) >= {"born", "epsilon_static", "piezo_tensor", "elastic_tensor"}


def test_distorted_structure_reports_violation(tiny_field_model_zno):
    atoms = bulk("ZnO", "wurtzite", a=3.25, c=5.2)
    atoms.positions[0, 0] += 0.005  # breaks 6mm, within symprec=0.05 A
    raw = _doc(tiny_field_model_zno, atoms, symmetrize=False)
    assert raw.symmetry_violations == {}
    structure = AseAtomsAdaptor.get_structure(atoms)
    (res,) = evaluate([atoms], tiny_field_model_zno, properties=PIEZO_PROPERTIES)
    prov = Provenance(model_name="tiny", model_sha256="0" * 64, device="cpu", dtype="float64")
    sym = build_task_doc(structure, res, prov, symmetrize=True, symprec=0.05)
    assert sym.symmetry_violations["born"] > 1e-5


def test_non_finite_results_are_not_stored(tiny_field_model_zno):
    """A singular elastic tensor makes d = e C^-1 undefined: stored as None with a warning."""
    atoms = bulk("ZnO", "wurtzite", a=3.25, c=5.2)
    (res,) = evaluate([atoms], tiny_field_model_zno, properties=PIEZO_PROPERTIES)
    res.strain_hessian = np.zeros((3, 3, 3, 3))
    res.internal_strain = np.zeros_like(res.internal_strain)
    prov = Provenance(model_name="tiny", model_sha256="0" * 64, device="cpu", dtype="float64")
    doc = build_task_doc(AseAtomsAdaptor.get_structure(atoms), res, prov, symmetrize=False)
    assert doc.status.value == "successful"
    assert doc.piezo_strain_tensor is None and doc.piezo_tensor is not None
    assert any("piezo_strain_tensor undefined" in w for w in doc.warnings)
    assert "NaN" not in json.dumps(doc.model_dump(exclude={"structure", "input_structure", "provenance"}))
