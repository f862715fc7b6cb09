"""End-to-end run_locally of the screening flow: documents, resume, bad structures."""

from __future__ import annotations

from jobflow import run_locally

from macefield_flows.flows import ScreeningMaker, build_screening_flow
from macefield_flows.schemas.task import ElectricResponseTaskDoc
from macefield_flows.stores import get_jobstore, iter_task_docs


def test_screening_run_locally_resume_and_failures(tmp_path, model_file, structures, bad_structure):
    store = get_jobstore(tmp_path / "store")
    maker = ScreeningMaker(model=str(model_file), device="cpu", chunk_size=2, fmax=0.2, max_steps=5)
    items = structures[:2] + [bad_structure] + structures[2:]
    flow, n, skipped = build_screening_flow(maker, items, store)
    assert (n, skipped) == (4, 0)
    assert len(flow.jobs) == 4  # 2 chunks x (relax + properties)
    run_locally(flow, store=store, ensure_success=True)

    docs = {d["structure_id"]: d for d in iter_task_docs(store)}
    assert set(docs) == {"MgO", "NaCl", "overlap", "ZnO"}
    assert docs["overlap"]["status"] == "failed" and docs["overlap"]["failure_reason"]
    for sid in ("MgO", "NaCl", "ZnO"):
        doc = ElectricResponseTaskDoc.model_validate(docs[sid])
        assert doc.status.value == "successful", doc.failure_reason
        assert len(doc.born) == doc.nsites and doc.epsilon_static is not None
        assert doc.epsilon_total is not None and doc.e_total is not None
        assert doc.relaxed and doc.provenance.model_sha256 and doc.provenance.settings_hash == doc.task_id
        assert doc.provenance.versions["macefield-flows"]
    assert docs["ZnO"]["material_id"] == "mp-2133"
    # force constants live in the additional data store, not inline
    assert store.additional_stores["data"].count() >= 3

    # rerun: nothing left to compute
    store2 = get_jobstore(tmp_path / "store")
    flow2, n2, skipped2 = build_screening_flow(maker, items, store2)
    assert (n2, skipped2) == (4, 4) and len(flow2.jobs) == 0
    # a different setting is a different key: everything recomputed
    other = ScreeningMaker(model=str(model_file), device="cpu", chunk_size=2, relax=False)
    flow3, _, skipped3 = build_screening_flow(other, items, store2)
    assert skipped3 == 0 and len(flow3.jobs) == 2


def test_interrupted_screening_continues(tmp_path, model_file, structures):
    store = get_jobstore(tmp_path / "store")
    maker = ScreeningMaker(model=str(model_file), device="cpu", chunk_size=1, relax=False)
    # "interrupted": only the first structure was computed
    run_locally(maker.make(structures[:1]), store=store, ensure_success=True)
    flow, n, skipped = build_screening_flow(maker, structures, store)
    assert (n, skipped) == (3, 1) and len(flow.jobs) == 2
    run_locally(flow, store=store, ensure_success=True)
    assert {d["structure_id"] for d in iter_task_docs(store)} == {"MgO", "NaCl", "ZnO"}
