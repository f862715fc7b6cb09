"""Reference ``e_ij_max_emmet`` is emmet-core's number: the tensor in the IEEE frame first.

A tensor given in the frame of an arbitrarily oriented cell is converted as emmet's
``PiezoelectricDoc`` does (the helper the task documents use); the de Jong tensors are
emmet's output, already in the IEEE frame, so their value is the singular value as given.
"""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.physics import e_ij_max_singular, rotate_tensor
from macefield_flows.references.ingest import make_reference_doc
from macefield_flows.units import rank3_to_voigt, voigt_to_rank3
from tests.documents.test_emmet_names import CASES, E_ZNO, emmet_values, rotated, wurtzite

pytest.importorskip("emmet.core.polar")


@pytest.mark.parametrize("case", ["rot0", "rot1"])
def test_reference_e_ij_max_emmet_in_ieee_frame_on_a_rotated_cell(case):
    rot = CASES[case]
    structure = rotated(wurtzite(), rot)
    e = rank3_to_voigt(rotate_tensor(voigt_to_rank3(E_ZNO), rot))  # tensor in the rotated cell's frame
    doc = make_reference_doc("mp_dielectric_becs_macefield_subset", f"zno-{case}", structure.as_dict(),
                             piezo_total=e.tolist(), piezo_frame="structure", piezo_structure=structure.as_dict())
    expected = emmet_values(e, structure)[0]
    assert doc.e_ij_max_emmet == pytest.approx(expected, rel=1e-9)
    # the structure-frame singular value (the old number) is not emmet's on this cell
    assert abs(e_ij_max_singular(e)[0] - expected) > 1e-3


def test_reference_e_ij_max_emmet_tensor_already_in_ieee_frame():
    """de Jong / MP tensors are emmet's IEEE-frame output: emmet's value is their singular value."""
    structure = wurtzite()
    doc = make_reference_doc("mp_piezo_dejong2015", "zno", structure.as_dict(), piezo_total=E_ZNO.tolist(),
                             piezo_frame="structure_ieee", piezo_structure=structure.as_dict())
    assert doc.e_ij_max_emmet == pytest.approx(emmet_values(E_ZNO, structure)[0], rel=1e-9)


def test_reference_e_ij_max_emmet_empty_when_frame_unknown():
    structure = rotated(wurtzite(), CASES["rot0"])
    doc = make_reference_doc("mp_dielectric_becs_macefield_subset", "zno-unknown", structure.as_dict(),
                             piezo_total=E_ZNO.tolist(), piezo_frame="unknown")
    assert doc.e_ij_max_emmet is None
    assert doc.e_ij_max_longitudinal is not None
