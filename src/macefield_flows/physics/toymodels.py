"""Analytic rigid-ion toy models of the electric enthalpy (numpy only).

`SpringRigidIonToy` is a periodic network of linearised springs carrying fixed
point charges ``q_k`` (``sum q = 0``), an electronic susceptibility ``chi``
and an explicit clamped-ion (proper) piezo tensor ``e_el``. Its electric
enthalpy is exactly quadratic in the displacements ``u`` (N, 3, A), the
symmetric strain ``eta`` (3, 3) and the field ``E`` (3, V/A)::

    s_b   = n_b . (u_m - u_k + eta r_b)        bond b from atom k to atom m + image
    F     = 1/2 sum_b k_b s_b^2 - E . d(u, eta) - eps0 Omega / 2  E . chi . E
    d     = sum_k q_k u_k + Omega e_el : eta + eps0 Omega chi E      (dipole, e A)

with ``r_b`` the bond vector and ``n_b = r_b/|r_b|``. Its derivatives have
closed forms, exposed as methods with the engine's names and conventions:
``born_charges`` (``Z[k] = q_k I``), ``force_constants``, ``internal_strain``
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

__all__ = ["SpringRigidIonToy", "random_spring_toy", "two_atom_closed_form"]


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
        Fixed charges q_k (e), summing to zero.
    masses : ndarray (N,)
        amu.
    bonds : list of (k, m, image (3,), stiffness eV/A^2)
        Bond from atom k to atom m in cell ``image`` (may be k == m for a bond
        to a periodic image, which only stiffens the lattice).
    chi : ndarray (3, 3)
        Electronic susceptibility.
    e_el : ndarray (3, 3, 3)
        Clamped-ion piezo tensor, e/A^2, symmetric in the last two indices.
    """

    lattice: np.ndarray
    positions: np.ndarray
    charges: np.ndarray
    masses: np.ndarray
    bonds: list = field(default_factory=list)
    chi: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))
    e_el: np.ndarray = field(default_factory=lambda: np.zeros((3, 3, 3)))

    def __post_init__(self) -> None:
        if abs(float(np.sum(self.charges))) > 1e-12:
            raise ValueError(f"charges must sum to zero, got {np.sum(self.charges)=}")
        if np.shape(self.positions) != (len(self.charges), 3):
            raise ValueError(f"{np.shape(self.positions)=} does not match {len(self.charges)} charges")

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
        stiff = np.array([b[3] for b in self.bonds], dtype=float)
        r = self.positions[m] + img @ self.lattice - self.positions[k]
        return k, m, r, stiff

    # ----- the enthalpy in bond form -------------------------------------------------
    def _stretch(self, u: np.ndarray, eta: np.ndarray) -> np.ndarray:
        k, m, r, _ = self._bond_arrays
        n = r / np.linalg.norm(r, axis=1)[:, None]
        return np.einsum("bi,bi->b", n, u[m] - u[k] + r @ np.asarray(eta).T)

    def dipole(self, u: np.ndarray, eta: np.ndarray, field: np.ndarray) -> np.ndarray:
        """Dipole ``-dF/dE`` in e A for displacements u (N,3), strain eta (3,3), field (3,)."""
        u = np.asarray(u, float).reshape(self.n_atoms, 3)
        return (
            self.charges @ u
            + self.volume * np.einsum("ijl,jl->i", self.e_el, eta)
            + EPS0 * self.volume * self.chi @ np.asarray(field, float)
        )

    def enthalpy(self, u: np.ndarray, eta: np.ndarray, field: np.ndarray) -> float:
        """Electric enthalpy F(u, eta, E) in eV."""
        u = np.asarray(u, float).reshape(self.n_atoms, 3)
        e = np.asarray(field, float)
        s = self._stretch(u, eta)
        stiff = self._bond_arrays[3]
        d_no_chi = self.charges @ u + self.volume * np.einsum("ijl,jl->i", self.e_el, eta)
        return float(
            0.5 * np.sum(stiff * s**2) - e @ d_no_chi - 0.5 * EPS0 * self.volume * e @ self.chi @ e
        )

    def forces(self, u: np.ndarray, eta: np.ndarray, field: np.ndarray) -> np.ndarray:
        """Forces ``-dF/du`` (N, 3) in eV/A, from the bond form."""
        u = np.asarray(u, float).reshape(self.n_atoms, 3)
        k, m, r, stiff = self._bond_arrays
        n = r / np.linalg.norm(r, axis=1)[:, None]
        t = (stiff * self._stretch(u, eta))[:, None] * n
        f = np.zeros((self.n_atoms, 3))
        np.add.at(f, k, t)
        np.add.at(f, m, -t)
        return f + self.charges[:, None] * np.asarray(field, float)[None, :]

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
        """``Z[k] = q_k I`` (N, 3, 3), e."""
        return self.charges[:, None, None] * np.eye(3)[None]

    def susceptibility(self) -> np.ndarray:
        return np.array(self.chi, dtype=float)

    def force_constants(self) -> np.ndarray:
        """(3N, 3N) eV/A^2 from the bonds: ``+k n n^T`` on kk and mm, ``-k n n^T`` on km."""
        k, m, r, stiff = self._bond_arrays
        n = r / np.linalg.norm(r, axis=1)[:, None]
        kk = np.zeros((self.n_atoms, 3, self.n_atoms, 3))
        for a, b, nb, s in zip(k, m, n, stiff):
            block = s * np.outer(nb, nb)
            kk[a, :, a, :] += block
            kk[b, :, b, :] += block
            kk[a, :, b, :] -= block
            kk[b, :, a, :] -= block
        return kk.reshape(3 * self.n_atoms, 3 * self.n_atoms)

    def internal_strain(self) -> np.ndarray:
        """``Lambda[k, b, j, l] = d Force_kb / d eta_jl = sum k |r| n_b n_j n_l`` (N,3,3,3), eV/A."""
        k, m, r, stiff = self._bond_arrays
        rn = np.linalg.norm(r, axis=1)
        n = r / rn[:, None]
        t = np.einsum("b,bi,bj,bl->bijl", stiff * rn, n, n, n)
        lam = np.zeros((self.n_atoms, 3, 3, 3))
        np.add.at(lam, k, t)
        np.add.at(lam, m, -t)
        return lam

    def strain_hessian(self) -> np.ndarray:
        """``d2F/d eta d eta = sum k |r|^2 n n n n`` (3,3,3,3), eV."""
        _, _, r, stiff = self._bond_arrays
        rn = np.linalg.norm(r, axis=1)
        n = r / rn[:, None]
        return np.einsum("b,bi,bj,bk,bl->ijkl", stiff * rn**2, n, n, n, n)

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


