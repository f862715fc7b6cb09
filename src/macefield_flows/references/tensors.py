"""Tensor frame rotations and rotation-invariant piezoelectric measures.

Conventions (see :mod:`macefield_flows.units`): Born charges ``Z[k, i, j]``
(e; i = field, j = displacement), 3x3 dielectric tensors (dimensionless),
piezoelectric stress tensors 3x6 Voigt ``e[i, J]`` in C/m^2 with J = xx, yy,
zz, yz, xz, xy and no factor 2 on the shear columns.

A Cartesian rotation ``R`` (3x3 orthogonal, ``x' = R x``) acts as
``Z'[k] = R Z[perm(k)] R^T``, ``eps' = R eps R^T`` and
``e'_ijk = R_ia R_jb R_kc e_abc``.

Two e_ij_max definitions coexist and are kept under explicit names:

* :func:`e_ij_max_emmet`: emmet-core's ``PiezoelectricDoc.e_ij_max``, the
  largest singular value of the 3x6 Voigt matrix (frame dependent in principle;
  emmet evaluates it in the IEEE frame).
* :func:`e_ij_max_longitudinal_legacy`: the legacy Materials Project (de Jong
  2015) value: the largest longitudinal modulus max_n |sum e'_ijk n_i n_j n_k|
  computed from the Voigt matrix with its shear columns halved.
  Checked against the ``eij_max_C_m2`` column of the de Jong file.

Rotation-invariant measures used for comparisons: :func:`piezo_invariants`.
"""

from __future__ import annotations

import numpy as np

from macefield_flows.units import rank3_to_voigt, voigt_to_rank3


def rotate_rank2(t: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """``R t R^T`` for ``t`` of shape (..., 3, 3)."""
    r = np.asarray(rotation, dtype=float)
    return np.einsum("ia,...ab,jb->...ij", r, np.asarray(t, dtype=float), r)


def rotate_born(born: np.ndarray, rotation: np.ndarray, mapping: np.ndarray | None = None) -> np.ndarray:
    """Rotate and reorder Born charges.

    Parameters
    ----------
    born
        Z*[k, i, j], shape (N, 3, 3), e.
    rotation
        R, shape (3, 3).
    mapping
        ``mapping[k]`` = index in ``born`` of the site that becomes site ``k``;
        shape (N,). ``None`` keeps the order.

    Returns
    -------
    np.ndarray
        ``Z'[k] = R Z[mapping[k]] R^T``, shape (N, 3, 3), e.
    """
    z = np.asarray(born, dtype=float)
    if mapping is not None:
        z = z[np.asarray(mapping, dtype=int)]
    return rotate_rank2(z, rotation)


def rotate_piezo_voigt(e_voigt: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Rotate a 3x6 Voigt piezo stress tensor (C/m^2): ``e'_ijk = R R R e``."""
    r = np.asarray(rotation, dtype=float)
    t = voigt_to_rank3(np.asarray(e_voigt, dtype=float))
    return rank3_to_voigt(np.einsum("ia,jb,kc,abc->ijk", r, r, r, t))


def _sphere_points(n: int = 2000) -> np.ndarray:
    """Fibonacci points on the unit sphere, shape (n, 3)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], -1)


def longitudinal_max(t3: np.ndarray) -> float:
    """max over unit n of |t_ijk n_i n_j n_k| for a rank-3 tensor (3, 3, 3).

    Dense sphere sampling followed by projected-gradient refinement; accurate to
    ~1e-6 relative for the smooth cubic forms met here.
    """
    t = np.asarray(t3, dtype=float)
    pts = _sphere_points()
    vals = np.einsum("ijk,ni,nj,nk->n", t, pts, pts, pts)
    out = float(np.max(np.abs(vals)))
    n = pts[np.argsort(-np.abs(vals))[:8]]
    tsym = t + t.transpose(1, 0, 2) + t.transpose(2, 1, 0)
    for _ in range(60):  # projected gradient ascent on |f(n)|, all candidates at once
        v = np.einsum("ijk,ni,nj,nk->n", t, n, n, n)
        g = np.einsum("ijk,nj,nk->ni", tsym, n, n)
        g = np.sign(v)[:, None] * (g - np.sum(g * n, axis=1, keepdims=True) * n)
        n = n + 0.1 * g / max(1.0, float(np.abs(t).max()))
        n /= np.linalg.norm(n, axis=1, keepdims=True)
    v = np.einsum("ijk,ni,nj,nk->n", t, n, n, n)
    out = max(out, float(np.max(np.abs(v))))
    return out


def e_ij_max_longitudinal_legacy(e_voigt: np.ndarray) -> float:
    """Legacy MP / de Jong 2015 e_ij_max (C/m^2): longitudinal maximum, shear columns halved."""
    v = np.array(e_voigt, dtype=float)
    v[:, 3:] *= 0.5
    return longitudinal_max(voigt_to_rank3(v))


def e_ij_max_emmet(e_voigt: np.ndarray) -> float:
    """emmet-core e_ij_max (C/m^2): largest singular value of the 3x6 Voigt matrix."""
    return float(np.linalg.svd(np.asarray(e_voigt, dtype=float), compute_uv=False).max())


def piezo_invariants(e_voigt: np.ndarray) -> dict[str, float | list[float]]:
    """Rotation-invariant measures of a piezo stress tensor (C/m^2).

    Returns
    -------
    dict
        ``frobenius``: sqrt(sum e_ijk^2) of the full rank-3 tensor;
        ``singular_values``: the 3 singular values (descending) of the 3x9
        unfolding e[i, (jk)] (equal to those of Voigt with shear columns x sqrt 2);
        ``sv_max``: the largest of them;
        ``longitudinal_max``: max_n |e_ijk n_i n_j n_k|.
        All invariant under any orthogonal change of frame.
    """
    t = voigt_to_rank3(np.asarray(e_voigt, dtype=float))
    sv = np.linalg.svd(t.reshape(3, 9), compute_uv=False)
    return {
        "frobenius": float(np.linalg.norm(t)),
        "singular_values": [float(x) for x in sv],
        "sv_max": float(sv[0]),
        "longitudinal_max": longitudinal_max(t),
    }


def symmetric_eigvals(t: np.ndarray) -> np.ndarray:
    """Ascending eigenvalues of the symmetric part of a 3x3 tensor, shape (3,)."""
    a = np.asarray(t, dtype=float)
    return np.linalg.eigvalsh(0.5 * (a + a.T))
