"""Batched evaluation of many structures: one result per input, in input order."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch

from macefield_flows.engine.batching import default_budget, default_cost_model, pack_batches, run_with_backoff
from macefield_flows.engine.inputs import head_index, resolve_model, to_atoms
from macefield_flows.engine.kernels import ALL_PROPERTIES, backward_passes, evaluate_batch
from macefield_flows.engine.symmetry_reduction import OrbitMap, expand_force_constants, orbit_map
from macefield_flows.exceptions import MacefieldError
from macefield_flows.model.graph import AtomicGraph, atoms_to_graph, collate

logger = logging.getLogger(__name__)

DEFAULT_PROPERTIES = ("energy", "forces", "stress", "polarization", "born_charges", "epsilon_electronic")
PER_ATOM = ("forces", "born_charges", "internal_strain")
PER_GRAPH = ("energy", "stress", "dipole", "polarization", "susceptibility", "epsilon_electronic",
             "dipole_strain", "strain_hessian")


@dataclass
class StructureResult:
    """Everything the engine computed for one structure (numpy, float64, units as named).

    energy eV; forces (N, 3) eV/A; stress (3, 3) eV/A^3; dipole (3,) e*A; polarization
    (3,) e/A^2; born_charges (N, 3, 3) e [k, i, j], i = field, j = displacement;
    susceptibility and epsilon_electronic (3, 3); force_constants (3N, 3N) eV/A^2;
    dipole_strain (3, 3, 3) e*A = d dipole_i / d eta_jl (clamped ion); internal_strain
    (N, 3, 3, 3) eV/A = d force_kb / d eta_jl; strain_hessian (3, 3, 3, 3) eV.
    """

    index: int
    label: str
    ok: bool
    error: Optional[str] = None
    error_type: Optional[str] = None
    n_atoms: int = 0
    volume: Optional[float] = None
    masses: Optional[np.ndarray] = None
    electric_field: Optional[np.ndarray] = None
    energy: Optional[float] = None
    forces: Optional[np.ndarray] = None
    stress: Optional[np.ndarray] = None
    dipole: Optional[np.ndarray] = None
    polarization: Optional[np.ndarray] = None
    born_charges: Optional[np.ndarray] = None
    susceptibility: Optional[np.ndarray] = None
    epsilon_electronic: Optional[np.ndarray] = None
    force_constants: Optional[np.ndarray] = None
    dipole_strain: Optional[np.ndarray] = None
    internal_strain: Optional[np.ndarray] = None
    strain_hessian: Optional[np.ndarray] = None
    wall_time_s: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)


def _failed(index: int, label: str, exc: BaseException, n_atoms: int = 0) -> StructureResult:
    return StructureResult(index=index, label=label, ok=False, error=f"{label}: {exc}",
                           error_type=type(exc).__name__, n_atoms=n_atoms)


def evaluate(
    structures: Sequence[Any],
    model: Any,
    properties: Iterable[str] = DEFAULT_PROPERTIES,
    electric_field: Optional[Sequence[float] | np.ndarray] = None,
    device: str = "auto",
    dtype: str = "float64",
    head: Optional[str] = None,
    labels: Optional[Sequence[str]] = None,
    max_atoms_per_batch: Optional[float] = None,
    progress: Optional[Callable[[int], None]] = None,
    trust_pickle: bool = False,
    symmetry_reduce: bool = True,
    symprec: float = 1e-5,
    backend: Optional[str] = None,
) -> list[StructureResult]:
    """Evaluate response properties of many structures in batches.

    Parameters
    ----------
    structures : pymatgen Structures or ASE Atoms (never modified).
    model : FieldMACE, model file path, or None/"default" for the shipped model.
    properties : subset of energy, forces, stress, dipole, polarization, born_charges,
        susceptibility, epsilon_electronic, force_constants, dipole_strain,
        internal_strain, strain_hessian. Only these are computed.
    electric_field : (3,) for all structures or (n_structures, 3), V/A.
    device, dtype : "auto"/"cpu"/"cuda[:i]" and "float64"/"float32".
    head : readout head of a multi-head model.
    labels : names used in error messages and results (default: formula + index).
    max_atoms_per_batch : batch cost budget (atoms + 0.05 * edges); default by device.
    progress : called with the number of structures finished after each batch.
    backend : "e3nn" or "cueq" (:mod:`macefield_flows.model.backends`); None keeps the model's.
    symmetry_reduce : compute force-constant rows only for symmetry-inequivalent atoms
        (space group found with ``symprec`` in A) and rotate them into the rest.

    Returns
    -------
    list of StructureResult, in input order; failed items have ``ok=False`` and ``error``.
    """
    props = frozenset(properties)
    unknown = props - ALL_PROPERTIES
    if unknown:
        raise ValueError(f"unknown properties {sorted(unknown)}; known: {sorted(ALL_PROPERTIES)}")
    props = props | {"energy"}
    net = resolve_model(model, device=device, dtype=dtype, trust_pickle=trust_pickle, backend=backend)
    param = next(net.parameters())
    torch_device, torch_dtype = param.device, param.dtype
    h_index = head_index(net, head)
    n = len(structures)
    fields = np.zeros((n, 3)) if electric_field is None else np.broadcast_to(
        np.asarray(electric_field, dtype=float), (n, 3)).copy()
    results: list[Optional[StructureResult]] = [None] * n
    graphs: dict[int, AtomicGraph] = {}
    masses: dict[int, np.ndarray] = {}
    orbits: dict[int, Optional[OrbitMap]] = {}
    z_table = net.atomic_numbers.tolist()
    for i, structure in enumerate(structures):
        label = labels[i] if labels is not None else None
        try:
            atoms = to_atoms(structure)
            label = label or f"{atoms.get_chemical_formula()}#{i}"
            graphs[i] = atoms_to_graph(atoms, z_table, float(net.r_max), label=label)
            masses[i] = atoms.get_masses()
            if symmetry_reduce and "force_constants" in props:
                orbits[i] = orbit_map(atoms, symprec=symprec)
        except (MacefieldError, TypeError, ValueError) as exc:
            results[i] = _failed(i, label or f"structure#{i}", exc)
    cost_model = default_cost_model(torch_device)
    idx = sorted(graphs)
    costs = [cost_model.cost(graphs[i].n_atoms, graphs[i].n_edges) for i in idx]
    budget = max_atoms_per_batch or default_budget(torch_device, "force_constants" in props)
    base_passes = backward_passes(props)
    rows = {i: (orbits[i].representatives if orbits.get(i) else list(range(graphs[i].n_atoms)))
            for i in idx} if "force_constants" in props else {}
    passes = [base_passes + 3 * len(rows.get(i, ())) for i in idx]
    batches = [[idx[j] for j in b] for b in pack_batches(costs, passes, budget, cost_model)]

    def run(batch: list[int]) -> dict[str, Any]:
        data = collate([graphs[i] for i in batch], len(z_table), torch_dtype, torch_device,
                       electric_field=fields[batch], head_index=h_index)
        fc_rows = [rows[i] for i in batch] if rows else None
        return evaluate_batch(net, data, props, force_constant_rows=fc_rows)

    done = n - len(graphs)
    for batch in batches:
        start = time.perf_counter()
        for sub, out in run_with_backoff(batch, run, on_oom=_empty_cache(torch_device)):
            elapsed = (time.perf_counter() - start) / max(len(sub), 1)
            if isinstance(out, BaseException):
                for i in sub:
                    results[i] = _failed(i, graphs[i].label, out, graphs[i].n_atoms)
                continue
            for g, i in enumerate(sub):
                results[i] = _unpack(out, g, sub, graphs, masses[i], fields[i], props, i, elapsed,
                                     orbits.get(i))
        done += len(batch)
        if progress is not None:
            progress(done)
    return [r for r in results if r is not None]


def _empty_cache(device: torch.device) -> Callable[[], None]:
    return (lambda: torch.cuda.empty_cache()) if device.type == "cuda" else (lambda: None)


def _unpack(out: dict[str, Any], g: int, batch: list[int], graphs: dict[int, AtomicGraph],
            masses: np.ndarray, field: np.ndarray, props: frozenset[str], index: int,
            wall: float, orbits: Optional[OrbitMap] = None) -> StructureResult:
    graph = graphs[batch[g]]
    offsets = np.cumsum([0] + [graphs[i].n_atoms for i in batch])
    s, e = offsets[g], offsets[g + 1]
    periodic = bool(out["periodic"][g])
    res = StructureResult(index=index, label=graph.label, ok=True, n_atoms=graph.n_atoms,
                          volume=float(out["volume"][g]) if periodic else None,
                          masses=masses, electric_field=field, wall_time_s=wall)
    for key in PER_GRAPH:
        if key in out and key in props:
            value = out[key][g].cpu().numpy().astype(float)
            if not periodic and key in ("stress", "polarization", "susceptibility", "epsilon_electronic"):
                continue  # undefined without a volume: only the dipole is returned
            setattr(res, key, float(value) if key == "energy" else value)
    for key in PER_ATOM:
        if key in out and key in props:
            setattr(res, key, out[key][s:e].cpu().numpy().astype(float))
    if "force_constants" in props:
        rows = out["force_constants"][g].cpu().numpy().astype(float)
        if orbits is not None:
            res.force_constants = expand_force_constants(rows, orbits)
        else:
            res.force_constants = 0.5 * (rows + rows.T)
    bad = [k for k in (*PER_GRAPH, *PER_ATOM, "force_constants")
           if isinstance(getattr(res, k), (np.ndarray, float)) and not np.all(np.isfinite(getattr(res, k)))]
    if bad:
        return StructureResult(index=index, label=graph.label, ok=False, n_atoms=graph.n_atoms,
                               error=f"{graph.label}: non-finite model output in {bad}",
                               error_type="InvalidStructureError")
    return res
