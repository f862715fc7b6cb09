"""Test-split metrics of a trained model against DFPT (and against the distillation teacher).

* Born charges (Petretto test): MAE over the diagonal components Z*[k, i, i]
  (the paper's "Z* diagonal MAE") and over all nine components, at the
  reference structures.
* eps_inf diagonal MAE (Petretto and Petousis test rows), at the reference structures.
* Relaxed-ion properties (Petousis test): atoms relaxed with the model at the
  reference cell (BFGS, fmax 0.01 eV/A), Gamma force constants, phonon
  stability (no optical mode below ``-tol_thz``), eps_ionic = Z* K+ Z*^T/(eps0 Omega)
  and eps_total = eps_inf + eps_ionic: MAE, RMSE, true R^2 (vs y = x) and
  squared Pearson correlation over diagonal components; unstable structures are
  reported separately and excluded from the ionic metrics.
* Potential fidelity vs the teacher (CHGNet for v1-v3, SevenNet-0 for v4: ``teacher``) on test
  structures and rattled copies.

Metrics use :mod:`macefield_flows.comparison.metrics` where it is available.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Optional, Sequence

import numpy as np
import torch

from macefield_flows.exceptions import MacefieldError
from macefield_flows.model.graph import atoms_to_graph, collate
from macefield_flows.training.data import Sample, load_split

logger = logging.getLogger(__name__)


def _metrics():
    try:
        from macefield_flows.comparison import metrics as m

        return m.mae, m.rmse, m.r2_true, m.pearson_r2
    except ImportError:  # pragma: no cover - fallback when the comparison package is absent
        def mae(p, r):
            return float(np.mean(np.abs(np.asarray(p) - np.asarray(r))))

        def rmse(p, r):
            return float(np.sqrt(np.mean((np.asarray(p) - np.asarray(r)) ** 2)))

        def r2(p, r):
            p, r = np.asarray(p), np.asarray(r)
            return 1 - float(np.sum((p - r) ** 2) / np.sum((r - r.mean()) ** 2))

        def pr2(p, r):
            return float(np.corrcoef(p, r)[0, 1] ** 2)

        return mae, rmse, r2, pr2


def _covered(samples: Sequence[Sample], z_table: Sequence[int]) -> tuple[list[Sample], int]:
    zs = set(int(z) for z in z_table)
    ok = [s for s in samples if set(int(z) for z in s.atoms.get_atomic_numbers()) <= zs]
    return ok, len(samples) - len(ok)


def predict_response(model, samples: Sequence[Sample], batch_size: int = 8) -> list[dict[str, np.ndarray]]:
    """Z* (N,3,3) and eps_inf (3,3) at the given structures, zero field."""
    z_table = model.atomic_numbers.tolist()
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    out = []
    for k in range(0, len(samples), batch_size):
        chunk = samples[k:k + batch_size]
        data = collate([atoms_to_graph(s.atoms, z_table, float(model.r_max)) for s in chunk],
                       len(z_table), dtype, device)
        res = model(data, compute_force=False, compute_bec=True, compute_polarizability=True)
        ptr = data["ptr"].tolist()
        for g in range(len(chunk)):
            out.append({"born_charges": res["born_charges"][ptr[g]:ptr[g + 1]].detach().cpu().numpy(),
                        "eps_electronic": res["epsilon_electronic"][g].detach().cpu().numpy()})
    return out


class _ModelCalculator:
    """Minimal ASE calculator (energy, forces) around a FieldMACE at zero field."""

    def __new__(cls, model):
        from ase.calculators.calculator import Calculator, all_changes

        class Calc(Calculator):
            implemented_properties = ["energy", "forces", "free_energy"]

            def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
                super().calculate(atoms, properties, system_changes)
                z = model.atomic_numbers.tolist()
                p = next(model.parameters())
                data = collate([atoms_to_graph(self.atoms, z, float(model.r_max))], len(z), p.dtype, p.device)
                res = model(data, compute_force=True)
                e = float(res["energy"].detach()[0])
                self.results = {"energy": e, "free_energy": e,
                                "forces": res["forces"].detach().cpu().numpy().astype(float)}

        return Calc()


def relax_positions(model, atoms, fmax: float = 0.01, steps: int = 300):
    """Relax atomic positions at fixed cell with BFGS; returns (atoms, converged)."""
    from ase.optimize import BFGS

    a = atoms.copy()
    a.calc = _ModelCalculator(model)
    opt = BFGS(a, logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    a.calc = None
    return a, converged


def gamma_response(model, atoms) -> dict[str, Any]:
    """Force constants (3N,3N) eV/A^2, Z* and eps_inf at ``atoms``."""
    z = model.atomic_numbers.tolist()
    p = next(model.parameters())
    data = collate([atoms_to_graph(atoms, z, float(model.r_max))], len(z), p.dtype, p.device)
    res = model(data, compute_force=True, compute_hessian=True, compute_bec=True,
                compute_polarizability=True)
    return {"force_constants": res["hessian"].detach().cpu().numpy(),
            "born_charges": res["born_charges"].detach().cpu().numpy(),
            "eps_electronic": res["epsilon_electronic"][0].detach().cpu().numpy()}


def _diag(x: np.ndarray) -> np.ndarray:
    return np.diagonal(np.asarray(x), axis1=-2, axis2=-1).ravel()


def evaluate_model(
    model,
    max_atoms: int = 12,
    relax_max_atoms: int = 12,
    max_relax: Optional[int] = None,
    tol_thz: float = 0.1,
    teacher_check: bool = True,
    teacher: str = "chgnet",
    teacher_structures: int = 60,
) -> dict[str, Any]:
    """All test-split metrics (see module docstring); ``model`` in float64 recommended."""
    from macefield_flows.physics.dielectric import epsilon_ionic

    mae, rmse, r2_true, pearson_r2 = _metrics()
    z_table = model.atomic_numbers.tolist()
    report: dict[str, Any] = {"split": "test", "max_atoms": max_atoms, "timings_s": {}}

    # ---- Born charges + eps_inf at the reference structures (Petretto test)
    t0 = time.time()
    pet, n_skip = _covered(load_split("petretto2018_dfpt_becs_epsinf_e3nn", "test", max_atoms=max_atoms), z_table)
    preds = predict_response(model, pet)
    zp = np.concatenate([p["born_charges"] for p in preds])
    zr = np.concatenate([s.born_charges for s in pet])
    ep = np.stack([p["eps_electronic"] for p in preds])
    er = np.stack([s.eps_electronic for s in pet])
    report["born_charges"] = {
        "dataset": "petretto2018 test", "structures": len(pet), "skipped_unknown_elements": n_skip,
        "atoms": int(zr.shape[0]), "mae_diagonal_e": mae(_diag(zp), _diag(zr)),
        "mae_all_components_e": mae(zp.ravel(), zr.ravel()),
        "asr_max_abs_model": float(max(np.abs(p["born_charges"].sum(0)).max() for p in preds)),
    }
    report["eps_inf_petretto"] = {"structures": len(pet), "mae_diagonal": mae(_diag(ep), _diag(er)),
                                  "r2_true": r2_true(_diag(ep), _diag(er)),
                                  "pearson_r2": pearson_r2(_diag(ep), _diag(er))}
    report["timings_s"]["born_eps_petretto"] = time.time() - t0

    # ---- eps_inf, relaxed-ion eps and phonon stability (Petousis test)
    t0 = time.time()
    mp, n_skip = _covered(load_split("mp_dielectric_petousis2017", "test", max_atoms=max_atoms), z_table)
    preds = predict_response(model, mp)
    ep = np.stack([p["eps_electronic"] for p in preds])
    er = np.stack([s.eps_electronic for s in mp])
    report["eps_inf_petousis"] = {"structures": len(mp), "skipped_unknown_elements": n_skip,
                                  "mae_diagonal": mae(_diag(ep), _diag(er)),
                                  "r2_true": r2_true(_diag(ep), _diag(er)),
                                  "pearson_r2": pearson_r2(_diag(ep), _diag(er))}
    both_p = np.concatenate([_diag(np.stack([p["eps_electronic"] for p in predict_response(model, pet)])), _diag(ep)])
    both_r = np.concatenate([_diag(np.stack([s.eps_electronic for s in pet])), _diag(er)])
    report["eps_inf_all"] = {"structures": len(pet) + len(mp), "mae_diagonal": mae(both_p, both_r)}
    report["timings_s"]["eps_petousis"] = time.time() - t0

    t0 = time.time()
    relax_set = [s for s in mp if s.n_atoms <= relax_max_atoms][: max_relax or None]
    stable, converged, rows = 0, 0, []
    failed: dict[str, str] = {}
    for s in relax_set:
        try:
            relaxed, conv = relax_positions(model, s.atoms)
            g = gamma_response(model, relaxed)
        except MacefieldError as exc:  # e.g. the model collapses atoms onto each other
            failed[s.name] = str(exc)
            rows.append({"name": s.name, "stable": False, "converged": False, "min_freq_thz": float("-inf")})
            continue
        converged += conv
        ph, unstable = gamma_stability(g["force_constants"], relaxed.get_masses(), tol_thz)
        ok = len(unstable) == 0
        stable += ok
        optical = ph.frequencies[~ph.acoustic]
        row = {"name": s.name, "stable": ok, "converged": conv,
               "min_freq_thz": float(optical.min()) if optical.size else 0.0}
        if ok:
            e_ion = epsilon_ionic(g["born_charges"], g["force_constants"], relaxed.get_volume())
            row.update(eps_ionic_pred=_diag(e_ion), eps_ionic_ref=_diag(s.eps_ionic),
                       eps_total_pred=_diag(g["eps_electronic"] + e_ion), eps_total_ref=_diag(s.eps_total))
        rows.append(row)
    ok_rows = [r for r in rows if r["stable"]]
    ion = {"structures_relaxed": len(relax_set), "converged": converged, "stable": stable,
           "stability_rate": stable / max(len(relax_set), 1), "tol_thz": tol_thz,
           "unstable": [r["name"] for r in rows if not r["stable"]],
           "failed_relaxations": failed,  # counted as unstable
           "min_optical_freq_thz": {r["name"]: r["min_freq_thz"] for r in rows}}
    mins = np.array([r["min_freq_thz"] for r in rows]) if rows else np.zeros(0)
    for tol in (0.5, 1.0):  # looser tolerances, for context (lowest mode incl. acoustic)
        ion[f"stability_rate_tol_{tol}_thz"] = float(np.mean(mins >= -tol)) if mins.size else float("nan")
    if ok_rows:
        for key in ("eps_ionic", "eps_total"):
            p = np.concatenate([r[f"{key}_pred"] for r in ok_rows])
            r_ = np.concatenate([r[f"{key}_ref"] for r in ok_rows])
            ion[key] = {"mae_diagonal": mae(p, r_), "rmse_diagonal": rmse(p, r_),
                        "r2_true": r2_true(p, r_), "pearson_r2": pearson_r2(p, r_),
                        "median_abs_error": float(np.median(np.abs(p - r_)))}
    report["relaxed_ion_petousis"] = ion
    report["timings_s"]["relax_phonons"] = time.time() - t0

    t0 = time.time()
    report["stability_full_relaxation"] = full_relaxation_stability(model, [s.atoms for s in relax_set],
                                                                    tol_thz=tol_thz)
    report["timings_s"]["full_relaxation_stability"] = time.time() - t0

    if teacher_check:
        t0 = time.time()
        report["teacher_fidelity"] = teacher_fidelity(model, pet[:teacher_structures], teacher=teacher)
        report["timings_s"]["teacher_fidelity"] = time.time() - t0
    return report


def gamma_stability(force_constants: np.ndarray, masses: np.ndarray, tol_thz: float):
    """Gamma phonons and the indices of their unstable optical modes (below ``-tol_thz`` THz)."""
    from macefield_flows.physics.phonons import detect_unstable_modes, gamma_phonons

    ph = gamma_phonons(force_constants, masses)
    return ph, detect_unstable_modes(ph.frequencies, tol_thz=tol_thz, eigenvectors=ph.eigenvectors,
                                     masses=masses)


def full_relaxation_stability(model, structures: Sequence[Any], tol_thz: float = 0.1,
                              fmax: float = 0.01) -> dict[str, Any]:
    """Phonon stability after relaxing positions *and* cell with the model (zero pressure).

    Context for the fixed-cell protocol above: at the reference cell a model whose
    equilibrium volume differs from DFT's sees a strained crystal, which can soften modes.
    Symmetry is kept (no displacement along unstable modes), so saddles stay saddles.
    """
    from macefield_flows.engine import evaluate, relax

    device = str(next(model.parameters()).device)
    relaxed = relax(list(structures), model, fmax=fmax, max_steps=1000, relax_cell=True, device=device)
    ok = [r for r in relaxed if r.ok]
    results = evaluate([r.atoms for r in ok], model, properties=("force_constants",), device=device)
    stable = sum(len(gamma_stability(res.force_constants, res.masses, tol_thz)[1]) == 0
                 for res in results if res.ok)
    return {"structures": len(structures), "relaxed": len(ok),
            "converged": sum(bool(r.converged) for r in ok), "stable": stable,
            "stability_rate": stable / max(len(structures), 1), "tol_thz": tol_thz, "fmax": fmax}


def teacher_fidelity(model, samples: Sequence[Sample], teacher: str = "chgnet") -> dict[str, Any]:
    """Energy/force/stress MAE of ``model`` vs ``teacher`` on ``samples`` + one rattled copy each.

    ``teacher``: see :func:`macefield_flows.training.teacher.label_with_teacher`. The force MAE
    is also given separately for the structures as given and for the rattled copies.
    """
    from macefield_flows.training.labels import perturbed_copies
    from macefield_flows.training.teacher import label_with_teacher

    labelled = label_with_teacher(perturbed_copies(samples, n_copies=1, seed=123), teacher)
    z = model.atomic_numbers.tolist()
    p = next(model.parameters())
    de, df, ds, rattled = [], [], [], []
    for k in range(0, len(labelled), 8):
        chunk = labelled[k:k + 8]
        data = collate([atoms_to_graph(s.atoms, z, float(model.r_max)) for s in chunk], len(z), p.dtype, p.device)
        res = model(data, compute_force=True, compute_stress=True)
        n = np.array([s.n_atoms for s in chunk])
        de += list(np.abs(res["energy"].detach().cpu().numpy() - [s.energy for s in chunk]) / n)
        df.append(np.abs(res["forces"].detach().cpu().numpy() - np.concatenate([s.forces for s in chunk])).ravel())
        rattled.append(np.repeat([s.meta.get("copy", 0) > 0 for s in chunk], 3 * n))
        ds.append(np.abs(res["stress"].detach().cpu().numpy() - np.stack([s.stress for s in chunk])).ravel())
    df_all, is_rattled = np.concatenate(df), np.concatenate(rattled)
    return {"teacher": teacher, "structures": len(labelled), "energy_mae_eV_atom": float(np.mean(de)),
            "forces_mae_eV_A": float(np.mean(df_all)),
            "forces_mae_eV_A_as_given": float(np.mean(df_all[~is_rattled])) if (~is_rattled).any() else None,
            "forces_mae_eV_A_rattled": float(np.mean(df_all[is_rattled])) if is_rattled.any() else None,
            "stress_mae_GPa": float(np.mean(np.concatenate(ds)) * 160.21766208)}


def teacher_phonon_stability(samples: Sequence[Sample], tol_thz: float = 0.1, delta: float = 0.01,
                             fmax: float = 0.01, teacher: str = "chgnet") -> dict[str, Any]:
    """Phonon stability rate of the teacher: relax at fixed cell, central-difference K."""
    from macefield_flows.training.teacher import teacher_calculator_factory

    calc, close = teacher_calculator_factory(teacher)
    try:
        return _phonon_stability(samples, calc, tol_thz, delta, fmax) | {"teacher": teacher}
    finally:
        close()


def _phonon_stability(samples: Sequence[Sample], calc, tol_thz: float, delta: float,
                      fmax: float) -> dict[str, Any]:
    from ase.optimize import BFGS

    stable, unstable = 0, []
    for s in samples:
        a = s.atoms.copy()
        a.calc = calc
        BFGS(a, logfile=None).run(fmax=fmax, steps=300)
        n = len(a)
        k = np.zeros((3 * n, 3 * n))
        x0 = a.positions.copy()
        for i in range(n):
            for c in range(3):
                f = []
                for sign in (1, -1):
                    x = x0.copy()
                    x[i, c] += sign * delta
                    a.positions = x
                    f.append(a.get_forces().ravel())
                k[3 * i + c] = -(f[0] - f[1]) / (2 * delta)
        a.positions = x0
        _, bad = gamma_stability(0.5 * (k + k.T), a.get_masses(), tol_thz)
        if len(bad):
            unstable.append(s.name)
        else:
            stable += 1
    return {"structures": len(samples), "names": [s.name for s in samples], "stable": stable,
            "stability_rate": stable / max(len(samples), 1), "unstable": unstable}
