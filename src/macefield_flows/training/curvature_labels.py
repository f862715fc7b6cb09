"""v4 teacher labels with curvature: EFS of perturbed cells, Hessian-vector products, polar paths.

Three kinds of labels, all on train-split structures (valid split for early stopping):

* ``efs``: energy (eV), forces (eV/A), stress (eV/A^3, ASE sign) of the structure, a rattled +
  strained copy and a strongly rattled copy;
* ``hvp``: Hessian-vector products ``H v`` (eV/A^2) of the teacher at a rattled copy along a random
  unit direction ``v`` (``|v| = 1`` over all 3N components, no net translation), by central
  differences of the teacher's forces: ``H v = (F(x - h v) - F(x + h v)) / (2 h)``, ``h`` = 0.01 A;
  the two displaced points also serve as ``efs`` labels;
* ``polar``: ``efs`` labels along BaTiO3-like polar distortions of train-split ABO3 perovskites (B
  cations +d, O -d * n_B / n_O along x, z and [111], d = 0.05 .. 0.3 A) so the student sees the
  double wells. The Smidt ferroelectric paths are evaluation-only here (``shared/data/README.md``)
  and are never used.

Labels are written in chunks (``<split>-<index>.npz``, compressed) under a folder; a chunk that
exists is never recomputed, so generation resumes after an interruption and chunks can be
committed as they land.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from macefield_flows.training.data import Sample

logger = logging.getLogger(__name__)

NON_PEROVSKITE_ANIONS = {"C", "N", "B", "Br", "I", "Cl", "Se", "S", "P", "As"}


@dataclass
class HVP:
    """One Hessian-vector label: structure ``index`` in its chunk, unit ``direction`` (N, 3),
    ``value`` = H v in eV/A^2 (N, 3)."""

    index: int
    direction: np.ndarray
    value: np.ndarray


@dataclass
class LabelSettings:
    """Which structures get which labels (seeded)."""

    max_atoms: int = 12
    rattle: float = 0.05
    rattle_hvp: float = 0.03
    strong_rattle: float = 0.1
    strain: float = 0.02
    hvp_step: float = 0.01
    n_hvp: int = 1
    chunk_materials: int = 100
    polar_steps: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2, 0.3)
    n_valid_materials: int = 120
    seed: int = 0


@dataclass
class Chunk:
    """Labelled structures of one chunk and their HVP labels."""

    samples: list[Sample]
    hvps: list[HVP] = field(default_factory=list)


# ---------------------------------------------------------------------------- structures
def random_direction(n_atoms: int, rng: np.random.Generator) -> np.ndarray:
    """Unit (over 3N components) Gaussian direction without net translation, shape (N, 3)."""
    v = rng.normal(size=(n_atoms, 3))
    v -= v.mean(axis=0)
    norm = np.linalg.norm(v)
    if norm == 0:
        raise ValueError("a single atom has no translation-free displacement direction")
    return v / norm


def _strained(atoms, amplitude: float, rng: np.random.Generator):
    eps = rng.normal(scale=amplitude, size=(3, 3))
    eps = 0.5 * (eps + eps.T)
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
    return out


def _rattled(atoms, amplitude: float, rng: np.random.Generator):
    out = atoms.copy()
    out.positions = out.positions + rng.normal(scale=amplitude, size=out.positions.shape)
    return out


def is_perovskite_like(sample: Sample) -> bool:
    """ABO3 composition (two cations, O fraction 3/5) without oxyanion-forming elements."""
    symbols = sample.atoms.get_chemical_symbols()
    n = len(symbols)
    cations = sorted(set(symbols) - {"O"})
    if len(cations) != 2 or 5 * symbols.count("O") != 3 * n or set(cations) & NON_PEROVSKITE_ANIONS:
        return False
    return all(5 * symbols.count(c) == n for c in cations)


def b_site(atoms) -> str:
    """The cation with the shortest mean distance to its nearest O (the octahedral B site)."""
    symbols = atoms.get_chemical_symbols()
    o_idx = [i for i, s in enumerate(symbols) if s == "O"]
    best, best_d = "", np.inf
    for c in sorted(set(symbols) - {"O"}):
        d = [min(atoms.get_distance(i, j, mic=True) for j in o_idx) for i, s in enumerate(symbols) if s == c]
        if np.mean(d) < best_d:
            best, best_d = c, float(np.mean(d))
    return best


def polar_path(sample: Sample, steps: Sequence[float]) -> list[Sample]:
    """B cations +d, O -d n_B/n_O along x, z and [111]/sqrt(3) for each d in ``steps`` (A)."""
    atoms = sample.atoms
    symbols = atoms.get_chemical_symbols()
    b = b_site(atoms)
    n_b, n_o = symbols.count(b), symbols.count("O")
    out = []
    for label, axis in (("x", [1, 0, 0]), ("z", [0, 0, 1]), ("111", [1, 1, 1])):
        axis = np.asarray(axis, float) / np.linalg.norm(axis)
        for d in steps:
            moved = atoms.copy()
            shift = np.array([d if s == b else -d * n_b / n_o if s == "O" else 0.0 for s in symbols])
            moved.positions = moved.positions + shift[:, None] * axis[None, :]
            out.append(Sample(atoms=moved, name=f"{sample.name}#polar-{label}-{d:g}", dataset=sample.dataset,
                              split=sample.split, meta=dict(sample.meta, kind="polar", b_site=b, d=d)))
    return out


def material_plan(samples: Sequence[Sample], settings: LabelSettings, seed: int) -> tuple[list[Sample], list[tuple[int, np.ndarray]]]:
    """Structures to label for ``samples`` and the HVP requests ``(index of centre, direction)``.

    Per material: the structure, a rattled + strained copy, a strongly rattled copy and
    ``n_hvp`` HVP centres (rattled copies); perovskite-like materials add their polar path.
    """
    rng = np.random.default_rng(seed)
    structs: list[Sample] = []
    requests: list[tuple[int, np.ndarray]] = []

    def add(s: Sample, atoms, tag: str, kind: str) -> int:
        structs.append(Sample(atoms=atoms, name=f"{s.name}#{tag}", dataset=s.dataset, split=s.split,
                              meta=dict(s.meta, kind=kind)))
        return len(structs) - 1

    for s in samples:
        add(s, s.atoms.copy(), "c0", "efs")
        add(s, _rattled(_strained(s.atoms, settings.strain, rng), settings.rattle, rng), "c1", "efs")
        add(s, _rattled(s.atoms, settings.strong_rattle, rng), "c2", "efs")
        if s.n_atoms > 1:
            for k in range(settings.n_hvp):
                i = add(s, _rattled(s.atoms, settings.rattle_hvp, rng), f"h{k}", "hvp_centre")
                requests.append((i, random_direction(s.n_atoms, rng)))
        if is_perovskite_like(s):
            structs.extend(polar_path(s, settings.polar_steps))
    return structs, requests


# ---------------------------------------------------------------------------- labelling
def label_chunk(teacher, structs: list[Sample], requests: list[tuple[int, np.ndarray]],
                step: float, batch: int = 16) -> Chunk:
    """EFS labels of ``structs`` and HVP labels of ``requests`` from ``teacher`` (a TeacherProcess).

    The +-h displaced points of each HVP request are added as ``efs`` samples too.
    """
    displaced: list[Sample] = []
    for i, v in requests:
        s = structs[i]
        for sign, tag in ((1.0, "p"), (-1.0, "m")):
            atoms = s.atoms.copy()
            atoms.positions = atoms.positions + sign * step * v
            displaced.append(Sample(atoms=atoms, name=f"{s.name}{tag}", dataset=s.dataset, split=s.split,
                                    meta=dict(s.meta, kind="hvp_point")))
    todo = list(structs) + displaced
    for k in range(0, len(todo), batch):
        part = todo[k:k + batch]
        for s, res in zip(part, teacher.evaluate([s.atoms for s in part])):
            s.energy, s.forces, s.stress = res["energy"], res["forces"], res["stress"]
    hvps = []
    n = len(structs)
    for r, (i, v) in enumerate(requests):
        f_plus, f_minus = todo[n + 2 * r].forces, todo[n + 2 * r + 1].forces
        hvps.append(HVP(index=i, direction=v, value=(f_minus - f_plus) / (2.0 * step)))
    return Chunk(samples=todo, hvps=hvps)


# ---------------------------------------------------------------------------- storage
def save_chunk(chunk: Chunk, path: str | Path, teacher: str) -> None:
    """Compressed npz: concatenated arrays (float32 except energies) + JSON names/meta."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    s = chunk.samples
    arrays = {
        "n_atoms": np.array([x.n_atoms for x in s], np.int32),
        "numbers": np.concatenate([x.atoms.get_atomic_numbers() for x in s]).astype(np.int16),
        "positions": np.concatenate([x.atoms.positions for x in s]).astype(np.float64),
        "cells": np.stack([x.atoms.cell.array for x in s]).astype(np.float64),
        "energy": np.array([x.energy for x in s], np.float64),
        "forces": np.concatenate([x.forces for x in s]).astype(np.float32),
        "stress": np.stack([x.stress for x in s]).astype(np.float32),
        "hvp_index": np.array([h.index for h in chunk.hvps], np.int32),
        "hvp_direction": (np.concatenate([h.direction for h in chunk.hvps]) if chunk.hvps
                          else np.zeros((0, 3))).astype(np.float32),
        "hvp_value": (np.concatenate([h.value for h in chunk.hvps]) if chunk.hvps
                      else np.zeros((0, 3))).astype(np.float32),
        "meta": np.array(json.dumps({"teacher": teacher, "names": [x.name for x in s],
                                     "dataset": [x.dataset for x in s], "split": [x.split for x in s],
                                     "meta": [x.meta for x in s]})),
    }
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def load_chunk(path: str | Path) -> Chunk:
    """Inverse of :func:`save_chunk` (no pickles: ``allow_pickle=False``)."""
    from ase import Atoms

    with np.load(path, allow_pickle=False) as z:
        d = {k: z[k] for k in z.files}
    info = json.loads(str(d["meta"]))
    ends = np.cumsum(d["n_atoms"])
    starts = ends - d["n_atoms"]
    samples = []
    for i, (a, b) in enumerate(zip(starts, ends)):
        atoms = Atoms(numbers=d["numbers"][a:b], positions=d["positions"][a:b], cell=d["cells"][i], pbc=True)
        samples.append(Sample(atoms=atoms, name=info["names"][i], dataset=info["dataset"][i],
                              split=info["split"][i], meta=info["meta"][i], energy=float(d["energy"][i]),
                              forces=d["forces"][a:b].astype(float), stress=d["stress"][i].astype(float)))
    hvps, offset = [], 0
    for i in d["hvp_index"]:
        n = samples[int(i)].n_atoms
        hvps.append(HVP(index=int(i), direction=d["hvp_direction"][offset:offset + n].astype(float),
                        value=d["hvp_value"][offset:offset + n].astype(float)))
        offset += n
    return Chunk(samples=samples, hvps=hvps)


