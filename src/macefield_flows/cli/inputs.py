"""Reading the inputs of ``macefield screen``: every input accounted for.

Each file, folder entry, list element or Materials Project id becomes one
:class:`InputItem`: either a structure that can be screened or a reason in
plain words why not (unreadable, not periodic, composition changed while
reading, disordered, no sites, non-finite or singular lattice, overlapping
atoms, unknown element, ...). Nothing here raises on a bad input: the screening
records a failed document for it and goes on.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from pymatgen.core import Structure

from macefield_flows.physics.structure_checks import structure_problem

MP_ID = re.compile(r"^(mp|mvc)-\d+$")
SUFFIXES = {".cif", ".vasp", ".poscar", ".json", ".extxyz", ".xyz"}
#: pymatgen warnings that mean the structure read is not the one in the file
_COMPOSITION_WARNINGS = ("Missing elements", "not equal to", "occupancies", "Issues encountered while parsing")


@dataclass
class InputItem:
    """One input of a screening.

    Attributes
    ----------
    source : where it came from: ``path``, ``path[index]`` for a file with several
        structures, or a Materials Project id.
    structure_id : label stored in the document (file stem, ``stem:index`` or the id).
    structure : the structure when it could be read, else None.
    reason : why it cannot be screened (plain words), None when it can.
    """

    source: str
    structure_id: str
    structure: Optional[Structure] = None
    reason: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.reason is None and self.structure is not None


def _composition_warning(caught: list) -> Optional[str]:
    for w in caught:
        text = str(w.message)
        if any(key in text for key in _COMPOSITION_WARNINGS):
            return text.strip().splitlines()[0]
    return None


def _from_json_item(d: Any) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"a JSON element is a {type(d).__name__}, expected a structure dictionary")
    d = d.get("structure", d)
    if isinstance(d, dict) and (d.get("@class") == "Molecule" or ("sites" in d and "lattice" not in d)):
        from pymatgen.core import Molecule

        return Molecule.from_dict(d)
    return Structure.from_dict(d)


def _read_raw(path: Path) -> list[tuple[Any, Optional[str]]]:
    """``[(structure-like or None, reason)]`` of one file; raises only when the whole file is unreadable."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.loads(path.read_text())
        items = data if isinstance(data, list) else [data]
        out: list[tuple[Any, Optional[str]]] = []
        for d in items:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    obj = _from_json_item(d)
                comp = _composition_warning(caught)
                out.append((obj, f"composition changed while reading: {comp}" if comp else None))
            except Exception as exc:  # noqa: BLE001 (pymatgen raises anything on bad dictionaries)
                out.append((None, _unreadable(exc)))
        return out
    if suffix in (".extxyz", ".xyz"):
        from ase.io import read
        from pymatgen.io.ase import AseAtomsAdaptor

        out = []
        for atoms in read(str(path), index=":"):
            if not all(atoms.pbc) or atoms.cell.rank < 3:
                out.append((atoms, "not periodic (no lattice in the file): screening needs a crystal; "
                                   "use MACEFieldCalculator for the dipole of a molecule"))
                continue
            try:
                out.append((AseAtomsAdaptor.get_structure(atoms), None))
            except Exception as exc:  # noqa: BLE001
                out.append((None, _unreadable(exc)))
        return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        structures = Structure.from_file(str(path)) if suffix != ".cif" else _read_cif(path)
    comp = _composition_warning(caught)
    items = structures if isinstance(structures, list) else [structures]
    return [(s, f"composition changed while reading: {comp}" if comp else None) for s in items]


def _read_cif(path: Path) -> list[Structure]:
    from pymatgen.io.cif import CifParser

    parser = CifParser(str(path))
    structures = parser.parse_structures(primitive=False)
    if not structures:
        raise ValueError("no structure in the CIF")
    return structures


def _unreadable(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "valid Element" in text or "is not a valid" in text and "lement" in text:
        return f"unknown element ({text})"
    if "at least 1 site" in text:
        return "no sites: the structure has no atoms"
    return f"unreadable: {type(exc).__name__}{': ' + text[:200] if text else ''}"


def read_structure_file(path: Path, elements: Optional[Sequence[str]] = None) -> list[InputItem]:
    """One :class:`InputItem` per structure in ``path`` (one failed item if the file is unreadable)."""
    try:
        raw = _read_raw(path)
    except Exception as exc:  # noqa: BLE001 (parsers raise anything from ValueError to IndexError)
        return [InputItem(str(path), path.stem, None, _unreadable(exc))]
    if not raw:
        return [InputItem(str(path), path.stem, None, "unreadable: no structure in the file")]
    items = []
    for i, (obj, reason) in enumerate(raw):
        single = len(raw) == 1
        source = str(path) if single else f"{path}[{i}]"
        sid = path.stem if single else f"{path.stem}:{i}"
        if isinstance(obj, Structure):
            props = dict(obj.properties or {})
            sid = str(props.get("structure_id") or props.get("material_id") or sid)
            props["structure_id"] = sid
            props["input_source"] = source
            obj.properties = props
        if reason is None:
            reason = structure_problem(obj, elements)
        items.append(InputItem(source, sid, obj if isinstance(obj, Structure) else None, reason))
    return items


def collect_inputs(inputs: Sequence[str], elements: Optional[Sequence[str]] = None) -> list[InputItem]:
    """Every CLI argument as :class:`InputItem` s (files, folder entries, list elements, MP ids)."""
    items: list[InputItem] = []
    mp_ids: list[str] = []
    for arg in inputs:
        if MP_ID.match(arg):
            mp_ids.append(arg)
            continue
        path = Path(arg).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and (
                p.suffix.lower() in SUFFIXES or p.name.upper().startswith(("POSCAR", "CONTCAR"))))
            if not files:
                items.append(InputItem(str(path), path.name, None,
                                       f"no structure files ({', '.join(sorted(SUFFIXES))}) in the folder"))
            for f in files:
                items += read_structure_file(f, elements)
        elif path.is_file():
            items += read_structure_file(path, elements)
        else:
            items.append(InputItem(arg, Path(arg).stem or arg, None,
                                   "not found: neither a file, a folder nor a Materials Project id"))
    if mp_ids:
        items += _materials_project_items(mp_ids, elements)
    return items


def _materials_project_items(mp_ids: list[str], elements: Optional[Sequence[str]]) -> list[InputItem]:
    from macefield_flows.references.mp_source import MaterialsProjectSource

    try:
        found = MaterialsProjectSource().structures(list(mp_ids))
    except Exception as exc:  # noqa: BLE001 (no key, no network, API errors: each id is reported)
        return [InputItem(m, m, None, f"could not fetch from the Materials Project: {exc}") for m in mp_ids]
    items = []
    for mid in mp_ids:
        s = found.get(mid)
        if s is None:
            items.append(InputItem(mid, mid, None, "not found in the Materials Project"))
            continue
        s = s.copy()
        s.properties = {**(s.properties or {}), "material_id": mid, "structure_id": mid, "input_source": mid}
        items.append(InputItem(mid, mid, s, structure_problem(s, elements)))
    return items


def collect_structures(inputs: Sequence[str]) -> tuple[list[Structure], list[str]]:
    """``(readable structures, [])``: the structures of :func:`collect_inputs` (bad inputs dropped)."""
    return [it.structure for it in collect_inputs(inputs) if it.ok], []
