"""Task documents in a JobStore: iterate, find stored resume keys, export to a flat store."""

from __future__ import annotations

import logging
from typing import Any, Iterable, Iterator, Optional

from jobflow import JobStore
from maggma.stores import MemoryStore

logger = logging.getLogger(__name__)

BATCH_KIND = "electric_response_batch"
TASK_FIELDS = "provenance"


def _outputs(store: JobStore, criteria: Optional[dict] = None, properties: Optional[list[str]] = None
             ) -> Iterator[dict]:
    crit = {"$or": [{"output.kind": BATCH_KIND}, {"output.provenance.settings_hash": {"$exists": True},
                                                   "output.task_label": {"$exists": True},
                                                   "output.kind": {"$exists": False}}]}
    if criteria:
        crit = {"$and": [crit, criteria]}
    yield from store.docs_store.query(crit, properties=properties)


def iter_task_docs(store: JobStore, include_failed: bool = True) -> Iterator[dict]:
    """Every task document (dict) in ``store``: batch outputs are flattened.

    Later documents with the same ``task_id`` replace earlier ones (a retried
    failure replaces the failed document).
    """
    seen: dict[str, dict] = {}
    anonymous: list[dict] = []
    for out in _outputs(store):
        output = out.get("output") or {}
        tasks = output.get("tasks") if output.get("kind") == BATCH_KIND else [output]
        for doc in tasks or []:
            if not isinstance(doc, dict):
                continue
            if not include_failed and doc.get("status") == "failed":
                continue
            doc = _strip_blobs(doc)
            tid = doc.get("task_id")
            if tid:
                prev = seen.get(tid)
                if prev is None or prev.get("status") == "failed" or doc.get("status") != "failed":
                    seen[tid] = doc
            else:
                anonymous.append(doc)
    yield from seen.values()
    yield from anonymous


def _strip_blobs(doc: dict) -> dict:
    """Replace references to the `data` store by None; keep their ids under ``<key>_blob_uuid``."""
    out = dict(doc)
    for key, value in doc.items():
        if isinstance(value, dict) and "blob_uuid" in value:
            out[key] = None
            out[f"{key}_blob_uuid"] = value["blob_uuid"]
    return out


def load_large_data(store: JobStore, doc: dict, key: str = "force_constants") -> Any:
    """The array ``key`` of a task document from the additional `data` store (None if absent)."""
    blob = doc.get(f"{key}_blob_uuid")
    if not blob:
        return doc.get(key)
    found = store.additional_stores["data"].query_one({"blob_uuid": blob})
    return None if found is None else found.get("data")


def stored_keys(store: JobStore, keys: Optional[Iterable[str]] = None, include_failed: bool = True) -> set[str]:
    """Resume keys (``provenance.settings_hash``) already in ``store`` (restricted to ``keys`` if given).

    Failed documents count as done unless ``include_failed`` is False (then
    they are recomputed on a rerun).
    """
    wanted = set(keys) if keys is not None else None
    found = set()
    for doc in iter_task_docs(store, include_failed=include_failed):
        if doc.get("status") == "failed" and not include_failed:
            continue
        key = (doc.get("provenance") or {}).get("settings_hash") or doc.get("task_id")
        if key and (wanted is None or key in wanted):
            found.add(key)
    return found


def task_docs_store(store: JobStore, criteria: Optional[dict] = None) -> MemoryStore:
    """A flat maggma MemoryStore (key ``task_id``) of the task documents in ``store``.

    This is what the comparison builder and ``macefield query`` read.
    """
    flat = MemoryStore(collection_name="tasks", key="task_id")
    flat.connect()
    docs = [d for d in iter_task_docs(store) if d.get("task_id")]
    if docs:
        flat.update(docs, key="task_id")
    if criteria:
        keep = {d["task_id"] for d in flat.query(criteria, properties=["task_id"])}
        flat.remove_docs({"task_id": {"$nin": sorted(keep)}})
    return flat


def write_task_docs(store: JobStore, docs: list[dict]) -> None:
    """Write task documents (dicts with ``task_id``) as job outputs of ``store``.

    Used for documents that no job produced: failed inputs (unreadable files...)
    and the documents of duplicate ids. The output ``uuid`` is derived from the
    ``task_id``, so writing the same document again replaces it.
    """
    import uuid as _uuid
    from datetime import datetime, timezone

    rows = []
    for doc in docs:
        tid = doc.get("task_id")
        if not tid:
            raise ValueError(f"task document without task_id: {sorted(doc)[:8]}")
        rows.append({"uuid": str(_uuid.uuid5(_uuid.NAMESPACE_URL, f"macefield-task:{tid}")), "index": 1,
                     "name": "screen input", "output": doc, "metadata": {}, "hosts": [],
                     "completed_at": datetime.now(timezone.utc).isoformat()})
    if rows:
        store.docs_store.update(rows, key=["uuid", "index"])


def stored_relaxations(store: JobStore, keys: Iterable[str]) -> dict[str, dict]:
    """Successful relaxation records (dicts) stored for resume ``keys``: key -> record.

    A screening interrupted between its relaxation and its property job leaves
    the relaxation output in the store; a rerun reuses it instead of relaxing again.
    """
    wanted = set(keys)
    if not wanted:
        return {}
    found: dict[str, dict] = {}
    crit = {"output.kind": "relax_batch", "output.records.resume_key": {"$in": sorted(wanted)}}
    for out in store.docs_store.query(crit, properties=["output.records"]):
        for rec in (out.get("output") or {}).get("records") or []:
            key = rec.get("resume_key")
            if key in wanted and rec.get("ok") and rec.get("structure"):
                found[key] = {k: v for k, v in rec.items() if k != "_id"}
    return found
