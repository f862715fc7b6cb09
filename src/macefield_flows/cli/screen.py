"""``macefield screen``: every input accounted for, an honest end of run.

Steps of :func:`screen_inputs`:

1. load the model once (a missing, corrupt, untrusted or mismatched model stops
   the run before any work, with the one-line error ``info --model`` gives);
2. read every input (:mod:`macefield_flows.cli.inputs`): bad ones become failed
   documents naming the input and the reason, written to the store at once;
3. compute each distinct structure once (identical structures under different
   ids share a resume key; every id gets its own document);
4. summarise: counts by status, a table of failures and unreliable results, and
   the same as a JSON run report next to the store.

Exit codes of ``screen``: 0 done (failed inputs are recorded, not fatal); 1 an
error before any work (model, store, arguments); 3 with ``--strict`` when any
input failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from macefield_flows.cli.inputs import InputItem

logger = logging.getLogger(__name__)

STRICT_EXIT_CODE = 3


@dataclass
class RunSummary:
    """What became of every input of one ``screen`` run."""

    n_inputs: int = 0
    n_computed: int = 0
    n_already_stored: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    report_path: Optional[str] = None
    task_ids: list[str] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return self.counts.get("failed", 0)


def preflight_model(model: str, head: Optional[str], trust_pickle: bool, backend: Optional[str] = None) -> Any:
    """``(model file, ModelInfo)``; raises the loader's one-line error before any work."""
    from macefield_flows.jobs._model import model_path
    from macefield_flows.model import load_model
    from macefield_flows.model.heads import HeadError, resolve_head

    path = model_path(model)
    info = load_model(path, device="cpu", trust_pickle=trust_pickle, backend=backend).model_info
    try:  # the rule of the calculator and the engine (model/heads.py)
        resolve_head(info.heads, head, warn=False)
    except HeadError as exc:
        raise ValueError(f"--head {head!r}: {path.name}: {exc}") from None
    return path, info


def input_failure_key(item: InputItem, model_sha256: str) -> str:
    """Stable task id of a failed input (same input, same reason, same model -> same id)."""
    blob = json.dumps([item.source, item.reason, model_sha256])
    return hashlib.sha256(blob.encode()).hexdigest()


def input_failure_doc(item: InputItem, info: Any, device: str, dtype: str) -> dict[str, Any]:
    """The failed task document (dict) of an input that cannot be screened."""
    from macefield_flows.schemas.task import Provenance
    from macefield_flows.screening import failed_task_doc

    key = input_failure_key(item, info.sha256)
    prov = Provenance(model_name=info.name, model_sha256=info.sha256, device=device, dtype=dtype,
                      settings_hash=key)
    reason = f"{item.source}: {item.reason}"
    doc = failed_task_doc(item.structure, reason, prov, structure_id=item.structure_id)
    from monty.json import jsanitize

    out = jsanitize(doc.model_dump(), strict=True, enum_values=True, allow_bson=True)
    out["input_source"] = item.source
    return out


def screen_inputs(items: list[InputItem], maker: Any, store: Any, info: Any, workers: int = 1,
                  retry_failed: bool = False, progress_factory: Optional[Callable[[int], Any]] = None,
                  echo: Callable[[str], None] = print) -> RunSummary:
    """Screen ``items`` into ``store`` (see the module docstring); returns the run summary."""
    from macefield_flows.cli.run import run_screening
    from macefield_flows.stores import stored_keys
    from macefield_flows.stores.results import write_task_docs

    good = [it for it in items if it.ok]
    bad = [it for it in items if not it.ok]
    if bad:
        write_task_docs(store, [input_failure_doc(it, info, maker.device, maker.dtype) for it in bad])
    keys = maker.resume_keys([it.structure for it in good])
    first: dict[str, InputItem] = {}
    for it, k in zip(good, keys):
        first.setdefault(k, it)
    skip = stored_keys(store, list(first), include_failed=not retry_failed)
    todo = [k for k in first if k not in skip]
    echo(f"{len(items)} inputs: {len(bad)} cannot be screened, {len(good)} structures "
         f"({len(first)} distinct), {len(first) - len(todo)} already stored, {len(todo)} to compute")
    n_computed = 0
    if todo:
        from macefield_flows.stores.claims import claims_for

        structures = [first[k].structure for k in todo]
        claims = claims_for(store)
        try:
            if progress_factory is None:
                n_computed = run_screening(maker, structures, store, set(), workers, claims=claims,
                                           include_failed=not retry_failed)
            else:
                with progress_factory(len(todo)) as advance:
                    n_computed = run_screening(maker, structures, store, set(), workers, progress=advance,
                                               claims=claims, include_failed=not retry_failed)
        finally:
            claims.close()
    _alias_duplicates(store, good, keys)
    summary = summarise(items, keys, store, info)
    summary.n_computed, summary.n_already_stored = n_computed, len(first) - len(todo)
    return summary


