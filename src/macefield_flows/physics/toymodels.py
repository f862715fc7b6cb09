"""Analytic rigid-ion toy models of the electric enthalpy (numpy only).

`SpringRigidIonToy` is a periodic network of linearised springs carrying fixed
charges, an electronic susceptibility ``chi`` and an explicit clamped-ion
(proper) piezo tensor ``e_el``. Its electric enthalpy is exactly quadratic in
the displacements ``u`` (N, 3, A), the symmetric strain ``eta`` (3, 3) and the
field ``E`` (3, V/A)::

    v_b   = u_m - u_k + eta r_b                bond b from atom k to atom m + image
    F     = 1/2 sum_b v_b . K_b v_b - E . d(u, eta) - eps0 Omega / 2  E . chi . E
    d_i   = sum_k Z[k, i, a] u_ka + Omega e_el[i] : eta + eps0 Omega (chi E)_i  (dipole, e A)

with ``r_b`` the bond vector. A central spring of stiffness ``k_b`` has
``K_b = k_b n_b n_b^T`` (``n_b = r_b/|r_b|``); an anisotropic spring carries a
full symmetric positive 3x3 ``K_b``. The charges are point charges
(``Z[k] = q_k I``) or, with ``born`` given, general tensors (non-symmetric,
anisotropic, ``sum_k Z[k] = 0``): with tensor charges a contraction of ``Z``
over the wrong index gives a different answer, which the isotropic toy cannot
detect. Its derivatives have
closed forms, exposed as methods with the engine's names and conventions:
``born_charges`` (``Z[k, i, a] = d d_i / d u_ka``), ``force_constants``, ``internal_strain``
(``Lambda[k, b, j, l] = d Force_kb / d eta_jl``), ``strain_hessian``,
``dipole_strain_derivative`` and ``susceptibility``. `relax` minimises F over
``u`` at finite strain and field (using a finite-difference Hessian of the
bond-form forces, independent of the closed forms) so tests can differentiate
relaxed quantities numerically. Used by the test-suite and useful to users to
check a pipeline end to end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from macefield_flows.units import EPS0

__all__ = ["SpringRigidIonToy", "random_spring_toy", "random_anisotropic_toy", "two_atom_closed_form"]


@dataclass(frozen=True)
class SpringRigidIonToy:
    """Harmonic rigid-ion spring network (see module docstring).

    Attributes
    ----------
    lattice : ndarray (3, 3)
        Rows are lattice vectors, A.
    positions : ndarray (N, 3)
        Cartesian positions, A.
    charges : ndarray (N,)
        Fixed charges q_k (e), summing to zero (ignored when ``born`` is given).
    masses : ndarray (N,)
        amu.
    bonds : list of (k, m, image (3,), stiffness)
        Bond from atom k to atom m in cell ``image`` (may be k == m for a bond
        to a periodic image, which only stiffens the lattice). ``stiffness`` is
        a float (central spring, eV/A^2) or a symmetric (3, 3) matrix (eV/A^2).
    chi : ndarray (3, 3)
        Electronic susceptibility.
    e_el : ndarray (3, 3, 3)
        Clamped-ion piezo tensor, e/A^2, symmetric in the last two indices.
    born : ndarray (N, 3, 3), optional
        Tensor Born charges ``Z[k, i, a]`` (i field, a displacement), e,
        with ``sum_k Z[k] = 0``. Default: ``q_k I``.
    """

    lattice: np.ndarray
    positions: np.ndarray
    charges: np.ndarray
    masses: np.ndarray
    bonds: list = field(default_factory=list)
    chi: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    e_el: np.ndarray = field(default_factory=lambda: np.zeros((3, 3, 3)))
    born: np.ndarray | None = None

    def __post_init__(self) -> None:
        if abs(float(np.sum(self.charges))) > 1e-12:
            raise ValueError(f"charges must sum to zero, got {np.sum(self.charges)=}")
        if np.shape(self.positions) != (len(self.charges), 3):
            raise ValueError(f"{np.shape(self.positions)=} does not match {len(self.charges)} charges")
        if self.born is not None:
            z = np.asarray(self.born, dtype=float)
            if z.shape != (len(self.charges), 3, 3):
                raise ValueError(f"born must have shape ({len(self.charges)}, 3, 3), got {z.shape}")
            if np.max(np.abs(z.sum(axis=0))) > 1e-10:
                raise ValueError(f"born charges violate the acoustic sum rule: {z.sum(axis=0)=}")

    @property
    def n_atoms(self) -> int:
        return len(self.charges)

    @property
    def volume(self) -> float:
        """Cell volume in A^3."""
        return float(abs(np.linalg.det(self.lattice)))

    @cached_property
    def _bond_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        k = np.array([b[0] for b in self.bonds], dtype=int)
        m = np.array([b[1] for b in self.bonds], dtype=int)
        img = np.array([b[2] for b in self.bonds], dtype=float).reshape(-1, 3)
        r = self.positions[m] + img @ self.lattice - self.positions[k]
        stiff = np.zeros((len(self.bonds), 3, 3))
        for b, bond in enumerate(self.bonds):
            kb = np.asarray(bond[3], dtype=float)
            if kb.ndim == 0:
                n = r[b] / np.linalg.norm(r[b])
                stiff[b] = float(kb) * np.outer(n, n)
            elif kb.shape == (3, 3) and np.allclose(kb, kb.T):
                stiff[b] = kb
            else:
                raise ValueError(f"bond {b}: stiffness must be a float or a symmetric (3, 3) matrix, got {kb}")
        return k, m, r, stiff

    def _zu(self, u: np.ndarray) -> np.ndarray:
        return np.einsum("kia,ka->i", self.born_charges(), u)

    # ----- the enthalpy in bond form -------------------------------------------------
    def _stretch(self, u: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Bond vectors' changes ``v_b`` (B, 3), A."""
        k, m, r, _ = self._bond_arrays
        return u[m] - u[k] + r @ np.asarray(eta).T

    def dipole(self, u: np.ndarray, eta: np.ndarray, field: np.ndarray) -> np.ndarray:
        """Dipole ``-dF/dE`` in e A for displacements u (N,3), strain eta (3,3), field (3,)."""
        u = np.asarray(u, float).reshape(self.n_atoms, 3)
        return (
            self._zu(u)
            + self.volume * np.einsum("ijl,jl->i", self.e_el, eta)
            + EPS0 * self.volume * self.chi @ np.asarray(field, float)
        )

    def enthalpy(self, u: np.ndarray, eta: np.ndarray, field: np.ndarray) -> float:
        """Electric enthalpy F(u, eta, E) in eV."""
        u = np.asarray(u, float).reshape(self.n_atoms, 3)
        e = np.asarray(field, float)
        v = self._stretch(u, eta)
        stiff = self._bond_arrays[3]
        d_no_chi = self._zu(u) + self.volume * np.einsum("ijl,jl->i", self.e_el, eta)
        return float(
            0.5 * np.einsum("bi,bij,bj->", v, stiff, v) - e @ d_no_chi
            - 0.5 * EPS0 * self.volume * e @ self.chi @ e
        )

    def forces(self, u: np.ndarray, eta: np.ndarray, field: np.ndarray) -> np.ndarray:
        """Forces ``-dF/du`` (N, 3) in eV/A, from the bond form."""
        u = np.asarray(u, float).reshape(self.n_atoms, 3)
        k, m, r, stiff = self._bond_arrays
        t = np.einsum("bij,bj->bi", stiff, self._stretch(u, eta))
        f = np.zeros((self.n_atoms, 3))
        np.add.at(f, k, t)
        np.add.at(f, m, -t)
        return f + np.einsum("kia,i->ka", self.born_charges(), np.asarray(field, float))

    @cached_property
    def _fd_hessian(self) -> np.ndarray:
        n3 = 3 * self.n_atoms
        h = np.zeros((n3, n3))
        step = 1e-3
        z3 = np.zeros((3, 3))
        for a in range(n3):
            du = np.zeros(n3)
            du[a] = step
            h[:, a] = -(self.forces(du, z3, np.zeros(3)) - self.forces(-du, z3, np.zeros(3))).ravel() / (2 * step)
        return 0.5 * (h + h.T)

    def relax(self, eta: np.ndarray, field: np.ndarray) -> np.ndarray:
        """Displacements (N, 3) minimising F at fixed strain and field (mean displacement zero)."""
        f0 = self.forces(np.zeros((self.n_atoms, 3)), eta, field).ravel()
        u, *_ = np.linalg.lstsq(self._fd_hessian, f0, rcond=1e-10)
        u = u.reshape(self.n_atoms, 3)
        return u - u.mean(axis=0)

    def relaxed_enthalpy(self, eta: np.ndarray, field: np.ndarray) -> float:
        """``min_u F(u, eta, E)`` in eV."""
        return self.enthalpy(self.relax(eta, field), eta, field)

    # ----- closed-form derivatives at u = 0, eta = 0, E = 0 --------------------------
    def born_charges(self) -> np.ndarray:
        """``Z[k, i, a]`` (N, 3, 3), e: ``born`` when given, else ``q_k I``."""
        if self.born is not None:
            return np.array(self.born, dtype=float)
        return self.charges[:, None, None] * np.eye(3)[None]

    def susceptibility(self) -> np.ndarray:
        return np.array(self.chi, dtype=float)

    def force_constants(self) -> np.ndarray:
        """(3N, 3N) eV/A^2 from the bonds: ``+K_b`` on kk and mm, ``-K_b`` on km and mk."""
        k, m, r, stiff = self._bond_arrays
        kk = np.zeros((self.n_atoms, 3, self.n_atoms, 3))
        for a, b, block in zip(k, m, stiff):
            kk[a, :, a, :] += block
            kk[b, :, b, :] += block
            kk[a, :, b, :] -= block
            kk[b, :, a, :] -= block
        return kk.reshape(3 * self.n_atoms, 3 * self.n_atoms)

    def internal_strain(self) -> np.ndarray:
        """``Lambda[k, b, j, l] = d Force_kb / d eta_jl = sym_jl sum K_b[b, j] r_l`` (N,3,3,3), eV/A."""
        k, m, r, stiff = self._bond_arrays
        t = np.einsum("bij,bl->bijl", stiff, r)
        t = 0.5 * (t + t.transpose(0, 1, 3, 2))
        lam = np.zeros((self.n_atoms, 3, 3, 3))
        np.add.at(lam, k, t)
        np.add.at(lam, m, -t)
        return lam

    def strain_hessian(self) -> np.ndarray:
        """``d2F/d eta_ij d eta_kl = sym sum K_b[i, k] r_j r_l`` (3,3,3,3), eV."""
        _, _, r, stiff = self._bond_arrays
        h = np.einsum("bik,bj,bl->ijkl", stiff, r, r)
        h = 0.5 * (h + h.transpose(1, 0, 2, 3))
        return 0.5 * (h + h.transpose(0, 1, 3, 2))

    def dipole_strain_derivative(self) -> np.ndarray:
        """``d dipole_i / d eta_jl = Omega e_el[i, j, l]`` (3, 3, 3), e A."""
        return self.volume * np.array(self.e_el, dtype=float)


