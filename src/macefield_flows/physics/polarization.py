"""Polarisation quanta, branch folding and spontaneous polarisation along a path.

The polarisation of a periodic crystal is defined modulo the quantum
``e R / Omega`` for any lattice vector R. With the lattice rows ``a_k`` (A)
the quantum matrix is ``Q = lattice / Omega`` (rows ``a_k / Omega``, e/A^2) and
a polarisation difference ``dP = c Q`` has reduced coordinates
``c = dP Q^-1``; folding to the nearest image is ``c -> c - round(c)``.

The spontaneous polarisation is ``P(polar) - P(non-polar)`` evaluated along
an interpolated path, each frame moved to the branch image nearest the
previous (already adjusted) frame (the Materials Project ferroelectric
workflow approach, Smidt et al., Sci. Data 7, 72 (2020)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from macefield_flows.units import E_PER_A2_TO_C_PER_M2

__all__ = [
    "PolarizationPath",
    "polarization_quantum",
    "fold_polarization_difference",
    "spontaneous_polarization",
]


def _lattice(lattice: np.ndarray) -> np.ndarray:
    lat = np.asarray(lattice, dtype=float)
    if lat.shape != (3, 3):
        raise ValueError(f"lattice must have shape (3, 3) (rows = lattice vectors), got {lat.shape}")
    if abs(np.linalg.det(lat)) < 1e-10:
        raise ValueError(f"lattice is singular: {lat.tolist()}")
    return lat


def polarization_quantum(lattice: np.ndarray) -> np.ndarray:
    """Quantum matrix ``Q = lattice / Omega`` (3, 3), rows ``a_k / Omega`` in e/A^2.

    Parameters
    ----------
    lattice : ndarray, shape (3, 3)
        Rows are the lattice vectors in A.
    """
    lat = _lattice(lattice)
    return lat / abs(np.linalg.det(lat))


def fold_polarization_difference(dp: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """Fold a polarisation difference to the image nearest zero.

    Parameters
    ----------
    dp : ndarray, shape (3,) or (n, 3)
        Polarisation difference(s) in e/A^2.
    lattice : ndarray, shape (3, 3)
        Rows are lattice vectors in A.

    Returns
    -------
    ndarray, same shape as ``dp``
        ``(c - round(c)) Q`` with ``c = dp Q^-1`` (e/A^2).

    Notes
    -----
    Rounding the reduced coordinates gives the Euclidean-nearest image for
    orthogonal cells; for strongly oblique cells a neighbouring image can be
    slightly shorter, so the 27 images around the rounded one are searched.
    """
    q = polarization_quantum(lattice)
    d = np.asarray(dp, dtype=float)
    if d.shape[-1] != 3:
        raise ValueError(f"dp must have a last axis of length 3, got {d.shape}")
    c = d @ np.linalg.inv(q)
    c = c - np.round(c)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], float)
    cands = (c[..., None, :] + shifts) @ q  # (..., 27, 3)
    best = np.argmin(np.linalg.norm(cands, axis=-1), axis=-1)
    return np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]


@dataclass(frozen=True)
class PolarizationPath:
    """Branch-adjusted polarisation along a non-polar -> polar path.

    Attributes
    ----------
    polarization : ndarray (n, 3)
        Adjusted polarisation of each frame, e/A^2.
    polarization_c_per_m2 : ndarray (n, 3)
        Same in C/m^2.
    spontaneous : ndarray (3,)
        ``P[-1] - P[0]`` in e/A^2.
    spontaneous_c_per_m2 : ndarray (3,)
        Same in C/m^2.
    max_step_quanta : float
        Largest step between consecutive adjusted frames in reduced quantum
        coordinates (|c|_inf); 0.5 means the branch is ambiguous.
    is_continuous : bool
        ``max_step_quanta <= step_tol``.
    max_smoothness_residual : float
        Largest deviation (e/A^2) of the path from a low-order polynomial fit
        in the frame index (0 for fewer than 4 frames).
    is_smooth : bool
        ``max_smoothness_residual <= smooth_tol * min_k |a_k| / Omega``.
    """

    polarization: np.ndarray
    polarization_c_per_m2: np.ndarray
    spontaneous: np.ndarray
    spontaneous_c_per_m2: np.ndarray
    max_step_quanta: float
    is_continuous: bool
    max_smoothness_residual: float
    is_smooth: bool


def spontaneous_polarization(
    polarizations: np.ndarray,
    lattices: np.ndarray,
    step_tol: float = 0.25,
    smooth_tol: float = 0.05,
) -> PolarizationPath:
    """Spontaneous polarisation along an interpolated non-polar -> polar path.

    Parameters
    ----------
    polarizations : ndarray, shape (n, 3)
        Raw polarisation of each frame (e/A^2), first frame non-polar, last polar,
        each known only modulo its quantum.
    lattices : ndarray, shape (3, 3) or (n, 3, 3)
        Lattice of every frame (rows = lattice vectors, A), or one for all.
    step_tol : float
        Largest reduced step (in quanta) between consecutive frames accepted as continuous.
    smooth_tol : float
        Largest polynomial-fit residual accepted as smooth, as a fraction of the
        smallest quantum length.

    Returns
    -------
    PolarizationPath
    """
    p = np.asarray(polarizations, dtype=float)
    if p.ndim != 2 or p.shape[1] != 3 or p.shape[0] < 2:
        raise ValueError(f"polarizations must have shape (n >= 2, 3), got {p.shape}")
    n = p.shape[0]
    lats = np.asarray(lattices, dtype=float)
    if lats.shape == (3, 3):
        lats = np.broadcast_to(lats, (n, 3, 3))
    if lats.shape != (n, 3, 3):
        raise ValueError(f"lattices must have shape (3, 3) or ({n}, 3, 3), got {lats.shape}")

    adjusted = p.copy()
    max_step = 0.0
    for i in range(1, n):
        q = polarization_quantum(lats[i])
        c = (adjusted[i] - adjusted[i - 1]) @ np.linalg.inv(q)
        shift = np.round(c)
        adjusted[i] = adjusted[i] - shift @ q
        max_step = max(max_step, float(np.max(np.abs(c - shift))))

    quantum_len = min(float(np.min(np.linalg.norm(polarization_quantum(lat), axis=1))) for lat in lats)
    if n >= 4:
        x = np.linspace(0.0, 1.0, n)
        deg = min(3, n - 2)
        coef = np.polynomial.polynomial.polyfit(x, adjusted, deg)
        fit = np.polynomial.polynomial.polyval(x, coef).T
        resid = float(np.max(np.abs(adjusted - fit)))
    else:
        resid = 0.0
    ps = adjusted[-1] - adjusted[0]
    return PolarizationPath(
        polarization=adjusted,
        polarization_c_per_m2=adjusted * E_PER_A2_TO_C_PER_M2,
        spontaneous=ps,
        spontaneous_c_per_m2=ps * E_PER_A2_TO_C_PER_M2,
        max_step_quanta=max_step,
        is_continuous=bool(max_step <= step_tol),
        max_smoothness_residual=resid,
        is_smooth=bool(resid <= smooth_tol * quantum_len),
    )
