"""Where the DFPT reference files and the project's own data live.

* ``MACEFIELD_REFERENCE_DIR`` points at the ``reference/`` folder of the shared
  data (the folder holding ``mp_dielectric_petousis2017.jsonl.gz`` ...). Pointing
  it at the data root (the folder that *contains* ``reference/`` and
  ``splits/``) is accepted too: the ``reference/`` sub-folder is then used.
  Default: ``<repo>/../shared/data/reference`` when it exists.
* ``MACEFIELD_DATA_DIR`` overrides the project's own data folder (``<repo>/data``),
  which holds the built-in benchmark set ``benchmark_set.json``.

Both are read at call time, never at import time.
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
DEFAULT_REFERENCE_DIR = REPO_ROOT.parent / "shared" / "data" / "reference"


def find_reference_dir(path: Optional[str | os.PathLike] = None) -> Optional[Path]:
    """Return the reference folder, or ``None`` when it cannot be found.

    Parameters
    ----------
    path
        Explicit folder (``reference/`` or the data root). Takes precedence over
        ``MACEFIELD_REFERENCE_DIR`` and the default.
    """
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    elif os.environ.get(REFERENCE_DIR_ENV):
        candidates.append(Path(os.environ[REFERENCE_DIR_ENV]))
    else:
        candidates.append(DEFAULT_REFERENCE_DIR)
    for cand in candidates:
        cand = cand.expanduser()
        if (cand / "reference").is_dir() and not (cand / "SOURCE.md").exists():
            cand = cand / "reference"
        if cand.is_dir():
            return cand
    return None


def resolve_reference_dir(path: Optional[str | os.PathLike] = None) -> Path:
    """Like :func:`find_reference_dir` but raise when the folder is absent.

    Raises
    ------
    ReferenceDataError
        With the paths that were tried and how to configure them.
    """
    found = find_reference_dir(path)
    if found is None:
        tried = path or os.environ.get(REFERENCE_DIR_ENV) or DEFAULT_REFERENCE_DIR
        raise ReferenceDataError(
            f"DFPT reference folder not found (tried {str(tried)!r}); set "
            f"{REFERENCE_DIR_ENV} to the shared data's 'reference/' folder."
        )
    return found


def reference_file(name: str, reference_dir: Optional[str | os.PathLike] = None) -> Path:
    """Path of one reference file, e.g. ``'mp_piezo_dejong2015.jsonl.gz'``.

    Raises
    ------
    ReferenceDataError
        When the folder or the file is absent.
    """
    folder = resolve_reference_dir(reference_dir)
    f = folder / name
    if not f.exists():
        raise ReferenceDataError(f"reference file {name!r} not found in {str(folder)!r}")
    return f


def splits_file(reference_dir: Optional[str | os.PathLike] = None) -> Path:
    """Path of ``splits/splits.json`` next to the reference folder."""
    folder = resolve_reference_dir(reference_dir)
    f = folder.parent / "splits" / "splits.json"
    if not f.exists():
        raise ReferenceDataError(f"splits file not found at {str(f)!r}")
    return f


def resolve_data_dir(path: Optional[str | os.PathLike] = None) -> Path:
    """The project's own data folder: ``path``, else ``MACEFIELD_DATA_DIR``, else ``<repo>/data``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "data"
