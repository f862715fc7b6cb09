"""Fields named after emmet-core fields hold emmet-core's numbers, on any cell orientation.

emmet's ``PiezoelectricDoc`` converts the tensor to the IEEE frame of the
structure before it takes ``e_ij_max`` (largest singular value of the 3x6
Voigt matrix), ``max_direction`` and ``strain_for_max``; the plain singular
value is frame dependent, so a rotated cell gave a different number. Our own
rotation-invariant measure keeps its own name (``e_ij_max_longitudinal``).
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from scipy.spatial.transform import Rotation

from macefield_flows.physics import e_ij_max_singular, emmet_piezo_maximum, rotate_tensor
from macefield_flows.units import rank3_to_voigt, voigt_to_rank3, voigt_to_vasp_order

polar = pytest.importorskip("emmet.core.polar")

# ZnO-like wurtzite tensor (C/m^2, our Voigt order): e33, e31, e15
E_ZNO = np.zeros((3, 6))
E_ZNO[2, 2], E_ZNO[2, 0], E_ZNO[2, 1], E_ZNO[0, 4], E_ZNO[1, 3] = 1.22, -0.51, -0.51, -0.45, -0.45


def wurtzite(a=3.25, c=5.21, u=0.382, cation="Zn", anion="O") -> Structure:
    return Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(a, c), [cation, anion],
                                     [[1 / 3, 2 / 3, 0], [1 / 3, 2 / 3, u]])


def rotated(structure: Structure, rot: np.ndarray) -> Structure:
    return Structure(Lattice(structure.lattice.matrix @ rot.T), structure.species, structure.frac_coords)


def permuted(structure: Structure) -> Structure:
    """Same crystal, same Cartesian frame: lattice vectors cycled (a, b, c) -> (b, c, a), sites reversed."""
    m = structure.lattice.matrix[[1, 2, 0]]
    frac = structure.frac_coords[:, [1, 2, 0]][::-1]
    return Structure(Lattice(m), list(structure.species)[::-1], frac)


def emmet_values(e_voigt, structure):
    doc = polar.PiezoelectricDoc.from_ionic_and_electronic(
        piezo_ionic=voigt_to_vasp_order(e_voigt).tolist(), piezo_static=np.zeros((3, 6)).tolist(),
        structure=structure, material_id="mp-2133")
    return doc.e_ij_max, list(doc.max_direction), np.asarray(doc.strain_for_max)


def assert_same_as_emmet(ours, theirs):
    assert ours[0] == pytest.approx(theirs[0], rel=1e-9)
    # singular vectors are defined up to a common sign
    sign = 1.0 if np.dot(ours[2], theirs[2]) >= 0 else -1.0
    np.testing.assert_allclose(sign * np.asarray(ours[2]), theirs[2], atol=1e-8)
    np.testing.assert_array_equal(sign * np.asarray(ours[1]), theirs[1])


CASES = {
    "rot0": Rotation.random(random_state=0).as_matrix(),
    "rot1": Rotation.random(random_state=1).as_matrix(),
    "rot2": Rotation.random(random_state=2).as_matrix(),
    "z90": Rotation.from_euler("z", 90, degrees=True).as_matrix(),
}


@pytest.mark.parametrize("case", sorted(CASES) + ["permuted", "permuted_rot1"])
def test_emmet_piezo_maximum_equals_emmet_on_rotated_and_permuted_zno(case):
    rot = CASES.get(case.replace("permuted_", ""), np.eye(3))
    structure = rotated(wurtzite(), rot)
    if case.startswith("permuted"):
        structure = permuted(structure)
    e = rank3_to_voigt(rotate_tensor(voigt_to_rank3(E_ZNO), rot))
    ours = emmet_piezo_maximum(e, structure)
    assert_same_as_emmet(ours, emmet_values(e, structure))
    # frame independent, unlike the plain singular value of the rotated Voigt matrix
    assert ours[0] == pytest.approx(emmet_piezo_maximum(E_ZNO, wurtzite())[0], rel=1e-9)


def test_plain_singular_value_is_frame_dependent():
    """Why the IEEE conversion matters: the structure-frame value differs from emmet's."""
    rot = CASES["rot1"]
    e = rank3_to_voigt(rotate_tensor(voigt_to_rank3(E_ZNO), rot))
    assert abs(e_ij_max_singular(e)[0] - emmet_values(e, rotated(wurtzite(), rot))[0]) > 0.02


def test_emmet_piezo_maximum_equals_emmet_on_triclinic_cell():
    rng = np.random.default_rng(3)
    lattice = Lattice(np.diag([3.1, 3.6, 4.3]) + rng.uniform(-0.4, 0.4, (3, 3)))
    structure = Structure(lattice, ["Zn", "O", "N"], rng.uniform(0, 1, (3, 3)))
    e = rng.normal(size=(3, 6))
    assert_same_as_emmet(emmet_piezo_maximum(e, structure), emmet_values(e, structure))


