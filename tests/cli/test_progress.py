"""The screening's progress: one tick per distinct structure, totals right with duplicates and resumes."""

from __future__ import annotations

import contextlib


from macefield_flows.cli.inputs import InputItem
from macefield_flows.cli.run import run_screening
from macefield_flows.cli.screen import screen_inputs
from macefield_flows.flows import ScreeningMaker
from macefield_flows.stores import get_jobstore, iter_task_docs
from tests.flows.conftest import rocksalt


class Recorder:
    """A progress_factory that records the total and every advance (and the stored documents at that moment)."""

    def __init__(self, store=None):
        self.totals, self.ticks, self.stored_at_tick, self.store = [], [], [], store

    @contextlib.contextmanager
    def __call__(self, total):
        self.totals.append(total)

        def advance(n):
            self.ticks.append(n)
            if self.store is not None:
                self.stored_at_tick.append(sum(1 for _ in iter_task_docs(self.store)))

        yield advance


def _structures(n, sid="s"):
    return [rocksalt(4.0 + 0.1 * i, ("Mg", "O"), f"{sid}{i}") for i in range(n)]


def _maker(model_file, chunk_size=3):
    return ScreeningMaker(model=str(model_file), device="cpu", relax=False, chunk_size=chunk_size)


def test_progress_ticks_per_structure_inside_a_chunk(tmp_path, model_file):
    store = get_jobstore(tmp_path / "store")
    rec = Recorder(store)
    with rec(3) as advance:
        n = run_screening(_maker(model_file, chunk_size=3), _structures(3), store, set(), progress=advance)
    assert n == 3
    assert rec.ticks == [1, 1, 1]  # per structure, not one tick of 3 for the chunk
    assert rec.stored_at_tick == [0, 0, 0]  # each tick came while the chunk was still running


def test_progress_totals_with_duplicates_and_resume(tmp_path, model_file):
    store = get_jobstore(tmp_path / "store")
    maker = _maker(model_file)
    a, b, c, d = _structures(4)
    twin = a.copy()
    twin.properties = {"structure_id": "a-again"}  # same structure under another id: same key

    def items(structs):
        return [InputItem(f"{s.properties['structure_id']}.cif", s.properties["structure_id"], s) for s in structs]

    info = type("Info", (), {"sha256": "x" * 64})()
    rec = Recorder()
    summary = screen_inputs(items([a, twin, b]), maker, store, info, progress_factory=rec, echo=lambda _: None)
    assert rec.totals == [2] and sum(rec.ticks) == 2 and set(rec.ticks) == {1}
    assert summary.n_computed == 2 and summary.counts.get("missing", 0) == 0
    assert {doc["structure_id"] for doc in iter_task_docs(store)} == {"s0", "a-again", "s1"}

    # resumed run: the stored ones are neither in the total nor ticked
    rec2 = Recorder()
    screen_inputs(items([a, twin, b, c, d]), maker, store, info, progress_factory=rec2, echo=lambda _: None)
    assert rec2.totals == [2] and rec2.ticks == [1, 1]

    # nothing left: no bar at all
    rec3 = Recorder()
    screen_inputs(items([a, b, c, d]), maker, store, info, progress_factory=rec3, echo=lambda _: None)
    assert rec3.totals == [] and rec3.ticks == []


def test_progress_counts_structures_stored_by_another_run_once(tmp_path, model_file):
    """Stored meanwhile by someone else: ticked once when found, never again."""
    store = get_jobstore(tmp_path / "store")
    maker = _maker(model_file, chunk_size=2)
    structs = _structures(4)
    run_screening(maker, structs[:1], store, set())  # "another run" stored the first one
    rec = Recorder()
    with rec(4) as advance:
        n = run_screening(maker, structs + [structs[1]], store, set(), progress=advance)  # + a duplicate
    assert n == 3 and sum(rec.ticks) == 4 and rec.ticks[0] == 1


def test_progress_per_structure_with_worker_processes(tmp_path, model_file):
    store = get_jobstore(tmp_path / "store")
    rec = Recorder()
    with rec(4) as advance:
        n = run_screening(_maker(model_file, chunk_size=2), _structures(4), store, set(), workers=2, progress=advance)
    assert n == 4 and rec.ticks == [1, 1, 1, 1]


def test_worker_reports_each_structure_document(model_file, monkeypatch):
    """The worker side: each finished document's resume key goes on the parent's queue, in order."""
    import queue as _queue

    from macefield_flows.cli import run

    maker = _maker(model_file, chunk_size=3)
    structs = _structures(3)
    q = _queue.SimpleQueue()
    monkeypatch.setattr(run, "_WORKER_PROGRESS", q)
    docs, _ = run._run_chunk_isolated(maker.as_dict(), [s.as_dict() for s in structs])
    reported = []
    while not q.empty():
        reported.append(q.get())
    assert reported == maker.resume_keys(structs)
    assert len(docs) == 1  # one property job (no relaxation): its documents came with the keys
