"""A generated corpus of bad (and a few good) screening inputs, for fault-injection tests.

:func:`write_fault_corpus` writes one file (or folder) per kind of input into a
folder and returns what ``macefield screen`` must make of each: the expected
status and a phrase the failure reason must contain. Used by the test suite
(tiny model) and by ``workflows/fault_injection_screening.py`` (shipped model).
Elements used: Mg, O, Na, Cl, Zn, Ba, Ti (and Sr, Pu, Xx on purpose).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pymatgen.core import Lattice, Molecule, Structure

#: elements of the good structures in the corpus (a test model must know them)
CORPUS_ELEMENTS = ("Mg", "O", "Na", "Cl", "Zn", "Ba", "Ti")


@dataclass
class FaultCase:
    """One input of the corpus and what the screening must make of it.

    Attributes
    ----------
    kind : short name of the kind of input.
    arg : the command-line argument (file or folder path, or an id).
    expect : "successful" (a document computed; quality may flag it) or "failed".
    reason : phrase the failure reason must contain (failed cases), None otherwise.
    n_docs : documents this argument must produce (a file with several structures: several).
    """

    kind: str
    arg: str
    expect: str
    reason: Optional[str] = None
    n_docs: int = 1


def rocksalt(a: float, sp=("Mg", "O")) -> Structure:
    """Primitive rock-salt cell with lattice parameter ``a`` (Angstrom)."""
    return Structure(Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]), list(sp),
                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def perovskite(a: float = 4.0, shift: float = 0.0) -> Structure:
    """Cubic (``shift=0``) or P4mm-distorted BaTiO3 (Ti displaced by ``shift`` along z, fractional)."""
    return Structure(Lattice.cubic(a), ["Ba", "Ti", "O", "O", "O"],
                     [[0, 0, 0], [0.5, 0.5, 0.5 + shift], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def wurtzite() -> Structure:
    return Structure(Lattice.hexagonal(3.25, 5.2), ["Zn", "Zn", "O", "O"],
                     [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.38], [2 / 3, 1 / 3, 0.88]])


def _dump(path: Path, obj) -> str:
    path.write_text(json.dumps(obj))
    return str(path)


def _structure_json(path: Path, s: Structure, **edits) -> str:
    d = s.as_dict()
    for key, value in edits.items():
        if key == "matrix":
            d["lattice"]["matrix"] = value
        elif key == "abc0":
            d["sites"][0]["abc"] = value
        elif key == "species0":
            d["sites"][0]["species"] = [{"element": value, "occu": 1.0}]
    return _dump(path, d)


def write_fault_corpus(folder: Path) -> list[FaultCase]:
    """Write the corpus into ``folder`` (created) and return its cases (at least 25 kinds of bad input)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[FaultCase] = []

    def good(kind: str, arg: str, n: int = 1) -> None:
        cases.append(FaultCase(kind, arg, "successful", None, n))

    def bad(kind: str, arg: str, reason: str) -> None:
        cases.append(FaultCase(kind, arg, "failed", reason))

    mgo = rocksalt(4.21)
    mgo.to(filename=str(folder / "good_MgO.cif"))
    good("good cif", str(folder / "good_MgO.cif"))
    rocksalt(5.64, ("Na", "Cl")).to(filename=str(folder / "good_NaCl.vasp"), fmt="poscar")
    good("good poscar", str(folder / "good_NaCl.vasp"))
    good("good json", _dump(folder / "good_ZnO.json", wurtzite().as_dict()))
    # the same MgO under another id: computed once, both ids findable
    mgo.to(filename=str(folder / "duplicate_MgO.cif"))
    good("duplicate structure, other id", str(folder / "duplicate_MgO.cif"))
    # valid inputs with absurd physics: computed, must be flagged by the quality assessment
    good("compressed NaCl (a = 2 A)", _dump(folder / "absurd_NaCl_a2.json", rocksalt(2.0, ("Na", "Cl")).as_dict()))
    iso = Structure(Lattice.cubic(30.0), ["Mg"], [[0, 0, 0]])
    good("isolated atom in a 30 A box", _dump(folder / "isolated_atom.json", iso.as_dict()))
    # a JSON list: one good element, one bad element -> two documents
    lst = [rocksalt(4.0, ("Mg", "O")).as_dict(), {"lattice": "nonsense"}]
    cases.append(FaultCase("JSON list with a bad element", _dump(folder / "list_mixed.json", lst), "mixed",
                           "unreadable", n_docs=2))

    cif = perovskite().to(fmt="cif").splitlines()
    last_ti = max(i for i, line in enumerate(cif) if line.strip().startswith("Ti"))
    (folder / "truncated_after_Ti.cif").write_text("\n".join(cif[:last_ti + 1]) + "\n")
    bad("CIF truncated after the Ti line", str(folder / "truncated_after_Ti.cif"), "composition changed")
    (folder / "random_bytes.cif").write_bytes(bytes(range(256)) * 4)
    bad("random bytes as CIF", str(folder / "random_bytes.cif"), "unreadable")
    (folder / "empty.cif").write_text("")
    bad("empty CIF", str(folder / "empty.cif"), "unreadable")
    (folder / "cell_only.cif").write_text("data_x\n_cell_length_a 4\n_cell_length_b 4\n_cell_length_c 4\n"
                                          "_cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n")
    bad("CIF with a cell and no atoms", str(folder / "cell_only.cif"), "unreadable")
    dis = Structure(Lattice.cubic(4.0), [{"Ba": 0.5, "Sr": 0.5}, "Ti", "O", "O", "O"],
                    [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    dis.to(filename=str(folder / "disordered.cif"))
    bad("partially occupied (disordered) CIF", str(folder / "disordered.cif"), "disordered")
    (folder / "water.xyz").write_text("3\nwater\nO 0 0 0\nH 0.76 0.59 0\nH -0.76 0.59 0\n")
    bad("molecule as .xyz", str(folder / "water.xyz"), "not periodic")
    mol = Molecule(["O", "H", "H"], [[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]])
    bad("Molecule JSON", _dump(folder / "water_molecule.json", mol.as_dict()), "not periodic")
    bad("zero-site structure", _dump(folder / "no_sites.json",
                                     Structure(Lattice.cubic(4), [], []).as_dict()), "no sites")
    nan = [[math.nan, 0, 0], [0, 4, 0], [0, 0, 4]]
    (folder / "nan_lattice.json").write_text(json.dumps(_with(mgo, matrix=nan)).replace("NaN", "NaN"))
    bad("NaN lattice", str(folder / "nan_lattice.json"), "lattice")
    bad("singular lattice", _structure_json(folder / "singular_lattice.json", mgo,
                                            matrix=[[4, 0, 0], [0, 4, 0], [4, 4, 0]]), "singular lattice")
    (folder / "nan_positions.json").write_text(json.dumps(_with(mgo, abc0=[math.nan, 0, 0])))
    bad("NaN positions", str(folder / "nan_positions.json"), "positions")
    ovl = Structure(Lattice.cubic(4.0), ["Mg", "O"], [[0, 0, 0], [0.01, 0, 0]])
    bad("overlapping atoms", _dump(folder / "overlapping.json", ovl.as_dict()), "overlapping atoms")
    bad("element unknown to the model", _structure_json(folder / "plutonium.json", mgo, species0="Pu"),
        "unknown element")
    bad("not an element", _structure_json(folder / "not_an_element.json", mgo, species0="Xx"),
        "unknown element")
    (folder / "not_json.json").write_text("{this is not json")
    bad("broken JSON", str(folder / "not_json.json"), "unreadable")
    bad("JSON number", _dump(folder / "number.json", 42), "unreadable")
    bad("JSON empty list", _dump(folder / "empty_list.json", []), "no structure")
    poscar = (folder / "good_NaCl.vasp").read_text().splitlines()
    (folder / "truncated_POSCAR.vasp").write_text("\n".join(poscar[:6]) + "\n")
    bad("truncated POSCAR", str(folder / "truncated_POSCAR.vasp"), "unreadable")
    (folder / "garbage.vasp").write_bytes(b"\x00\xff\x10garbage\n1.0\n")
    bad("binary POSCAR", str(folder / "garbage.vasp"), "unreadable")
    (folder / "zero_cell.extxyz").write_text('2\nLattice="0 0 0 0 0 0 0 0 0" Properties=species:S:1:pos:R:3 '
                                             'pbc="T T T"\nMg 0 0 0\nO 2 0 0\n')
    bad("extxyz with a zero cell", str(folder / "zero_cell.extxyz"), "periodic")
    (folder / "notes.txt").write_text("a b c\n1 2 3\n")
    bad("text file given explicitly", str(folder / "notes.txt"), "unreadable")
    inf = [[math.inf, 0, 0], [0, 4, 0], [0, 0, 4]]
    (folder / "inf_lattice.json").write_text(json.dumps(_with(mgo, matrix=inf)))
    bad("infinite lattice", str(folder / "inf_lattice.json"), "lattice is not finite")
    nan_poscar = [line.replace("0.5000000000000000", "nan", 1) if i > 7 else line for i, line in enumerate(poscar)]
    (folder / "nan_POSCAR.vasp").write_text("\n".join(nan_poscar) + "\n")
    bad("POSCAR with NaN coordinates", str(folder / "nan_POSCAR.vasp"), "not finite")
    bad("missing file", str(folder / "does_not_exist.cif"), "not found")
    (folder / "empty_folder").mkdir(exist_ok=True)
    bad("empty folder", str(folder / "empty_folder"), "no structure files")
    (folder / "text_only").mkdir(exist_ok=True)
    (folder / "text_only" / "README.txt").write_text("no structures here")
    bad("folder without structure files", str(folder / "text_only"), "no structure files")
    bad("JSON structure with a bad lattice", _dump(folder / "bad_lattice_key.json", {"lattice": [1, 2], "sites": []}),
        "unreadable")
    return cases


def _with(s: Structure, **edits) -> dict:
    d = s.as_dict()
    if "matrix" in edits:
        d["lattice"]["matrix"] = edits["matrix"]
    if "abc0" in edits:
        d["sites"][0]["abc"] = edits["abc0"]
    return d
