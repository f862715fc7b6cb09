"""What ``macefield compare`` compares: predictions (results store or file) and references.

Predictions
    :func:`load_predictions`: the task documents of the results store (the same
    ``--store`` as ``macefield query``), or of a JSON file written by ``macefield
    export``; failed documents are skipped; filters by model name and run (a
    ``screen`` run report, or ``latest``: the newest report beside the store).

References
    :func:`load_references`: the shipped sets with tensors to compare
    (:data:`COMPARED_DATASETS`; only rows whose formula or MP id occurs among the
    predictions are converted), the built-in benchmark set, the Materials Project
    set written by ``macefield references update`` (if any), and the user's own
    files (:func:`macefield_flows.references.user.read_reference_file`).

Every expected problem raises :class:`~macefield_flows.exceptions.ReferenceDataError`
or ``ValueError`` with one line naming it (the CLI prints ``error: ...`` and exits 1).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional

from macefield_flows.exceptions import ReferenceDataError

logger = logging.getLogger(__name__)

COMPARED_DATASETS: tuple[str, ...] = ("mp_dielectric_petousis2017", "mp_piezo_dejong2015",
                                      "petretto2018_dfpt_becs_epsinf", "phonopy_born_examples")
"""Shipped sets with tensors ``compare`` uses (the Smidt paths hold polarisation paths, not tensors)."""

MP_USER_FILE = "materials_project_api.json.gz"
"""File written by ``macefield references update`` under :func:`user_reference_dir`."""


def user_reference_dir() -> Path:
    """Folder of references the user fetched: ``$MACEFIELD_HOME/references`` (default ``~/.macefield``)."""
    return Path(os.environ.get("MACEFIELD_HOME") or Path.home() / ".macefield").expanduser() / "references"


def _run_task_ids(run: str, store_spec: Optional[str]) -> set[str]:
    """Task ids of one ``screen`` run, from its JSON run report (``latest``: newest beside the store)."""
    path = Path(run)
    if run == "latest":
        from macefield_flows.stores import default_store_dir

        spec = store_spec or os.environ.get("MACEFIELD_STORE") or "default"
        folder = Path(default_store_dir()) if spec == "default" else Path(spec.removeprefix("json:"))
        reports = sorted(folder.glob("run_report_*.json"))
        if not reports:
            raise ValueError(f"--run latest: no run report (run_report_*.json) in {str(folder)!r}")
        path = reports[-1]
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"--run {run}: run report {str(path)!r} not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"--run {run}: {str(path)!r} is not a JSON run report ({exc})") from None
    ids = report.get("task_ids")
    if not isinstance(ids, list):
        raise ValueError(f"--run {run}: {str(path)!r} lists no task_ids (written by an older `screen`)")
    return {str(i) for i in ids if i}


def load_predictions(store: Optional[str] = None, predictions_file: Optional[str | os.PathLike] = None,
                     model: Optional[str] = None, run: Optional[str] = None) -> list[dict[str, Any]]:
    """Successful task documents to compare (dicts with a ``task_id``).

    Raises
    ------
    ValueError
        Empty store, no document after the filters, or an unreadable file.
    """
    if predictions_file is not None:
        path = Path(predictions_file)
        try:
            docs = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"predictions file not found: {str(path)!r}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"predictions file {str(path)!r} is not valid JSON: {exc}") from None
        docs = docs if isinstance(docs, list) else [docs]
        if not all(isinstance(d, dict) for d in docs):
            raise ValueError(f"predictions file {str(path)!r}: expected a list of task documents")
        where = f"predictions file {str(path)!r}"
    else:
        from macefield_flows.stores import get_jobstore, iter_task_docs

        docs = list(iter_task_docs(get_jobstore(store, read_only=True)))
        where = f"results store {store or os.environ.get('MACEFIELD_STORE') or 'default'!r}"
    docs = [d for d in docs if d.get("status", "successful") != "failed"]
    if not docs:
        raise ValueError(f"the {where} holds no successful predictions (run `macefield screen` or "
                         "`macefield demo` first)")
    for i, d in enumerate(docs):
        d.setdefault("task_id", d.get("task_id") or f"prediction-{i}")
    if model:
        docs = [d for d in docs if (d.get("provenance") or {}).get("model_name") == model]
        if not docs:
            raise ValueError(f"no prediction of model {model!r} in the {where}")
    if run:
        ids = _run_task_ids(run, store)
        docs = [d for d in docs if str(d.get("task_id")) in ids]
        if not docs:
            raise ValueError(f"no prediction of run {run!r} in the {where}")
    return docs


def _wanted_rows(dataset: str, formulas: set[str], ids: set[str]) -> list[int]:
    from macefield_flows.references.ingest import _read_rows
    from macefield_flows.references.splits import dataset_info

    rows = _read_rows(dataset_info(dataset).filename, None)
    out = []
    for i, r in enumerate(rows):
        formula = r.get("reduced_formula")
        if formula is None:
            struct = r.get("structure") or r.get("structure_primitive")
            if struct is None:
                continue
            from pymatgen.core import Structure

            formula = Structure.from_dict(struct).composition.reduced_formula
        if formula in formulas or r.get("material_id") in ids or set(r.get("mp_id_candidates") or []) & ids:
            out.append(i)
    return out


def load_references(predictions: Sequence[dict[str, Any]], datasets: Optional[Iterable[str]] = None,
                    reference_files: Sequence[str | os.PathLike] = (), benchmark: bool = True,
                    user_mp: bool = True) -> list[dict[str, Any]]:
    """ReferenceDoc dicts that may match ``predictions`` (see module docstring).

    Parameters
    ----------
    datasets
        Shipped (or ``MACEFIELD_REFERENCE_DIR``) datasets; default :data:`COMPARED_DATASETS`.
        Pass ``[]`` to use only ``reference_files``.
    """
    from pymatgen.core import Structure

    from macefield_flows.references.ingest import iter_reference_docs
    from macefield_flows.references.user import read_reference_file

    formulas, ids = set(), set()
    for p in predictions:
        if p.get("material_id"):
            ids.add(str(p["material_id"]))
        if p.get("formula_pretty"):
            formulas.add(p["formula_pretty"])
        elif p.get("input_structure") or p.get("structure"):
            s = p.get("input_structure") or p.get("structure")
            formulas.add((s if isinstance(s, Structure) else Structure.from_dict(s)).composition.reduced_formula)
    out: list[dict[str, Any]] = []
    for name in (COMPARED_DATASETS if datasets is None else datasets):
        rows = _wanted_rows(name, formulas, ids)
        out += [d.model_dump() for d in iter_reference_docs(name, rows=rows)]
        logger.info("%s: %d candidate references", name, len(rows))
    if benchmark:
        from macefield_flows.references.benchmark import benchmark_reference_docs

        out += benchmark_reference_docs()
    mp_file = user_reference_dir() / MP_USER_FILE
    if user_mp and mp_file.exists():
        out += read_reference_file(mp_file, dataset="materials_project_api")
    for f in reference_files:
        docs = read_reference_file(f)
        logger.info("%s: %d user references", f, len(docs))
        out += docs
    if not out:
        raise ReferenceDataError("no reference documents to compare with")
    return out
