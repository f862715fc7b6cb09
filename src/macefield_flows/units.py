"""Physical constants, unit conversions and tensor conventions, defined once.

Internal units of the whole package (the model, the engine and the physics
functions) are those of ASE / MACE:

=================  ===============  =========================================
quantity           unit             note
=================  ===============  =========================================
energy             eV
length             Angstrom
electric field     V/Angstrom       1 V/A = 1e10 V/m
charge             e                Born charges Z*[k, i, j], i = field, j = displacement
dipole             e*Angstrom
polarisation       e/Angstrom^2     x16.0218 -> C/m^2, x1602.18 -> uC/cm^2
stress             eV/Angstrom^3    positive = tensile (ASE sign: sigma = (1/Omega) dE/d eta)
force constants    eV/Angstrom^2
piezo e (stress)   C/m^2            stored 3x6 Voigt
elastic C          GPa              stored 6x6 Voigt
piezo d (strain)   pC/N             stored 3x6 Voigt
=================  ===============  =========================================

Voigt order is the standard one used by emmet-core / Materials Project:
``xx, yy, zz, yz, xz, xy`` (indices 0..5). For the piezoelectric stress tensor
``e[i, J] = e[i, jk]`` with no factor 2 on the shear columns; for strain-like
quantities the engineering shear strain ``gamma_yz = 2 eta_yz`` is the Voigt
variable, so ``d = e C^-1`` holds with plain matrix algebra.
"""

from __future__ import annotations

import numpy as np

# --- fundamental constants (CODATA 2018) ---------------------------------------------
ELEMENTARY_CHARGE_C = 1.602176634e-19
"""e in Coulomb."""
VACUUM_PERMITTIVITY_SI = 8.8541878128e-12
"""eps0 in F/m = C/(V m)."""
EPS0 = VACUUM_PERMITTIVITY_SI / ELEMENTARY_CHARGE_C * 1e-10
"""eps0 in e/(V*Angstrom), about 5.526349e-3."""
AMU_KG = 1.66053906660e-27
EV_J = ELEMENTARY_CHARGE_C
THZ_TO_CM1 = 33.35640951981521

# --- conversions ------------------------------------------------------------------------
E_PER_A2_TO_C_PER_M2 = ELEMENTARY_CHARGE_C / 1e-20
"""Polarisation / piezo stress tensor: e/A^2 -> C/m^2 (about 16.0218)."""
E_PER_A2_TO_UC_PER_CM2 = E_PER_A2_TO_C_PER_M2 * 100.0
"""Polarisation: e/A^2 -> uC/cm^2 (about 1602.18)."""
EV_PER_A3_TO_GPA = ELEMENTARY_CHARGE_C / 1e-30 / 1e9
"""Stress / elastic constants: eV/A^3 -> GPa (about 160.2177)."""
C_PER_M2_PER_GPA_TO_PC_PER_N = 1e3
"""d = e / C: (C/m^2)/GPa = 1e-9 C/N = 1e3 pC/N."""
EV_PER_A2_AMU_TO_THZ2 = EV_J / (1e-20 * AMU_KG) / (2 * np.pi * 1e12) ** 2
"""Dynamical-matrix eigenvalue eV/(A^2 amu) -> frequency^2 in THz^2 (nu, not omega)."""
COULOMB_EV_A = ELEMENTARY_CHARGE_C / (4 * np.pi * VACUUM_PERMITTIVITY_SI) * 1e10
"""e^2 / (4 pi eps0) in eV*Angstrom (CODATA 2018: 14.3996454784).

This is the unit factor of the non-analytical term for inputs in eV and Angstrom
(phonopy's ``nac_params["factor"]``; phonopy uses its own value, Hartree * Bohr =
14.39965173 in phonopy 4.x and 14.399652 in older releases, which differs from
ours by 5e-7 relative: ``macefield_flows.interop.phonopy`` passes phonopy's own)."""

# --- Voigt convention -------------------------------------------------------------------
VOIGT_PAIRS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
"""Cartesian index pairs of the Voigt components xx, yy, zz, yz, xz, xy."""
VOIGT_LABELS: tuple[str, ...] = ("xx", "yy", "zz", "yz", "xz", "xy")

