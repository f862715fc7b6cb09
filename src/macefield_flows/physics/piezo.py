"""Piezoelectric and elastic tensors from mixed derivatives of the electric enthalpy.

Stored tensor: the **proper** (DFPT) piezoelectric stress tensor
----------------------------------------------------------------
The clamped-ion part is ``e0[i, jk] = (1/Omega) d dipole_i / d eta_jk`` with
the atoms following the homogeneous strain (fixed reduced coordinates).
For a dipole built from local, environment-dependent contributions (as
``-dF/dE`` of MACE-Field, periodic and independent of the absolute atomic
positions) this is the proper tensor that DFPT (VASP LEPSILON/LCALCEPS,
abinit) reports. For a dipole of the form ``sum_k q_k R_k`` (point charges,
Berry phase ``sum_alpha phi_alpha a_alpha / 2 pi``), the lattice vectors
carried along by the strain add ``sym(delta_ij P_k)``; pass the polarisation
``P`` to `clamped_ion_piezo` to remove it. (The improper tensor dP_i/d eta_jk
differs from the proper one by ``delta_jk P_i - delta_ij P_k``; it is never
stored.) Both definitions coincide for non-polar crystals.

Formulas (internal units e, A, eV; eps0 not needed)::

    e_ion[i, jl]   = (1/Omega) sum Z[k, i, a] K+[ka, k'b] Lambda[k', b, j, l]
    e              = e0 + e_ion                               (e/A^2 -> C/m^2)
    C0[ij, kl]     = (1/Omega) d2F / d eta_ij d eta_kl        (eV/A^3 -> GPa)
    C[ij, kl]      = C0 - (1/Omega) sum Lambda[k,a,ij] K+[ka,k'b] Lambda[k',b,kl]
    d              = e S,  S = C^-1 in 6x6 Voigt              (pC/N)

``Lambda[k, b, j, l] = d Force_kb / d eta_jl`` (eV/A) is the internal-strain
(force-response) tensor. Voigt order xx, yy, zz, yz, xz, xy; e[i, J] carries
no factor 2, C is the standard Voigt matrix and d multiplies the engineering
shear strain, so ``d = e C^-1`` is plain matrix algebra.

Maximum piezoelectric modulus, two definitions (both stored):

* ``e_ij_max_singular``: largest singular value of the 3x6 Voigt matrix in
  C/m^2 *in the frame it is given in*. The plain Voigt matrix is not an
  orthonormal representation, so this value depends on the frame.
  emmet-core's ``PiezoelectricDoc.e_ij_max`` is this value after converting
  the tensor to the IEEE frame of the structure: `emmet_piezo_maximum` computes
  it (with ``max_direction`` and ``strain_for_max``) exactly as emmet does, and
  is what documents store under emmet's names.
  ``e_ij_max_mandel`` is the same with the shear columns scaled by sqrt(2)
  (Mandel notation), which is rotation invariant.
* ``e_ij_max_longitudinal``: de Jong et al. (Sci. Data 2, 150053 (2015))
  maximum longitudinal response ``max_n sum_ijk n_i n_j n_k e_ijk`` over unit
  vectors n (rotation invariant), found by dense sampling of the sphere and
  local refinement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from macefield_flows.physics.born import check_born_charges
from macefield_flows.physics.phonons import check_force_constants, pseudo_inverse_force_constants
from macefield_flows.units import (
    C_PER_M2_PER_GPA_TO_PC_PER_N,
    E_PER_A2_TO_C_PER_M2,
    EV_PER_A3_TO_GPA,
    rank3_to_voigt,
    rank4_to_voigt,
    voigt_to_rank3,
)

__all__ = [
    "PiezoResult",
    "clamped_ion_piezo",
    "ionic_piezo",
    "piezo_to_voigt",
    "clamped_ion_elastic",
    "relaxed_ion_elastic",
    "elastic_to_voigt",
    "piezo_strain_tensor",
    "e_ij_max_singular",
    "emmet_piezo_maximum",
    "e_ij_max_longitudinal",
    "piezo_response",
]


def _sym_jl(t: np.ndarray) -> np.ndarray:
    return 0.5 * (t + np.swapaxes(t, -1, -2))


def _volume(volume: float) -> float:
    v = float(volume)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{volume=} A^3, expected a positive cell volume")
    return v


def clamped_ion_piezo(
    dipole_strain_derivative: np.ndarray, volume: float, polarization: np.ndarray | None = None
) -> np.ndarray:
    """Clamped-ion (proper) piezoelectric tensor ``e0[i, j, k]`` in e/A^2.

    Parameters
    ----------
    dipole_strain_derivative : ndarray, shape (3, 3, 3)
        ``d dipole_i / d eta_jk`` (e A), atoms following the strain;
        symmetrised in (j, k).
    volume : float
        Omega in A^3.
    polarization : ndarray, shape (3,), optional
        e/A^2. Only for dipoles of point-charge form ``sum_k q_k R_k``: removes
        the lattice term ``(delta_ij P_k + delta_ik P_j) / 2``. Leave None for
        MACE-Field dipoles.

    Returns
    -------
    ndarray, shape (3, 3, 3)
        e/A^2 (multiply by ``units.E_PER_A2_TO_C_PER_M2`` for C/m^2).
    """
    dd = np.asarray(dipole_strain_derivative, dtype=float)
    if dd.shape != (3, 3, 3):
        raise ValueError(f"dipole_strain_derivative must have shape (3, 3, 3), got {dd.shape}")
    e0 = _sym_jl(dd) / _volume(volume)
    if polarization is not None:
        p = np.asarray(polarization, dtype=float).reshape(3)
        term = np.einsum("ij,k->ijk", np.eye(3), p)
        e0 = e0 - _sym_jl(term)
    return e0


def _check_lambda(internal_strain: np.ndarray, n_atoms: int) -> np.ndarray:
    lam = np.asarray(internal_strain, dtype=float)
    if lam.shape != (n_atoms, 3, 3, 3):
        raise ValueError(f"internal_strain must have shape ({n_atoms}, 3, 3, 3), got {lam.shape}")
    return _sym_jl(lam)


def ionic_piezo(
    born_charges: np.ndarray,
    force_constants: np.ndarray,
    internal_strain: np.ndarray,
    volume: float,
    rcond: float = 1e-8,
) -> np.ndarray:
    """Ionic (relaxed-ion) piezoelectric contribution ``e_ion[i, j, l]`` in e/A^2.

    ``e_ion = (1/Omega) sum Z[k, i, a] K+[ka, k'b] Lambda[k', b, j, l]``.

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3)
        e.
    force_constants : ndarray, shape (3N, 3N)
        eV/A^2.
    internal_strain : ndarray, shape (N, 3, 3, 3)
        ``Lambda[k, b, j, l] = d Force_kb / d eta_jl`` (eV/A).
    volume : float
        A^3.
    rcond : float
        Relative cut-off of the pseudo-inverse.

    Returns
    -------
    ndarray, shape (3, 3, 3)
    """
    z = check_born_charges(born_charges)
    k = check_force_constants(force_constants)
    n = z.shape[0]
    if k.shape[0] != 3 * n:
        raise ValueError(f"{z.shape=} and {k.shape=} disagree on the number of atoms")
    lam = _check_lambda(internal_strain, n).reshape(3 * n, 9)
    k_plus, _ = pseudo_inverse_force_constants(k, rcond)
    zf = z.transpose(1, 0, 2).reshape(3, 3 * n)
    return (zf @ k_plus @ lam).reshape(3, 3, 3) / _volume(volume)


def piezo_to_voigt(e: np.ndarray) -> np.ndarray:
    """Rank-3 piezo tensor in e/A^2 -> 3x6 Voigt in C/m^2 (no factor 2)."""
    return rank3_to_voigt(_sym_jl(np.asarray(e, dtype=float))) * E_PER_A2_TO_C_PER_M2


def clamped_ion_elastic(strain_hessian: np.ndarray, volume: float) -> np.ndarray:
    """Clamped-ion elastic tensor ``C0 = (1/Omega) d2F/d eta d eta`` (3,3,3,3) in eV/A^3."""
    h = np.asarray(strain_hessian, dtype=float)
    if h.shape != (3, 3, 3, 3):
        raise ValueError(f"strain_hessian must have shape (3, 3, 3, 3), got {h.shape}")
    return h / _volume(volume)


def relaxed_ion_elastic(
    strain_hessian: np.ndarray,
    force_constants: np.ndarray,
    internal_strain: np.ndarray,
    volume: float,
    rcond: float = 1e-8,
) -> np.ndarray:
    """Relaxed-ion elastic tensor ``C = C0 - Lambda^T K+ Lambda / Omega`` (3,3,3,3), eV/A^3."""
    c0 = clamped_ion_elastic(strain_hessian, volume)
    k = check_force_constants(force_constants)
    n = k.shape[0] // 3
    lam = _check_lambda(internal_strain, n).reshape(3 * n, 9)
    k_plus, _ = pseudo_inverse_force_constants(k, rcond)
    return c0 - (lam.T @ k_plus @ lam).reshape(3, 3, 3, 3) / _volume(volume)


def elastic_to_voigt(c: np.ndarray) -> np.ndarray:
    """Rank-4 elastic tensor in eV/A^3 -> 6x6 Voigt in GPa."""
    return rank4_to_voigt(np.asarray(c, dtype=float)) * EV_PER_A3_TO_GPA


def piezo_strain_tensor(e_voigt: np.ndarray, c_voigt: np.ndarray) -> np.ndarray:
    """Piezoelectric strain tensor ``d = e C^-1`` (3x6 Voigt, pC/N).

    Parameters
    ----------
    e_voigt : ndarray, shape (3, 6)
        C/m^2 (no factor 2).
    c_voigt : ndarray, shape (6, 6)
        GPa, standard Voigt.

    Returns
    -------
    ndarray, shape (3, 6)
        pC/N; ``d[i, J]`` relates field to engineering strain. NaN when C is singular.
    """
    e = np.asarray(e_voigt, dtype=float)
    c = np.asarray(c_voigt, dtype=float)
    if e.shape != (3, 6) or c.shape != (6, 6):
        raise ValueError(f"expected e (3, 6) and C (6, 6), got {e.shape=}, {c.shape=}")
    try:
        d = np.linalg.solve(c.T, e.T).T
    except np.linalg.LinAlgError:
        return np.full((3, 6), np.nan)
    return d * C_PER_M2_PER_GPA_TO_PC_PER_N


def e_ij_max_singular(e_voigt: np.ndarray, mandel: bool = False) -> tuple[float, np.ndarray, np.ndarray]:
    """Largest singular value of the 3x6 Voigt piezo tensor in the frame it is given in.

    emmet-core's ``e_ij_max`` is this value in the IEEE frame: see `emmet_piezo_maximum`.

    Parameters
    ----------
    e_voigt : ndarray, shape (3, 6)
        Piezo tensor, any unit (C/m^2 for emmet compatibility).
    mandel : bool
        Scale the shear columns by sqrt(2) first (rotation-invariant variant).

    Returns
    -------
    value : float
    direction : ndarray (3,)
        Left singular vector (field direction of maximum response).
    strain : ndarray (6,)
        Right singular vector (Mandel components if ``mandel``), in the given frame.
    """
    e = np.asarray(e_voigt, dtype=float)
    if e.shape != (3, 6):
        raise ValueError(f"expected shape (3, 6), got {e.shape}")
    if mandel:
        e = e * np.array([1, 1, 1, np.sqrt(2), np.sqrt(2), np.sqrt(2)])
    u, s, vt = np.linalg.svd(e, full_matrices=False)
    return float(s[0]), u[:, 0], vt[0]


MAX_PIEZO_MILLER = 10
"""emmet-core's ``SETTINGS.MAX_PIEZO_MILLER``: largest Miller index of ``max_direction``."""


