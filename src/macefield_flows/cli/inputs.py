"""Reading structures for ``macefield screen``: files, folders, Materials Project ids."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

from pymatgen.core import Structure

from macefield_flows.exceptions import InvalidStructureError

MP_ID = re.compile(r"^(mp|mvc)-\d+$")
SUFFIXES = {".cif", ".vasp", ".poscar", ".json", ".extxyz", ".xyz"}


def read_structure_file(path: Path) -> list[Structure]:
    """Structures in one file (CIF, POSCAR/CONTCAR, extxyz, pymatgen JSON or a JSON list)."""
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            items = data if isinstance(data, list) else [data]
            out = [Structure.from_dict(d.get("structure", d)) for d in items]
        elif path.suffix.lower() in (".extxyz", ".xyz"):
            from ase.io import read
            from pymatgen.io.ase import AseAtomsAdaptor

            out = [AseAtomsAdaptor.get_structure(a) for a in read(str(path), index=":")]
        else:
            out = [Structure.from_file(str(path))]
    except Exception as exc:  # parsers raise anything from ValueError to IndexError on bad files
        raise InvalidStructureError(f"cannot read structures from {path}: {type(exc).__name__}: {exc}") from exc
    for i, s in enumerate(out):
        sid = path.stem if len(out) == 1 else f"{path.stem}:{i}"
        props = dict(s.properties or {})
        props.setdefault("structure_id", props.get("material_id") or sid)
        s.properties = props
    return out


def collect_structures(inputs: Sequence[str]) -> tuple[list[Structure], list[str]]:
    """``(structures from files/folders, Materials Project ids)`` of the CLI arguments."""
    structures: list[Structure] = []
    mp_ids: list[str] = []
    for arg in inputs:
        if MP_ID.match(arg):
            mp_ids.append(arg)
            continue
        path = Path(arg).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in SUFFIXES
                           or p.name.upper().startswith(("POSCAR", "CONTCAR")))
            if not files:
                raise InvalidStructureError(f"no structure files ({', '.join(sorted(SUFFIXES))}) in {path}")
            for f in files:
                structures += read_structure_file(f)
        elif path.is_file():
            structures += read_structure_file(path)
        else:
            raise InvalidStructureError(f"{arg!r} is neither a file, a folder nor a Materials Project id")
    return structures, mp_ids
