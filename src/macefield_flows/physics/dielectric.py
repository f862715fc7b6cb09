"""Dielectric tensors: electronic (eps_inf), ionic (lattice) and total (eps_0).

Names (see design/method.md section 6): ``electronic`` is eps_inf = I + chi
(atomate2/VASP call it ``epsilon_static``), ``ionic`` the lattice
contribution, ``total`` = electronic + ionic (the static eps_0). emmet-core's
DielectricDoc scalars: ``e_electronic``, ``e_ionic``, ``e_total`` are the
averages of the diagonals (trace / 3) and ``n = sqrt(e_electronic)``.

Ionic part (SI-like units, eps0 in e/(V A)):

    eps_ion[i, j] = 1/(eps0 Omega) sum Z[k, i, a] K+[ka, k'b] Z[k', j, b]
                  = 1/(eps0 Omega) sum_m Z_m[i] Z_m[j] / lambda_m

with K+ the pseudo-inverse of the force constants on the space orthogonal to
translations, ``lambda_m`` the optical eigenvalues of D = M^-1/2 K M^-1/2 and
``Z_m`` the mode effective charges. Both forms agree when the Born charges
satisfy the acoustic sum rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from macefield_flows.physics.born import asr_residual, check_born_charges
from macefield_flows.physics.phonons import (
    acoustic_mode_mask,
    check_force_constants,
    detect_unstable_modes,
    gamma_phonons,
    ir_intensities,
    mode_effective_charges,
    pseudo_inverse_force_constants,
)
from macefield_flows.units import EPS0

__all__ = [
    "DielectricResult",
    "eps_inf_from_chi",
    "epsilon_ionic",
    "epsilon_ionic_from_modes",
    "epsilon_total",
    "poly",
    "refractive_index",
    "dielectric_response",
]


def _check_volume(volume: float) -> float:
    v = float(volume)
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{volume=} A^3, expected a positive cell volume (periodic structure)")
    return v


def eps_inf_from_chi(susceptibility: np.ndarray) -> np.ndarray:
    """Electronic dielectric tensor ``eps_inf = I + chi`` (3, 3), dimensionless."""
    chi = np.asarray(susceptibility, dtype=float)
    if chi.shape != (3, 3):
        raise ValueError(f"susceptibility must have shape (3, 3), got {chi.shape}")
    return np.eye(3) + chi


def epsilon_ionic(
    born_charges: np.ndarray,
    force_constants: np.ndarray,
    volume: float,
    rcond: float = 1e-8,
) -> np.ndarray:
    """Ionic dielectric tensor from the pseudo-inverse of the force constants.

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3)
        ``Z[k, i, a]`` in e (i field, a displacement).
    force_constants : ndarray, shape (3N, 3N)
        eV/A^2.
    volume : float
        Cell volume Omega in A^3.
    rcond : float
        Relative cut-off of `pseudo_inverse_force_constants`.

    Returns
    -------
    ndarray, shape (3, 3)
        ``eps_ion = Z K+ Z^T / (eps0 Omega)``, dimensionless.
    """
    z = check_born_charges(born_charges)
    k = check_force_constants(force_constants)
    if k.shape[0] != 3 * z.shape[0]:
        raise ValueError(f"{z.shape=} and {k.shape=} disagree on the number of atoms")
    k_plus, _ = pseudo_inverse_force_constants(k, rcond)
    zf = z.transpose(1, 0, 2).reshape(3, -1)  # (3, 3N): [i, 3k+a]
    eps = zf @ k_plus @ zf.T / (EPS0 * _check_volume(volume))
    return 0.5 * (eps + eps.T)


def epsilon_ionic_from_modes(
    born_charges: np.ndarray,
    force_constants: np.ndarray,
    masses: np.ndarray,
    volume: float,
    n_acoustic: int = 3,
) -> np.ndarray:
    """Ionic dielectric tensor as a sum over optical modes.

    ``eps_ion = 1/(eps0 Omega) sum_{m optical} Z_m Z_m^T / lambda_m`` with
    ``lambda_m`` in eV/(A^2 amu) and ``Z_m`` in e/sqrt(amu). Acoustic modes are
    found by overlap with translations. Equal to `epsilon_ionic` when the ASR holds.

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3)
    force_constants : ndarray, shape (3N, 3N)
    masses : ndarray, shape (N,)
        amu.
    volume : float
        A^3.
    n_acoustic : int
        Number of acoustic modes excluded from the sum.

    Returns
    -------
    ndarray, shape (3, 3)
    """
    z = check_born_charges(born_charges)
    ph = gamma_phonons(force_constants, masses)
    zm = mode_effective_charges(z, ph.eigenvectors, masses)
    optical = ~acoustic_mode_mask(ph.eigenvectors, masses, n_acoustic)
    contrib = np.einsum("mi,mj->mij", zm[optical], zm[optical]) / ph.eigenvalues[optical][:, None, None]
    return contrib.sum(axis=0) / (EPS0 * _check_volume(volume))


def epsilon_total(electronic: np.ndarray, ionic: np.ndarray) -> np.ndarray:
    """Static dielectric tensor ``eps_0 = eps_inf + eps_ion`` (3, 3)."""
    return np.asarray(electronic, dtype=float) + np.asarray(ionic, dtype=float)


def poly(tensor: np.ndarray) -> float:
    """Polycrystalline (orientational) average ``trace / 3`` of a (3, 3) tensor."""
    t = np.asarray(tensor, dtype=float)
    if t.shape != (3, 3):
        raise ValueError(f"expected shape (3, 3), got {t.shape}")
    return float(np.trace(t) / 3.0)


def refractive_index(electronic: np.ndarray) -> float:
    """Refractive index ``n = sqrt(poly(eps_inf))`` (NaN if the average is negative)."""
    p = poly(electronic)
    return float(np.sqrt(p)) if p >= 0 else float("nan")


@dataclass(frozen=True)
class DielectricResult:
    """Dielectric response of one structure.

    Attributes
    ----------
    electronic : ndarray (3, 3)
        eps_inf = I + chi (VASP/atomate2 ``epsilon_static``), dimensionless.
    ionic : ndarray (3, 3)
        Lattice contribution (``epsilon_ionic``).
    total : ndarray (3, 3)
        eps_0 = electronic + ionic.
    e_electronic, e_ionic, e_total : float
        trace / 3 of the tensors above (emmet-core DielectricDoc scalars).
    n : float
        Refractive index sqrt(e_electronic).
    has_imaginary_modes : bool
        True when an optical mode has ``nu < -tol_thz`` (acoustic modes, found
        by overlap with translations, are ignored).
    ionic_reliable : bool
        False when imaginary optical modes exist (the structure is not a
        minimum; ``ionic`` and ``total`` are then not physical).
    frequencies : ndarray (3N,)
        Gamma frequencies in THz (imaginary negative), ascending.
    ir_intensities : ndarray (3N,)
        e^2/amu per mode, same order as ``frequencies``.
    unstable_modes : ndarray of int
        Indices of the imaginary optical modes.
    asr_residual : float
        max |sum_k Z[k]| of the Born charges used (e).
    """

    electronic: np.ndarray
    ionic: np.ndarray
    total: np.ndarray
    e_electronic: float
    e_ionic: float
    e_total: float
    n: float
    has_imaginary_modes: bool
    ionic_reliable: bool
    frequencies: np.ndarray
    ir_intensities: np.ndarray
    unstable_modes: np.ndarray
    asr_residual: float


def dielectric_response(
    born_charges: np.ndarray,
    susceptibility: np.ndarray,
    force_constants: np.ndarray,
    masses: np.ndarray,
    volume: float,
    tol_thz: float = 0.1,
    rcond: float = 1e-8,
) -> DielectricResult:
    """Assemble electronic, ionic and total dielectric tensors with phonon diagnostics.

    Parameters
    ----------
    born_charges : ndarray, shape (N, 3, 3)
        e (i field, j displacement); used as given (apply `enforce_asr` /
        symmetrisation beforehand if wanted).
    susceptibility : ndarray, shape (3, 3)
        chi, dimensionless.
    force_constants : ndarray, shape (3N, 3N)
        eV/A^2.
    masses : ndarray, shape (N,)
        amu.
    volume : float
        A^3.
    tol_thz : float
        Imaginary frequencies with ``|nu| <= tol_thz`` are treated as noise.
    rcond : float
        Relative cut-off of the pseudo-inverse.

    Returns
    -------
    DielectricResult
    """
    z = check_born_charges(born_charges)
    k = check_force_constants(force_constants)
    if k.shape[0] != 3 * z.shape[0]:
        raise ValueError(f"{z.shape=} and {k.shape=} disagree on the number of atoms")
    electronic = eps_inf_from_chi(susceptibility)
    ph = gamma_phonons(k, masses)
    unstable = detect_unstable_modes(
        ph.frequencies, tol_thz=tol_thz, eigenvectors=ph.eigenvectors, masses=masses
    )
    k_plus, _ = pseudo_inverse_force_constants(k, rcond)
    zf = z.transpose(1, 0, 2).reshape(3, -1)
    ionic = zf @ k_plus @ zf.T / (EPS0 * _check_volume(volume))
    ionic = 0.5 * (ionic + ionic.T)
    total = epsilon_total(electronic, ionic)
    has_imag = bool(len(unstable) > 0)
    intens = ir_intensities(mode_effective_charges(z, ph.eigenvectors, masses))
    return DielectricResult(
        electronic=electronic,
        ionic=ionic,
        total=total,
        e_electronic=poly(electronic),
        e_ionic=poly(ionic),
        e_total=poly(total),
        n=refractive_index(electronic),
        has_imaginary_modes=has_imag,
        ionic_reliable=not has_imag,
        frequencies=ph.frequencies,
        ir_intensities=intens,
        unstable_modes=unstable,
        asr_residual=asr_residual(z),
    )