def two_atom_closed_form(toy: SpringRigidIonToy) -> dict[str, np.ndarray]:
    """Closed-form relaxed-ion responses of a two-atom toy (charges +q, -q).

    With the relative displacement ``w = u_0 - u_1`` and the 3x3 block
    ``A = K[0, 0]``: ``w = A^-1 (Lambda_0 eta + q E)``, so

    * ``eps_ionic = q^2 A^-1 / (eps0 Omega)``
    * ``e_ionic[i, j, l] = q (A^-1 Lambda_0)[i, j, l] / Omega``  (e/A^2)
    * ``C_relaxed = (H - Lambda_0^T A^-1 Lambda_0) / Omega``  (eV/A^3)

    Returns a dict with keys ``eps_ionic``, ``e_ionic``, ``c_relaxed``.
    """
    if toy.n_atoms != 2:
        raise ValueError(f"two_atom_closed_form needs 2 atoms, got {toy.n_atoms}")
    q = float(toy.charges[0])
    a_inv = np.linalg.inv(toy.force_constants()[:3, :3])
    lam0 = toy.internal_strain()[0].reshape(3, 9)
    v = toy.volume
    return {
        "eps_ionic": q**2 * a_inv / (EPS0 * v),
        "e_ionic": q * (a_inv @ lam0).reshape(3, 3, 3) / v,
        "c_relaxed": (toy.strain_hessian() - (lam0.T @ a_inv @ lam0).reshape(3, 3, 3, 3)) / v,
    }
