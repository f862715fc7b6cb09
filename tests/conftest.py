"""Shared fixtures: tiny models and low-symmetry structures (no files, no network)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

REPO = Path(__file__).resolve().parents[1]


def low_symmetry_perovskite(seed: int = 0) -> Atoms:
    """5-atom Ba-Ti-O cell, triclinic strain and rattle: no symmetry left."""
    atoms = Atoms(
        "BaTiO3",
        scaled_positions=[[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        cell=np.eye(3) * 4.0,
        pbc=True,
    )
    rng = np.random.default_rng(seed)
    atoms.set_cell(atoms.cell @ (np.eye(3) + 0.03 * rng.standard_normal((3, 3))), scale_atoms=True)
    atoms.positions += 0.08 * rng.standard_normal((len(atoms), 3))
    return atoms


def low_symmetry_wurtzite(seed: int = 1) -> Atoms:
    """4-atom Zn-O-N wurtzite-like cell (one O replaced by N), strained and rattled."""
    atoms = bulk("ZnO", "wurtzite", a=3.25, c=5.2)
    symbols = atoms.get_chemical_symbols()
    symbols[symbols.index("O")] = "N"
    atoms.set_chemical_symbols(symbols)
    rng = np.random.default_rng(seed)
    atoms.set_cell(atoms.cell @ (np.eye(3) + 0.02 * rng.standard_normal((3, 3))), scale_atoms=True)
    atoms.positions += 0.06 * rng.standard_normal((len(atoms), 3))
    return atoms


ELEMENTS = ["Ba", "Ti", "O", "Zn", "N", "Na", "Cl", "Mg"]


@pytest.fixture(scope="session")
def tiny_model():
    from macefield_flows.testing import tiny_field_model

    return tiny_field_model(ELEMENTS, seed=0, dtype="float64")


@pytest.fixture(scope="session")
def low_symmetry_structures() -> list[Atoms]:
    return [low_symmetry_perovskite(), low_symmetry_wurtzite()]


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The DFPT reference folder: MACEFIELD_REFERENCE_DIR when set, else the shipped data/references.

    Never skips: the shipped sets are part of the project, so tests using them run everywhere.
    """
    from macefield_flows.references.paths import resolve_reference_dir

    return resolve_reference_dir()


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` cleanly when no CUDA device is present."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none available)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
