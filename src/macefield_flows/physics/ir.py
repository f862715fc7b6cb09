"""Infrared absorption spectrum from Gamma modes and Born charges (numpy only).

For a TO mode m with mass-weighted eigenvector ``e_m`` (3N, orthonormal) the mode
effective charge is ``Z_m[i] = sum_ka Z*[k, i, a] e_m[ka] / sqrt(M_k)`` (e/sqrt(amu))
and its IR intensity ``I_m = sum_i Z_m[i]^2`` (e^2/amu), as in
:mod:`macefield_flows.physics.phonons`. The broadened spectrum is
``A(nu) = sum_m I_m L(nu - nu_m)`` with area-normalised Lorentzians of full width
``fwhm`` (cm^-1), so ``A`` is in e^2/amu per cm^-1 and integrates to ``sum_m I_m``
(acoustic and imaginary modes excluded).
"""

from __future__ import annotations

import numpy as np

from macefield_flows.units import THZ_TO_CM1


def mode_intensities(born: np.ndarray, eigenvectors: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """IR intensities (e^2/amu) of modes given as mass-weighted eigenvectors.

    Parameters
    ----------
    born : (N, 3, 3) Z*[k, field i, displacement a], e.
    eigenvectors : (3N, n_modes) orthonormal eigenvectors of the dynamical matrix (columns).
    masses : (N,) amu.
    """
    born = np.asarray(born, dtype=float)
    n = born.shape[0]
    e = np.asarray(eigenvectors).reshape(n, 3, -1) / np.sqrt(np.asarray(masses, float))[:, None, None]
    zm = np.einsum("kia,kam->mi", born, e)
    return np.sum(np.abs(zm) ** 2, axis=1)


def broadened_spectrum(
    frequencies_thz: np.ndarray,
    intensities: np.ndarray,
    fwhm_cm1: float = 10.0,
    wavenumbers_cm1: np.ndarray | None = None,
    min_frequency_thz: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """Lorentzian-broadened IR absorption.

    Parameters
    ----------
    frequencies_thz, intensities : (n_modes,) THz and e^2/amu.
    fwhm_cm1 : full width at half maximum, cm^-1 (> 0).
    wavenumbers_cm1 : grid (default 0 .. 1.2 x highest mode + 10 fwhm, 2000 points).
    min_frequency_thz : modes below this (acoustic, imaginary) are left out.

    Returns
    -------
    wavenumbers_cm1 (n_grid,), absorbance (n_grid,) in e^2/amu per cm^-1.
    """
    if fwhm_cm1 <= 0:
        raise ValueError(f"{fwhm_cm1=}, expected > 0")
    nu = np.asarray(frequencies_thz, dtype=float) * THZ_TO_CM1
    inten = np.asarray(intensities, dtype=float)
    keep = nu > min_frequency_thz * THZ_TO_CM1
    nu, inten = nu[keep], inten[keep]
    if wavenumbers_cm1 is None:
        top = (nu.max() if nu.size else 100.0) * 1.2 + 10 * fwhm_cm1
        wavenumbers_cm1 = np.linspace(0.0, top, 2000)
    grid = np.asarray(wavenumbers_cm1, dtype=float)
    gamma = 0.5 * fwhm_cm1
    lorentz = gamma / np.pi / ((grid[:, None] - nu[None, :]) ** 2 + gamma**2)
    return grid, lorentz @ inten