def load_label_dir(folder: str | Path, split: str, max_chunks: Optional[int] = None) -> Chunk:
    """All chunks ``<split>-*.npz`` of ``folder`` merged into one (HVP indices shifted).

    ``max_chunks``: only the first chunks in name order (chunks hold materials in seeded random
    order, so the first k chunks are a random material-level subset).
    """
    merged = Chunk(samples=[], hvps=[])
    paths = [p for p in sorted(Path(folder).glob(f"{split}-*.npz")) if not p.name.endswith(".tmp.npz")]
    for path in paths[:max_chunks]:
        c = load_chunk(path)
        shift = len(merged.samples)
        merged.samples += c.samples
        merged.hvps += [HVP(h.index + shift, h.direction, h.value) for h in c.hvps]
    return merged


# ---------------------------------------------------------------------------- driver
def materials(split: str, settings: LabelSettings) -> list[Sample]:
    """Seeded order of the deduplicated pool of ``split`` (train rows only for training)."""
    from macefield_flows.training.pipeline import _pool

    pool = _pool(split, settings.max_atoms)
    rng = np.random.default_rng(settings.seed + (0 if split == "train" else 1))
    order = [pool[i] for i in rng.permutation(len(pool))]
    if split == "valid":
        order = order[: settings.n_valid_materials]
    return order