def emmet_piezo_maximum(e_voigt: np.ndarray, structure: Any) -> tuple[float, list[int], list[float]]:
    """``e_ij_max``, ``max_direction``, ``strain_for_max`` as emmet-core's ``PiezoelectricDoc`` computes them.

    The tensor is converted to the IEEE frame of ``structure`` (pymatgen's
    ``convert_to_ieee``, as emmet does) before the singular value decomposition
    ``U S V^T`` of its 3x6 Voigt matrix. emmet's conventions are kept as they are:
    ``max_direction`` is the first *row* of ``U`` scaled to integers (components
    below 1/MAX_PIEZO_MILLER of the largest ignored for the scale) and
    ``strain_for_max`` the first row of ``V^T``.

    Parameters
    ----------
    e_voigt : ndarray, shape (3, 6)
        Total piezo tensor in the structure's Cartesian frame, Voigt order
        (xx, yy, zz, yz, xz, xy), C/m^2.
    structure : pymatgen Structure the tensor refers to.

    Raises
    ------
    ValueError
        pymatgen cannot find the IEEE frame of ``structure``.

    Returns
    -------
    e_ij_max : float
        C/m^2 (frame independent: the IEEE frame is fixed by the crystal).
    max_direction : list of 3 int
    strain_for_max : list of 6 float
    """
    from pymatgen.analysis.piezo import PiezoTensor

    e = np.asarray(e_voigt, dtype=float)
    if e.shape != (3, 6):
        raise ValueError(f"expected shape (3, 6), got {e.shape}")
    try:
        ieee = PiezoTensor.from_voigt(e).convert_to_ieee(structure)
    except StopIteration as exc:  # pymatgen finds no IEEE axes (e.g. a slightly rattled hexagonal cell)
        raise ValueError(f"{structure.composition.reduced_formula}: pymatgen finds no IEEE frame for this "
                         "structure (emmet-core cannot build a PiezoelectricDoc for it either)") from exc
    u, s, vt = np.linalg.svd(np.asarray(ieee.voigt, dtype=float), full_matrices=False)
    i = int(np.argmax(np.abs(s)))
    direction = u[i]
    size = np.abs(direction)
    scale = float(np.min(size[size > np.max(size) / MAX_PIEZO_MILLER]))
    return float(s[i]), [int(x) for x in np.round(direction / scale)], [float(x) for x in vt[i]]


