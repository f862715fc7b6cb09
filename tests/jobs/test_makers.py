"""Makers on single structures and lists: outputs, atomate2 names, serialisation, field sweeps."""

from __future__ import annotations

import numpy as np
import pytest
from jobflow import Flow, job, run_locally

from macefield_flows.jobs import (DielectricMaker, FieldSweepMaker, PiezoelectricMaker, RelaxMaker, StaticMaker,
                                  triangle_sweep)
from macefield_flows.stores import get_jobstore


@job
def _consume_born(born, epsilon_static):
    """Stands in for atomate2's PhononMaker.make(structure, born=..., epsilon_static=...)."""
    return {"n_born": len(born), "eps_shape": np.shape(epsilon_static)}


def test_dielectric_single_structure_feeds_atomate2_style_consumer(model_file, structures):
    mgo = structures[0]
    diel = DielectricMaker(model=str(model_file), device="cpu").make(mgo)
    consumer = _consume_born(diel.output.born, diel.output.epsilon_static)
    store = get_jobstore("memory")
    resp = run_locally(Flow([diel, consumer]), store=store, ensure_success=True)
    doc = resp[diel.uuid][1].output
    assert doc.status.value == "successful"
    assert np.shape(doc.born) == (2, 3, 3) and doc.epsilon_ionic is not None
    assert doc.phonon_frequencies_thz is not None and doc.has_imaginary_modes is not None
    assert resp[consumer.uuid][1].output == {"n_born": 2, "eps_shape": (3, 3)}


def test_static_and_piezo_makers_lists(model_file, structures, bad_structure):
    store = get_jobstore("memory")
    static = StaticMaker(model=str(model_file), device="cpu").make(structures[:2] + [bad_structure])
    piezo = PiezoelectricMaker(model=str(model_file), device="cpu").make(structures[2])
    resp = run_locally(Flow([static, piezo]), store=store, ensure_success=True)
    batch = resp[static.uuid][1].output
    assert batch.n_successful == 2 and batch.n_failed == 1
    assert batch.tasks[2].status.value == "failed" and batch.tasks[2].failure_reason
    assert batch.tasks[0].epsilon_static is not None and batch.tasks[0].force_constants is None
    pz = resp[piezo.uuid][1].output
    assert np.shape(pz.piezo_tensor) == (3, 6) and pz.e_ij_max_longitudinal is not None
    # the rattled ZnO has no IEEE frame in pymatgen (emmet fails on it too): None, and the reason
    assert pz.e_ij_max is not None or any("e_ij_max not computed" in w for w in pz.warnings)
    assert np.shape(pz.elastic_tensor) == (6, 6) and np.shape(pz.piezo_strain_tensor) == (3, 6)


def test_makers_serialise_and_validate(model_file):
    from monty.json import MontyDecoder

    m = RelaxMaker(model=str(model_file), relax_cell=True, electric_field=[0, 0, 0.01])
    m2 = MontyDecoder().process_decoded(m.as_dict())
    assert m2 == m
    with pytest.raises(ValueError, match="electric_field"):
        RelaxMaker(electric_field=[0, 1])
    with pytest.raises(ValueError, match="dtype"):
        StaticMaker(dtype="float16")


def test_field_sweep(model_file, monkeypatch):
    """A hysteresis sweep through the Maker on the harmonic anisotropic toy: ions move, P follows E.

    At each field the relaxed-ion polarisation must be the toy's exact linear response
    P = d(u_relaxed(E), E) / Omega, so a sweep stuck at +E, ions that never move or a
    P that does not change sign all fail.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from macefield_flows.jobs import _model
    from macefield_flows.testing import anisotropic_toy_system
    from macefield_flows.units import E_PER_A2_TO_C_PER_M2

    toy, toy_model, atoms = anisotropic_toy_system()
    monkeypatch.setattr(_model, "get_model", lambda *a, **k: toy_model)  # the job loads the toy
    fields = triangle_sweep(0.1, 2, direction=(1.0, -0.5, 2.0))
    assert len(fields) == 9 and fields[0] == [0.0, 0.0, 0.0]
    sweep = FieldSweepMaker(model=str(model_file), device="cpu", electric_fields=fields, relax=True,
                            fmax=1e-6, max_steps=3000).make(AseAtomsAdaptor.get_structure(atoms))
    resp = run_locally(sweep, store=get_jobstore("memory"), ensure_success=True)
    doc = resp[sweep.uuid][1].output
    assert doc.status.value == "successful" and len(doc.polarization) == 9 and all(doc.relax_converged)
    z3 = np.zeros((3, 3))
    for e, p, s in zip(fields, doc.polarization, doc.structures):
        u = toy.relax(z3, np.asarray(e))
        expected = toy.dipole(u, z3, np.asarray(e)) / toy.volume * E_PER_A2_TO_C_PER_M2
        np.testing.assert_allclose(p, expected, rtol=1e-4, atol=1e-7, err_msg=f"field {e}")
        moved = s.cart_coords - atoms.positions
        np.testing.assert_allclose(moved - moved.mean(axis=0), u, atol=2e-5)
    p = np.asarray(doc.polarization)
    e_max, e_min = int(np.argmax([f[2] for f in fields])), int(np.argmin([f[2] for f in fields]))
    np.testing.assert_allclose(p[e_max], -p[e_min], rtol=1e-4)  # P changes sign with E
    assert np.linalg.norm(p[e_max]) > 1e-3
    assert np.abs(doc.structures[e_max].cart_coords - atoms.positions).max() > 1e-3  # ions really move