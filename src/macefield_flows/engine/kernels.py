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

FIELD_PROPERTIES = dv.FIELD_RESPONSE
STRAIN_PROPERTIES = dv.STRAIN_RESPONSE
ALL_PROPERTIES = frozenset({"energy", "forces", "force_constants"} | FIELD_PROPERTIES | STRAIN_PROPERTIES)


def backward_passes(properties: frozenset[str]) -> int:
    """Backward passes of a batch for ``properties``, not counting the 3 per force-constant row."""
    return (1 + 3 * bool(properties & dv.FIELD_SECOND) + 6 * bool(properties & dv.STRAIN_SECOND))


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
    if want_field and not model.has_field_blocks:
        raise MissingFieldBlocksError(
            f"properties {sorted(properties & FIELD_PROPERTIES)} need a model with field-coupling blocks"
        )
    field = data["electric_field"].detach().clone().requires_grad_(want_field)
    with torch.enable_grad():
        out = model.enthalpy(data, field, compute_strain=bool(properties & STRAIN_PROPERTIES))
        resp = dv.response(out, field, data["ptr"], properties, force_constant_rows=force_constant_rows)
    res: dict[str, Any] = {"energy": out["energy"].detach(), "n_graphs": int(data["ptr"].numel() - 1)}
    for key, value in resp.items():
        res[key] = [k.detach() for k in value] if isinstance(value, list) else value.detach()
    return res
