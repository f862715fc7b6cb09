"""Fixtures of the jobs/flows/stores/cli tests: a saved tiny model, small structures."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure


@pytest.fixture(autouse=True)
def _no_default_model_override(monkeypatch):
    """Tests set MACEFIELD_DEFAULT_MODEL themselves when they need a default model."""
    monkeypatch.delenv("MACEFIELD_DEFAULT_MODEL", raising=False)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    from macefield_flows.model import save_model
    from macefield_flows.testing import tiny_field_model

    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(tiny_field_model(["Mg", "O", "Zn", "Na", "Cl"], seed=0, channels=4), path)
    return path


def rocksalt(a: float, sp=("Mg", "O"), sid="MgO") -> Structure:
    s = Structure(Lattice.cubic(a), list(sp), [[0, 0, 0], [0.5, 0.5, 0.5]])
    s = Structure(Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]), list(sp),
                  [[0, 0, 0], [0.5, 0.5, 0.5]])
    s.properties = {"structure_id": sid}
    return s


@pytest.fixture
def structures():
    rng = np.random.default_rng(0)
    out = [rocksalt(4.2, ("Mg", "O"), "MgO"), rocksalt(5.6, ("Na", "Cl"), "NaCl")]
    zno = Structure(Lattice.hexagonal(3.25, 5.2), ["Zn", "Zn", "O", "O"],
                    [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.38], [2 / 3, 1 / 3, 0.88]])
    # rattled (seeded): a low-symmetry structure, so no path can lean on symmetry reduction
    zno = Structure(zno.lattice, zno.species, zno.cart_coords + 0.01 * rng.standard_normal((len(zno), 3)),
                    coords_are_cartesian=True)
    zno.properties = {"structure_id": "ZnO", "material_id": "mp-2133"}
    out.append(zno)
    return out


@pytest.fixture
def bad_structure():
    s = Structure(Lattice.cubic(4.0), ["Mg", "O"], [[0, 0, 0], [0.01, 0, 0]])
    s.properties = {"structure_id": "overlap"}
    return s
