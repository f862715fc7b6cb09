"""Distillation labels: energies, forces and stresses from CHGNet (weights ship in its wheel).

The labelled structures are the train (or valid) structures of the reference
sets plus rattled and strained copies, so the student sees forces, stresses
and curvature around the minima (what Gamma force constants need). Labels are
cached to a gzipped JSON file under a work folder (never committed).
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from macefield_flows.training.data import Sample

logger = logging.getLogger(__name__)

TEACHER = "CHGNet 0.3.0 (chgnet 0.4.2 wheel, pretrained/0.3.0, MPtrj-trained, PBE/PBE+U)"


def perturbed_copies(
    samples: Sequence[Sample],
    n_copies: int = 2,
    rattle: float = 0.04,
    strain: float = 0.02,
    seed: int = 0,
    keep_original: bool = True,
) -> list[Sample]:
    """Originals plus ``n_copies`` rattled (Gaussian, ``rattle`` A) and strained copies each.

    Copy c of a structure gets a random symmetric strain of amplitude ``strain``
    (odd copies) or a pure rattle (even copies), plus the rattle. Labels of
    the response properties are not carried to the copies.
    """
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    for s in samples:
        if keep_original:
            out.append(Sample(atoms=s.atoms.copy(), name=s.name, dataset=s.dataset, split=s.split,
                              meta=dict(s.meta, copy=0)))
        for c in range(1, n_copies + 1):
            atoms = s.atoms.copy()
            if c % 2 == 1 and strain > 0:
                eps = rng.normal(scale=strain, size=(3, 3))
                eps = 0.5 * (eps + eps.T)
                atoms.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            atoms.positions = atoms.positions + rng.normal(scale=rattle, size=atoms.positions.shape)
            out.append(Sample(atoms=atoms, name=f"{s.name}#c{c}", dataset=s.dataset, split=s.split,
                              meta=dict(s.meta, copy=c)))
    return out


def _load_chgnet():
    import torch

    from chgnet.model import CHGNet

    torch.set_num_threads(max(1, torch.get_num_threads()))
    return CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)


def label_with_chgnet(samples: Sequence[Sample], batch_size: int = 16) -> list[Sample]:
    """Set ``energy`` (eV), ``forces`` (eV/A) and ``stress`` (eV/A^3, ASE sign) from CHGNet."""
    from pymatgen.io.ase import AseAtomsAdaptor

    model = _load_chgnet()
    structures = [AseAtomsAdaptor.get_structure(s.atoms) for s in samples]
    t0 = time.time()
    preds = model.predict_structure(structures, task="efs", batch_size=batch_size)
    if isinstance(preds, dict):
        preds = [preds]
    gpa = 1.0 / 160.21766208  # GPa -> eV/A^3
    for s, p in zip(samples, preds):
        s.energy = float(p["e"]) * len(s.atoms)  # CHGNet returns eV/atom
        s.forces = np.asarray(p["f"], dtype=float)
        # CHGNet "s" is in GPa with ASE's sign ((1/V) dE/dstrain; checked by finite
        # differences of the energy under isotropic strain)
        s.stress = np.asarray(p["s"], dtype=float) * gpa
    logger.info("CHGNet labelled %d structures in %.1f s", len(samples), time.time() - t0)
    return list(samples)


def _sample_to_json(s: Sample) -> dict:
    return {
        "name": s.name, "dataset": s.dataset, "split": s.split, "meta": s.meta,
        "numbers": s.atoms.get_atomic_numbers().tolist(), "positions": s.atoms.positions.tolist(),
        "cell": s.atoms.cell.array.tolist(), "energy": s.energy,
        "forces": None if s.forces is None else s.forces.tolist(),
        "stress": None if s.stress is None else s.stress.tolist(),
    }


def _sample_from_json(d: dict) -> Sample:
    from ase import Atoms

    atoms = Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"], pbc=True)
    return Sample(atoms=atoms, name=d["name"], dataset=d["dataset"], split=d["split"], meta=d["meta"],
                  energy=d["energy"],
                  forces=None if d["forces"] is None else np.asarray(d["forces"]),
                  stress=None if d["stress"] is None else np.asarray(d["stress"]))


def save_labels(samples: Sequence[Sample], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wt") as handle:
        json.dump({"teacher": TEACHER, "samples": [_sample_to_json(s) for s in samples]}, handle)
    tmp.replace(path)


def load_labels(path: str | Path) -> list[Sample]:
    with gzip.open(path, "rt") as handle:
        return [_sample_from_json(d) for d in json.load(handle)["samples"]]


def cached_chgnet_labels(
    samples: Sequence[Sample], cache: str | Path, batch_size: int = 16
) -> tuple[list[Sample], Optional[float]]:
    """Label ``samples`` with CHGNet or read them from ``cache``; returns (samples, seconds or None)."""
    cache = Path(cache)
    if cache.is_file():
        cached = load_labels(cache)
        if [s.name for s in cached] == [s.name for s in samples]:
            return cached, None
        logger.warning("label cache %s does not match the requested structures: relabelling", cache)
    t0 = time.time()
    labelled = label_with_chgnet(list(samples), batch_size=batch_size)
    save_labels(labelled, cache)
    return labelled, time.time() - t0
