"""Store construction: embedded default, persistence, unreachable MongoDB, resume keys."""

from __future__ import annotations

import pytest

from macefield_flows.exceptions import StoreError
from macefield_flows.screening import settings_hash
from macefield_flows.stores import default_store_dir, get_jobstore


def test_default_store_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MACEFIELD_HOME", str(tmp_path / "home"))
    assert default_store_dir() == tmp_path / "home" / "store"
    store = get_jobstore()
    store.docs_store.update([{"uuid": "a", "index": 1, "output": {"x": 1}}], key=["uuid", "index"])
    again = get_jobstore()
    assert again.docs_store.count() == 1
    assert (tmp_path / "home" / "store" / "outputs.json").exists()


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
