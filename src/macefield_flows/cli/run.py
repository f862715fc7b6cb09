"""Running a screening from the CLI: chunk by chunk (progress, resume), optional worker processes.

Workers die with their parent, also when the parent is killed with SIGKILL:
on Linux each worker asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), and everywhere a watchdog thread exits the
worker when its parent process id changes (the parent is gone).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Optional, Sequence

from jobflow import JobStore, run_locally
from pymatgen.core import Structure

from macefield_flows.exceptions import MacefieldError
from macefield_flows.flows.screening import ScreeningMaker

logger = logging.getLogger(__name__)


PR_SET_PDEATHSIG = 1
WATCHDOG_PERIOD_S = 1.0


_WORKER_PROGRESS: Any = None  # in a worker process: queue of finished resume keys (see _die_with_parent)


def _die_with_parent(parent_pid: int, progress_queue: Any = None, torch_threads: Optional[int] = None) -> None:
    """Worker initializer: never outlive ``parent_pid`` (prctl on Linux + a polling watchdog).

    With ``progress_queue`` the worker puts the resume key of every finished
    structure document on it (per-structure progress of the parent).
    ``torch_threads`` caps the worker's intra-op threads (the workers share the CPU).
    """
    import signal

    global _WORKER_PROGRESS
    _WORKER_PROGRESS = progress_queue
    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except OSError as exc:  # pragma: no cover (no libc: the watchdog still works)
            logger.debug("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    if os.getppid() != parent_pid:  # the parent died before the prctl call
        os._exit(1)

    def watchdog() -> None:
        import time

        while True:
            time.sleep(WATCHDOG_PERIOD_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watchdog, name="macefield-parent-watchdog", daemon=True).start()


def _run_chunk_isolated(maker_dict: dict, structures: list[dict],
                        reuse: Optional[dict[str, dict]] = None) -> tuple[list[dict], list[dict]]:
    """Worker process: run one chunk into a memory store, return (outputs, data documents)."""
    from macefield_flows.stores import get_jobstore

    from macefield_flows.jobs.response import on_document

    maker = ScreeningMaker.from_dict(maker_dict)
    store = get_jobstore("memory")
    queue = _WORKER_PROGRESS
    with on_document(queue.put if queue is not None else (lambda key: None)):
        run_locally(maker.make([Structure.from_dict(s) for s in structures], reuse_relaxations=reuse),
                    store=store, log=False, raise_immediately=True)
    docs = [{k: v for k, v in d.items() if k != "_id"} for d in store.docs_store.query()]
    data = [{k: v for k, v in d.items() if k != "_id"} for d in store.additional_stores["data"].query()]
    return docs, data


def run_screening(maker: ScreeningMaker, structures: Sequence[Structure], store: JobStore,
                  skip_keys: set[str], workers: int = 1,
                  progress: Optional[Callable[[int], None]] = None, claims: Any = None,
                  include_failed: bool = True, poll_s: float = 2.0) -> int:
    """Compute the structures whose resume key is not in ``skip_keys``; returns how many this run computed.

    Each chunk is written to ``store`` as soon as it finishes, so an interruption
    loses at most the chunks in flight. With ``claims`` (see
    :mod:`macefield_flows.stores.claims`) every chunk is claimed before it runs and
    the store is read again before each chunk: structures another process stored
    or is computing meanwhile are not computed twice (``progress`` still counts
    them, so the bar ends at its total).

    ``progress(n)`` advances per structure: once for each distinct resume key not in
    ``skip_keys`` (identical structures share one key and one tick), when its
    document is finished (also inside a chunk and in worker processes), or when it is
    found stored by another process. The ticks add up to exactly that number.
    """
    import multiprocessing

    from macefield_flows.jobs.response import on_document
    from macefield_flows.stores.claims import NoClaims

    claims = claims or NoClaims()
    keys = maker.resume_keys(structures)
    pending: dict[str, Structure] = {}
    for s, k in zip(structures, keys):
        if k not in skip_keys:
            pending.setdefault(k, s)
    ticked: set[str] = set()
    total = set(pending)

    def tick(done: Iterable[str]) -> None:
        for k in done:
            if k in total and k not in ticked:
                ticked.add(k)
                if progress:
                    progress(1)

    size = int(maker.chunk_size)
    computed = 0
    queue = None
    pool = None
    if workers > 1:
        # spawn, not fork: a forked child of a process whose torch/OpenMP thread pool has run
        # deadlocks in its first parallel kernel (seen: workers stuck in tensordot forever)
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.SimpleQueue() if progress else None
        threads = max(1, (os.cpu_count() or 1) // workers)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_die_with_parent,
                                   initargs=(os.getpid(), queue, threads))
    in_flight: dict[Any, list[str]] = {}
    try:
        while pending or in_flight:
            done_elsewhere = _stored(store, [k for k in pending if k not in _flat(in_flight)], include_failed)
            for k in done_elsewhere:
                pending.pop(k, None)
            tick(done_elsewhere)
            free = [k for k in pending if k not in _flat(in_flight)]
            chunk = claims.acquire(free[:size]) if free else []
            if len(chunk) < size and len(free) > size:  # part of the head is claimed: look further
                chunk += claims.acquire([k for k in free[size:] if k not in chunk][: size - len(chunk)])
            reuse = _relaxations(maker, store, chunk)
            if chunk and pool is None:
                with on_document(lambda key: tick([key])):
                    _run_chunk_here(maker, [pending[k] for k in chunk], store, reuse)
                _finish(chunk, pending, claims, tick)
                computed += len(chunk)
                continue
            if chunk:
                fut = pool.submit(_run_chunk_isolated, maker.as_dict(), [pending[k].as_dict() for k in chunk],
                                  reuse)
                in_flight[fut] = chunk
                if len(in_flight) < workers and len(free) > len(chunk):
                    continue
            if in_flight:
                finished = _wait_draining(list(in_flight), None if chunk or not free else poll_s, queue, tick)
                for fut in finished:
                    done = in_flight.pop(fut)
                    _store_worker_output(fut, store)
                    _finish(done, pending, claims, tick)
                    computed += len(done)
            elif pending:  # everything left is claimed by live runs: wait for their documents
                time.sleep(poll_s)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        claims.release(list(pending))
    return computed


def _flat(in_flight: dict[Any, list[str]]) -> set[str]:
    return {k for keys in in_flight.values() for k in keys}


def _stored(store: JobStore, keys: list[str], include_failed: bool) -> set[str]:
    if not keys:
        return set()
    from macefield_flows.stores import stored_keys

    return stored_keys(store, keys, include_failed=include_failed)


def _wait_draining(futures: list, timeout: Optional[float], queue: Any,
                   tick: Callable[[Iterable[str]], None], period_s: float = 0.2) -> set:
    """``wait(FIRST_COMPLETED)`` that passes the workers' finished keys (``queue``) to ``tick`` meanwhile."""
    if queue is None:
        return wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)[0]
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        step = period_s if deadline is None else max(0.0, min(period_s, deadline - time.monotonic()))
        finished = wait(futures, timeout=step, return_when=FIRST_COMPLETED)[0]
        _drain(queue, tick)
        if finished or (deadline is not None and time.monotonic() >= deadline):
            return finished


