"""emmet-core documents with the real emmet-core: Voigt order, IEEE frame, our flags kept."""

from __future__ import annotations

import numpy as np
import pytest
from emmet.core.polar import DielectricDoc, PiezoelectricDoc

from macefield_flows.interop.emmet import to_dielectric_doc, to_piezoelectric_doc
from macefield_flows.physics.piezo import e_ij_max_singular
from macefield_flows.schemas.quality import Quality, QualityFlag
from macefield_flows.units import voigt_from_vasp_order, voigt_to_vasp_order


def test_voigt_order_permutation():
    labels = np.array(["xx", "yy", "zz", "yz", "xz", "xy"])
    assert voigt_to_vasp_order(labels).tolist() == ["xx", "yy", "zz", "xy", "yz", "xz"]
    v = np.arange(18.0).reshape(3, 6)
    np.testing.assert_array_equal(voigt_from_vasp_order(voigt_to_vasp_order(v)), v)
    with pytest.raises(ValueError, match="length 6"):
        voigt_to_vasp_order(np.zeros((3, 5)))


@pytest.mark.parametrize("name", ["zno", "aln"])
def test_piezoelectric_doc_keeps_e15(name, zno_doc, aln_doc):
    """emmet's total == ours (wurtzite with c along z and a along x is already the IEEE frame)."""
    doc = {"zno": zno_doc, "aln": aln_doc}[name]
    ours = np.asarray(doc.piezo_tensor)
    assert abs(ours[0, 4]) > 0.05  # e15 is there to lose
    emmet_doc = to_piezoelectric_doc(doc)
    assert isinstance(emmet_doc, PiezoelectricDoc)
    np.testing.assert_allclose(emmet_doc.total, ours, atol=1e-6)
    np.testing.assert_allclose(emmet_doc.ionic, doc.piezo_ionic_tensor, atol=1e-6)
    np.testing.assert_allclose(emmet_doc.electronic, doc.piezo_electronic_tensor, atol=1e-6)
    value, direction, strain = e_ij_max_singular(ours)
    assert emmet_doc.e_ij_max == pytest.approx(value, rel=1e-9)
    assert emmet_doc.e_ij_max == pytest.approx(doc.e_ij_max, rel=1e-9)
    miller = np.asarray(emmet_doc.max_direction, float)
    assert abs(abs(miller / np.linalg.norm(miller) @ direction) - 1) < 1e-6
    assert abs(abs(np.asarray(emmet_doc.strain_for_max) @ strain) - 1) < 1e-6
    # the trap this module exists for: emmet reads VASP order, so unconverted input loses e15
    raw = PiezoelectricDoc.from_ionic_and_electronic(piezo_ionic=doc.piezo_ionic_tensor,
                                                     piezo_static=doc.piezo_electronic_tensor,
                                                     structure=doc.structure)
    assert abs(np.asarray(raw.total)[0, 4]) < 1e-8
    assert abs(np.asarray(emmet_doc.total)[0, 4] - ours[0, 4]) < 1e-6


def test_dielectric_doc(zno_doc):
    emmet_doc = to_dielectric_doc(zno_doc)
    assert isinstance(emmet_doc, DielectricDoc)
    np.testing.assert_allclose(emmet_doc.electronic, zno_doc.epsilon_static, atol=1e-9)
    np.testing.assert_allclose(emmet_doc.ionic, zno_doc.epsilon_ionic, atol=1e-9)
    np.testing.assert_allclose(emmet_doc.total, zno_doc.epsilon_total, atol=1e-9)
    for field in ("e_total", "e_ionic", "e_electronic", "n"):
        assert getattr(emmet_doc, field) == pytest.approx(getattr(zno_doc, field), rel=1e-9)


def test_quality_flags_survive(zno_doc):
    flag = QualityFlag(name="imaginary_modes", message="2 imaginary optical modes at Gamma", value=-0.9,
                       threshold=-0.1, unit="THz", affects=["epsilon_ionic", "piezo_ionic_tensor", "piezo_tensor"])
    other = QualityFlag(name="elastic_not_pd", message="C not positive definite", affects=["piezo_strain_tensor"])
    doc = zno_doc.model_copy(update={"quality": Quality(reliable=False, flags=[flag, other]),
                                     "material_id": "mp-2133"})
    piezo = to_piezoelectric_doc(doc)
    assert piezo.reliable is False and piezo.quality.flags[0].name == "imaginary_modes"
    assert any("imaginary_modes" in w for w in piezo.warnings)
    assert not any("elastic_not_pd" in w for w in piezo.warnings)  # d is not in this document
    assert str(piezo.material_id) == "mp-2133"
    dumped = piezo.model_dump()
    assert dumped["quality"]["flags"][0]["affects"] == flag.affects and dumped["source_task_id"] == doc.task_id
    plain = to_piezoelectric_doc(doc, emmet_only=True)
    assert type(plain) is PiezoelectricDoc and any("imaginary_modes" in w for w in plain.warnings)
    # dict input (a stored document) works the same
    assert to_dielectric_doc(doc.model_dump()).reliable is False
    clean = zno_doc.model_copy(update={"quality": Quality(reliable=False, flags=[other])})
    assert to_dielectric_doc(clean).reliable is True
