"""Benchmark: supercell force constants, exact engine Hessian vs phonopy's displacement route.

Routes, measured side by side in one run, same model, same supercells:

(a) engine: exact second derivatives of the supercell (batched autograd, rows of the
    symmetry-inequivalent atoms only, rotated into the rest),
    ``macefield_flows.interop.phonopy.engine_force_constants``;
(b) phonopy displacements, forces of all displaced supercells in batched engine calls,
    ``macefield_flows.interop.phonopy.displacement_force_constants``;
(c) phonopy displacements, one ASE-calculator call per displaced supercell (what
    atomate2's force-field phonon flow does).

For each case it prints the wall time of each route (best of ``--repeat``, after a
warm-up), the ratios t(b)/t(a) and t(c)/t(a) (> 1: the engine route is faster), the
number of Hessian rows and of displacements, the largest force-constant difference
(a) vs (b) (the finite-difference error of 0.01 A) and of frequencies at a few q.

Usage::

    OMP_NUM_THREADS=1 python workflows/benchmarks/bench_supercell_fc.py [--model default] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from ase.build import bulk
from pymatgen.io.ase import AseAtomsAdaptor


def cases():
    """(name, unit cell, supercell matrix): high-symmetry cubic/hexagonal and a P1 cell."""
    mgo = AseAtomsAdaptor.get_structure(bulk("MgO", "rocksalt", a=4.21))
    zno = AseAtomsAdaptor.get_structure(bulk("ZnO", "wurtzite", a=3.25, c=5.21))
    rattled = bulk("MgO", "rocksalt", a=4.21, cubic=True)
    rng = np.random.default_rng(0)
    rattled.positions += 0.05 * rng.standard_normal(rattled.positions.shape)
    p1 = AseAtomsAdaptor.get_structure(rattled)
    return [("MgO Fm-3m", mgo, [3, 3, 3]), ("MgO Fm-3m", mgo, [4, 4, 4]),
            ("ZnO P6_3mc", zno, [3, 3, 2]), ("ZnO P6_3mc", zno, [4, 4, 3]),
            ("MgO rattled P1", p1, [2, 2, 2])]


def _best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    from phonopy import Phonopy

    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.engine.inputs import resolve_model
    from macefield_flows.engine.symmetry_reduction import orbit_map
    from macefield_flows.interop import phonopy as ip

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", default=None, help="write the rows to this file")
    args = parser.parse_args()
    model = resolve_model(args.model, device=args.device, dtype="float64")
    calc = MACEFieldCalculator(model=model, device=args.device)

    def fresh(structure, sc):
        return Phonopy(ip.phonopy_atoms(structure), supercell_matrix=sc, primitive_matrix="P")

    def ase_route(structure, sc):
        ph = fresh(structure, sc)
        ph.generate_displacements(distance=0.01)
        forces = []
        for cell in ph.supercells_with_displacements:
            atoms = ip._supercell_atoms(cell)
            atoms.calc = calc
            forces.append(atoms.get_forces())
        ph.forces = np.array(forces)
        ph.produce_force_constants()
        return np.asarray(ph.force_constants)

    ip.engine_force_constants(fresh(*cases()[0][1:]), model, args.device)  # warm-up
    rows = []
    print(f"{'case':>16} {'atoms':>5} {'rows':>4} {'disp':>4} {'t_a s':>7} {'t_b s':>7} {'t_c s':>7} "
          f"{'b/a':>5} {'c/a':>5} {'max dFC':>8} {'max dnu THz':>11}")
    for name, structure, sc in cases():
        ph = fresh(structure, sc)
        t_a, fc_a = _best(lambda: ip.engine_force_constants(fresh(structure, sc), model, args.device), args.repeat)
        t_b, fc_b = _best(lambda: ip.displacement_force_constants(fresh(structure, sc), model, 0.01, args.device),
                          args.repeat)
        t_c, fc_c = _best(lambda: ase_route(structure, sc), 1)
        ph.generate_displacements(distance=0.01)

        orbits = orbit_map(ip._supercell_atoms(ph.supercell), symprec=1e-5)
        n_rows = 3 * (len(orbits.representatives) if orbits else len(ph.supercell))
        q = [[0.5, 0, 0], [0.5, 0.5, 0.5], [0.2, 0.1, 0.3]]
        freqs = []
        for fc in (fc_a, fc_b):
            p = fresh(structure, sc)
            p.force_constants = fc
            p.run_qpoints(q)
            freqs.append(p.qpoints.frequencies)
        row = dict(case=name, supercell=sc, atoms=len(ph.supercell), hessian_rows=n_rows,
                   displacements=len(ph.displacements), t_engine_s=t_a, t_phonopy_batched_s=t_b,
                   t_phonopy_ase_s=t_c, ratio_b_over_a=t_b / t_a, ratio_c_over_a=t_c / t_a,
                   max_fc_diff=float(np.abs(fc_a - fc_b).max()), max_fc_diff_ase=float(np.abs(fc_a - fc_c).max()),
                   max_freq_diff_thz=float(np.abs(freqs[0] - freqs[1]).max()))
        rows.append(row)
        print(f"{name:>16} {row['atoms']:5d} {n_rows:4d} {row['displacements']:4d} {t_a:7.2f} {t_b:7.2f} "
              f"{t_c:7.2f} {t_b / t_a:5.2f} {t_c / t_a:5.2f} {row['max_fc_diff']:8.1e} "
              f"{row['max_freq_diff_thz']:11.1e}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
