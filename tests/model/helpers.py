"""Single-structure evaluation helpers for the model tests."""

from __future__ import annotations

import numpy as np
import torch
from ase import Atoms

from macefield_flows.model.graph import atoms_to_graph, collate


def run(model, atoms_list: list[Atoms] | Atoms, field=None, **flags) -> dict[str, np.ndarray]:
    """Forward one batch of structures; returns detached numpy outputs."""
    if isinstance(atoms_list, Atoms):
        atoms_list = [atoms_list]
    graphs = [atoms_to_graph(a, model.atomic_numbers.tolist(), float(model.r_max)) for a in atoms_list]
    dtype = next(model.parameters()).dtype
    data = collate(graphs, len(model.atomic_numbers), dtype, electric_field=field)
    out = model(data, **flags)
    return {k: v.detach().numpy() for k, v in out.items() if isinstance(v, torch.Tensor)}


ALL = dict(compute_stress=True, compute_dipole=True, compute_bec=True, compute_polarizability=True,
           compute_dipole_strain=True)


def energy(model, atoms: Atoms, field=None) -> float:
    return float(run(model, atoms, field, compute_force=False)["energy"][0])


def strained(atoms: Atoms, eps: np.ndarray) -> Atoms:
    """Homogeneously strained copy: r -> r (I + eps), cell -> cell (I + eps)."""
    out = atoms.copy()
    deform = np.eye(3) + eps
    out.set_cell(atoms.cell.array @ deform, scale_atoms=False)
    out.positions = atoms.positions @ deform
    return out


def fd_force_constants(model, atoms: Atoms, h: float = 1e-4) -> np.ndarray:
    """Central differences of the forces: K[3k+a] = -(f(+h) - f(-h)) / 2h, eV/A^2 (not symmetrised)."""
    n = len(atoms)
    fd = np.zeros((3 * n, 3 * n))
    for k in range(n):
        for a in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[k, a] += h
            minus.positions[k, a] -= h
            fd[3 * k + a] = -(run(model, plus)["forces"] - run(model, minus)["forces"]).ravel() / (2 * h)
    return fd
