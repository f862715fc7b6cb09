"""Student against teacher on test structures: relaxed volumes, Gamma phonons, elastic tensors.

Issue 14's potential targets, measured on the same structures with the same finite-difference
code for both potentials (any ASE calculator: the student through ``MACEFieldCalculator``, the
teacher in its subprocess), so the comparison does not depend on the engine's analytic route:

* volume after full relaxation (ions + cell, FIRE on ``FrechetCellFilter``, fmax 0.01 eV/A),
  each potential from the same reference cell: percent difference student - teacher;
* Gamma optical frequencies (THz) at the teacher-relaxed structure, central differences of the
  forces (step 0.01 A): relative differences of the modes above 1 THz;
* relaxed-ion elastic tensor (6x6 Voigt xx, yy, zz, yz, xz, xy, GPa) at the teacher-relaxed
  structure: clamped-ion part from central differences of the stress under +-0.5 % strains,
  internal-strain part ``Lambda^T K+ Lambda / Omega`` from the forces under the same strains and the
  force constants; positive definite when its lowest eigenvalue is above 0.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from macefield_flows.training.textbook_checks import EV_A3_TO_GPA, force_constants, strained

STRAIN = 0.005
def relaxed_ion_elastic_fd(atoms, calc, strain: float = STRAIN) -> dict[str, Any]:
    """Clamped- and relaxed-ion elastic tensors (6x6 Voigt, GPa) by finite differences.

    Parameters
    ----------
    atoms : ASE Atoms at (or near) equilibrium; not modified.
    calc : ASE calculator with energy, forces and stress.
    strain : Voigt strain step (dimensionless).
    """
    from macefield_flows.physics.phonons import pseudo_inverse_force_constants

    n = len(atoms)
    c0 = np.zeros((6, 6))
    lam = np.zeros((3 * n, 6))  # d forces / d strain, eV/A
    for j in range(6):
        stress, forces = [], []
        for sign in (1.0, -1.0):
            moved = strained(atoms, j, sign * strain)
            moved.calc = calc
            stress.append(moved.get_stress(voigt=True))
            forces.append(moved.get_forces().ravel())
        c0[:, j] = (stress[0] - stress[1]) / (2 * strain)
        lam[:, j] = (forces[0] - forces[1]) / (2 * strain)
    c0 = 0.5 * (c0 + c0.T)
    k = force_constants(atoms, calc)
    k_plus, _ = pseudo_inverse_force_constants(k)
    relaxed = c0 - lam.T @ k_plus @ lam / atoms.get_volume()
    relaxed = 0.5 * (relaxed + relaxed.T) * EV_A3_TO_GPA
    return {"clamped_gpa": c0 * EV_A3_TO_GPA, "relaxed_gpa": relaxed, "force_constants": k,
            "min_eigenvalue_gpa": float(np.linalg.eigvalsh(relaxed).min())}


def full_relax(atoms, calc, fmax: float = 0.01, steps: int = 300):
    """(relaxed copy, converged) after ions + cell relaxation (FIRE on FrechetCellFilter)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    a = atoms.copy()
    a.calc = calc
    converged = bool(FIRE(FrechetCellFilter(a), logfile=None).run(fmax=fmax, steps=steps))
    a.calc = None
    return a, converged


def _optical(k: np.ndarray, masses: np.ndarray) -> np.ndarray:
    from macefield_flows.physics.phonons import gamma_phonons

    ph = gamma_phonons(k, masses)
    return np.sort(ph.frequencies[~ph.acoustic])


def compare_structure(atoms, student_calc, teacher_calc) -> dict[str, Any]:
    """All comparisons of one structure (see the module docstring)."""
    t_relaxed, t_conv = full_relax(atoms, teacher_calc)
    s_relaxed, s_conv = full_relax(atoms, student_calc)
    out: dict[str, Any] = {
        "volume_teacher_A3": float(t_relaxed.get_volume()), "volume_student_A3": float(s_relaxed.get_volume()),
        "volume_diff_pct": float(100 * (s_relaxed.get_volume() / t_relaxed.get_volume() - 1)),
        "converged": bool(t_conv and s_conv)}
    el_t = relaxed_ion_elastic_fd(t_relaxed, teacher_calc)
    el_s = relaxed_ion_elastic_fd(t_relaxed, student_calc)
    masses = t_relaxed.get_masses()
    w_t, w_s = _optical(el_t["force_constants"], masses), _optical(el_s["force_constants"], masses)
    keep = np.abs(w_t) > 1.0
    out.update({
        "optical_thz_teacher": w_t.tolist(), "optical_thz_student": w_s.tolist(),
        "optical_rel_diff": (np.abs(w_s[keep] - w_t[keep]) / np.abs(w_t[keep])).tolist(),
        "teacher_stable": bool(w_t.min(initial=0.0) > -0.1),
        "elastic_min_eig_teacher_gpa": el_t["min_eigenvalue_gpa"],
        "elastic_min_eig_student_gpa": el_s["min_eigenvalue_gpa"],
        "elastic_relaxed_teacher_gpa": el_t["relaxed_gpa"].tolist(),
        "elastic_relaxed_student_gpa": el_s["relaxed_gpa"].tolist()})
    return out


def compare_with_teacher(samples: Sequence[Any], student_calc_factory: Callable[[], Any],
                         teacher: str = "7net-0") -> dict[str, Any]:
    """Student vs teacher on ``samples`` (training ``Sample`` objects); per-structure rows + summary."""
    from macefield_flows.training.teacher import teacher_calculator_factory

    t0 = time.time()
    teacher_calc, close = teacher_calculator_factory(teacher)
    rows = []
    try:
        for s in samples:
            try:
                row = compare_structure(s.atoms, student_calc_factory(), teacher_calc)
            except Exception as exc:  # noqa: BLE001 (one structure's failure is recorded, the rest go on)
                row = {"error": f"{type(exc).__name__}: {exc}"}
            rows.append({"name": s.name, **row})
    finally:
        close()
    ok = [r for r in rows if "error" not in r]
    vol = np.array([r["volume_diff_pct"] for r in ok])
    rel = np.concatenate([r["optical_rel_diff"] for r in ok]) if ok else np.zeros(0)
    stable_rel = np.concatenate([r["optical_rel_diff"] for r in ok if r["teacher_stable"]] or [np.zeros(0)])
    pd_teacher = [r for r in ok if r["elastic_min_eig_teacher_gpa"] > 0]
    return {
        "teacher": teacher, "structures": len(rows), "failed": len(rows) - len(ok),
        "volume_abs_diff_pct_median": float(np.median(np.abs(vol))) if vol.size else None,
        "volume_within_3pct_fraction": float(np.mean(np.abs(vol) <= 3.0)) if vol.size else None,
        "optical_modes": int(rel.size),
        "optical_rel_diff_median": float(np.median(rel)) if rel.size else None,
        "optical_within_5pct_fraction": float(np.mean(rel <= 0.05)) if rel.size else None,
        "optical_within_5pct_fraction_teacher_stable": (float(np.mean(stable_rel <= 0.05))
                                                        if stable_rel.size else None),
        "elastic_pd_teacher": len(pd_teacher),
        "elastic_pd_student_where_teacher_pd": sum(r["elastic_min_eig_student_gpa"] > 0 for r in pd_teacher),
        "wall_s": time.time() - t0, "rows": rows}