def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def e_ij_max_longitudinal(e: np.ndarray, n_samples: int = 2000, n_refine: int = 5) -> tuple[float, np.ndarray]:
    """Maximum longitudinal piezo response ``max_|n|=1 sum n_i n_j n_k e_ijk``.

    Parameters
    ----------
    e : ndarray, shape (3, 3, 3) or (3, 6)
        Piezo tensor (rank 3, or 3x6 Voigt without factor 2), any unit.
    n_samples : int
        Points of the Fibonacci sphere sampled before refinement.
    n_refine : int
        Number of best samples refined by BFGS.

    Returns
    -------
    value : float
        Maximum (>= 0 since e_l(-n) = -e_l(n)), same unit as ``e``.
    direction : ndarray (3,)
        Unit vector of the maximum.
    """
    t = np.asarray(e, dtype=float)
    if t.shape == (3, 6):
        t = voigt_to_rank3(t)
    if t.shape != (3, 3, 3):
        raise ValueError(f"expected shape (3, 3, 3) or (3, 6), got {t.shape}")
    t = _sym_jl(t)
    # the longitudinal response only sees the fully symmetric part
    t = (t + t.transpose(1, 0, 2) + t.transpose(2, 1, 0)) / 3.0

    def value(x: np.ndarray) -> float:
        n = x / np.linalg.norm(x)
        return float(np.einsum("ijk,i,j,k->", t, n, n, n))

    def neg_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        r = np.linalg.norm(x)
        n = x / r
        v = np.einsum("ijk,i,j,k->", t, n, n, n)
        g_n = 3.0 * np.einsum("ijk,j,k->i", t, n, n)
        g_x = (g_n - n * (n @ g_n)) / r
        return -float(v), -g_x

    pts = _fibonacci_sphere(max(int(n_samples), 10))
    vals = np.einsum("ijk,ni,nj,nk->n", t, pts, pts, pts)
    best_val, best_n = float(vals.max()), pts[int(np.argmax(vals))]
    for idx in np.argsort(-vals)[: max(int(n_refine), 0)]:
        res = minimize(neg_and_grad, pts[idx], jac=True, method="BFGS", options={"gtol": 1e-12})
        if -res.fun > best_val:
            best_val, best_n = float(-res.fun), res.x / np.linalg.norm(res.x)
    return max(best_val, 0.0), best_n


