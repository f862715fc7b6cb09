"""Running a screening from the CLI: chunk by chunk (progress, resume), optional worker processes."""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Optional, Sequence

from jobflow import JobStore, run_locally
from pymatgen.core import Structure

from macefield_flows.flows.screening import ScreeningMaker

logger = logging.getLogger(__name__)


def _run_chunk_isolated(maker_dict: dict, structures: list[dict]) -> tuple[list[dict], list[dict]]:
    """Worker process: run one chunk into a memory store, return (outputs, data documents)."""
    from macefield_flows.stores import get_jobstore

    maker = ScreeningMaker.from_dict(maker_dict)
    store = get_jobstore("memory")
    run_locally(maker.make([Structure.from_dict(s) for s in structures]), store=store, log=False)
    docs = [{k: v for k, v in d.items() if k != "_id"} for d in store.docs_store.query()]
    data = [{k: v for k, v in d.items() if k != "_id"} for d in store.additional_stores["data"].query()]
    return docs, data


def run_screening(maker: ScreeningMaker, structures: Sequence[Structure], store: JobStore,
                  skip_keys: set[str], workers: int = 1,
                  progress: Optional[Callable[[int], None]] = None) -> int:
    """Compute the structures whose resume key is not in ``skip_keys``; returns how many ran.

    Each chunk is written to ``store`` as soon as it finishes, so an interruption
    loses at most the chunks in flight.
    """
    keys = maker.resume_keys(structures)
    todo = [s for s, k in zip(structures, keys) if k not in skip_keys]
    size = int(maker.chunk_size)
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    if workers <= 1:
        for chunk in chunks:
            responses = run_locally(maker.make(chunk), store=store, log=False)
            _check_responses(responses)
            if progress:
                progress(len(chunk))
        return len(todo)
    maker_dict = maker.as_dict()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_run_chunk_isolated, maker_dict, [s.as_dict() for s in c]): len(c)
                   for c in chunks}
        for fut in as_completed(futures):
            docs, data = fut.result()
            if data:
                store.additional_stores["data"].update(data, key="blob_uuid")
            if docs:
                store.docs_store.update(docs, key=["uuid", "index"])
            if progress:
                progress(futures[fut])
    return len(todo)


def _check_responses(responses: dict[str, Any]) -> None:
    if not responses:
        from macefield_flows.exceptions import MacefieldError

        raise MacefieldError("a screening job failed before writing its documents (see the log with -v)")
