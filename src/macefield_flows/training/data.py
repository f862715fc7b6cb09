"""Training / validation / test rows of the reference sets, under the project's split rules.

Rules (``shared/data/README.md``, ``shared/data/splits/splits.json``):

* material key ``reduced_formula|space_group``; ``sha256(key) % 100`` < 70 train,
  < 85 valid, else test: the same material is in the same split in every file;
* a shipped model trains only on ``train`` rows of the datasets marked
  "training allowed" (:data:`TRAINING_ALLOWED`) plus labels the project makes
  itself; ``valid`` rows tune, ``test`` rows report;
* evaluation-only datasets (:data:`EVALUATION_ONLY`) never enter training.

The reference folder is ``$MACEFIELD_REFERENCE_DIR`` or the shipped ``<repo>/data/references``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np

SPLITS = ("train", "valid", "test")
TRAINING_ALLOWED = {
    "petretto2018_dfpt_becs_epsinf_e3nn": "petretto2018_dfpt_becs_epsinf_e3nn.jsonl.gz",
    "mp_dielectric_petousis2017": "mp_dielectric_petousis2017.jsonl.gz",
}
EVALUATION_ONLY = {
    "mp_dielectric_becs_macefield_subset",
    "mp_ferroelectric_paths_smidt2020",
    "allegro_pol_BaTiO3_finite_field_dft",
    "allegro_pol_SiO2_alpha_quartz_finite_field_dft",
    "mace_field_paper",
}
ENV_REFERENCE_DIR = "MACEFIELD_REFERENCE_DIR"


class SplitRuleError(ValueError):
    """A request that would put evaluation-only or non-train rows into training."""


def reference_dir(path: Optional[str | os.PathLike] = None) -> Path:
    """The reference data folder: ``path``, ``$MACEFIELD_REFERENCE_DIR`` or the shipped ``<repo>/data/references``."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_REFERENCE_DIR)
    if env:
        return Path(env).expanduser()
    from macefield_flows.references.paths import shipped_reference_dir

    return shipped_reference_dir()


def material_key(reduced_formula: str, space_group: int | str) -> str:
    """``reduced_formula|space_group`` (space group number)."""
    return f"{reduced_formula}|{int(space_group)}"


def split_of_key(key: str) -> str:
    """'train' | 'valid' | 'test' for a material key (sha256 % 100 < 70 / < 85 / else)."""
    bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "valid" if bucket < 85 else "test"


def split_of_row(row: dict[str, Any]) -> str:
    return split_of_key(material_key(row["reduced_formula"], row["space_group"]))


@dataclass
class Sample:
    """One labelled structure. Arrays in the conventions of the reference files.

    born_charges: (N, 3, 3) e, [atom, field i, displacement j]; eps_*: (3, 3).
    energy (eV), forces (N, 3) eV/A, stress (3, 3) eV/A^3 (ASE sign): distillation labels.
    """

    atoms: Any  # ase.Atoms
    name: str
    dataset: str
    split: str
    born_charges: Optional[np.ndarray] = None
    eps_electronic: Optional[np.ndarray] = None
    eps_ionic: Optional[np.ndarray] = None
    eps_total: Optional[np.ndarray] = None
    energy: Optional[float] = None
    forces: Optional[np.ndarray] = None
    stress: Optional[np.ndarray] = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return len(self.atoms)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _row_to_sample(row: dict[str, Any], dataset: str, index: int, split: str) -> Sample:
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(Structure.from_dict(row["structure"]))
    atoms.info.clear()
    arr = lambda k: None if row.get(k) is None else np.asarray(row[k], dtype=float)  # noqa: E731
    name = row.get("material_id") or f"{row['reduced_formula']}-{row['space_group']}-{index}"
    return Sample(
        atoms=atoms,
        name=str(name),
        dataset=dataset,
        split=split,
        born_charges=arr("born_charges"),
        eps_electronic=arr("eps_electronic"),
        eps_ionic=arr("eps_ionic"),
        eps_total=arr("eps_total"),
        meta={"row": index, "reduced_formula": row["reduced_formula"],
              "space_group": int(row["space_group"])},
    )


def load_split(
    dataset: str,
    split: str,
    *,
    max_atoms: Optional[int] = None,
    for_training: bool = False,
    ref_dir: Optional[str | os.PathLike] = None,
) -> list[Sample]:
    """Rows of ``dataset`` in ``split`` as :class:`Sample` objects, in file order.

    ``for_training=True`` enforces the rules: only ``train`` rows of a
    training-allowed dataset (raises :class:`SplitRuleError` otherwise).
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}, expected one of {SPLITS}")
    if dataset not in TRAINING_ALLOWED:
        if dataset in EVALUATION_ONLY or for_training:
            raise SplitRuleError(f"dataset {dataset!r} is evaluation-only here (allowed for "
                                 f"training: {sorted(TRAINING_ALLOWED)})")
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(TRAINING_ALLOWED)}")
    if for_training and split != "train":
        raise SplitRuleError(f"split={split!r} rows never enter training")
    path = reference_dir(ref_dir) / TRAINING_ALLOWED[dataset]
    out = []
    for i, row in enumerate(_read_jsonl(path)):
        if split_of_row(row) != split:
            continue
        if max_atoms is not None and int(row["nsites"]) > max_atoms:
            continue
        out.append(_row_to_sample(row, dataset, i, split))
    return out


def check_training_samples(samples: Iterable[Sample]) -> None:
    """Raise :class:`SplitRuleError` if any sample is not a train row of an allowed dataset."""
    for s in samples:
        base = s.dataset.split(":")[0]
        if base not in TRAINING_ALLOWED or s.split != "train":
            raise SplitRuleError(f"sample {s.name} ({s.dataset}, {s.split}) may not be trained on")


def elements_of(samples: Iterable[Sample]) -> list[int]:
    """Sorted atomic numbers present in ``samples``."""
    zs: set[int] = set()
    for s in samples:
        zs.update(int(z) for z in s.atoms.get_atomic_numbers())
    return sorted(zs)
