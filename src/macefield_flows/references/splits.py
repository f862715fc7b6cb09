"""Material-level train/valid/test split and training permissions of each dataset.

The split is shared by every dataset (``splits/splits.json`` in the shared
data): ``key = f"{reduced_formula}|{space_group}"``, ``h = sha256(key) % 100``;
``h < 70`` train, ``h < 85`` valid, else test.

Training permission (see the shared data README):

* ``train_split``: the ``train`` rows may be used to train a shipped model
  (cite the source); ``valid`` for tuning, ``test`` for reporting only.
* ``evaluation_only``: never enters training, whatever the split
  (``mp_dielectric_becs_macefield_subset``: licence unclear, MP BEC labels
  non-public; the MACE-Field paper files; finite-field frames).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from macefield_flows.exceptions import ReferenceDataError

Split = Literal["train", "valid", "test"]
SPLITS: tuple[str, ...] = ("train", "valid", "test")


def split_hash(reduced_formula: str, space_group: int | str) -> int:
    """``int(sha256(f"{reduced_formula}|{space_group}")) % 100``."""
    key = f"{reduced_formula}|{int(space_group)}"
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100


def material_split(reduced_formula: str, space_group: int | str) -> Split:
    """Split of a material: ``'train'``, ``'valid'`` or ``'test'``.

    Parameters
    ----------
    reduced_formula
        pymatgen reduced formula, e.g. ``'BaTiO3'``.
    space_group
        International space-group number (1-230).
    """
    h = split_hash(reduced_formula, space_group)
    if h < 70:
        return "train"
    if h < 85:
        return "valid"
    return "test"


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts of one reference dataset."""

    name: str
    filename: str
    citation: str
    method: str
    training: Literal["train_split", "evaluation_only"]
    properties: tuple[str, ...]


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            "mp_dielectric_petousis2017",
            "mp_dielectric_petousis2017.jsonl.gz",
            "I. Petousis et al., Sci. Data 4, 160134 (2017)",
            "VASP DFPT (LEPSILON, IBRION=8), PBE",
            "train_split",
            ("eps_electronic", "eps_ionic", "eps_total"),
        ),
        DatasetInfo(
            "mp_piezo_dejong2015",
            "mp_piezo_dejong2015.jsonl.gz",
            "M. de Jong et al., Sci. Data 2, 150053 (2015)",
            "VASP DFPT, PBE (relaxed-ion total e)",
            "train_split",
            ("piezo_total",),
        ),
        DatasetInfo(
            "petretto2018_dfpt_becs_epsinf",
            "petretto2018_dfpt_becs_epsinf_e3nn.jsonl.gz",
            "G. Petretto et al., Sci. Data 5, 180065 (2018)",
            "ABINIT DFPT, PBEsol",
            "train_split",
            ("born", "eps_electronic"),
        ),
        DatasetInfo(
            "mp_dielectric_becs_macefield_subset",
            "mp_dielectric_becs_macefield_subset.jsonl.gz",
            "B. A. A. Martin et al., arXiv:2508.17870 (2025) (Materials Project DFPT)",
            "VASP DFPT, PBE",
            "evaluation_only",
            ("born", "eps_electronic", "eps_ionic", "eps_total", "piezo_clamped_ion"),
        ),
        DatasetInfo(
            "mp_ferroelectric_paths_smidt2020",
            "mp_ferroelectric_paths_smidt2020.jsonl.gz",
            "T. E. Smidt et al., Sci. Data 7, 72 (2020)",
            "VASP Berry phase, PBE(+U)",
            "evaluation_only",
            ("spontaneous_polarization",),
        ),
        DatasetInfo(
            "phonopy_born_examples",
            "phonopy_born_examples.json",
            "phonopy example BORN files (A. Togo, BSD-3-Clause)",
            "VASP DFPT (LEPSILON)",
            "evaluation_only",
            ("born", "eps_electronic"),
        ),
    )
}
"""Registry of the reference datasets keyed by dataset name."""


def dataset_info(dataset: str) -> DatasetInfo:
    """Look up a dataset; raise :class:`ReferenceDataError` for an unknown name."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ReferenceDataError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}") from None


def allowed_for_training(dataset: str, split: str) -> bool:
    """Whether rows of ``dataset`` in ``split`` may train a model the project ships.

    Only ``train`` rows of ``train_split`` datasets are allowed. Unknown datasets
    raise (a training pipeline must never guess).
    """
    if split not in SPLITS:
        raise ReferenceDataError(f"{split=}, expected one of {SPLITS}")
    return dataset_info(dataset).training == "train_split" and split == "train"
