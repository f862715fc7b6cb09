"""Batched relaxation of many structures at once (FIRE, positions and optionally cell).

Every step evaluates all unconverged structures in one batched model call;
each structure keeps its own FIRE state and converges on its own. With
``relax_cell`` the degrees of freedom are the atom positions in the reference
cell and the (symmetric) deformation gradient F scaled by ``cell_factor = N``
atoms, as in ASE's cell filters; the generalised cell force is
``-Omega (sigma + p I) F^-T / cell_factor`` and convergence requires every
atom force and every row of that cell force below ``fmax``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
from ase import Atoms

from macefield_flows.engine.evaluate import evaluate
from macefield_flows.engine.inputs import resolve_model, to_atoms
from macefield_flows.units import EV_PER_A3_TO_GPA

logger = logging.getLogger(__name__)


@dataclass
class RelaxResult:
    """Outcome of one relaxation (structure is a pymatgen Structure, energies in eV)."""

    index: int
    label: str
    ok: bool
    error: Optional[str] = None
    structure: Any = None
    atoms: Optional[Atoms] = None
    energy: Optional[float] = None
    converged: bool = False
    steps: int = 0
    max_force: Optional[float] = None
    max_stress: Optional[float] = None
    energies: list[float] = field(default_factory=list)


@dataclass
class _Fire:
    """ASE-compatible FIRE state of one structure."""

    dt: float = 0.1
    a: float = 0.1
    n_pos: int = 0
    v: Optional[np.ndarray] = None
    dt_max: float = 1.0
    max_step: float = 0.2

    def step(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        if self.v is None:
            self.v = np.zeros_like(x)
        else:
            vf = float(np.vdot(f, self.v))
            if vf > 0.0:
                self.v = (1 - self.a) * self.v + self.a * f / np.sqrt(np.vdot(f, f)) * np.sqrt(np.vdot(self.v, self.v))
                if self.n_pos > 5:
                    self.dt = min(self.dt * 1.1, self.dt_max)
                    self.a *= 0.99
                self.n_pos += 1
            else:
                self.v[:] = 0.0
                self.a = 0.1
                self.dt *= 0.5
                self.n_pos = 0
        self.v = self.v + self.dt * f
        dr = self.dt * self.v
        norm = np.sqrt(np.vdot(dr, dr))
        if norm > self.max_step:
            dr *= self.max_step / norm
        return x + dr


@dataclass
class _State:
    atoms0: Atoms
    ref_positions: np.ndarray
    deform: np.ndarray
    fire: _Fire
    symmetry: Any = None
    energies: list[float] = field(default_factory=list)

    def current(self) -> Atoms:
        atoms = self.atoms0.copy()
        atoms.set_cell(self.atoms0.cell.array @ self.deform.T, scale_atoms=False)
        atoms.positions = self.ref_positions @ self.deform.T
        return atoms


def _symmetrize(state: _State, forces: np.ndarray, stress: Optional[np.ndarray]):
    ops = state.symmetry
    if ops is None:
        return forces, stress
    f_sym = np.zeros_like(forces)
    for rot, perm in zip(ops.rotations, ops.permutations):
        f_sym[perm] += forces @ rot.T
    f_sym /= len(ops.rotations)
    if stress is not None:
        stress = np.mean([rot @ stress @ rot.T for rot in ops.rotations], axis=0)
    return f_sym, stress


def relax(
    structures: Sequence[Any],
    model: Any,
    fmax: float = 0.01,
    max_steps: int = 500,
    relax_cell: bool = False,
    pressure_gpa: float = 0.0,
    keep_symmetry: bool = False,
    electric_field: Optional[Sequence[float] | np.ndarray] = None,
    device: str = "auto",
    dtype: str = "float64",
    head: Optional[str] = None,
    labels: Optional[Sequence[str]] = None,
    symprec: float = 1e-3,
    backend: Optional[str] = None,
) -> list[RelaxResult]:
    """Relax many structures together with FIRE; one result per input, in order.

    Parameters
    ----------
    fmax : force (and cell-force) convergence threshold, eV/A.
    relax_cell : also relax the cell (symmetric deformation, no rotation).
    pressure_gpa : external pressure for cell relaxation, GPa.
    keep_symmetry : symmetrise forces and stress with the initial space group.
    electric_field : (3,) or (n, 3) V/A: relax at finite field (electric enthalpy).
    backend : "e3nn" or "cueq" (:mod:`macefield_flows.model.backends`); None keeps the model's.
    """
    net = resolve_model(model, device=device, dtype=dtype, backend=backend)
    n = len(structures)
    fields = np.zeros((n, 3)) if electric_field is None else np.broadcast_to(
        np.asarray(electric_field, dtype=float), (n, 3)).copy()
    pressure = pressure_gpa / EV_PER_A3_TO_GPA
    results: list[Optional[RelaxResult]] = [None] * n
    states: dict[int, _State] = {}
    for i, s in enumerate(structures):
        label = labels[i] if labels is not None else None
        try:
            atoms = to_atoms(s)
        except TypeError as exc:
            results[i] = RelaxResult(index=i, label=label or f"structure#{i}", ok=False, error=str(exc))
            continue
        label = label or f"{atoms.get_chemical_formula()}#{i}"
        symmetry = None
        if keep_symmetry:
            from macefield_flows.physics.symmetry import get_symmetry_operations

            symmetry = get_symmetry_operations(atoms, symprec=symprec)
        states[i] = _State(atoms0=atoms, ref_positions=atoms.positions.copy(), deform=np.eye(3),
                           fire=_Fire(), symmetry=symmetry)
        results[i] = RelaxResult(index=i, label=label, ok=True)
    active = sorted(states)
    props = ("energy", "forces", "stress") if relax_cell else ("energy", "forces")
    for step in range(max_steps + 1):
        if not active:
            break
        evals = evaluate([states[i].current() for i in active], net, properties=props,
                         electric_field=fields[active], head=head,
                         labels=[results[i].label for i in active])
        still = []
        for i, ev in zip(active, evals):
            st, res = states[i], results[i]
            if not ev.ok:
                res.ok, res.error = False, ev.error
                continue
            st.energies.append(ev.energy)
            forces, stress = _symmetrize(st, ev.forces, ev.stress if relax_cell else None)
            f_ref = forces @ st.deform  # forces on reference positions
            gen = [f_ref]
            if relax_cell:
                volume = ev.volume
                cell_factor = float(len(forces))
                sym_stress = 0.5 * (stress + stress.T) + pressure * np.eye(3)
                f_cell = -volume * sym_stress @ np.linalg.inv(st.deform).T / cell_factor
                f_cell = 0.5 * (f_cell + f_cell.T)
                gen.append(f_cell)
                res.max_stress = float(np.abs(sym_stress - pressure * np.eye(3)).max())
            g = np.concatenate(gen)
            res.max_force = float(np.sqrt((forces**2).sum(axis=1)).max())
            res.energy, res.steps = ev.energy, step
            if np.sqrt((g**2).sum(axis=1)).max() < fmax:
                res.converged = True
                continue
            if step == max_steps:
                continue
            if relax_cell:
                cell_factor = float(len(forces))
                x = np.concatenate([st.ref_positions, st.deform * cell_factor])
                x = st.fire.step(x, g)
                st.ref_positions, st.deform = x[:-3], x[-3:] / cell_factor
            else:
                st.ref_positions = st.fire.step(st.ref_positions, f_ref)
            still.append(i)
        active = still
    from pymatgen.io.ase import AseAtomsAdaptor

    for i, st in states.items():
        res = results[i]
        res.energies = st.energies
        if res.ok:
            res.atoms = st.current()
            res.structure = AseAtomsAdaptor.get_structure(res.atoms)
            if not res.converged:
                logger.warning("%s: not converged in %d steps (max force %.3g eV/A)",
                               res.label, max_steps, res.max_force or float("nan"))
    return [r for r in results if r is not None]