def random_spring_toy(
    n_atoms: int = 3, seed: int = 0, cutoff: float = 4.2, triclinic: bool = True
) -> SpringRigidIonToy:
    """A random low-symmetry spring toy (anisotropic responses), stable by construction."""
    rng = np.random.default_rng(seed)
    if triclinic:
        lattice = np.diag([3.1, 3.4, 3.7]) + rng.uniform(-0.4, 0.4, (3, 3))
    else:
        lattice = np.eye(3) * 3.2
    frac = rng.uniform(0, 1, (n_atoms, 3))
    positions = frac @ lattice
    charges = rng.uniform(-2, 2, n_atoms)
    charges -= charges.mean()
    bonds = []
    for k in range(n_atoms):
        for m in range(n_atoms):
            for img in np.ndindex(3, 3, 3):
                image = np.array(img) - 1
                r = positions[m] + image @ lattice - positions[k]
                d = np.linalg.norm(r)
                if 1e-6 < d < cutoff and (k, m, tuple(image)) < (m, k, tuple(-image)):
                    bonds.append((k, m, image, float(rng.uniform(0.5, 3.0))))
    chi = rng.uniform(-0.5, 0.5, (3, 3))
    chi = chi @ chi.T + 2.0 * np.eye(3)
    e_el = rng.uniform(-0.02, 0.02, (3, 3, 3))
    e_el = 0.5 * (e_el + e_el.transpose(0, 2, 1))
    masses = rng.uniform(10, 90, n_atoms)
    return SpringRigidIonToy(lattice, positions, charges, masses, bonds, chi, e_el)