@dataclass(frozen=True)
class PiezoResult:
    """Piezoelectric and elastic response (all Voigt, proper piezo tensor).

    Attributes
    ----------
    clamped_ion, ionic, total : ndarray (3, 6)
        Piezo stress tensor in C/m^2. ``clamped_ion`` is emmet-core's /
        VASP's "electronic" contribution.
    clamped_ion_elastic, relaxed_ion_elastic : ndarray (6, 6)
        Elastic tensors in GPa.
    d_strain : ndarray (3, 6)
        Relaxed-ion piezo strain tensor ``total @ inv(relaxed_ion_elastic)`` in pC/N.
    e_ij_max_singular : float
        Largest singular value of ``total`` in the structure's frame, C/m^2
        (frame-dependent; emmet's ``e_ij_max`` is the IEEE-frame value: `emmet_piezo_maximum`).
    e_ij_max_mandel : float
        Rotation-invariant singular value (Mandel shear scaling), C/m^2.
    e_ij_max_longitudinal : float
        de Jong maximum longitudinal response, C/m^2.
    max_direction_longitudinal : ndarray (3,)
        Unit vector of the longitudinal maximum.
    strain_for_max_singular : ndarray (6,)
        Right singular vector of ``total`` in the structure's frame (emmet's
        ``strain_for_max`` is taken in the IEEE frame: `emmet_piezo_maximum`).
    has_imaginary_modes : bool
        True when the restricted force constants have negative eigenvalues.
    elastically_stable : bool
        True when the relaxed-ion Voigt C is positive definite.
    """

    clamped_ion: np.ndarray
    ionic: np.ndarray
    total: np.ndarray
    clamped_ion_elastic: np.ndarray
    relaxed_ion_elastic: np.ndarray
    d_strain: np.ndarray
    e_ij_max_singular: float
    e_ij_max_mandel: float
    e_ij_max_longitudinal: float
    max_direction_longitudinal: np.ndarray
    strain_for_max_singular: np.ndarray
    has_imaginary_modes: bool
    elastically_stable: bool