VASP_VOIGT_LABELS: tuple[str, ...] = ("xx", "yy", "zz", "xy", "yz", "zx")
"""Voigt order of VASP (OUTCAR, vasprun) and of emmet-core's ``from_vasp_voigt`` inputs."""
_TO_VASP = (0, 1, 2, 5, 3, 4)  # vasp[:, J] = standard[:, _TO_VASP[J]]
_FROM_VASP = (0, 1, 2, 4, 5, 3)  # standard[:, J] = vasp[:, _FROM_VASP[J]]


def voigt_to_vasp_order(v: np.ndarray) -> np.ndarray:
    """Reorder the last (Voigt, length 6) axis from ours (xx, yy, zz, yz, xz, xy) to VASP's.

    VASP's order is (xx, yy, zz, xy, yz, zx); no factors change (a pure permutation:
    ``xz`` and ``zx`` are the same component of a tensor symmetric in those indices).
    The single place where the two orders meet; :func:`voigt_from_vasp_order` inverts it.
    """
    v = np.asarray(v)
    if v.shape[-1] != 6:
        raise ValueError(f"expected a Voigt axis of length 6 last, got shape {v.shape}")
    return v[..., list(_TO_VASP)]


def voigt_from_vasp_order(v: np.ndarray) -> np.ndarray:
    """Reorder the last Voigt axis from VASP's (xx, yy, zz, xy, yz, zx) to ours (inverse of the above)."""
    v = np.asarray(v)
    if v.shape[-1] != 6:
        raise ValueError(f"expected a Voigt axis of length 6 last, got shape {v.shape}")
    return v[..., list(_FROM_VASP)]


def polarization_to_c_per_m2(p_e_per_a2: np.ndarray) -> np.ndarray:
    """Convert polarisation (or any e/A^2 quantity) to C/m^2."""
    return np.asarray(p_e_per_a2) * E_PER_A2_TO_C_PER_M2


def symmetric_to_voigt(t: np.ndarray) -> np.ndarray:
    """Rank-2 symmetric (..., 3, 3) -> (..., 6) Voigt, no factor 2 on shear."""
    t = np.asarray(t)
    return np.stack([t[..., i, j] for i, j in VOIGT_PAIRS], axis=-1)


def voigt_to_symmetric(v: np.ndarray) -> np.ndarray:
    """(..., 6) Voigt -> (..., 3, 3) symmetric, no factor 2 on shear."""
    v = np.asarray(v)
    out = np.zeros(v.shape[:-1] + (3, 3), dtype=v.dtype)
    for a, (i, j) in enumerate(VOIGT_PAIRS):
        out[..., i, j] = v[..., a]
        out[..., j, i] = v[..., a]
    return out


def rank3_to_voigt(t: np.ndarray) -> np.ndarray:
    """Third-rank tensor t[i, j, k] symmetric in (j, k) -> 3x6 Voigt t[i, J] (no factor 2)."""
    t = np.asarray(t)
    return np.stack([t[..., :, j, k] for j, k in VOIGT_PAIRS], axis=-1)


def voigt_to_rank3(v: np.ndarray) -> np.ndarray:
    """3x6 Voigt (no factor 2) -> rank-3 tensor t[i, j, k] symmetric in (j, k)."""
    v = np.asarray(v)
    out = np.zeros(v.shape[:-2] + (3, 3, 3), dtype=v.dtype)
    for a, (j, k) in enumerate(VOIGT_PAIRS):
        out[..., :, j, k] = v[..., :, a]
        out[..., :, k, j] = v[..., :, a]
    return out


def rank4_to_voigt(t: np.ndarray) -> np.ndarray:
    """Rank-4 tensor with minor symmetries c[i, j, k, l] -> 6x6 Voigt c[I, J] (no factors)."""
    t = np.asarray(t)
    out = np.zeros(t.shape[:-4] + (6, 6), dtype=t.dtype)
    for a, (i, j) in enumerate(VOIGT_PAIRS):
        for b, (k, m) in enumerate(VOIGT_PAIRS):
            out[..., a, b] = t[..., i, j, k, m]
    return out


def voigt_to_rank4(v: np.ndarray) -> np.ndarray:
    """6x6 Voigt c[I, J] -> rank-4 tensor with minor and major index symmetries."""
    v = np.asarray(v)
    out = np.zeros(v.shape[:-2] + (3, 3, 3, 3), dtype=v.dtype)
    for a, (i, j) in enumerate(VOIGT_PAIRS):
        for b, (k, m) in enumerate(VOIGT_PAIRS):
            for p, q in {(i, j), (j, i)}:
                for r, s in {(k, m), (m, k)}:
                    out[..., p, q, r, s] = v[..., a, b]
    return out
