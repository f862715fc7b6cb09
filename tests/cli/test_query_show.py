"""`macefield query` respects the quality assessment; `macefield show`; read-only stores."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.schemas.quality import property_reliable
from macefield_flows.stores import get_jobstore
from macefield_flows.stores.results import write_task_docs

runner = CliRunner()
LONG_ID = "a-structure-identifier-that-is-much-longer-than-any-terminal-column-would-show"


def _doc(tid: str, sid: str, eij, flags=(), status="successful", **extra) -> dict:
    quality = {"reliable": not any(f[1] for f in flags), "thresholds": {},
               "flags": [{"name": n, "message": f"{n} message", "affects": a} for n, a in flags]}
    return {"task_id": tid, "structure_id": sid, "task_label": "electric response", "status": status,
            "formula_pretty": "BaTiO3", "e_ij_max": eij, "quality": quality,
            "provenance": {"settings_hash": tid, "model_name": "m"},
            "piezo_tensor": [[0.0] * 6, [0.0] * 6, [0.0, 0.0, eij or 0.0, 0.0, 0.0, 0.0]], **extra}


@pytest.fixture
def store(tmp_path):
    folder = tmp_path / "store"
    docs = [_doc("t" * 8 + "a", "good", 0.5123456789, flags=[("space_group_changed", [])]),
            _doc("t" * 8 + "b", "unstable", 26.07, flags=[("elastic_not_positive_definite",
                                                            ["elastic_tensor", "piezo_tensor", "e_ij_max"])]),
            _doc("t" * 8 + "c", LONG_ID, 1.2),
            _doc("t" * 8 + "d", "broken", None, status="failed", failure_reason="x.cif: unreadable")]
    write_task_docs(get_jobstore(str(folder)), docs)
    return folder


def _query(store, *args) -> list[str]:
    result = runner.invoke(app, ["query", "--store", str(store), "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return [d["structure_id"] for d in json.loads(result.output)]


def test_query_reliable_by_default_flags_sort_limit(store):
    assert sorted(_query(store)) == sorted(["good", LONG_ID])
    assert sorted(_query(store, "--include-unreliable")) == sorted(["good", "unstable", LONG_ID])
    assert _query(store, "--flag", "elastic_not_positive_definite") == ["unstable"]
    assert _query(store, "--flag", "space_group_changed") == ["good"]  # a note: still reliable
    assert _query(store, "--eij-min", "1") == [LONG_ID]  # the absurd 26 C/m^2 no longer tops the list
    assert _query(store, "--sort", "e_ij_max", "--limit", "2", "--include-unreliable") == ["unstable", LONG_ID]
    assert _query(store, "--sort", "e_ij_max", "--ascending", "--limit", "1") == ["good"]
    assert _query(store, "--failed") == ["broken"]
    bad = runner.invoke(app, ["query", "--store", str(store), "--sort", "colour"])
    assert bad.exit_code == 1 and "--sort 'colour'" in bad.output


def test_query_never_truncates_when_not_a_terminal(store):
    result = runner.invoke(app, ["query", "--store", str(store)])  # CliRunner output is not a terminal
    assert result.exit_code == 0, result.output
    assert LONG_ID in result.output and "0.5123456789" in result.output
    assert result.output.startswith("| structure_id |")
    csv = runner.invoke(app, ["query", "--store", str(store), "--format", "csv", "--include-unreliable"])
    assert "26.07" in csv.output and "elastic_not_positive_definite" in csv.output


def test_show_one_material(store):
    out = runner.invoke(app, ["show", "unstable", "--store", str(store)])
    assert out.exit_code == 0, out.output
    assert "flag elastic_not_positive_definite" in out.output and "piezo e total, C/m^2" in out.output
    assert "26.0700" in out.output and "reliable: False" in out.output
    by_prefix = runner.invoke(app, ["show", "tttttttta", "--store", str(store), "--format", "json"])
    assert json.loads(by_prefix.output)["structure_id"] == "good"
    missing = runner.invoke(app, ["show", "nothing", "--store", str(store)])
    assert missing.exit_code == 1 and "no document" in missing.output


def test_property_reliable_follows_affects(store):
    docs = {d["structure_id"]: d for d in json.loads(runner.invoke(
        app, ["query", "--store", str(store), "--format", "json", "--include-unreliable"]).output)}
    assert property_reliable(docs["unstable"], "epsilon_static")
    assert not property_reliable(docs["unstable"], "piezo_tensor")
    assert property_reliable(docs["good"], "piezo_tensor")


def test_read_only_store_is_queried_without_writing(store, monkeypatch):
    files = sorted(p for p in store.rglob("*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p).startswith(str(store))
                        and mode == os.W_OK else real_access(p, mode, **kw))
    assert sorted(_query(store)) == sorted(["good", LONG_ID])
    assert runner.invoke(app, ["show", "good", "--store", str(store)]).exit_code == 0
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    nowhere = runner.invoke(app, ["query", "--store", str(store.parent / "none")])
    assert nowhere.exit_code == 1 and "no results store" in nowhere.output
