"""Helpers for tests (ours and users'): small random models, no file, no network."""

from __future__ import annotations

from typing import Any, Sequence

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
    use_reduced_cg: bool | None = None,
) -> dict:
    """JSON config of a small FieldMACE covering ``elements`` (hidden ``{c}x0e+{c}x1o``).

    ``use_reduced_cg`` pins the symmetric-contraction basis (``False``: e3nn's, exact cueq
    parity); ``None`` leaves mace's default.
    """
    from ase.data import atomic_numbers

    zs = sorted({atomic_numbers[s] for s in elements})
    heads = list(heads) if heads else ["Default"]
    rng = np.random.default_rng(sum(zs))
    e0 = (-1.0 - rng.random((len(heads), len(zs)))).tolist()
    config = {
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
    if use_reduced_cg is not None:
        config["use_reduced_cg"] = bool(use_reduced_cg)
    return config


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


def toy_field_model(toy: Any, symbols: Sequence[str]):
    """A FieldMACE whose enthalpy is the analytic ``SpringRigidIonToy`` (float64, CPU).

    The returned model runs through the real engine, calculator and document
    assembly, but every derivative is known in closed form (the toy's methods)
    and can be checked by finite differences of forces, stress and dipole.
    The toy is defined around its reference cell ``C0`` and positions ``R0``:
    a structure with cell ``C`` and positions ``R`` is read as the strain
    ``eta = sym(C0^-1 C) - I`` and the displacements ``u = (R C^-1 - R0 C0^-1) C0``
    (fractional displacements folded to the nearest image, so wrapped atoms are
    fine). Exact (quadratic) for symmetric strains of ``C0``.

    Parameters
    ----------
    toy : macefield_flows.physics.toymodels.SpringRigidIonToy
        Its masses should be those of ``symbols`` (the engine uses element masses).
    symbols : element symbols of the toy's atoms, in site order.

    Returns
    -------
    FieldMACE
        A tiny model (for the engine interface) whose ``enthalpy`` is the toy's.
        Only float64 on CPU; do not convert it (a copy would lose the toy).
    """
    import types

    from mace.modules.utils import prepare_graph

    if len(symbols) != toy.n_atoms:
        raise ValueError(f"{len(symbols)=} symbols for a toy of {toy.n_atoms} atoms")
    model = tiny_field_model(sorted(set(symbols)), seed=0, dtype="float64", channels=4, num_interactions=2)

    def t(x: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x, dtype=float), dtype=torch.float64)

    k_idx, m_idx, r, stiff = toy._bond_arrays
    params = {
        "c0": t(toy.lattice), "c0_inv": t(np.linalg.inv(toy.lattice)),
        "f0": t(toy.positions @ np.linalg.inv(toy.lattice)),
        "k": torch.as_tensor(k_idx), "m": torch.as_tensor(m_idx), "r": t(r), "stiff": t(stiff),
        "z": t(toy.born_charges()), "chi": t(toy.chi), "e_el": t(toy.e_el), "volume": float(toy.volume),
    }

    def enthalpy(self: Any, data: dict, field: torch.Tensor, compute_strain: bool) -> dict:
        from macefield_flows.units import EPS0

        ctx = prepare_graph(data, compute_displacement=compute_strain)
        p = params
        cells = ctx.cell.view(-1, 3, 3)
        sym = 0.5 * (ctx.displacement + ctx.displacement.transpose(-1, -2))
        eye = torch.eye(3, dtype=torch.float64)
        energies = []
        for g in range(ctx.num_graphs):
            s, e = int(data["ptr"][g]), int(data["ptr"][g + 1])
            if e - s != toy.n_atoms:
                raise ValueError(f"toy model of {toy.n_atoms} atoms got a graph of {e - s}")
            cell = cells[g]
            deform = p["c0_inv"] @ (cell + cell @ sym[g])
            eta = 0.5 * (deform + deform.T) - eye
            frac = ctx.positions[s:e] @ torch.linalg.inv(cell)
            dfrac = frac - p["f0"]
            dfrac = dfrac - torch.round(dfrac.detach())
            u = dfrac @ p["c0"]
            v = u[p["m"]] - u[p["k"]] + p["r"] @ eta.T
            dip = torch.einsum("kia,ka->i", p["z"], u) + p["volume"] * torch.einsum("ijl,jl->i", p["e_el"], eta)
            fg = field[g]
            energies.append(0.5 * torch.einsum("bi,bij,bj->", v, p["stiff"], v) - fg @ dip
                            - 0.5 * EPS0 * p["volume"] * fg @ p["chi"] @ fg)
        energy = torch.stack(energies)
        return {"energy": energy, "interaction_energy": energy,
                "node_energy": torch.zeros(ctx.positions.shape[0], dtype=torch.float64),
                "positions": ctx.positions, "strain": ctx.displacement if compute_strain else None,
                "cell": cells, "node_feats": torch.zeros((ctx.positions.shape[0], 1), dtype=torch.float64)}

    model.enthalpy = types.MethodType(enthalpy, model)
    return model


def anisotropic_toy_system(symbols: Sequence[str] = ("Zn", "O", "N", "Mg"), seed: int = 3):
    """A stable triclinic toy crystal with tensor Born charges, as (toy, model, atoms).

    ``toy`` is :func:`~macefield_flows.physics.toymodels.random_anisotropic_toy` with the
    element masses of ``symbols``; ``model`` its :func:`toy_field_model`; ``atoms`` the
    ASE Atoms of its reference structure (a minimum: zero forces and stress at zero field).
    """
    import dataclasses

    from ase import Atoms
    from ase.data import atomic_masses, atomic_numbers

    from macefield_flows.physics.toymodels import random_anisotropic_toy

    toy = random_anisotropic_toy(n_atoms=len(symbols), seed=seed)
    toy = dataclasses.replace(toy, masses=np.array([atomic_masses[atomic_numbers[s]] for s in symbols]))
    atoms = Atoms(list(symbols), positions=toy.positions, cell=toy.lattice, pbc=True)
    return toy, toy_field_model(toy, list(symbols)), atoms
