"""One batched autograd evaluation: only the requested derivatives, fewest passes.

Pass count for a batch of G graphs with at most n atoms each:
energy/forces/stress/dipole 1, Born charges + susceptibility + clamped-ion
dipole-strain derivative 3, internal strain + strain Hessian 6, force
constants 3n. The field and strain are per-graph leaves, so every count is
independent of G.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from macefield_flows.exceptions import MissingFieldBlocksError
from macefield_flows.model import derivatives as dv
from macefield_flows.units import EPS0

FIELD_PROPERTIES = frozenset(
    {"dipole", "polarization", "born_charges", "susceptibility", "epsilon_electronic", "dipole_strain"}
)
STRAIN_PROPERTIES = frozenset({"stress", "dipole_strain", "internal_strain", "strain_hessian"})
ALL_PROPERTIES = frozenset({"energy", "forces", "force_constants"} | FIELD_PROPERTIES | STRAIN_PROPERTIES)


def evaluate_batch(
    model: Any,
    data: dict[str, torch.Tensor],
    properties: frozenset[str],
    force_constant_rows: Optional[list[list[int]]] = None,
) -> dict[str, Any]:
    """Evaluate ``properties`` for every graph of ``data``; returns detached tensors.

    Per-graph outputs have a leading graph axis; per-atom outputs are concatenated
    over the batch (split them with ``data["ptr"]``); ``force_constants`` is a list
    of (3 n_g, 3 n_g) tensors, or of (3 n_rows_g, 3 n_g) row blocks when
    ``force_constant_rows`` (local atom indices per graph) is given.
    """
    want_field = bool(properties & FIELD_PROPERTIES)
    want_strain = bool(properties & STRAIN_PROPERTIES)
    want_field2 = bool(properties & {"born_charges", "susceptibility", "epsilon_electronic", "dipole_strain"})
    want_strain2 = bool(properties & {"internal_strain", "strain_hessian"})
    want_fc = "force_constants" in properties
    if want_field and not model.has_field_blocks:
        raise MissingFieldBlocksError(
            f"properties {sorted(properties & FIELD_PROPERTIES)} need a model with field-coupling blocks"
        )
    n_graphs = int(data["ptr"].numel() - 1)
    field = data["electric_field"].detach().clone().requires_grad_(want_field)
    with torch.enable_grad():
        out = model.enthalpy(data, field, compute_strain=want_strain)
        positions, strain = out["positions"], out["strain"]
        first = dv.first_derivatives(
            out["energy"], positions, strain, field if want_field else None,
            create_graph=want_field2 or want_strain2 or want_fc,
        )
        volume = torch.abs(torch.linalg.det(out["cell"]))
        periodic = volume > 1e-8
        safe_volume = torch.where(periodic, volume, torch.ones_like(volume))
        res: dict[str, Any] = {"energy": out["energy"].detach(), "volume": volume.detach()}
        res["forces"] = first.forces.detach()
        if first.denthalpy_dstrain is not None:
            res["stress"] = (first.denthalpy_dstrain / safe_volume[:, None, None]).detach()
        if want_field:
            res["dipole"] = first.dipole.detach()
            res["polarization"] = (first.dipole / safe_volume[:, None]).detach()
        if want_field2:
            second = dv.field_second_derivatives(
                first.dipole, positions, field,
                strain if "dipole_strain" in properties else None,
                want_polarizability=bool(properties & {"susceptibility", "epsilon_electronic"}),
                create_graph=False,
            )
            res["born_charges"] = second.born_charges.detach()
            if second.polarizability is not None:
                chi = second.polarizability / (EPS0 * safe_volume[:, None, None])
                res["susceptibility"] = chi.detach()
                res["epsilon_electronic"] = (torch.eye(3, dtype=chi.dtype, device=chi.device) + chi).detach()
            if second.dipole_strain is not None:
                res["dipole_strain"] = second.dipole_strain.detach()
        if want_strain2:
            lam, hess = dv.strain_second_derivatives(first.denthalpy_dstrain, positions, strain)
            res["internal_strain"] = dv.physical_internal_strain(lam, first.forces).detach()
            res["strain_hessian"] = hess.detach()
        if want_fc:
            res["force_constants"] = [
                k.detach()
                for k in dv.batched_force_constants(
                    first.forces, positions, data["ptr"], rows=force_constant_rows
                )
            ]
    res["periodic"] = periodic.detach()
    res["n_graphs"] = n_graphs
    return res
