"""Textbook checks of a potential (teacher or student): Gamma TO, eps_ionic, elastic constants, volumes.

Every quantity comes from the potential's energies, forces and stresses only (any ASE
calculator), so the teacher in its subprocess and the student are measured by the same code:

* ``MgO``: rocksalt, a = 4.21 A. Gamma optical frequency (THz) from central-difference force
  constants (step 0.01 A) of the primitive cell; eps_ionic with the fixed DFPT Born charge
  Z* = +-1.97 e (``physics.dielectric.epsilon_ionic``); clamped-ion elastic constants C11, C12,
  C44 (GPa) from central differences of the stress under +-0.5 % strains (in rocksalt every
  atom is a centre of inversion, so clamped-ion = relaxed-ion);
* relaxed volumes of MgO, ZnO (wurtzite, Petretto row 995) and BaTiO3 (P4mm, MP cell mp-5986):
  full relaxation (ions + cell, FIRE on ``FrechetCellFilter``, fmax 0.005 eV/A), percent change
  against the starting cell;
* BaTiO3 double well: ions of the P4mm cell relaxed at the fixed MP cell; ``polar`` when the
  relaxed Ti-O(apical) z offset stays above 0.02 A; Gamma frequencies of cubic BaTiO3
  (a = 4.00 A): an imaginary (negative) soft mode is the double well's curvature.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import numpy as np

MGO_A = 4.21  # A
MGO_ZSTAR = 1.97  # e, DFPT (Gonze & Lee)
STRAIN = 0.005
FD_STEP = 0.01  # A
EV_A3_TO_GPA = 160.21766208


def mgo():
    from ase.build import bulk

    return bulk("MgO", "rocksalt", a=MGO_A)


def reference_structure(material_id: str, dataset: str = "mp_dielectric_petousis2017"):
    """ASE Atoms of a reference row (``shared/data/reference``): ``mp-5986`` or ``row995`` (index)."""
    import gzip
    import json

    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from macefield_flows.training.data import TRAINING_ALLOWED, reference_dir

    path = reference_dir() / TRAINING_ALLOWED[dataset]
    with gzip.open(path, "rt") as handle:
        for i, line in enumerate(handle):
            row = json.loads(line)
            if row.get("material_id") == material_id or material_id == f"row{i}":
                atoms = AseAtomsAdaptor.get_atoms(Structure.from_dict(row["structure"]))
                atoms.info.clear()
                return atoms
    raise KeyError(f"{material_id} is not in {path.name}")


def force_constants(atoms, calc, step: float = FD_STEP) -> np.ndarray:
    """(3N, 3N) eV/A^2 by central differences of the forces."""
    n = len(atoms)
    k = np.zeros((3 * n, 3 * n))
    for i in range(n):
        for a in range(3):
            f = []
            for sign in (1.0, -1.0):
                moved = atoms.copy()
                moved.positions[i, a] += sign * step
                moved.calc = calc
                f.append(moved.get_forces().ravel())
            k[3 * i + a] = -(f[0] - f[1]) / (2 * step)
    return 0.5 * (k + k.T)


def gamma_frequencies(atoms, calc) -> np.ndarray:
    """Sorted Gamma frequencies (THz, negative = imaginary) of the cell as given."""
    from macefield_flows.physics.phonons import gamma_phonons

    return np.sort(gamma_phonons(force_constants(atoms, calc), atoms.get_masses()).frequencies)


def elastic_cubic(atoms, calc, strain: float = STRAIN) -> dict[str, float]:
    """Clamped-ion C11, C12, C44 (GPa) from stress differences (Voigt xx,yy,zz,yz,xz,xy)."""
    c = np.zeros((6, 6))
    for j in range(6):
        s = []
        for sign in (1.0, -1.0):
            e = np.zeros((3, 3))
            if j < 3:
                e[j, j] = sign * strain
            else:
                p, q = {3: (1, 2), 4: (0, 2), 5: (0, 1)}[j]
                e[p, q] = e[q, p] = sign * strain / 2  # engineering shear strain = strain
            moved = atoms.copy()
            moved.set_cell(atoms.cell.array @ (np.eye(3) + e), scale_atoms=True)
            moved.calc = calc
            s.append(moved.get_stress(voigt=True))
        c[:, j] = (s[0] - s[1]) / (2 * strain) * EV_A3_TO_GPA
    c = 0.5 * (c + c.T)
    return {"C11": float(np.mean(np.diag(c)[:3])), "C12": float(np.mean([c[0, 1], c[0, 2], c[1, 2]])),
            "C44": float(np.mean(np.diag(c)[3:])),
            "min_eigenvalue": float(np.linalg.eigvalsh(c).min())}


def relaxed_volume_change(atoms, calc, fmax: float = 0.005, steps: int = 300) -> dict[str, float]:
    """Percent volume change after full (ions + cell) relaxation."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calc
    v0 = a.get_volume()
    opt = FIRE(FrechetCellFilter(a), logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    return {"volume_change_pct": float(100 * (a.get_volume() / v0 - 1)), "converged": converged,
            "steps": int(opt.nsteps)}


def ti_offset(atoms) -> float:
    """Polar offset (A) of Ti along c: Ti z minus the midpoint between its two apical O (P4mm cell).

    The apical O is the O with Ti's in-plane fractional coordinates; zero for a centrosymmetric cell.
    """
    sym = atoms.get_chemical_symbols()
    frac = atoms.get_scaled_positions()
    ti = frac[sym.index("Ti")]
    o = [frac[i] for i, s in enumerate(sym) if s == "O"]
    inplane = [np.linalg.norm((p[:2] - ti[:2] + 0.5) % 1.0 - 0.5) for p in o]
    apical = o[int(np.argmin(inplane))]
    dz = (ti[2] - apical[2]) % 1.0
    return float((dz - 0.5) * np.linalg.norm(atoms.cell.array[2]))


def batio3_polar(atoms, calc, fmax: float = 0.005, steps: int = 300) -> dict[str, Any]:
    """Relax the ions of the P4mm cell at fixed cell; report the Ti offset before/after."""
    from ase.optimize import BFGS

    a = atoms.copy()
    before = ti_offset(a)
    a.calc = calc
    BFGS(a, logfile=None).run(fmax=fmax, steps=steps)
    after = ti_offset(a)
    return {"ti_offset_start_A": before, "ti_offset_relaxed_A": after, "polar": bool(abs(after) > 0.02)}


def run_checks(calc_factory: Callable[[], Any], label: str, relax: bool = True) -> dict[str, Any]:
    """All checks for one potential; ``calc_factory()`` returns a fresh ASE calculator."""
    from macefield_flows.physics.dielectric import epsilon_ionic

    t0 = time.time()
    out: dict[str, Any] = {"potential": label}
    m = mgo()
    calc = calc_factory()
    k = force_constants(m, calc)
    from macefield_flows.physics.phonons import gamma_phonons

    freqs = np.sort(gamma_phonons(k, m.get_masses()).frequencies)
    z = np.stack([MGO_ZSTAR * np.eye(3), -MGO_ZSTAR * np.eye(3)])
    eps = epsilon_ionic(z, k, m.get_volume())
    out["MgO"] = {"TO_THz": float(freqs[-1]), "eps_ionic": float(np.trace(eps) / 3),
                  **elastic_cubic(m, calc)}
    out["BaTiO3_cubic_gamma_THz"] = [float(x) for x in gamma_frequencies(_cubic_batio3(), calc)]
    if relax:
        out["volumes"] = {}
        for name, atoms in (("MgO", m), ("ZnO", reference_structure("row995", "petretto2018_dfpt_becs_epsinf_e3nn")),
                            ("BaTiO3-P4mm", reference_structure("mp-5986"))):
            out["volumes"][name] = relaxed_volume_change(atoms, calc_factory())
        out["BaTiO3_P4mm_fixed_cell"] = batio3_polar(reference_structure("mp-5986"), calc_factory())
    out["wall_s"] = time.time() - t0
    return out


def _cubic_batio3(a: float = 4.00):
    from ase import Atoms

    return Atoms("BaTiO3", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5],
                                             [0, 0.5, 0.5]], cell=np.eye(3) * a, pbc=True)


def check_teacher(model: str = "7net-0") -> dict[str, Any]:
    """:func:`run_checks` on the teacher in its subprocess."""
    from macefield_flows.training.teacher import TeacherProcess

    with TeacherProcess(model) as proc:
        return run_checks(proc.calculator, proc.name)


def check_model(path, label: Optional[str] = None) -> dict[str, Any]:
    """:func:`run_checks` on a model file (float64)."""
    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.model.io import load_model

    model = load_model(path, dtype="float64")
    return run_checks(lambda: MACEFieldCalculator(model, dtype="float64"), label or str(path))
