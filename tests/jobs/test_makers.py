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
    assert np.shape(pz.piezo_tensor) == (3, 6) and pz.e_ij_max is not None
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


def test_field_sweep(model_file, structures):
    fields = triangle_sweep(0.02, 1)
    assert len(fields) == 5 and fields[0] == [0.0, 0.0, 0.0]
    sweep = FieldSweepMaker(model=str(model_file), device="cpu", electric_fields=fields, relax=True,
                            fmax=0.2, max_steps=3).make(structures[2])
    resp = run_locally(sweep, store=get_jobstore("memory"), ensure_success=True)
    doc = resp[sweep.uuid][1].output
    assert doc.status.value == "successful" and len(doc.polarization) == 5
    p = np.asarray(doc.polarization)
    assert np.allclose(p[0], p[2], atol=1e-2)  # back at zero field on the way down (no hysteresis here)
    assert not np.allclose(p[1], p[3])  # +E and -E differ
