"""Autograd kernels: every response property as a derivative of one enthalpy F.

All kernels act on a *batch* of independent graphs. The electric field ``E``
(shape ``(G, 3)``, V/A) and the homogeneous strain ``eta`` (shape ``(G, 3, 3)``)
are per-graph leaves, so the gradient of ``sum_g F_g`` with respect to them
gives every graph's derivative at once (graphs do not interact).

Conventions (method.md section 2):

* forces ``f = -dF/dR`` (eV/A), stress ``sigma = (1/Omega) dF/d eta`` (eV/A^3),
* dipole ``d = -dF/dE`` (e*A), polarisation ``P = d / Omega`` (e/A^2),
* Born charges ``Z[k, i, j] = d d_i / d R_kj`` (e),
* polarizability ``alpha[i, j] = d d_i / d E_j`` (e*A^2/V),
  susceptibility ``chi = alpha / (eps0 Omega)``,
* clamped-ion dipole-strain derivative ``D[i, j, l] = d d_i / d eta_jl`` (e*A),
* internal strain ``Lambda[k, b, j, l] = d f_kb / d eta_jl`` (eV/A),
* strain Hessian ``W[i, j, k, l] = d2F / d eta_ij d eta_kl`` (eV),
* force constants ``K[ka, k'b] = d2F / dR_ka dR_k'b`` (eV/A^2).

Cost: one backward pass for forces + stress + dipole together, three more for
Born charges + polarizability + ``D`` together, six for ``Lambda`` + ``W`` and
``3 * max_atoms`` for the force constants of every graph of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from macefield_flows.units import EPS0


def _grad(
    output: torch.Tensor, inputs: list[torch.Tensor], create_graph: bool
) -> list[Optional[torch.Tensor]]:
    grads = torch.autograd.grad(
        output,
        inputs,
        retain_graph=True,
        create_graph=create_graph,
        allow_unused=True,
    )
    return [g if g is not None else torch.zeros_like(x) for g, x in zip(grads, inputs)]


@dataclass
class FirstDerivatives:
    """Forces (N, 3) eV/A, dF/d eta (G, 3, 3) eV, dipole (G, 3) e*A (each optional)."""

    forces: Optional[torch.Tensor]
    denthalpy_dstrain: Optional[torch.Tensor]
    dipole: Optional[torch.Tensor]


def first_derivatives(
    enthalpy: torch.Tensor,
    positions: torch.Tensor,
    strain: Optional[torch.Tensor],
    field: Optional[torch.Tensor],
    create_graph: bool,
) -> FirstDerivatives:
    """One backward pass of ``sum_g F_g`` w.r.t. positions, strain and field.

    Parameters
    ----------
    enthalpy : (G,) electric enthalpy of each graph, eV.
    positions : (N, 3) leaf positions, A.
    strain : (G, 3, 3) strain leaf or None.
    field : (G, 3) field leaf (V/A) or None.
    create_graph : keep the graph for higher derivatives / training.
    """
    inputs = [positions] + [x for x in (strain, field) if x is not None]
    grads = _grad(enthalpy.sum(), inputs, create_graph)
    forces = -grads[0]
    k = 1
    dstrain = None
    if strain is not None:
        dstrain = grads[k]
        k += 1
    dipole = -grads[k] if field is not None else None
    return FirstDerivatives(forces=forces, denthalpy_dstrain=dstrain, dipole=dipole)


@dataclass
class FieldSecondDerivatives:
    """Born charges (N, 3, 3) e, polarizability (G, 3, 3) e*A^2/V, D (G, 3, 3, 3) e*A."""

    born_charges: torch.Tensor
    polarizability: Optional[torch.Tensor]
    dipole_strain: Optional[torch.Tensor]


def field_second_derivatives(
    dipole: torch.Tensor,
    positions: torch.Tensor,
    field: torch.Tensor,
    strain: Optional[torch.Tensor],
    want_polarizability: bool,
    create_graph: bool,
) -> FieldSecondDerivatives:
    """Three backward passes of ``sum_g d_g,i``: row i of Z*, alpha and D for all graphs."""
    inputs = [positions] + ([field] if want_polarizability else [])
    inputs += [strain] if strain is not None else []
    z_rows, a_rows, d_rows = [], [], []
    for i in range(3):
        grads = _grad(dipole[:, i].sum(), inputs, create_graph)
        z_rows.append(grads[0])
        k = 1
        if want_polarizability:
            a_rows.append(grads[k])
            k += 1
        if strain is not None:
            d_rows.append(grads[k])
    born = torch.stack(z_rows, dim=1)  # (N, i, j)
    alpha = torch.stack(a_rows, dim=1) if want_polarizability else None  # (G, i, j)
    dstrain = None
    if strain is not None:
        # symmetric in (j, l) by construction: the strain leaf enters symmetrised
        dstrain = torch.stack(d_rows, dim=1)  # (G, i, 3, 3)
    return FieldSecondDerivatives(born_charges=born, polarizability=alpha, dipole_strain=dstrain)


VOIGT_INDEX = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def strain_second_derivatives(
    denthalpy_dstrain: torch.Tensor,
    positions: torch.Tensor,
    strain: torch.Tensor,
    create_graph: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Six backward passes of ``sum_g dF_g/d eta_jl``: internal strain and strain Hessian.

    Returns
    -------
    internal_strain : (N, 3, 3, 3) ``Lambda[k, b, j, l] = d f_kb / d eta_jl``, eV/A.
    strain_hessian : (G, 3, 3, 3, 3) ``d2F / d eta_ij d eta_jl``, eV.
    """
    n_atoms = positions.shape[0]
    n_graphs = strain.shape[0]
    lam = positions.new_zeros((n_atoms, 3, 3, 3))
    hess = positions.new_zeros((n_graphs, 3, 3, 3, 3))
    sym = 0.5 * (denthalpy_dstrain + denthalpy_dstrain.transpose(-1, -2))
    for j, l in VOIGT_INDEX:
        g_pos, g_strain = _grad(sym[:, j, l].sum(), [positions, strain], create_graph)
        g_strain = 0.5 * (g_strain + g_strain.transpose(-1, -2))
        lam[:, :, j, l] = -g_pos
        lam[:, :, l, j] = -g_pos
        hess[:, j, l] = g_strain
        hess[:, l, j] = g_strain
    return lam, hess


