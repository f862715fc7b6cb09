"""Gamma-point phonons from force constants; pseudo-inverse on the optical subspace.

Conventions
-----------
* ``K`` (3N, 3N) in eV/A^2, ``K[3k+a, 3k'+b] = d2F / dR_ka dR_k'b``.
* Masses in amu. Dynamical matrix ``D = M^-1/2 K M^-1/2`` (eV / (A^2 amu)).
* Frequencies ``nu`` in THz (not angular); imaginary modes are returned as
  negative numbers ``-sqrt(|lambda|)``.
* Eigenvectors ``e_m`` (columns, 3N) are the orthonormal eigenvectors of D;
  eigen-displacements ``u_m[ka] = e_m[ka] / sqrt(M_k)`` (A sqrt(amu)^-1 per unit
  normal coordinate).
* Mode effective charges ``Z_m[i] = sum_ka Z[k, i, a] e_m[ka] / sqrt(M_k)``
  (e / sqrt(amu)); IR intensities ``I_m = sum_i Z_m[i]^2`` (e^2 / amu).
* Acoustic modes are identified by their overlap with the mass-weighted rigid
  translations, not by their position in the spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from macefield_flows.units import EV_PER_A2_AMU_TO_THZ2

__all__ = [
    "GammaPhonons",
    "check_force_constants",
    "translation_basis",
    "translational_projector",
    "symmetrize_force_constants",
    "project_force_constants",
    "gamma_phonons",
    "acoustic_mode_mask",
    "detect_unstable_modes",
    "pseudo_inverse_force_constants",
    "mode_effective_charges",
    "ir_intensities",
]


@dataclass(frozen=True)
class GammaPhonons:
    """Gamma-point phonons.

    Attributes
    ----------
    frequencies : ndarray, shape (3N,)
        THz, ascending, imaginary modes negative.
    eigenvalues : ndarray, shape (3N,)
        Eigenvalues of D in eV / (A^2 amu).
    eigenvectors : ndarray, shape (3N, 3N)
        Orthonormal eigenvectors of D as columns (``eigenvectors[:, m]``).
    displacements : ndarray, shape (3N, 3N)
        Eigen-displacements ``e_m / sqrt(M)`` as columns (A per normal coordinate).
    acoustic : ndarray of bool, shape (3N,)
        Mask of the three modes with the largest overlap with translations.
    """

    frequencies: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    displacements: np.ndarray
    acoustic: np.ndarray


def check_force_constants(force_constants: np.ndarray) -> np.ndarray:
    """Return ``K`` as a float (3N, 3N) array or raise ValueError."""
    k = np.asarray(force_constants, dtype=float)
    if k.ndim == 4 and k.shape[1] == 3 and k.shape[3] == 3 and k.shape[0] == k.shape[2]:
        k = k.reshape(3 * k.shape[0], 3 * k.shape[0])  # (N, 3, N, 3) layout
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] % 3 != 0 or k.shape[0] == 0:
        raise ValueError(f"force constants must have shape (3N, 3N), got {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("force constants contain non-finite values")
    return k


def _check_masses(masses: np.ndarray, n_atoms: int) -> np.ndarray:
    m = np.asarray(masses, dtype=float)
    if m.shape != (n_atoms,) or np.any(m <= 0):
        raise ValueError(f"masses must be positive with shape ({n_atoms},), got {m.shape}: {m}")
    return m


def translation_basis(n_atoms: int, masses: np.ndarray | None = None) -> np.ndarray:
    """Orthonormal basis (3N, 3) of rigid translations.

    Without masses: ``t_a[3k+b] = delta_ab / sqrt(N)`` (Cartesian space of K).
    With masses: the mass-weighted translations ``sqrt(M_k) delta_ab / sqrt(sum M)``
    (space of the dynamical matrix).
    """
    w = np.ones(n_atoms) if masses is None else np.sqrt(_check_masses(masses, n_atoms))
    t = np.zeros((3 * n_atoms, 3))
    for a in range(3):
        t[a::3, a] = w
    return t / np.linalg.norm(w)


def translational_projector(n_atoms: int) -> np.ndarray:
    """Projector (3N, 3N) onto the space orthogonal to rigid translations, ``I - T T^T``."""
    t = translation_basis(n_atoms)
    return np.eye(3 * n_atoms) - t @ t.T


def symmetrize_force_constants(force_constants: np.ndarray) -> np.ndarray:
    """Index symmetrisation ``(K + K^T) / 2`` (new array)."""
    k = check_force_constants(force_constants)
    return 0.5 * (k + k.T)


def project_force_constants(force_constants: np.ndarray) -> np.ndarray:
    """Symmetrise ``K`` and project out rigid translations: ``P (K + K^T)/2 P``."""
    k = symmetrize_force_constants(force_constants)
    p = translational_projector(k.shape[0] // 3)
    return p @ k @ p


def gamma_phonons(force_constants: np.ndarray, masses: np.ndarray) -> GammaPhonons:
    """Diagonalise the Gamma-point dynamical matrix.

    Parameters
    ----------
    force_constants : ndarray, shape (3N, 3N)
        eV/A^2; symmetrised internally (translations are *not* projected so
        that a violation of translation invariance stays visible).
    masses : ndarray, shape (N,)
        amu.

    Returns
    -------
    GammaPhonons
    """
    k = symmetrize_force_constants(force_constants)
    n = k.shape[0] // 3
    m = _check_masses(masses, n)
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(m), 3)
    d = inv_sqrt_m[:, None] * k * inv_sqrt_m[None, :]
    lam, vec = np.linalg.eigh(d)
    nu2 = lam * EV_PER_A2_AMU_TO_THZ2
    freqs = np.sign(nu2) * np.sqrt(np.abs(nu2))
    disp = inv_sqrt_m[:, None] * vec
    return GammaPhonons(
        frequencies=freqs,
        eigenvalues=lam,
        eigenvectors=vec,
        displacements=disp,
        acoustic=acoustic_mode_mask(vec, m),
    )


def acoustic_mode_mask(eigenvectors: np.ndarray, masses: np.ndarray, n_acoustic: int = 3) -> np.ndarray:
    """Boolean mask of the ``n_acoustic`` modes with largest overlap with translations.

    The overlap of mode m is ``sum_a (t_a . e_m)^2`` with ``t_a`` the orthonormal
    mass-weighted translations.
    """
    vec = np.asarray(eigenvectors, dtype=float)
    t = translation_basis(vec.shape[0] // 3, masses)
    overlap = np.sum((t.T @ vec) ** 2, axis=0)
    mask = np.zeros(vec.shape[1], dtype=bool)
    mask[np.argsort(-overlap, kind="stable")[:n_acoustic]] = True
    return mask


def detect_unstable_modes(
    frequencies: np.ndarray,
    tol_thz: float = 0.1,
    n_acoustic: int = 3,
    eigenvectors: np.ndarray | None = None,
    masses: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of unstable (imaginary, ``nu < -tol_thz``) optical modes.

    Parameters
    ----------
    frequencies : ndarray, shape (3N,)
        THz, imaginary as negative.
    tol_thz : float
        Modes with ``nu >= -tol_thz`` count as stable (numerical noise).
    n_acoustic : int
        Number of acoustic modes to exclude.
    eigenvectors, masses : optional
        When given, acoustic modes are those overlapping most with the
        translations (`acoustic_mode_mask`); otherwise the ``n_acoustic``
        modes of smallest ``|nu|`` are excluded.

    Returns
    -------
    ndarray of int
        Indices (into ``frequencies``) of the unstable optical modes.
    """
    f = np.asarray(frequencies, dtype=float)
    if eigenvectors is not None and masses is not None:
        acoustic = acoustic_mode_mask(eigenvectors, masses, n_acoustic)
    else:
        acoustic = np.zeros(f.shape, dtype=bool)
        acoustic[np.argsort(np.abs(f), kind="stable")[:n_acoustic]] = True
    return np.flatnonzero((f < -abs(tol_thz)) & ~acoustic)