def random_anisotropic_toy(n_atoms: int = 3, seed: int = 0, cutoff: float = 4.2) -> SpringRigidIonToy:
    """A random triclinic toy with tensor Born charges and anisotropic springs.

    Every bond carries a random symmetric positive-definite 3x3 stiffness, and
    the Born charges are random non-symmetric, anisotropic tensors with
    ``sum_k Z[k] = 0``; ``Z[k] - Z[k]^T`` is of the same order as ``Z[k]`` so
    that contracting the wrong index changes every response at order one.
    Stable by construction (all springs positive definite, connected network).
    """
    base = random_spring_toy(n_atoms=n_atoms, seed=seed, cutoff=cutoff, triclinic=True)
    rng = np.random.default_rng(seed + 1000)
    bonds = []
    for k, m, image, stiff in base.bonds:
        a = rng.normal(size=(3, 3))
        bonds.append((k, m, image, 0.3 * stiff * (a @ a.T + 0.5 * np.eye(3))))
    z = rng.normal(size=(n_atoms, 3, 3)) + 1.5 * rng.choice([-1.0, 1.0], n_atoms)[:, None, None] * np.eye(3)
    z -= z.mean(axis=0)
    return SpringRigidIonToy(base.lattice, base.positions, base.charges, base.masses, bonds, base.chi,
                             base.e_el, born=z)


