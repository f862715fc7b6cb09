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
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Optional, Sequence

from jobflow import JobStore, run_locally
from pymatgen.core import Structure

from macefield_flows.exceptions import MacefieldError
from macefield_flows.flows.screening import ScreeningMaker

logger = logging.getLogger(__name__)


PR_SET_PDEATHSIG = 1
WATCHDOG_PERIOD_S = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """Worker initializer: never outlive ``parent_pid`` (prctl on Linux + a polling watchdog)."""
    import signal

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


def _run_chunk_isolated(maker_dict: dict, structures: list[dict]) -> tuple[list[dict], list[dict]]:
    """Worker process: run one chunk into a memory store, return (outputs, data documents)."""
    from macefield_flows.stores import get_jobstore

    maker = ScreeningMaker.from_dict(maker_dict)
    store = get_jobstore("memory")
    run_locally(maker.make([Structure.from_dict(s) for s in structures]), store=store, log=False,
                raise_immediately=True)
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
            try:
                responses = run_locally(maker.make(chunk), store=store, log=False, raise_immediately=True)
            except MacefieldError:
                raise
            except Exception as exc:  # noqa: BLE001 (a job that failed as a whole: say why, in one line)
                raise MacefieldError(f"a screening job failed: {type(exc).__name__}: {exc}") from exc
            _check_responses(responses)
            if progress:
                progress(len(chunk))
        return len(todo)
    maker_dict = maker.as_dict()
    with ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(_run_chunk_isolated, maker_dict, [s.as_dict() for s in c]): len(c)
                   for c in chunks}
        for fut in as_completed(futures):
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
            if progress:
                progress(futures[fut])
    return len(todo)


def _check_responses(responses: dict[str, Any]) -> None:
    if not responses:
        raise MacefieldError("a screening job failed before writing its documents (see the log with -v)")
