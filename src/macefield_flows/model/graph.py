"""Structures -> MACE graph batches (plain dicts of tensors), without global dtype state.

A graph batch is the dict that :meth:`FieldMACE.forward` reads:

=================  ===========  ================================================
key                shape        meaning
=================  ===========  ================================================
positions          (N, 3)       Cartesian positions, A
cell               (G*3, 3)     lattice vectors as rows, A (zeros if non-periodic)
node_attrs         (N, Z)       one-hot element encoding in the model's z table
edge_index         (2, E)       sender, receiver
shifts             (E, 3)       Cartesian periodic shifts of the receiver, A
unit_shifts        (E, 3)       integer lattice shifts
batch              (N,)         graph index of each atom
ptr                (G+1,)       atom offsets of the graphs
head               (G,)         readout head index
electric_field     (G, 3)       uniform field, V/A
=================  ===========  ================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from ase import Atoms
from mace.data.neighborhood import get_neighborhood

from macefield_flows.exceptions import InvalidStructureError, UnknownElementError


@dataclass(frozen=True)
class AtomicGraph:
    """One structure's neighbour graph in numpy (cheap to build, cheap to batch)."""

    positions: np.ndarray  # (n, 3) A
    cell: np.ndarray  # (3, 3) A, zeros when non-periodic
    species_index: np.ndarray  # (n,) index into the model's z table
    edge_index: np.ndarray  # (2, e)
    unit_shifts: np.ndarray  # (e, 3)
    pbc: tuple[bool, bool, bool]
    label: str

    @property
    def n_atoms(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_index.shape[1])


def atoms_to_graph(
    atoms: Atoms, atomic_numbers: Sequence[int], r_max: float, label: Optional[str] = None
) -> AtomicGraph:
    """Build the neighbour graph of ``atoms`` for a model with z table ``atomic_numbers``.

    Raises
    ------
    UnknownElementError
        if an element of ``atoms`` is not in the model's z table.
    InvalidStructureError
        for NaN positions, a singular periodic cell or overlapping atoms (< 0.1 A).
    """
    label = label or atoms.get_chemical_formula()
    z_table = {int(z): i for i, z in enumerate(atomic_numbers)}
    numbers = atoms.get_atomic_numbers()
    unknown = sorted({int(z) for z in numbers if int(z) not in z_table})
    if unknown:
        from ase.data import chemical_symbols

        names = [chemical_symbols[z] for z in unknown]
        known = [chemical_symbols[z] for z in atomic_numbers]
        raise UnknownElementError(
            f"structure {label!r}: element(s) {names} not known to the model (model elements: {known})"
        )
    positions = np.asarray(atoms.get_positions(), dtype=float)
    if len(positions) == 0:
        raise InvalidStructureError(f"structure {label!r}: no atoms")
    if not np.all(np.isfinite(positions)):
        raise InvalidStructureError(f"structure {label!r}: non-finite positions")
    pbc = tuple(bool(p) for p in atoms.get_pbc())
    cell = np.array(atoms.get_cell(), dtype=float)
    if any(pbc) and abs(np.linalg.det(cell)) < 1e-6:
        raise InvalidStructureError(f"structure {label!r}: periodic but the cell is singular")
    edge_index, _, unit_shifts, _ = get_neighborhood(
        positions=positions, cutoff=float(r_max), pbc=pbc, cell=cell.copy()
    )
    if edge_index.shape[1]:
        d = positions[edge_index[1]] - positions[edge_index[0]] + unit_shifts @ cell
        dmin = float(np.min(np.linalg.norm(d, axis=1)))
        if dmin < 0.1:
            raise InvalidStructureError(
                f"structure {label!r}: overlapping atoms (shortest distance {dmin:.3g} A)"
            )
    if not any(pbc):
        cell = np.zeros((3, 3))
    return AtomicGraph(
        positions=positions,
        cell=cell,
        species_index=np.array([z_table[int(z)] for z in numbers], dtype=np.int64),
        edge_index=edge_index.astype(np.int64),
        unit_shifts=unit_shifts.astype(float),
        pbc=pbc,  # type: ignore[arg-type]
        label=label,
    )


def collate(
    graphs: Sequence[AtomicGraph],
    num_elements: int,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    electric_field: Optional[np.ndarray] = None,
    head_index: int = 0,
) -> dict[str, torch.Tensor]:
    """Batch graphs into one MACE input dict on ``device`` in ``dtype``.

    ``electric_field`` is (3,) or (G, 3) in V/A (default zero).
    """
    n_per = [g.n_atoms for g in graphs]
    offsets = np.concatenate([[0], np.cumsum(n_per)])
    species = np.concatenate([g.species_index for g in graphs])
    edge_index = np.concatenate(
        [g.edge_index + off for g, off in zip(graphs, offsets[:-1])], axis=1
    )
    unit_shifts = np.concatenate([g.unit_shifts for g in graphs], axis=0)
    edge_graph = np.concatenate([np.full(g.n_edges, i) for i, g in enumerate(graphs)])
    cells = np.stack([g.cell for g in graphs])
    shifts = np.einsum("ea,eab->eb", unit_shifts, cells[edge_graph]) if len(edge_graph) else unit_shifts
    n_graphs = len(graphs)
    field = np.zeros((n_graphs, 3)) if electric_field is None else np.asarray(electric_field, float)
    field = np.array(np.broadcast_to(field, (n_graphs, 3)))

    def t(x: np.ndarray, dt: torch.dtype = dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=dt, device=device)

    node_attrs = torch.zeros((len(species), num_elements), dtype=dtype, device=device)
    node_attrs[torch.arange(len(species), device=device), t(species, torch.int64)] = 1.0
    return {
        "positions": t(np.concatenate([g.positions for g in graphs])),
        "cell": t(cells.reshape(-1, 3)),
        "node_attrs": node_attrs,
        "edge_index": t(edge_index, torch.int64),
        "shifts": t(shifts),
        "unit_shifts": t(unit_shifts),
        "batch": t(np.repeat(np.arange(n_graphs), n_per), torch.int64),
        "ptr": t(offsets, torch.int64),
        "head": torch.full((n_graphs,), head_index, dtype=torch.int64, device=device),
        "electric_field": t(field),
    }