def two_atom_closed_form(toy: SpringRigidIonToy) -> dict[str, np.ndarray]:
    """Closed-form relaxed-ion responses and Gamma modes of a two-atom toy.

    With ``Z[1] = -Z[0]`` (acoustic sum rule), the relative displacement
    ``w = u_0 - u_1`` carries the dipole ``Z_0 w``; with the 3x3 block
    ``A = K[0, 0]`` the relaxed ``w = A^-1 (Z_0^T E + Lambda_0 eta)``, so

    * ``eps_ionic = Z_0 A^-1 Z_0^T / (eps0 Omega)``
    * ``e_ionic[i, j, l] = (Z_0 A^-1 Lambda_0)[i, j, l] / Omega``  (e/A^2)
    * ``C_relaxed = (H - Lambda_0^T A^-1 Lambda_0) / Omega``  (eV/A^3)
    * optical modes: ``A w_m = a_m w_m``, eigenvalue ``a_m / mu`` (eV/(A^2 amu),
      ``mu = M_0 M_1 / (M_0 + M_1)``) and IR intensity ``|Z_0 w_m|^2 / mu`` (e^2/amu).

    Returns a dict with keys ``eps_ionic``, ``e_ionic``, ``c_relaxed``,
    ``optical_eigenvalues`` (3,) ascending and ``ir_intensities`` (3,) in that order.
    """
    if toy.n_atoms != 2:
        raise ValueError(f"two_atom_closed_form needs 2 atoms, got {toy.n_atoms}")
    z0 = toy.born_charges()[0]
    a = toy.force_constants()[:3, :3]
    a_inv = np.linalg.inv(a)
    lam0 = toy.internal_strain()[0].reshape(3, 9)
    v = toy.volume
    mu = float(toy.masses[0] * toy.masses[1] / (toy.masses[0] + toy.masses[1]))
    evals, evecs = np.linalg.eigh(a)
    return {
        "eps_ionic": z0 @ a_inv @ z0.T / (EPS0 * v),
        "e_ionic": (z0 @ a_inv @ lam0).reshape(3, 3, 3) / v,
        "c_relaxed": (toy.strain_hessian() - (lam0.T @ a_inv @ lam0).reshape(3, 3, 3, 3)) / v,
        "optical_eigenvalues": evals / mu,
        "ir_intensities": np.sum((z0 @ evecs) ** 2, axis=0) / mu,
    }
