"""ZBL pair repulsion evaluated entirely in the dtype of the model's inputs.

mace-torch's ``ZBLBasis.forward`` multiplies Python floats with integer
tensors (``14.3996 * Z_u * Z_v``, ``p + 1.0``): torch promotes those products
to the *global default dtype*, float32 unless the caller changed it, so in a
float64 run the pair energy carried float32 rounding (6e-11 eV, 4e-10 eV/A on
a test model). :func:`zbl_node_energy` evaluates the same function with every
integer cast to the dtype of the distances first, so float64 means float64
without touching ``torch.set_default_dtype``. It reads the module's own buffers
(``c``, ``covalent_radii``, ``a_exp``, ``a_prefactor``, ``p``), so state dicts
are unchanged.

The ZBL screened Coulomb energy of an edge (u, v) at distance r (A), in eV::

    V(r) = 14.3996 Z_u Z_v / r * sum_i c_i exp(-d_i r / a) * envelope(r; r_uv, p) / 2
    a = a_prefactor * 0.529 / (Z_u^a_exp + Z_v^a_exp)          (A)
    r_uv = covalent_radius(Z_u) + covalent_radius(Z_v)         (A)
    envelope(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2),  x = r / r_uv < 1

(halved because both directions of every edge are in the graph); the node
energy of atom v sums its incoming edges.
"""

from __future__ import annotations

import torch
from mace.tools.scatter import scatter_sum

ZBL_EXPONENTS = (3.2, 0.9423, 0.4028, 0.2016)
"""Decay constants d_i of the four ZBL screening terms (the c_i are the module's buffer ``c``)."""
COULOMB_EV_A = 14.3996
"""e^2 / (4 pi eps0) in eV*A, as mace's ZBLBasis uses it."""
BOHR_A = 0.529


def zbl_node_energy(
    zbl: torch.nn.Module,
    lengths: torch.Tensor,
    node_attrs: torch.Tensor,
    edge_index: torch.Tensor,
    atomic_numbers: torch.Tensor,
) -> torch.Tensor:
    """Per-node ZBL repulsion (N,) in eV, in ``lengths.dtype``.

    Parameters
    ----------
    zbl : a ``mace.modules.radial.ZBLBasis`` (its buffers are read, its forward is not called).
    lengths : (E, 1) edge lengths, A.
    node_attrs : (N, n_elements) one-hot element encoding.
    edge_index : (2, E) sender, receiver.
    atomic_numbers : (n_elements,) atomic numbers of the model's elements.
    """
    dtype = lengths.dtype
    sender, receiver = edge_index[0], edge_index[1]
    z_node = atomic_numbers[torch.argmax(node_attrs, dim=1)].unsqueeze(-1).to(torch.int64)
    z_u, z_v = z_node[sender], z_node[receiver]
    zf_u, zf_v = z_u.to(dtype), z_v.to(dtype)
    a_exp = zbl.a_exp.to(dtype)
    a = zbl.a_prefactor.to(dtype) * BOHR_A / (torch.pow(zf_u, a_exp) + torch.pow(zf_v, a_exp))
    r_over_a = lengths / a
    c = zbl.c.to(dtype)
    phi = sum(c[i] * torch.exp(-d * r_over_a) for i, d in enumerate(ZBL_EXPONENTS))
    v_edges = (COULOMB_EV_A * zf_u * zf_v) / lengths * phi
    radii = zbl.covalent_radii.to(dtype)
    r_max = radii[z_u] + radii[z_v]
    p = zbl.p.to(dtype)
    x = lengths / r_max
    envelope = (
        1.0
        - ((p + 1.0) * (p + 2.0) / 2.0) * torch.pow(x, p)
        + p * (p + 2.0) * torch.pow(x, p + 1.0)
        - (p * (p + 1.0) / 2.0) * torch.pow(x, p + 2.0)
    ) * (lengths < r_max).to(dtype)
    v_edges = 0.5 * v_edges * envelope
    return scatter_sum(v_edges, receiver, dim=0, dim_size=node_attrs.size(0)).squeeze(-1)