def physical_internal_strain(internal_strain_ref: torch.Tensor, forces: torch.Tensor) -> torch.Tensor:
    """Convert the strain derivative of reference-frame forces to that of Cartesian forces.

    With positions ``p = R (I + eta)`` the leaf gradient is the force on the
    reference coordinate ``f_ref = (I + eta) f``, so
    ``d f_ref_c / d eta_jl = d f_c / d eta_jl + (delta_cj f_l + delta_cl f_j) / 2``.
    The two agree at mechanical equilibrium (f = 0).

    Parameters
    ----------
    internal_strain_ref : (N, 3, 3, 3) from :func:`strain_second_derivatives`, eV/A.
    forces : (N, 3) eV/A.
    """
    eye = torch.eye(3, dtype=forces.dtype, device=forces.device)
    correction = 0.5 * (
        torch.einsum("cj,kl->kcjl", eye, forces) + torch.einsum("cl,kj->kcjl", eye, forces)
    )
    return internal_strain_ref - correction


def batched_force_constants(
    forces: torch.Tensor,
    positions: torch.Tensor,
    ptr: torch.Tensor,
    create_graph: bool = False,
    rows: Optional[list[list[int]]] = None,
) -> list[torch.Tensor]:
    """Gamma force-constant rows of every graph with ``3 * max_rows`` backward passes.

    Pass (m, a) differentiates ``-sum_g f[ptr_g + rows_g[m], a]`` (graphs with fewer
    than m+1 requested rows contribute nothing) and yields row (m, a) of every
    graph's K at once, since graphs do not interact.

    Parameters
    ----------
    rows : local atom indices whose rows are wanted, per graph (default: all atoms,
        then each result is the full, symmetrised K).

    Returns
    -------
    list of (3 len(rows_g), 3 n_g) tensors in eV/A^2 (full K: (3 n_g, 3 n_g), symmetrised).
    """
    counts = (ptr[1:] - ptr[:-1]).tolist()
    full = rows is None
    rows = [list(range(c)) for c in counts] if rows is None else rows
    n_max = max(len(r) for r in rows)
    result_rows: list[list[torch.Tensor]] = [[] for _ in counts]
    for m in range(n_max):
        graphs = [g for g, r in enumerate(rows) if len(r) > m]
        idx = torch.tensor([int(ptr[g]) + rows[g][m] for g in graphs], device=positions.device)
        for a in range(3):
            (grad,) = _grad(-forces[idx, a].sum(), [positions], create_graph)
            for g in graphs:
                result_rows[g].append(grad[int(ptr[g]) : int(ptr[g + 1])].reshape(-1))
    out = []
    for r in result_rows:
        k = torch.stack(r, dim=0)
        out.append(0.5 * (k + k.T) if full else k)
    return out


