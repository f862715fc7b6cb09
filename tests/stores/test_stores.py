"""Store construction: embedded default, persistence, unreachable MongoDB, resume keys."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

from macefield_flows.exceptions import StoreError
from macefield_flows.screening import settings_hash
from macefield_flows.stores import EmbeddedMontyStore, default_store_dir, get_jobstore, stored_keys


def test_default_store_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MACEFIELD_HOME", str(tmp_path / "home"))
    assert default_store_dir() == tmp_path / "home" / "store"
    store = get_jobstore()
    store.docs_store.update([{"uuid": "a", "index": 1, "output": {"x": 1}}], key=["uuid", "index"])
    again = get_jobstore()
    assert isinstance(again.docs_store, EmbeddedMontyStore)
    assert again.docs_store.count() == 1
    assert (tmp_path / "home" / "store" / "macefield" / "outputs.collection").is_file()


def _batch_output(key: str, n: int = 1) -> dict:
    """A minimal stored job output as the screening writes it (one batch of task documents)."""
    return {"uuid": key, "index": 1, "output": {"kind": "electric_response_batch", "tasks": [
        {"task_id": f"{key}-{i}", "status": "success", "provenance": {"settings_hash": f"{key}-{i}"}}
        for i in range(n)]}}


def test_persistence_across_processes(tmp_path):
    folder = tmp_path / "store"
    script = textwrap.dedent(f"""
        from macefield_flows.stores import get_jobstore
        store = get_jobstore({str(folder)!r})
        store.docs_store.update([{{"uuid": "w", "index": 1, "output": {{"kind": "electric_response_batch",
            "tasks": [{{"task_id": "k1", "status": "success", "provenance": {{"settings_hash": "k1"}}}}]}}}}],
            key=["uuid", "index"])
        store.additional_stores["data"].update([{{"blob_uuid": "b1", "data": [[1.0, 2.0]]}}])
        store.close()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    fresh = get_jobstore(folder)  # a new store object in this process
    assert stored_keys(fresh) == {"k1"}
    assert fresh.additional_stores["data"].query_one({"blob_uuid": "b1"})["data"] == [[1.0, 2.0]]
    # and the other way round: written here, read by a fresh process
    fresh.docs_store.update([_batch_output("here")], key=["uuid", "index"])
    read = subprocess.run([sys.executable, "-c", f"from macefield_flows.stores import get_jobstore, stored_keys;"
                           f"print(sorted(stored_keys(get_jobstore({str(folder)!r}))))"],
                          capture_output=True, text=True)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout.strip().splitlines()[-1].replace("'", '"')) == ["here-0", "k1"]


def test_concurrent_writes_one_process_and_resume(tmp_path):
    folder = tmp_path / "store"

    def write(i: int) -> None:
        store = get_jobstore(folder)  # each writer its own store object on the same folder
        store.docs_store.update([_batch_output(f"c{i}", n=2)], key=["uuid", "index"])
        store.additional_stores["data"].update([{"blob_uuid": f"b{i}", "data": [i]}])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(32)))
    store = get_jobstore(folder)
    assert store.docs_store.count() == 32
    assert store.additional_stores["data"].count() == 32
    keys = stored_keys(store)
    assert len(keys) == 64
    # resume: the keys already stored are found; re-writing a document replaces it
    assert stored_keys(store, ["c3-0", "new"]) == {"c3-0"}
    store.docs_store.update([_batch_output("c3", n=3)], key=["uuid", "index"])
    assert store.docs_store.count() == 32 and "c3-2" in stored_keys(store)


def test_update_reads_existing_keys_once_per_call(tmp_path):
    """Appending to a store of N documents reads the keys once per call, not once per document."""
    store = get_jobstore(tmp_path / "store").additional_stores["data"]
    store.connect()
    real = store._coll
    finds: list[int] = []

    class CountingCollection:
        def __getattr__(self, name):
            return getattr(real, name)

        def find(self, *args, **kwargs):
            finds.append(1)
            return real.find(*args, **kwargs)

    store._coll = CountingCollection()
    for b in range(10):
        store.update([{"blob_uuid": f"{b}-{i}", "data": [[0.1] * 30] * 30} for i in range(50)])
    assert store.count() == 500
    assert len(finds) <= 10  # maggma's own update would read once per document (500)


def test_legacy_json_store_is_imported(tmp_path):
    folder = tmp_path / "store"
    old = get_jobstore(f"json:{folder}")
    old.docs_store.update([_batch_output("old")], key=["uuid", "index"])
    old.additional_stores["data"].update([{"blob_uuid": "b", "data": [1]}])
    assert (folder / "outputs.json").is_file()
    new = get_jobstore(folder)
    assert stored_keys(new) == {"old-0"}
    assert new.additional_stores["data"].count() == 1
    assert not (folder / "outputs.json").exists() and (folder / "outputs.json.imported").is_file()
    assert stored_keys(get_jobstore(folder)) == {"old-0"}  # imported once


def test_embedded_store_serialises(tmp_path):
    from monty.json import MontyDecoder

    store = get_jobstore(tmp_path / "store")
    again = MontyDecoder().process_decoded(store.as_dict())
    assert again.docs_store == store.docs_store
    assert again.additional_stores["data"] == store.additional_stores["data"]


def test_unreachable_mongodb_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("MACEFIELD_MONGO_TIMEOUT_MS", "300")
    with pytest.raises(StoreError, match="cannot open results store mongodb://u:\\*\\*\\*@127.0.0.1:9"):
        get_jobstore("mongodb://u:secret@127.0.0.1:9/db")


def test_store_path_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        get_jobstore(f)


def test_settings_hash_sensitivity(structures):
    s = structures[0]
    base = settings_hash(s, "abc", None, {"fmax": 0.01})
    assert base == settings_hash(s.copy(), "abc", None, {"fmax": 0.01})
    assert base != settings_hash(s, "abd", None, {"fmax": 0.01})
    assert base != settings_hash(s, "abc", "mp-dielectric", {"fmax": 0.01})
    assert base != settings_hash(s, "abc", None, {"fmax": 0.02})
    moved = s.copy()
    moved.translate_sites([1], [0.01, 0, 0])
    assert base != settings_hash(moved, "abc", None, {"fmax": 0.01})