def _alias_duplicates(store: Any, good: list[InputItem], keys: list[str]) -> None:
    """Give every id its own document when identical structures share one computation."""
    from macefield_flows.stores import iter_task_docs
    from macefield_flows.stores.results import write_task_docs

    wanted = set(keys)
    by_key: dict[str, list[dict]] = {}
    for d in iter_task_docs(store):
        k = (d.get("provenance") or {}).get("settings_hash")
        if k in wanted:
            by_key.setdefault(k, []).append(d)
    new = []
    for it, k in zip(good, keys):
        docs = by_key.get(k) or []
        if not docs or any(d.get("structure_id") == it.structure_id for d in docs):
            continue
        src = next((d for d in docs if d.get("task_id") == k), docs[0])
        alias = {key: v for key, v in src.items() if not key.endswith("_blob_uuid")}
        mid = (it.structure.properties or {}).get("material_id")
        alias.update(task_id=f"{k}:{it.structure_id}", structure_id=it.structure_id, material_id=mid,
                     input_source=it.source, duplicate_of=src.get("task_id"))
        new.append(alias)
        docs.append(alias)
    if new:
        write_task_docs(store, new)


def summarise(items: list[InputItem], keys: list[str], store: Any, info: Any) -> RunSummary:
    """Counts by status and one row per failed or unreliable input (in input order)."""
    from macefield_flows.stores import iter_task_docs

    by_key_id: dict[tuple[str, str], dict] = {}
    by_key: dict[str, dict] = {}
    for d in iter_task_docs(store):
        k = (d.get("provenance") or {}).get("settings_hash") or d.get("task_id")
        by_key_id[(k, d.get("structure_id"))] = d
        by_key.setdefault(k, d)
    summary = RunSummary(n_inputs=len(items))
    good = iter(keys)
    for it in items:
        if it.ok:
            k = next(good)
            doc = by_key_id.get((k, it.structure_id)) or by_key.get(k)
        else:
            doc = by_key.get(input_failure_key(it, info.sha256))
        status = "missing" if doc is None else str(doc.get("status"))
        if doc is not None and doc.get("task_id"):
            summary.task_ids.append(str(doc["task_id"]))
        quality = (doc or {}).get("quality") or {}
        if status == "successful" and quality and not quality.get("reliable", True):
            status = "unreliable"
        summary.counts[status] = summary.counts.get(status, 0) + 1
        if status != "successful":
            reason = (doc or {}).get("failure_reason") or "no document stored"
            if reason.startswith(f"{it.source}: "):
                reason = reason[len(it.source) + 2:]
            if status == "unreliable":
                reason = "; ".join(f.get("message", f.get("name", "")) for f in quality.get("flags", []))
            summary.rows.append({"input": it.source, "structure_id": it.structure_id, "status": status,
                                 "task_id": (doc or {}).get("task_id"), "reason": reason,
                                 "flags": [f.get("name") for f in quality.get("flags", [])]})
    return summary


def report_path_for(store_spec: Optional[str]) -> Path:
    """Where the JSON run report goes: in the store's folder, else the working directory."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"run_report_{stamp}_{os.getpid()}.json"
    spec = str(store_spec) if store_spec else None
    if spec in (None, "default"):
        from macefield_flows.stores import default_store_dir

        return Path(default_store_dir()) / name
    if spec.startswith("json:"):
        spec = spec[5:]
    if "://" in spec or spec in ("memory", "jobflow"):
        return Path.cwd() / f"macefield_{name}"
    return Path(spec).expanduser() / name


def write_report(summary: RunSummary, path: Path, settings: dict[str, Any]) -> Path:
    """Write the run report (JSON): counts, settings and one row per failed / unreliable input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"created": datetime.now(timezone.utc).isoformat(), "n_inputs": summary.n_inputs,
               "n_computed": summary.n_computed, "n_already_stored": summary.n_already_stored,
               "counts": summary.counts, "settings": settings, "problems": summary.rows,
               "task_ids": summary.task_ids}
    path.write_text(json.dumps(payload, indent=1, default=str))
    summary.report_path = str(path)
    return path


def summary_table(summary: RunSummary, limit: int = 50) -> Any:
    """A rich table of failed and unreliable inputs (input, status, reason)."""
    from rich.table import Table

    table = Table(title=f"{len(summary.rows)} inputs failed or unreliable", show_lines=False)
    for col in ("input", "status", "reason"):
        table.add_column(col, overflow="fold")
    for row in summary.rows[:limit]:
        table.add_row(row["input"], row["status"], row["reason"])
    if len(summary.rows) > limit:
        table.add_row(f"... {len(summary.rows) - limit} more", "", "see the run report")
    return table


def counts_line(summary: RunSummary) -> str:
    order = ("successful", "unreliable", "failed", "missing")
    parts = [f"{summary.counts[k]} {k}" for k in order if summary.counts.get(k)]
    return f"{summary.n_inputs} inputs: " + (", ".join(parts) or "nothing")


def structure_ids_of(items: Sequence[InputItem]) -> list[str]:
    return [it.structure_id for it in items]
