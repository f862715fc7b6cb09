"""Fault injection through the real CLI: every input accounted for, nothing good lost, exit codes.

The corpus (macefield_flows.testing_faults) has > 25 kinds of bad input; the
tiny test model keeps this fast. Subprocess tests: kill -9 of a screening and
resume; SIGKILL of the parent of ``--workers 2`` kills the workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.stores import get_jobstore, iter_task_docs
from macefield_flows.testing_faults import rocksalt, write_fault_corpus

runner = CliRunner()


def _docs(store) -> list[dict]:
    return list(iter_task_docs(get_jobstore(str(store))))


def test_fault_corpus_every_input_accounted_for(tmp_path, model_file):
    cases = write_fault_corpus(tmp_path / "corpus")
    kinds_bad = [c for c in cases if c.expect == "failed"]
    assert len(kinds_bad) >= 25
    store = tmp_path / "store"
    args = ["screen", *[c.arg for c in cases], "--model", str(model_file), "--device", "cpu", "--store",
            str(store), "--no-relax", "--chunk-size", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    docs = _docs(store)
    n_inputs = sum(c.n_docs for c in cases)
    assert len(docs) == n_inputs  # one document per input, the duplicate structure included

    failed = [d for d in docs if d["status"] == "failed"]
    for case in kinds_bad:
        mine = [d for d in failed if case.arg in d["failure_reason"]]
        assert len(mine) == 1, (case.kind, [d["failure_reason"] for d in failed])
        assert case.reason in mine[0]["failure_reason"], (case.kind, mine[0]["failure_reason"])
        assert mine[0]["input_source"] == case.arg
    nan = next(d for d in failed if "nan_lattice" in d["failure_reason"])
    assert "lattice" in nan["failure_reason"] and "positions" not in nan["failure_reason"]
    ok = {d["structure_id"]: d for d in docs if d["status"] == "successful"}
    for case in cases:
        if case.expect == "successful":
            assert Path(case.arg).stem in ok, case.kind
    # the JSON list: element 0 screened, element 1 failed with its index named
    assert "list_mixed:0" in ok
    assert any("list_mixed.json[1]: unreadable" in d["failure_reason"] for d in failed)
    # identical structures under two ids: computed once, both findable
    assert ok["duplicate_MgO"]["duplicate_of"] == ok["good_MgO"]["task_id"]
    assert ok["duplicate_MgO"]["born"] == ok["good_MgO"]["born"]
    assert "(6 distinct)" in result.output

    report = json.loads(next(store.glob("run_report_*.json")).read_text())
    assert report["n_inputs"] == n_inputs and report["counts"].get("failed") == len(kinds_bad) + 1
    assert sum(report["counts"].values()) == n_inputs
    assert {row["input"] for row in report["problems"] if row["status"] == "failed"} >= {
        c.arg for c in kinds_bad}

    again = runner.invoke(app, args + ["--strict"])
    assert again.exit_code == 3, again.output
    assert "0 to compute" in again.output
    assert sorted(json.dumps(d, sort_keys=True, default=str) for d in _docs(store) if d["status"] != "failed") \
        == sorted(json.dumps(d, sort_keys=True, default=str) for d in docs if d["status"] != "failed")


def test_model_problems_before_any_work(tmp_path, model_file, monkeypatch):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00" * 100)
    cif = tmp_path / "MgO.cif"
    rocksalt(4.2).to(filename=str(cif))
    store = tmp_path / "store"
    info = runner.invoke(app, ["info", "--model", str(corrupt)])
    assert info.exit_code == 1
    expected = info.output.strip().splitlines()[-1]
    for env, model in (({}, str(corrupt)), ({"MACEFIELD_DEFAULT_MODEL": str(corrupt)}, "default")):
        out = runner.invoke(app, ["screen", str(cif), "--model", model, "--store", str(store)], env=env)
        assert out.exit_code == 1, out.output
        assert out.output.strip().splitlines()[-1] == expected
        assert "Traceback" not in out.output
    head = runner.invoke(app, ["screen", str(cif), "--model", str(model_file), "--store", str(store),
                               "--head", "nope"])
    assert head.exit_code == 1 and "--head 'nope'" in head.output
    assert not store.exists() or not _docs(store)  # nothing computed, nothing written


def _env(tmp_path) -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MACEFIELD_HOME=str(tmp_path / "home"))
    env.pop("MACEFIELD_DEFAULT_MODEL", None)
    return env


def _write_inputs(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        s = rocksalt(4.0 + 0.01 * i, ("Mg", "O") if i % 2 else ("Na", "Cl"))
        (folder / f"s{i:03d}.json").write_text(json.dumps(s.as_dict()))
    return folder


def _screen_cmd(inputs: Path, model_file, store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "macefield_flows", "screen", str(inputs), "--model", str(model_file),
            "--device", "cpu", "--store", str(store), "--no-relax", *extra]


def _wait_for(pred, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return True
        except Exception:  # noqa: BLE001 (the store is being created by the other process)
            pass
        time.sleep(step)
    return pred()


def test_kill_9_then_resume_loses_nothing(tmp_path, model_file):
    """kill -9 mid-run, then resume: nothing stored is lost or recomputed, the rest is computed.

    No timing race: the last 4 inputs are claimed first by this test (a live claim, see
    stores/claims.py), so the screening can store at most 12 of the 16 whatever the
    load; it is killed as soon as the store shows >= 4 documents (observable state),
    and the claims are released before the resume.
    """
    from pymatgen.core import Structure

    from macefield_flows.flows import ScreeningMaker
    from macefield_flows.stores.claims import claims_for

    inputs = _write_inputs(tmp_path / "inputs", 16)
    store = tmp_path / "store"
    files = sorted(inputs.iterdir())
    # the resume keys the CLI computes for these files (same model file and settings as _screen_cmd)
    maker = ScreeningMaker(model=str(model_file), device="cpu", relax=False)
    held_keys = maker.resume_keys([Structure.from_dict(json.loads(f.read_text())) for f in files[-4:]])
    held = claims_for(get_jobstore(str(store)))
    assert held.acquire(held_keys) == held_keys
    try:
        proc = subprocess.Popen(_screen_cmd(inputs, model_file, store, "--chunk-size", "2"), env=_env(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            assert _wait_for(lambda: len(_docs(store)) >= 4, 600), "no progress"
            assert proc.poll() is None  # it cannot have finished: 4 inputs are claimed by this test
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    finally:
        held.close()
    before = {d["task_id"]: d for d in _docs(store)}
    assert 4 <= len(before) <= 12
    assert not set(held_keys) & set(before)  # the claimed ones were left to their (live) owner
    done = subprocess.run(_screen_cmd(inputs, model_file, store, "--chunk-size", "8", "--strict"),
                          env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(before)} already stored, {16 - len(before)} to compute" in done.stdout
    after = {d["task_id"]: d for d in _docs(store)}
    assert len(after) == 16 and all(d["status"] == "successful" for d in after.values())
    for tid, doc in before.items():  # nothing stored before the kill was recomputed or lost
        assert after[tid]["provenance"]["completed_at"] == doc["provenance"]["completed_at"]


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:  # pragma: no cover
        pytest.skip("ps not available")
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process tree inspection via ps / proc")
def test_workers_die_with_a_killed_parent(tmp_path, model_file):
    inputs = _write_inputs(tmp_path / "inputs", 16)
    proc = subprocess.Popen(_screen_cmd(inputs, model_file, tmp_path / "store", "--workers", "2",
                                        "--chunk-size", "2"), env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: len(_children(proc.pid)) >= 2, 120), "workers never started"
        workers = _children(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert _wait_for(lambda: not any(_alive(p) for p in workers), 15), \
        f"workers {[p for p in workers if _alive(p)]} survived their parent"


def test_two_concurrent_screens_compute_each_structure_once(tmp_path, model_file):
    inputs = _write_inputs(tmp_path / "inputs", 12)
    half = tmp_path / "overlap"
    half.mkdir()
    for p in sorted(inputs.iterdir())[4:]:  # the second run shares 8 of its 8 inputs with the first
        (half / p.name).write_text(p.read_text())
    store = tmp_path / "store"
    env = _env(tmp_path)
    a = subprocess.Popen(_screen_cmd(inputs, model_file, store, "--chunk-size", "2"), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    b = subprocess.Popen(_screen_cmd(half, model_file, store, "--chunk-size", "2"), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_a, out_b = a.communicate(timeout=600), b.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, (out_a, out_b)
    docs = _docs(store)
    assert len(docs) == 12 and all(d["status"] == "successful" for d in docs)
    raw = get_jobstore(str(store)).docs_store.query({"output.task_label": {"$exists": True}})
    computed = [t["task_id"] for r in raw for t in (r["output"].get("tasks") or [])]
    assert len(computed) == len(set(computed)) == 12  # no structure computed twice
    assert not any((store / "claims").iterdir())  # every claim released


def test_finished_relaxation_of_an_interrupted_chunk_is_reused(tmp_path, model_file):
    inputs = _write_inputs(tmp_path / "inputs", 3)
    store = tmp_path / "store"
    args = ["screen", str(inputs), "--model", str(model_file), "--device", "cpu", "--store", str(store),
            "--fmax", "0.2"]
    assert runner.invoke(app, args).exit_code == 0
    js = get_jobstore(str(store))
    relaxed = {r["resume_key"]: r for o in js.docs_store.query({"output.kind": "relax_batch"})
               for r in o["output"]["records"]}
    assert len(relaxed) == 3 and not any(r["reused"] for r in relaxed.values())
    # an interruption after the relaxation: the property documents were never written
    js.docs_store.remove_docs({"output.kind": "electric_response_batch"})
    assert _docs(store) == []
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "3 to compute" in again.output
    reused = [r for o in get_jobstore(str(store)).docs_store.query({"output.kind": "relax_batch"})
              for r in o["output"]["records"] if r["reused"]]
    assert sorted(r["resume_key"] for r in reused) == sorted(relaxed)
    for r in reused:  # the very same relaxed structure, not a new relaxation
        assert r["structure"]["lattice"] == relaxed[r["resume_key"]]["structure"]["lattice"]
        assert r["steps"] == relaxed[r["resume_key"]]["steps"]
    docs = _docs(store)
    assert len(docs) == 3 and all(d["relaxed"] for d in docs)


def test_materials_project_id_without_key_is_a_failed_input(monkeypatch):
    from macefield_flows.cli.inputs import collect_inputs

    for var in ("MP_API_KEY", "PMG_MAPI_KEY"):
        monkeypatch.delenv(var, raising=False)
    (item,) = collect_inputs(["mp-149"])
    assert not item.ok and item.source == "mp-149" and "API key" in item.reason