FIELD_RESPONSE = frozenset(
    {"dipole", "polarization", "born_charges", "susceptibility", "epsilon_electronic", "dipole_strain"}
)
FIELD_SECOND = frozenset({"born_charges", "susceptibility", "epsilon_electronic", "dipole_strain"})
STRAIN_RESPONSE = frozenset({"stress", "dipole_strain", "internal_strain", "strain_hessian"})
STRAIN_SECOND = frozenset({"internal_strain", "strain_hessian"})


def response(
    enthalpy: dict,
    field: torch.Tensor,
    ptr: torch.Tensor,
    properties: frozenset[str],
    create_graph: bool = False,
    force_constant_rows: Optional[list[list[int]]] = None,
) -> dict[str, torch.Tensor | list[torch.Tensor]]:
    """All requested derivatives of one batch's enthalpy, with the fewest backward passes.

    Parameters
    ----------
    enthalpy : output of ``FieldMACE.enthalpy`` (``energy``, ``positions`` leaf,
        ``strain`` leaf or None, ``cell``).
    field : (G, 3) field leaf (requires grad when a field property is asked), V/A.
    ptr : (G+1,) atom offsets of the graphs.
    properties : subset of forces, stress, dipole, polarization, born_charges,
        susceptibility, epsilon_electronic, dipole_strain, internal_strain,
        strain_hessian, force_constants.
    create_graph : keep every output differentiable (training).
    force_constant_rows : local atom indices whose Hessian rows are wanted, per graph.

    Returns
    -------
    dict with ``volume`` (G,), ``periodic`` (G,) bool, ``forces``, the symmetric
    ``denthalpy_dstrain`` (G, 3, 3) eV when the strain leaf exists, and each requested
    property (P, chi, eps_inf NaN and stress zero for non-periodic graphs;
    ``susceptibility`` comes with ``polarizability``; ``force_constants`` is a list).
    """
    positions, strain = enthalpy["positions"], enthalpy["strain"]
    want_field = bool(properties & FIELD_RESPONSE)
    want_field2 = bool(properties & FIELD_SECOND)
    want_strain2 = bool(properties & STRAIN_SECOND)
    want_fc = "force_constants" in properties
    first = first_derivatives(
        enthalpy["energy"], positions, strain, field if want_field else None,
        create_graph=create_graph or want_field2 or want_strain2 or want_fc,
    )
    volume = torch.abs(torch.linalg.det(enthalpy["cell"]))
    periodic = volume > 1e-8
    inv_volume = torch.where(periodic, 1.0 / torch.where(periodic, volume, 1.0),
                             torch.full_like(volume, float("nan")))
    out: dict[str, torch.Tensor | list[torch.Tensor]] = {
        "volume": volume, "periodic": periodic, "forces": first.forces,
    }
    if first.denthalpy_dstrain is not None:
        g = 0.5 * (first.denthalpy_dstrain + first.denthalpy_dstrain.transpose(-1, -2))
        out["denthalpy_dstrain"] = g
        out["stress"] = torch.where(periodic[:, None, None], g * inv_volume[:, None, None],
                                    torch.zeros_like(g))
    if want_field:
        out["dipole"] = first.dipole
        out["polarization"] = first.dipole * inv_volume[:, None]
    if want_field2:
        second = field_second_derivatives(
            first.dipole, positions, field,
            strain if "dipole_strain" in properties else None,
            want_polarizability=bool(properties & {"susceptibility", "epsilon_electronic"}),
            create_graph=create_graph,
        )
        out["born_charges"] = second.born_charges
        if second.polarizability is not None:
            alpha = second.polarizability  # symmetric as a Hessian; not symmetrised
            chi = alpha * (inv_volume / EPS0)[:, None, None]
            out["polarizability"] = alpha
            out["susceptibility"] = chi
            out["epsilon_electronic"] = torch.eye(3, dtype=chi.dtype, device=chi.device) + chi
        if second.dipole_strain is not None:
            out["dipole_strain"] = second.dipole_strain
    if want_strain2:
        lam, hess = strain_second_derivatives(out["denthalpy_dstrain"], positions, strain, create_graph)
        out["internal_strain"] = physical_internal_strain(lam, first.forces)
        out["strain_hessian"] = hess
    if want_fc:
        out["force_constants"] = batched_force_constants(
            first.forces, positions, ptr, create_graph=create_graph, rows=force_constant_rows
        )
    return out