def _drain(queue: Any, tick: Callable[[Iterable[str]], None]) -> None:
    keys = []
    while not queue.empty():
        keys.append(queue.get())
    if keys:
        tick(keys)


def _finish(keys: list[str], pending: dict[str, Structure], claims: Any,
            tick: Callable[[Iterable[str]], None]) -> None:
    """Chunk ``keys`` done: forget them, release their claims, tick those no document hook reported."""
    for k in keys:
        pending.pop(k, None)
    claims.release(keys)
    tick(keys)


def _relaxations(maker: ScreeningMaker, store: JobStore, keys: list[str]) -> Optional[dict[str, dict]]:
    """Finished relaxations of ``keys`` stored by an interrupted run (None when there is nothing to reuse)."""
    if not keys or not maker.relax:
        return None
    from macefield_flows.stores.results import stored_relaxations

    found = stored_relaxations(store, keys)
    if found:
        logger.info("reusing %d finished relaxations of an interrupted run", len(found))
    return found or None


def _run_chunk_here(maker: ScreeningMaker, chunk: list[Structure], store: JobStore,
                    reuse: Optional[dict[str, dict]] = None) -> None:
    try:
        responses = run_locally(maker.make(chunk, reuse_relaxations=reuse), store=store, log=False,
                                raise_immediately=True)
    except MacefieldError:
        raise
    except Exception as exc:  # noqa: BLE001 (a job that failed as a whole: say why, in one line)
        raise MacefieldError(f"a screening job failed: {type(exc).__name__}: {exc}") from exc
    _check_responses(responses)


def _store_worker_output(fut: Any, store: JobStore) -> None:
    try:
        docs, data = fut.result()
    except MacefieldError:
        raise
    except Exception as exc:  # noqa: BLE001 (BrokenProcessPool when a worker was killed, job errors)
        raise MacefieldError(f"a screening worker failed: {type(exc).__name__}: {exc} (finished "
                             "chunks are stored; rerun the same command to resume)") from exc
    if data:
        store.additional_stores["data"].update(data, key="blob_uuid")
    if docs:
        store.docs_store.update(docs, key=["uuid", "index"])


def _check_responses(responses: dict[str, Any]) -> None:
    if not responses:
        raise MacefieldError("a screening job failed before writing its documents (see the log with -v)")