def generate_labels(folder: str | Path, settings: LabelSettings, teacher=None, max_wall_s: Optional[float] = None,
                    splits: Sequence[str] = ("valid", "train"), on_chunk=None) -> dict[str, Any]:
    """Label chunk after chunk (valid first), skipping chunks on disk; returns a summary.

    ``on_chunk(path, seconds)`` is called after each new chunk. Stops starting new chunks once
    ``max_wall_s`` seconds have passed.
    """
    from macefield_flows.training.data import check_training_samples
    from macefield_flows.training.teacher import TeacherProcess

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
    t0 = time.time()
    own = teacher is None
    summary: dict[str, Any] = {"new_chunks": 0, "teacher_s": 0.0, "complete": True}
    try:
        for split in splits:
            mats = materials(split, settings)
            if split == "train":
                check_training_samples(mats)
            size = settings.chunk_materials
            for c, start in enumerate(range(0, len(mats), size)):
                path = folder / f"{split}-{c:03d}.npz"
                if path.is_file():
                    continue
                if max_wall_s is not None and time.time() - t0 > max_wall_s:
                    summary["complete"] = False
                    return summary
                if teacher is None:
                    teacher = TeacherProcess()
                tc = time.time()
                structs, requests = material_plan(mats[start:start + size], settings,
                                                  seed=settings.seed * 1000 + c + (0 if split == "train" else 500))
                chunk = label_chunk(teacher, structs, requests, settings.hvp_step)
                save_chunk(chunk, path, teacher.name)
                dt = time.time() - tc
                summary["new_chunks"] += 1
                summary["teacher_s"] += dt
                logger.info("%s: %d structures, %d HVP in %.0f s", path.name, len(chunk.samples), len(chunk.hvps), dt)
                if on_chunk is not None:
                    on_chunk(path, dt)
    finally:
        if own and teacher is not None:
            teacher.close()
    return summary