def pseudo_inverse_force_constants(
    force_constants: np.ndarray, rcond: float = 1e-8, negative_tol: float = 1e-6
) -> tuple[np.ndarray, bool]:
    """Pseudo-inverse ``K+`` of the force constants on the space orthogonal to translations.

    ``K`` is symmetrised, restricted to an orthonormal basis ``B`` (3N, 3N-3) of
    the complement of the rigid translations, inverted there (eigenvalues with
    ``|lambda| <= rcond * max|lambda|`` dropped) and mapped back:
    ``K+ = B (B^T K B)^+ B^T``.

    Parameters
    ----------
    force_constants : ndarray, shape (3N, 3N)
        eV/A^2.
    rcond : float
        Relative cut-off of small eigenvalues.
    negative_tol : float
        Relative tolerance of the negative-eigenvalue flag: an eigenvalue
        ``< -negative_tol * max|lambda|`` sets ``has_negative``.

    Returns
    -------
    k_plus : ndarray, shape (3N, 3N)
        A^2/eV; ``K+ t = 0`` for every translation ``t``.
    has_negative : bool
        True when the restricted K has an eigenvalue ``< -negative_tol * max|lambda|``
        (the structure is not a minimum; responses built with K+ are unphysical).
    """
    k = symmetrize_force_constants(force_constants)
    n3 = k.shape[0]
    if n3 == 3:  # a single atom: no optical space
        return np.zeros((3, 3)), False
    t = translation_basis(n3 // 3)
    # complement basis from the full QR of T
    q, _ = np.linalg.qr(t, mode="complete")
    b = q[:, 3:]
    lam, v = np.linalg.eigh(b.T @ k @ b)
    cut = rcond * max(float(np.max(np.abs(lam))), np.finfo(float).tiny)
    keep = np.abs(lam) > cut
    inv = np.zeros_like(lam)
    inv[keep] = 1.0 / lam[keep]
    k_plus = b @ (v * inv) @ v.T @ b.T
    scale = float(np.max(np.abs(lam))) if lam.size else 0.0
    return 0.5 * (k_plus + k_plus.T), bool(np.any(lam < -negative_tol * scale))


def mode_effective_charges(
    born_charges: np.ndarray, eigenvectors: np.ndarray, masses: np.ndarray
) -> np.ndarray:
    """Mode effective charges ``Z_m[i] = sum_ka Z[k, i, a] e_m[ka] / sqrt(M_k)``.

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3)
        e.
    eigenvectors : ndarray, shape (3N, n_modes)
        Orthonormal eigenvectors of D as columns.
    masses : ndarray, shape (N,)
        amu.

    Returns
    -------
    ndarray, shape (n_modes, 3)
        e / sqrt(amu).
    """
    z = np.asarray(born_charges, dtype=float)
    n = z.shape[0]
    m = _check_masses(masses, n)
    vec = np.asarray(eigenvectors, dtype=float)
    if vec.shape[0] != 3 * n:
        raise ValueError(f"{vec.shape=} does not match {n} atoms")
    disp = vec.reshape(n, 3, -1) / np.sqrt(m)[:, None, None]
    return np.einsum("kia,kam->mi", z, disp)


def ir_intensities(mode_charges: np.ndarray) -> np.ndarray:
    """IR intensities ``I_m = sum_i |Z_m[i]|^2`` (e^2/amu) from mode charges (n_modes, 3)."""
    zm = np.asarray(mode_charges, dtype=float)
    return np.sum(zm**2, axis=-1)
