"""Helpers for tests (ours and users'): small random models, no file, no network."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def tiny_model_config(
    elements: Sequence[str],
    r_max: float = 4.0,
    channels: int = 8,
    max_ell: int = 2,
    correlation: int = 2,
    num_interactions: int = 2,
    heads: Sequence[str] | None = None,
) -> dict:
    """JSON config of a small FieldMACE covering ``elements`` (hidden ``{c}x0e+{c}x1o``)."""
    from ase.data import atomic_numbers

    zs = sorted({atomic_numbers[s] for s in elements})
    heads = list(heads) if heads else ["Default"]
    rng = np.random.default_rng(sum(zs))
    e0 = (-1.0 - rng.random((len(heads), len(zs)))).tolist()
    return {
        "r_max": float(r_max),
        "num_bessel": 6,
        "num_polynomial_cutoff": 5,
        "max_ell": int(max_ell),
        "interaction_cls": "RealAgnosticResidualInteractionBlock",
        "interaction_cls_first": "RealAgnosticResidualInteractionBlock",
        "num_interactions": int(num_interactions),
        "num_elements": len(zs),
        "hidden_irreps": f"{channels}x0e+{channels}x1o",
        "MLP_irreps": "8x0e",
        "gate": "silu",
        "atomic_energies": e0 if len(heads) > 1 else e0[0],
        "avg_num_neighbors": 8.0,
        "atomic_numbers": zs,
        "correlation": int(correlation),
        "radial_type": "bessel",
        "radial_MLP": [16, 16],
        "atomic_inter_scale": [1.0] * len(heads) if len(heads) > 1 else 1.0,
        "atomic_inter_shift": [0.0] * len(heads) if len(heads) > 1 else 0.0,
        "heads": heads,
        "field_coupling": True,
    }


def tiny_field_model(
    elements: Sequence[str],
    seed: int = 0,
    dtype: str | torch.dtype = "float64",
    **config_overrides,
):
    """A small random :class:`~macefield_flows.model.FieldMACE` covering ``elements``.

    The weights are random (seeded), so its properties are physically
    meaningless but exactly differentiable: ideal for testing derivatives,
    symmetry, batching and I/O. The field blocks' weights are scaled up so
    field responses are of order one.
    """
    from macefield_flows.model.config import build_field_mace

    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    config = tiny_model_config(elements, **config_overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_field_mace(config, dtype=torch_dtype)
    with torch.no_grad():  # random init gives |Z*| ~ 0.01 e; scale to |Z*| ~ 1 e
        for linear in model.field_linear:
            linear.weight.mul_(FIELD_WEIGHT_SCALE)
    model.eval()
    return model


FIELD_WEIGHT_SCALE = 100.0
"""Factor applied to the random ``field_linear`` weights of tiny models."""
