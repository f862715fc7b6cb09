"""Where the DFPT reference files and the project's own data live.

* Shipped references: the redistributable sets (Petousis, de Jong, Petretto,
  Smidt, phonopy examples) are in ``<data>/references/`` (see its README and
  :mod:`macefield_flows.references.shipped`). They are the default: a fresh
  clone compares with DFPT without anything beside it.
* ``MACEFIELD_REFERENCE_DIR`` (or an explicit ``reference_dir`` argument) points
  at a folder of full reference files, e.g. the shared data's ``reference/``
  folder (the data root that *contains* ``reference/`` is accepted too). Files
  found there take precedence; shipped sets absent there are still read from
  the shipped copy. Evaluation-only sets that never ship (the MACE-Field paper
  subset ``mp_dielectric_becs_macefield_subset``, finite-field frames) are
  readable only this way.
* ``MACEFIELD_DATA_DIR`` overrides the project's own data folder (``<repo>/data``),
  which holds ``benchmark_set.json`` and ``references/``.

Everything is read at call time, never at import time. Nothing outside the
project is read unless configured.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from macefield_flows.exceptions import ReferenceDataError

logger = logging.getLogger(__name__)

REFERENCE_DIR_ENV = "MACEFIELD_REFERENCE_DIR"
DATA_DIR_ENV = "MACEFIELD_DATA_DIR"
REPO_ROOT = Path(__file__).resolve().parents[3]
"""Repository root when running from a source checkout (src layout)."""
SHIPPED_SUBDIR = "references"


def resolve_data_dir(path: Optional[str | os.PathLike] = None) -> Path:
    """The project's own data folder: ``path``, else ``MACEFIELD_DATA_DIR``, else ``<repo>/data``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "data"


def shipped_reference_dir() -> Path:
    """Folder of the shipped reference sets: ``resolve_data_dir() / 'references'``."""
    return resolve_data_dir() / SHIPPED_SUBDIR


def external_reference_dir(path: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """The configured folder of full reference files (``path`` or ``MACEFIELD_REFERENCE_DIR``), or None.

    Raises
    ------
    ReferenceDataError
        When a folder is configured but does not exist (a wrong override is an
        error, never silently replaced by the shipped data).
    """
    raw = path if path is not None else os.environ.get(REFERENCE_DIR_ENV) or None
    if raw is None:
        return None
    cand = Path(raw).expanduser()
    if (cand / "reference").is_dir() and not (cand / "SOURCE.md").exists():
        cand = cand / "reference"
    if not cand.is_dir():
        origin = "reference_dir argument" if path is not None else REFERENCE_DIR_ENV
        raise ReferenceDataError(f"DFPT reference folder not found: {str(raw)!r} (from {origin}); set "
                                 f"{REFERENCE_DIR_ENV} to a folder of reference files, or unset it to use "
                                 "the shipped references")
    return cand


def find_reference_dir(path: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """The configured reference folder, else the shipped one; ``None`` when neither exists."""
    try:
        ext = external_reference_dir(path)
    except ReferenceDataError:
        return None
    if ext is not None:
        return ext
    shipped = shipped_reference_dir()
    return shipped if shipped.is_dir() else None


def resolve_reference_dir(path: Optional[str | os.PathLike] = None) -> Path:
    """Like :func:`find_reference_dir` but raise when the folder is absent.

    Raises
    ------
    ReferenceDataError
        With the paths that were tried and how to configure them.
    """
    ext = external_reference_dir(path)
    if ext is not None:
        return ext
    shipped = shipped_reference_dir()
    if not shipped.is_dir():
        raise ReferenceDataError(f"shipped reference folder {str(shipped)!r} not found (is {DATA_DIR_ENV} "
                                 f"right?); set {REFERENCE_DIR_ENV} to a folder of reference files")
    return shipped


def reference_file(name: str, reference_dir: Optional[str | os.PathLike] = None) -> Path:
    """Path of one reference file, e.g. ``'mp_piezo_dejong2015.jsonl.gz'``.

    Looks in the configured folder first, then among the shipped files (by
    source or shipped file name).

    Raises
    ------
    ReferenceDataError
        When the file is in neither place; the message says whether the set
        ships at all.
    """
    from macefield_flows.references.shipped import shipped_file_for

    ext = external_reference_dir(reference_dir)
    if ext is not None and (ext / name).exists():
        return ext / name
    shipped = shipped_file_for(name)
    if shipped is not None:
        if ext is not None:
            logger.debug("%s not in %s: using the shipped copy %s", name, ext, shipped)
        return shipped
    if ext is not None:
        raise ReferenceDataError(f"reference file {name!r} not found in {str(ext)!r} (nor among the shipped sets)")
    raise ReferenceDataError(f"reference file {name!r} is not shipped with macefield-flows (evaluation-only or "
                             f"not redistributable); set {REFERENCE_DIR_ENV} to a folder holding it")


def splits_file(reference_dir: Optional[str | os.PathLike] = None) -> Path:
    """``splits.json``: ``<folder>/../splits/splits.json`` of a configured folder, else the shipped copy."""
    ext = external_reference_dir(reference_dir)
    if ext is not None and (ext.parent / "splits" / "splits.json").exists():
        return ext.parent / "splits" / "splits.json"
    f = shipped_reference_dir() / "splits.json"
    if not f.exists():
        raise ReferenceDataError(f"splits file not found at {str(f)!r}")
    return f
