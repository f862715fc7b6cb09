"""Stand-in for ``macefield_flows.engine`` while it is not importable (tests only).

Implements ``evaluate``/``relax``/``resolve_model`` with the ASE calculator and
finite-difference force constants; strain derivatives are not provided (piezo
fields stay None). Used only when the real engine lacks ``evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor


@dataclass
class StructureResult:
    index: int
    label: Optional[str] = None
    ok: bool = True
    error: Optional[str] = None
    error_type: Optional[str] = None
    n_atoms: int = 0
    volume: Optional[float] = None
    masses: Any = None
    energy: Any = None
    forces: Any = None
    stress: Any = None
    dipole: Any = None
    polarization: Any = None
    born_charges: Any = None
    susceptibility: Any = None
    epsilon_electronic: Any = None
    force_constants: Any = None
    dipole_strain: Any = None
    internal_strain: Any = None
    strain_hessian: Any = None
    wall_time_s: float = 0.0


@dataclass
class RelaxResult:
    index: int
    label: Optional[str] = None
    ok: bool = True
    error: Optional[str] = None
    structure: Any = None
    energy: Any = None
    converged: bool = True
    steps: int = 0
    max_force: float = 0.0
    max_stress: Any = None
    energies: list = field(default_factory=list)


def resolve_model(spec, device="auto", dtype="float64", trust_pickle=False):
    from macefield_flows.model import load_model

    return load_model(spec, device="cpu", dtype=dtype, trust_pickle=trust_pickle)


def _calc(model, field_=None):
    from macefield_flows.calculator import MACEFieldCalculator

    return MACEFieldCalculator(model=model, electric_field=field_ if field_ is not None else (0, 0, 0))


def _atoms(s):
    return AseAtomsAdaptor.get_atoms(s) if isinstance(s, Structure) else s.copy()


def evaluate(structures, model, properties=("energy",), electric_field=None, device="auto", dtype="float64",
             head=None, labels=None, max_atoms_per_batch=None, progress=None):
    out = []
    for i, s in enumerate(structures):
        atoms = _atoms(s)
        try:
            if len(atoms) > 1 and np.min(atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]) < 0.5:
                raise ValueError("atoms closer than 0.5 A")
            calc = _calc(model, electric_field)
            atoms.calc = calc
            e = atoms.get_potential_energy()
            f = atoms.get_forces()
            st = atoms.get_stress(voigt=False)
            r = calc.results
            fc = None
            if "force_constants" in properties:
                n, h = len(atoms), 1e-3
                fc = np.zeros((3 * n, 3 * n))
                for k in range(n):
                    for a in range(3):
                        for sign in (1, -1):
                            b = atoms.copy()
                            b.positions[k, a] += sign * h
                            b.calc = _calc(model, electric_field)
                            fc[3 * k + a] -= sign * b.get_forces().ravel() / (2 * h)
                fc = 0.5 * (fc + fc.T)
            eps = r.get("epsilon_electronic")
            out.append(StructureResult(
                index=i, label=labels[i] if labels else None, n_atoms=len(atoms), volume=atoms.get_volume(),
                masses=atoms.get_masses(), energy=e, forces=f, stress=st, dipole=r.get("dipole"),
                polarization=r.get("polarization"), born_charges=r.get("born_effective_charges"),
                susceptibility=None if eps is None else eps - np.eye(3), epsilon_electronic=eps,
                force_constants=fc))
        except Exception as exc:  # noqa: BLE001 - mirror the engine: per-structure failure
            out.append(StructureResult(index=i, ok=False, error=str(exc), error_type=type(exc).__name__))
    return out


def relax(structures, model, fmax=0.01, max_steps=500, relax_cell=False, pressure_gpa=0.0, keep_symmetry=False,
          electric_field=None, device="auto", dtype="float64", head=None, labels=None):
    from ase.optimize import BFGS

    out = []
    for i, s in enumerate(structures):
        atoms = _atoms(s)
        try:
            if len(atoms) > 1 and np.min(atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]) < 0.5:
                raise ValueError("atoms closer than 0.5 A")
            atoms.calc = _calc(model, electric_field)
            opt = BFGS(atoms, logfile=None)
            conv = opt.run(fmax=fmax, steps=min(max_steps, 20))
            out.append(RelaxResult(index=i, structure=AseAtomsAdaptor.get_structure(atoms),
                                   energy=atoms.get_potential_energy(), converged=bool(conv),
                                   steps=opt.nsteps, max_force=float(np.abs(atoms.get_forces()).max())))
        except Exception as exc:  # noqa: BLE001
            out.append(RelaxResult(index=i, ok=False, error=f"{type(exc).__name__}: {exc}"))
    return out


def install_if_needed(monkeypatch) -> bool:
    """Patch the stub into ``macefield_flows.engine`` when the real engine is missing."""
    import macefield_flows.engine as eng

    if hasattr(eng, "evaluate") and hasattr(eng, "relax") and hasattr(eng, "resolve_model"):
        return False
    for name in ("evaluate", "relax", "resolve_model", "StructureResult", "RelaxResult"):
        monkeypatch.setattr(eng, name, globals()[name], raising=False)
    return True
