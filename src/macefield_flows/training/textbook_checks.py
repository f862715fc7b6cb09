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

Field models (FieldMACE with field blocks) also get :func:`field_checks`: the model's own MgO
Born charge, eps_inf and eps_ionic (model Z*, model force constants), and the spontaneous
polarisation (C/m^2) of the relaxed P4mm BaTiO3 from the model's polarisation along the path from
its centrosymmetric image, against the Berry-phase value of the Materials Project ferroelectric
workflow for the same cell (mp-5986, Smidt et al. 2020: 45.90 uC/cm^2 = 0.459 C/m^2, PBE).
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


def strained(atoms, j: int, amount: float):
    """Copy of ``atoms`` under Voigt strain component ``j`` of ``amount`` (engineering shear strain)."""
    e = np.zeros((3, 3))
    if j < 3:
        e[j, j] = amount
    else:
        p, q = {3: (1, 2), 4: (0, 2), 5: (0, 1)}[j]
        e[p, q] = e[q, p] = amount / 2
    moved = atoms.copy()
    moved.set_cell(atoms.cell.array @ (np.eye(3) + e), scale_atoms=True)
    return moved


def elastic_cubic(atoms, calc, strain: float = STRAIN) -> dict[str, float]:
    """Clamped-ion C11, C12, C44 (GPa) from stress differences (Voigt xx,yy,zz,yz,xz,xy)."""
    c = np.zeros((6, 6))
    for j in range(6):
        s = []
        for sign in (1.0, -1.0):
            moved = strained(atoms, j, sign * strain)
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


def relax_ions(atoms, calc, fmax: float = 0.005, steps: int = 300):
    """Copy of ``atoms`` with the ions relaxed at fixed cell (BFGS)."""
    from ase.optimize import BFGS

    a = atoms.copy()
    a.calc = calc
    BFGS(a, logfile=None).run(fmax=fmax, steps=steps)
    return a


def batio3_polar(atoms, calc, fmax: float = 0.005, steps: int = 300) -> dict[str, Any]:
    """Relax the ions of the P4mm cell at fixed cell; report the Ti offset before/after."""
    after = ti_offset(relax_ions(atoms, calc, fmax, steps))
    return {"ti_offset_start_A": ti_offset(atoms), "ti_offset_relaxed_A": after,
            "polar": bool(abs(after) > 0.02)}


BATIO3_PS_BERRY_C_M2 = 0.4590207
"""|Ps| of mp-5986 (P4mm BaTiO3, MP cell) from the MP ferroelectric workflow's Berry-phase path
(Smidt et al., Sci. Data 7, 72 (2020): polarization_change_norm 45.90207 uC/cm^2, PBE)."""


def centrosymmetric_perovskite(atoms):
    """The P4/mmm image of a P4mm ABO3 cell: A moved to z = 0, every fractional z rounded to 0 or 1/2."""
    a = atoms.copy()
    frac = a.get_scaled_positions()
    frac[:, 2] -= frac[0, 2]
    frac[:, 2] = np.round(frac[:, 2] * 2) / 2
    a.set_scaled_positions(frac % 1.0)
    return a


def model_spontaneous_polarization(model, polar, n_frames: int = 9) -> dict[str, Any]:
    """|Ps| (C/m^2) of ``polar`` from the model's polarisation along the path from its centrosymmetric image.

    Frames interpolate the fractional coordinates linearly (same cell); each frame's polarisation
    (e/A^2) is moved to the branch nearest the previous one (:func:`spontaneous_polarization`).
    """
    from macefield_flows.engine.evaluate import evaluate
    from macefield_flows.physics.polarization import spontaneous_polarization

    start = centrosymmetric_perovskite(polar)
    f0, f1 = start.get_scaled_positions(), polar.get_scaled_positions()
    d = (f1 - f0 + 0.5) % 1.0 - 0.5
    frames = []
    for t in np.linspace(0.0, 1.0, n_frames):
        frame = polar.copy()
        frame.set_scaled_positions(f0 + t * d)
        frames.append(frame)
    res = evaluate(frames, model, properties=("polarization",), device="cpu", symmetry_reduce=False)
    bad = [r.error for r in res if not r.ok]
    if bad:
        raise RuntimeError(f"polarisation path failed: {bad[0]}")
    path = spontaneous_polarization(np.stack([r.polarization for r in res]), polar.cell.array)
    ps = path.spontaneous_c_per_m2
    return {"Ps_C_m2": [float(x) for x in ps], "Ps_norm_C_m2": float(np.linalg.norm(ps)),
            "berry_phase_C_m2": BATIO3_PS_BERRY_C_M2,
            "ratio_to_berry_phase": float(np.linalg.norm(ps) / BATIO3_PS_BERRY_C_M2),
            "path_continuous": path.is_continuous, "path_smooth": path.is_smooth}


def field_checks(model, calc_factory: Callable[[], Any]) -> dict[str, Any]:
    """Checks that need the model's field response (MgO Z*, eps_inf, eps_ionic; BaTiO3 Ps)."""
    from macefield_flows.engine.evaluate import evaluate
    from macefield_flows.physics.dielectric import epsilon_ionic

    m = mgo()
    (g,) = evaluate([m], model, properties=("born_charges", "epsilon_electronic", "force_constants"),
                    device="cpu")
    if not g.ok:
        raise RuntimeError(f"MgO field response failed: {g.error}")
    eps_ion = epsilon_ionic(g.born_charges, g.force_constants, m.get_volume())
    out: dict[str, Any] = {"MgO": {"Z_Mg_e": float(np.trace(g.born_charges[0]) / 3),
                                   "eps_inf": float(np.trace(g.epsilon_electronic) / 3),
                                   "eps_ionic_model_Z": float(np.trace(eps_ion) / 3)}}
    polar = relax_ions(reference_structure("mp-5986"), calc_factory())
    out["BaTiO3_P4mm_fixed_cell"] = {"ti_offset_relaxed_A": ti_offset(polar),
                                     **model_spontaneous_polarization(model, polar)}
    return out


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
    factory = lambda: MACEFieldCalculator(model, dtype="float64")  # noqa: E731
    out = run_checks(factory, label or str(path))
    if model.has_field_blocks:
        out["field"] = field_checks(model, factory)
    return out
