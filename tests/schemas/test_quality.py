"""The quality section: which properties a flag makes unreliable."""

from macefield_flows.schemas import ElectricResponseTaskDoc, Quality, QualityFlag, property_reliable


def _doc(*flags: QualityFlag, status: str = "successful") -> ElectricResponseTaskDoc:
    return ElectricResponseTaskDoc(status=status, quality=Quality(reliable=not flags, flags=list(flags)))


def test_flag_affects_only_its_properties():
    flag = QualityFlag(name="imaginary_modes", message="x", affects=["epsilon_ionic", "piezo_tensor"])
    doc = _doc(flag)
    assert not property_reliable(doc, "epsilon_ionic")
    assert not property_reliable(doc.model_dump(), "piezo_tensor")
    assert property_reliable(doc, "born")
    assert doc.quality.is_reliable("epsilon_static")
    assert not doc.quality.is_reliable("epsilon_ionic")


def test_flag_on_all_and_failed_documents():
    doc = _doc(QualityFlag(name="no_neighbours", message="x"))
    assert not property_reliable(doc, "born")
    assert not property_reliable(_doc(status="failed"), "born")
    assert property_reliable(_doc(), "born")
    # documents stored before quality assessment existed keep their verdict
    assert property_reliable({"status": "successful"}, "born")