def piezo_response(
    born_charges: np.ndarray,
    force_constants: np.ndarray,
    dipole_strain_derivative: np.ndarray,
    internal_strain: np.ndarray,
    strain_hessian: np.ndarray,
    volume: float,
    rcond: float = 1e-8,
    polarization: np.ndarray | None = None,
) -> PiezoResult:
    """Assemble clamped-ion, ionic and total piezo tensors, elastic tensors and moduli.

    Parameters are those of `clamped_ion_piezo`, `ionic_piezo` and
    `relaxed_ion_elastic` (internal units). Returns a `PiezoResult` in C/m^2,
    GPa and pC/N.
    """
    v = _volume(volume)
    e0 = clamped_ion_piezo(dipole_strain_derivative, v, polarization)
    e_ion = ionic_piezo(born_charges, force_constants, internal_strain, v, rcond)
    _, has_neg = pseudo_inverse_force_constants(force_constants, rcond)
    c0 = elastic_to_voigt(clamped_ion_elastic(strain_hessian, v))
    c = elastic_to_voigt(relaxed_ion_elastic(strain_hessian, force_constants, internal_strain, v, rcond))
    total = piezo_to_voigt(e0 + e_ion)
    s_val, _, strain = e_ij_max_singular(total)
    m_val, _, _ = e_ij_max_singular(total, mandel=True)
    l_val, l_dir = e_ij_max_longitudinal(total)
    c_sym = 0.5 * (c + c.T)
    return PiezoResult(
        clamped_ion=piezo_to_voigt(e0),
        ionic=piezo_to_voigt(e_ion),
        total=total,
        clamped_ion_elastic=c0,
        relaxed_ion_elastic=c,
        d_strain=piezo_strain_tensor(total, c),
        e_ij_max_singular=s_val,
        e_ij_max_mandel=m_val,
        e_ij_max_longitudinal=l_val,
        max_direction_longitudinal=l_dir,
        strain_for_max_singular=strain,
        has_imaginary_modes=has_neg,
        elastically_stable=bool(np.all(np.linalg.eigvalsh(c_sym) > 0)),
    )
