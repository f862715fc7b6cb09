"""The reference sets shipped with the project (``data/references/``).

Written by ``workflows/build_shipped_references.py`` from the full source files;
licences, citations, units and the format are in ``data/references/README.md``
and ``manifest.json`` (per set: file, sha256, entry count, split counts,
licence, citation, method, units).

Format: gzipped JSON Lines with the source files' field names; structures are
minimal pymatgen dicts (``Structure.from_dict`` reads them; Angstrom). Rows keep
the source order, so the split indices of ``splits.json`` apply.

Usage::

    from macefield_flows.references.shipped import load_manifest, shipped_datasets, verify_shipped
    shipped_datasets()          # ('mp_dielectric_petousis2017', ...)
    verify_shipped()            # raises ReferenceDataError on a corrupt or missing file
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.references.paths import shipped_reference_dir

MANIFEST = "manifest.json"


def load_manifest() -> dict[str, Any]:
    """The shipped ``manifest.json``.

    Raises
    ------
    ReferenceDataError
        When it is missing or not valid JSON.
    """
    f = shipped_reference_dir() / MANIFEST
    try:
        return json.loads(f.read_text())
    except FileNotFoundError:
        raise ReferenceDataError(f"shipped reference manifest not found: {str(f)!r}") from None
    except json.JSONDecodeError as exc:
        raise ReferenceDataError(f"shipped reference manifest {str(f)!r} is corrupt: {exc}") from None


def shipped_datasets() -> tuple[str, ...]:
    """Names of the shipped datasets (empty when nothing is shipped)."""
    try:
        return tuple(load_manifest()["datasets"])
    except ReferenceDataError:
        return ()


def shipped_file_for(name: str) -> Optional[Path]:
    """Shipped path for a dataset name, a source file name or a shipped file name; None if not shipped."""
    try:
        datasets = load_manifest()["datasets"]
    except ReferenceDataError:
        return None
    for dataset, info in datasets.items():
        if name in (dataset, info["file"], Path(info.get("source_file", "")).name):
            f = shipped_reference_dir() / info["file"]
            return f if f.exists() else None
    return None


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_shipped(datasets: Optional[list[str]] = None) -> dict[str, dict[str, Any]]:
    """Check every shipped file against the manifest (presence and sha256); return the manifest entries.

    Raises
    ------
    ReferenceDataError
        Naming the first missing or altered file.
    """
    manifest = load_manifest()["datasets"]
    out = {}
    for name in datasets or list(manifest):
        if name not in manifest:
            raise ReferenceDataError(f"{name!r} is not a shipped reference set; shipped: {sorted(manifest)}")
        info = manifest[name]
        f = shipped_reference_dir() / info["file"]
        if not f.exists():
            raise ReferenceDataError(f"shipped reference file missing: {str(f)!r}")
        if sha256_of(f) != info["sha256"]:
            raise ReferenceDataError(f"shipped reference file {str(f)!r} does not match its manifest sha256 "
                                     "(altered or corrupt; rebuild with workflows/build_shipped_references.py)")
        out[name] = info
    return out
