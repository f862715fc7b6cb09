"""Fixtures of the hand-off tests: MgO / ZnO / AlN documents from the shipped default model.

The numbers of the default model change when it is retrained; the tests check
relations (sum rules, Lyddane-Sachs-Teller, independent routes), never its values.
"""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure


def mgo() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]]).get_primitive_structure()


def wurtzite(a: float, c: float, u: float, cation: str, anion: str) -> Structure:
    return Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(a, c), [cation, anion],
                                     [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, u]])


@pytest.fixture(scope="session")
def default_model():
    from macefield_flows.engine.inputs import resolve_model

    return resolve_model("default", device="cpu", dtype="float64")


@pytest.fixture(scope="session")
def mgo_doc():
    from macefield_flows.jobs.response import DielectricMaker, run_response

    return run_response(DielectricMaker(), mgo())


@pytest.fixture(scope="session")
def zno_doc():
    from macefield_flows.jobs.response import PiezoelectricMaker, run_response

    return run_response(PiezoelectricMaker(), wurtzite(3.25, 5.21, 0.382, "Zn", "O"))


@pytest.fixture(scope="session")
def aln_doc():
    from macefield_flows.jobs.response import PiezoelectricMaker, run_response

    return run_response(PiezoelectricMaker(), wurtzite(3.11, 4.98, 0.381, "Al", "N"))
