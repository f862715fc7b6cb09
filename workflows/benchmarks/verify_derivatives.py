"""Print the measured finite-difference and equivariance errors of FieldMACE (float64).

Independent routes: central differences of the energy / forces / dipole of explicitly
displaced, strained and field-perturbed cells, and random O(3) operations applied to
structure and field. Used for the figures quoted when the model issue was closed.

Usage: python workflows/benchmarks/verify_derivatives.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from macefield_flows.engine import evaluate
from macefield_flows.testing import tiny_field_model
from macefield_flows.units import EPS0
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the test structures live in tests/
from tests.conftest import ELEMENTS, low_symmetry_perovskite, low_symmetry_wurtzite  # noqa: E402

PROPS = ("energy", "forces", "stress", "dipole", "born_charges", "susceptibility", "force_constants",
         "dipole_strain", "internal_strain", "strain_hessian")


def one(model, atoms, field):
    (r,) = evaluate([atoms], model, properties=PROPS, electric_field=field)
    return r


def strained(atoms, eps):
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=False)
    out.positions = atoms.positions @ (np.eye(3) + eps)
    return out


def main() -> None:
    model = tiny_field_model(ELEMENTS)
    h, hs = 1e-4, 1e-5
    errors: dict[str, float] = {}

    def upd(key, a, b):
        errors[key] = max(errors.get(key, 0.0), float(np.abs(np.asarray(a) - np.asarray(b)).max()))

    for atoms in (low_symmetry_perovskite(), low_symmetry_wurtzite()):
        for field in (np.zeros(3), np.array([0.05, -0.03, 0.08])):
            r = one(model, atoms, field)
            n = len(atoms)
            fd_f = np.zeros((n, 3))
            fd_k = np.zeros((3 * n, 3 * n))
            fd_z = np.zeros((n, 3, 3))
            for k in range(n):
                for a in range(3):
                    p, m = atoms.copy(), atoms.copy()
                    p.positions[k, a] += h
                    m.positions[k, a] -= h
                    rp, rm = one(model, p, field), one(model, m, field)
                    fd_f[k, a] = -(rp.energy - rm.energy) / (2 * h)
                    fd_k[3 * k + a] = -(rp.forces - rm.forces).ravel() / (2 * h)
                    fd_z[k, :, a] = (rp.dipole - rm.dipole) / (2 * h)
            upd("forces (eV/A)", r.forces, fd_f)
            upd("force constants (eV/A^2)", r.force_constants, 0.5 * (fd_k + fd_k.T))
            upd("Born charges via d dipole/dR (e)", r.born_charges, fd_z)
            fd_d = np.zeros(3)
            fd_zf = np.zeros((n, 3, 3))
            fd_a = np.zeros((3, 3))
            for i in range(3):
                rp, rm = one(model, atoms, field + h * np.eye(3)[i]), one(model, atoms, field - h * np.eye(3)[i])
                fd_d[i] = -(rp.energy - rm.energy) / (2 * h)
                fd_zf[:, i, :] = (rp.forces - rm.forces) / (2 * h)
                fd_a[:, i] = (rp.dipole - rm.dipole) / (2 * h)
            upd("dipole (e A)", r.dipole, fd_d)
            upd("Born charges via d force/dE (e)", r.born_charges, fd_zf)
            upd("susceptibility", r.susceptibility, fd_a / (EPS0 * atoms.get_volume()))
            fd_s = np.zeros((3, 3))
            fd_ds = np.zeros((3, 3, 3))
            fd_l = np.zeros((n, 3, 3, 3))
            for j in range(3):
                for l in range(3):
                    eps = np.zeros((3, 3))
                    eps[j, l] = eps[l, j] = hs / (2 if j != l else 1)
                    rp, rm = one(model, strained(atoms, eps), field), one(model, strained(atoms, -eps), field)
                    fd_s[j, l] = (rp.energy - rm.energy) / (2 * hs) / atoms.get_volume()
                    fd_ds[:, j, l] = (rp.dipole - rm.dipole) / (2 * hs)
                    fd_l[:, :, j, l] = (rp.forces - rm.forces) / (2 * hs)
            upd("stress (eV/A^3)", r.stress, fd_s)
            upd("clamped-ion d dipole/d strain (e A)", r.dipole_strain, fd_ds)
            upd("internal strain (eV/A)", r.internal_strain, fd_l)
            upd("acoustic sum rule |sum_k Z*| (e)", r.born_charges.sum(axis=0), 0.0)
            upd("chi asymmetry", r.susceptibility, r.susceptibility.T)
            for improper in (False, True):
                q = Rotation.random(random_state=3).as_matrix() * (-1 if improper else 1)
                rot = atoms.copy()
                rot.set_cell(atoms.cell.array @ q.T, scale_atoms=False)
                rot.positions = atoms.positions @ q.T
                rr = one(model, rot, q @ field)
                upd("equivariance: energy (eV)", rr.energy, r.energy)
                upd("equivariance: forces (eV/A)", rr.forces, r.forces @ q.T)
                upd("equivariance: dipole (e A)", rr.dipole, q @ r.dipole)
                upd("equivariance: Born charges (e)", rr.born_charges,
                    np.einsum("ia,kab,jb->kij", q, r.born_charges, q))
                upd("equivariance: chi", rr.susceptibility, q @ r.susceptibility @ q.T)
    width = max(map(len, errors))
    for key, value in errors.items():
        print(f"{key:{width}s}  max |error| = {value:.2e}")


if __name__ == "__main__":
    main()
