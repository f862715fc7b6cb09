"""Benchmark: full dielectric + piezo property set, three routes side by side.

Routes, measured in one run on the same structures and model:

(a) the batched engine (``macefield_flows.engine.evaluate``: graph batches packed by
    a pass-time model, per-graph field/strain leaves, Hessian rows of the
    symmetry-inequivalent atoms only, 3 passes per row for the whole batch);
(b) a per-structure loop: the ASE calculator (autograd P, Z*, chi, forces, stress)
    plus per-structure autograd force constants (all 3N rows, as
    ``MACECalculator.get_hessian`` computes them) and strain derivatives;
(c) the finite-difference route a user would otherwise script: +-displacements of
    the symmetry-inequivalent atoms for the Hessian (as phonopy does),
    +-fields for Z* and chi, +-strains for the clamped-ion piezo, internal strain
    and elastic tensors, each point one calculator call (energy, forces, stress, dipole).

It prints structures/s per route, the ratios (a)/(b) and (a)/(c), the maximum
deviation between routes for Z*, eps_inf, eps_ionic, e (piezo total) and C, and
the cost per structure of every route against atoms per structure.

Structure sets (``--set``): ``mp`` (default) takes the test-split crystals of the
DFPT reference sets (Materials Project structures, 2-40 atoms, stratified by size:
what a screening evaluates; needs ``MACEFIELD_REFERENCE_DIR`` or ``../shared/data``);
``prototypes`` builds 8 binary prototypes x supercells, every other one strained and
rattled to P1 (no symmetry to exploit).

Usage::

    python workflows/benchmarks/bench_engine.py [--set mp|prototypes] [--n 64] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk

from macefield_flows.calculator import MACEFieldCalculator
from macefield_flows.engine import evaluate, resolve_model
from macefield_flows.engine.symmetry_reduction import expand_force_constants, orbit_map
from macefield_flows.physics import dielectric_response, piezo_response
from macefield_flows.testing import tiny_field_model
from macefield_flows.units import EPS0, E_PER_A2_TO_C_PER_M2, EV_PER_A3_TO_GPA

PROPS = ("energy", "forces", "stress", "polarization", "born_charges", "susceptibility",
         "force_constants", "dipole_strain", "internal_strain", "strain_hessian")
PROTOTYPES = [
    ("NaCl", "rocksalt", 5.64), ("MgO", "rocksalt", 4.21), ("ZnO", "wurtzite", 3.25),
    ("GaN", "wurtzite", 3.19), ("ZnS", "zincblende", 5.41), ("SiC", "zincblende", 4.36),
    ("CsCl", "cesiumchloride", 4.12), ("LiF", "rocksalt", 4.03),
]
SUPERCELLS = [(1, 1, 1), (2, 1, 1), (2, 2, 1), (2, 2, 2), (3, 2, 2)]


def make_structures(n: int, max_atoms: int, seed: int = 0) -> list[Atoms]:
    """``n`` varied crystals (2..max_atoms atoms): prototypes x supercells, strained, rattled."""
    rng = np.random.default_rng(seed)
    out: list[Atoms] = []
    while len(out) < n:
        name, kind, a = PROTOTYPES[len(out) % len(PROTOTYPES)]
        rep = SUPERCELLS[(len(out) // len(PROTOTYPES)) % len(SUPERCELLS)]
        kwargs = {"c": a * 1.6} if kind == "wurtzite" else {}
        atoms = bulk(name, kind, a=a, **kwargs) * rep
        if len(atoms) > max_atoms:
            atoms = bulk(name, kind, a=a, **kwargs)
        atoms.set_cell(atoms.cell.array * (1 + 0.02 * rng.standard_normal()), scale_atoms=True)
        if len(out) % 2:  # every other structure distorted: no symmetry left
            atoms.set_cell(atoms.cell.array @ (np.eye(3) + 0.01 * rng.standard_normal((3, 3))),
                           scale_atoms=True)
            atoms.positions += 0.03 * rng.standard_normal(atoms.positions.shape)
        out.append(atoms)
    return out


def mp_structures(n: int, max_atoms: int, seed: int = 0) -> list[Atoms]:
    """``n`` test-split crystals of the reference sets, stratified over 2..max_atoms atoms."""
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    from macefield_flows.references.ingest import iter_reference_docs

    pool: dict[str, Atoms] = {}
    for dataset in ("mp_dielectric_becs_macefield_subset", "mp_piezo_dejong2015",
                    "mp_dielectric_petousis2017"):
        for row, doc in enumerate(iter_reference_docs(dataset)):
            key = str(doc.material_id or f"{dataset}#{row}")
            if doc.split == "test" and 2 <= doc.nsites <= max_atoms and key not in pool:
                pool[key] = AseAtomsAdaptor.get_atoms(Structure.from_dict(doc.structure))
    rng = np.random.default_rng(seed)
    by_size = sorted(pool.items(), key=lambda kv: (len(kv[1]), kv[0]))
    # equal counts per size bin (log-spaced), then fill from the whole pool
    edges = np.unique(np.geomspace(2, max_atoms + 1, 7).astype(int))
    bins = [[a for _, a in by_size if lo <= len(a) < hi] for lo, hi in zip(edges[:-1], edges[1:])]
    picked: list[Atoms] = []
    for b in bins:
        take = min(len(b), n // len(bins))
        picked += [b[i] for i in np.sort(rng.choice(len(b), take, replace=False))]
    rest = [a for _, a in by_size if not any(a is p for p in picked)]
    picked += [rest[i] for i in rng.choice(len(rest), n - len(picked), replace=False)]
    rng.shuffle(picked)
    return picked


def assemble(born, chi, fc, masses, volume, dstrain, lam, hess) -> dict[str, np.ndarray]:
    diel = dielectric_response(born, chi, fc, masses, volume)
    piezo = piezo_response(born, fc, dstrain, lam, hess, volume)
    return {"born": born, "eps_inf": diel.electronic, "eps_ionic": diel.ionic,
            "e_total": piezo.total, "elastic": piezo.relaxed_ion_elastic}


def route_engine(structures, model, device):
    results = evaluate(structures, model, properties=PROPS, device=device)
    return [assemble(r.born_charges, r.susceptibility, r.force_constants, r.masses, r.volume,
                     r.dipole_strain, r.internal_strain, r.strain_hessian) for r in results], results


def route_per_structure(structures, model, device, times=None):
    out = []
    calc = MACEFieldCalculator(model=model, device=device)
    for atoms in structures:
        start = time.perf_counter()
        atoms = atoms.copy()
        atoms.calc = calc
        born = calc.get_property("born_effective_charges", atoms)
        eps = calc.get_property("epsilon_electronic", atoms)
        (rest,) = evaluate([atoms], model, device=device, symmetry_reduce=False,
                           properties=("force_constants", "dipole_strain", "internal_strain", "strain_hessian"))
        out.append(assemble(born, eps - np.eye(3), rest.force_constants, atoms.get_masses(),
                            atoms.get_volume(), rest.dipole_strain, rest.internal_strain, rest.strain_hessian))
        if times is not None:
            times.append(time.perf_counter() - start)
    return out


def _point(calc: MACEFieldCalculator, atoms: Atoms, field=None) -> dict[str, np.ndarray]:
    calc.electric_field = np.zeros(3) if field is None else field
    atoms = atoms.copy()
    atoms.calc = calc
    return {"forces": atoms.get_forces(), "stress": calc.get_property("stress", atoms),
            "dipole": calc.get_property("dipole", atoms), "energy": atoms.get_potential_energy()}


def _strained(atoms: Atoms, eps: np.ndarray) -> Atoms:
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=False)
    out.positions = atoms.positions @ (np.eye(3) + eps)
    return out


def route_finite_differences(structures, model, device, h_pos=1e-3, h_field=1e-3, h_strain=1e-4,
                             times=None):
    calc = MACEFieldCalculator(model=model, device=device)
    out = []
    voigt = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    for atoms in structures:
        start = time.perf_counter()
        n, volume = len(atoms), atoms.get_volume()
        orbits = orbit_map(atoms)  # displace symmetry-inequivalent atoms only, as phonopy does
        reps = orbits.representatives if orbits else list(range(n))
        rows = np.zeros((3 * len(reps), 3 * n))
        for r, k in enumerate(reps):
            for a in range(3):
                plus, minus = atoms.copy(), atoms.copy()
                plus.positions[k, a] += h_pos
                minus.positions[k, a] -= h_pos
                rows[3 * r + a] = -(_point(calc, plus)["forces"] - _point(calc, minus)["forces"]).ravel() / (2 * h_pos)
        fc = expand_force_constants(rows, orbits) if orbits else 0.5 * (rows + rows.T)
        born = np.zeros((n, 3, 3))
        alpha = np.zeros((3, 3))
        for i in range(3):
            e = h_field * np.eye(3)[i]
            p, m = _point(calc, atoms, e), _point(calc, atoms, -e)
            born[:, i, :] = (p["forces"] - m["forces"]) / (2 * h_field)
            alpha[:, i] = (p["dipole"] - m["dipole"]) / (2 * h_field)
        dstrain = np.zeros((3, 3, 3))
        lam = np.zeros((n, 3, 3, 3))
        hess = np.zeros((3, 3, 3, 3))
        for j, l in voigt:
            eps = np.zeros((3, 3))
            eps[j, l] = eps[l, j] = h_strain / (2 if j != l else 1)
            p, m = _point(calc, _strained(atoms, eps)), _point(calc, _strained(atoms, -eps))
            for tgt, key in ((dstrain, "dipole"), (lam, "forces")):
                d = (p[key] - m[key]) / (2 * h_strain)
                tgt[..., j, l] = d
                tgt[..., l, j] = d
            # dF/d eta at finite strain = sym(Omega sigma (I + eta)^-1)
            gp, gm = (
                volume * np.linalg.det(np.eye(3) + sgn * eps)
                * np.array([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])
                @ np.linalg.inv(np.eye(3) + sgn * eps)
                for sgn, s in ((1, p["stress"]), (-1, m["stress"]))
            )
            d = (0.5 * (gp + gp.T) - 0.5 * (gm + gm.T)) / (2 * h_strain)
            hess[:, :, j, l] = d
            hess[:, :, l, j] = d
        out.append(assemble(born, alpha / (EPS0 * volume), fc, atoms.get_masses(), volume, dstrain, lam, hess))
        if times is not None:
            times.append(time.perf_counter() - start)
    return out


def max_dev(x: list[dict], y: list[dict]) -> dict[str, float]:
    return {k: float(max(np.abs(a[k] - b[k]).max() for a, b in zip(x, y))) for k in x[0]}


def max_rel_dev(x: list[dict], y: list[dict]) -> dict[str, float]:
    """Max deviation over the set divided by the largest magnitude of the quantity in the set."""
    return {k: dev / max(max(np.abs(b[k]).max() for b in y), 1e-300) for k, dev in max_dev(x, y).items()}


SIZE_BINS = ((2, 4), (5, 8), (9, 16), (17, 24), (25, 40))


def by_size_bin(structures: list[Atoms], seconds: list[float]) -> dict[str, dict[str, float]]:
    """Mean seconds per structure and count in each atoms-per-structure bin."""
    out = {}
    for lo, hi in SIZE_BINS:
        v = [t for a, t in zip(structures, seconds) if lo <= len(a) <= hi]
        if v:
            out[f"{lo}-{hi}"] = {"n": len(v), "s_per_structure": float(np.mean(v))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=("mp", "prototypes"), default="mp")
    parser.add_argument("--n", type=int, default=64, help="number of structures (>= 64 for the report)")
    parser.add_argument("--max-atoms", type=int, default=40)
    parser.add_argument("--fd-subset", type=int, default=16, help="structures for route (c) (slowest)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None, help="model file (default: a random 32-channel FieldMACE)")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    if args.set == "mp":
        structures = mp_structures(args.n, args.max_atoms)
    else:
        structures = make_structures(args.n, args.max_atoms)
    elements = sorted({s for a in structures for s in a.get_chemical_symbols()})
    model = (resolve_model(args.model, device=args.device) if args.model else
             tiny_field_model(elements, seed=0, channels=32, max_ell=2, correlation=2, r_max=5.0))
    model = resolve_model(model, device=args.device)
    sizes = [len(s) for s in structures]
    print(f"{len(structures)} structures ({args.set}), {min(sizes)}-{max(sizes)} atoms (median "
          f"{int(np.median(sizes))}), device {args.device}, "
          f"{sum(p.numel() for p in model.parameters())} parameters", flush=True)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    evaluate(structures[:2], model, properties=PROPS, device=args.device)  # warm-up
    t = time.perf_counter()
    engine_out, _ = route_engine(structures, model, args.device)
    t_a = time.perf_counter() - t
    print(f"(a) batched engine: {t_a:.1f} s", flush=True)
    peak = torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else None
    t = time.perf_counter()
    times_b: list[float] = []
    loop_out = route_per_structure(structures, model, args.device, times_b)
    t_b = time.perf_counter() - t
    print(f"(b) per-structure loop: {t_b:.1f} s", flush=True)
    sub = structures[: args.fd_subset]
    t = time.perf_counter()
    times_c: list[float] = []
    fd_out = route_finite_differences(sub, model, args.device, times=times_c)
    t_c = time.perf_counter() - t
    print(f"(c) finite differences on {len(sub)} structures: {t_c:.1f} s", flush=True)
    rate = {"a_engine": len(structures) / t_a, "b_per_structure": len(structures) / t_b,
            "c_finite_diff": len(sub) / t_c}
    # like for like on the FD subset: engine time per structure on that subset
    t = time.perf_counter()
    route_engine(sub, model, args.device)
    rate["a_engine_fd_subset"] = len(sub) / (time.perf_counter() - t)
    # engine cost by size: each size bin screened on its own (a batch per bin as packed)
    times_a: list[float] = [0.0] * len(structures)
    for lo, hi in SIZE_BINS:
        members = [i for i, a in enumerate(structures) if lo <= len(a) <= hi]
        if members:
            t = time.perf_counter()
            route_engine([structures[i] for i in members], model, args.device)
            per_structure = (time.perf_counter() - t) / len(members)
            for i in members:
                times_a[i] = per_structure
    report = {
        "set": args.set,
        "n_structures": len(structures),
        "atoms_min_median_max": [min(sizes), int(np.median(sizes)), max(sizes)],
        "structures_per_s": rate,
        "ratio_a_over_b": rate["a_engine"] / rate["b_per_structure"],
        "ratio_a_over_c": rate["a_engine_fd_subset"] / rate["c_finite_diff"],
        "max_dev_engine_vs_loop": max_dev(engine_out, loop_out),
        "max_dev_engine_vs_fd": max_dev(engine_out[: len(sub)], fd_out),
        "max_rel_dev_engine_vs_loop": max_rel_dev(engine_out, loop_out),
        "max_rel_dev_engine_vs_fd": max_rel_dev(engine_out[: len(sub)], fd_out),
        "peak_gpu_memory_gib": peak,
        "s_per_structure_by_atoms": {
            "a_engine": by_size_bin(structures, times_a),
            "b_per_structure": by_size_bin(structures, times_b),
            "c_finite_diff": by_size_bin(sub, times_c),
        },
    }
    print(json.dumps(report, indent=2))
    print("units of deviations: Z* e, eps dimensionless, e C/m^2, C GPa "
          f"(conversion factors {E_PER_A2_TO_C_PER_M2:.4f}, {EV_PER_A3_TO_GPA:.3f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)


if __name__ == "__main__":
    main()