@pytest.fixture(scope="module")
def zno_docs():
    """Task documents of ZnO from the shipped model: reference orientation, rotated, permuted."""
    from macefield_flows.jobs.response import PiezoelectricMaker, run_response

    base = wurtzite()
    structures = {"ieee": base, "rot1": rotated(base, CASES["rot1"]), "permuted_rot2": permuted(rotated(base, CASES["rot2"]))}
    batch = run_response(PiezoelectricMaker(), list(structures.values()))
    return dict(zip(structures, batch.tasks))


def test_documents_hold_emmets_numbers(zno_docs):
    from macefield_flows.interop.emmet import to_dielectric_doc, to_piezoelectric_doc

    for name, doc in zno_docs.items():
        assert doc.status.value == "successful", (name, doc.failure_reason)
        piezo = to_piezoelectric_doc(doc, emmet_only=True)
        assert doc.e_ij_max == pytest.approx(piezo.e_ij_max, rel=1e-6), name
        sign = 1.0 if np.dot(doc.strain_for_max, piezo.strain_for_max) >= 0 else -1.0
        np.testing.assert_allclose(sign * np.asarray(doc.strain_for_max), piezo.strain_for_max, atol=1e-5)
        # emmet takes a ROW of U: each component carries the arbitrary sign of a different singular pair.
        # When the two smaller singular values are equal (wurtzite: both |e15| in the IEEE frame) the
        # last two components of that row depend on the arbitrary basis LAPACK picks for the degenerate
        # pair (with macefield-small-v4 the rotated ZnO gives [0, 1, 0] here and [0, 0, 1] in emmet,
        # with e_ij_max equal to 1e-15); only the first component and the norm of the other two are
        # defined then.
        ours, emmets = np.abs(doc.max_direction), np.abs(piezo.max_direction)
        sv = np.linalg.svd(np.asarray(piezo.total), compute_uv=False)
        if abs(sv[1] - sv[2]) > 1e-6 * sv[0]:
            assert ours.tolist() == emmets.tolist(), name
        else:
            assert ours[0] == emmets[0] and np.linalg.norm(ours[1:]) == np.linalg.norm(emmets[1:]), name
        diel = to_dielectric_doc(doc, emmet_only=True)
        for field in ("e_electronic", "e_ionic", "e_total", "n"):
            assert getattr(doc, field) == pytest.approx(getattr(diel, field), rel=1e-7), (name, field)
    # every orientation gives the same numbers (the IEEE frame is fixed by the crystal)
    ref = zno_docs["ieee"]
    for doc in zno_docs.values():
        assert doc.e_ij_max == pytest.approx(ref.e_ij_max, rel=1e-5)
        assert doc.e_ij_max_longitudinal == pytest.approx(ref.e_ij_max_longitudinal, rel=1e-5)


EMMET_NAMED_AND_CHECKED = {"e_ij_max", "max_direction", "strain_for_max", "e_electronic", "e_ionic", "e_total", "n"}
IDENTITY_FIELDS = {"material_id", "formula_pretty", "chemsys", "elements", "nsites", "structure", "warnings",
                   "composition", "composition_reduced", "formula_anonymous", "nelements", "volume", "density",
                   "density_atomic", "symmetry", "deprecated", "deprecation_reasons", "last_updated", "origins",
                   "builder_meta", "property_name"}


def test_every_emmet_named_field_is_checked():
    """A new document field named after an emmet field must be added to the checks above."""
    from macefield_flows.schemas.task import ElectricResponseTaskDoc

    emmet_names = set(polar.PiezoelectricDoc.model_fields) | set(polar.DielectricDoc.model_fields)
    shared = (set(ElectricResponseTaskDoc.model_fields) & emmet_names) - IDENTITY_FIELDS
    assert shared == EMMET_NAMED_AND_CHECKED


def test_no_ieee_frame_is_an_explicit_gap():
    """A rattled hexagonal cell (found monoclinic): we follow emmet either way.

    Older pymatgen finds no IEEE frame for it (emmet fails with StopIteration) and we then say
    why (ValueError "no IEEE frame"); pymatgen >= 2026.10 finds one and we must then give
    emmet's numbers exactly.
    """
    rng = np.random.default_rng(0)
    zno = Structure(Lattice.hexagonal(3.25, 5.2), ["Zn", "Zn", "O", "O"],
                    [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.38], [2 / 3, 1 / 3, 0.88]])
    rattled = Structure(zno.lattice, zno.species, zno.cart_coords + 0.01 * rng.standard_normal((4, 3)),
                        coords_are_cartesian=True)
    try:
        expected_max, expected_direction, expected_strain = emmet_values(E_ZNO, rattled)
    except StopIteration:
        with pytest.raises(ValueError, match="no IEEE frame"):
            emmet_piezo_maximum(E_ZNO, rattled)
        return
    value, direction, strain = emmet_piezo_maximum(E_ZNO, rattled)
    assert value == pytest.approx(expected_max, rel=1e-12)
    assert list(direction) == list(expected_direction)
    np.testing.assert_allclose(strain, expected_strain, atol=1e-12)
