"""The Materials Project source with a fake client: no network."""

import logging

import pytest
from pymatgen.core import Lattice, Structure

from macefield_flows.references.mp_source import (
    MaterialsProjectSource,
    MissingAPIKeyError,
    MPConnectionError,
    UnknownMaterialError,
)

KEY = "secret-test-key-1234567890"
ALN = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.11, 4.98), ["Al", "N"],
                                [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.382]])


class _Route:
    def __init__(self, docs):
        self.docs = docs

    def search(self, material_ids=None, fields=None, **kwargs):
        if material_ids is None:
            return list(self.docs.values())
        return [self.docs[m] for m in material_ids if m in self.docs]


class FakeClient:
    def __init__(self, api_key, fail=False):
        self.api_key = api_key
        self.fail = fail
        eps = [[4.2, 0, 0], [0, 4.2, 0], [0, 0, 4.4]]
        e = [[0, 0, 0, 0, -0.29, 0], [0, 0, 0, -0.29, 0, 0], [-0.58, -0.58, 1.46, 0, 0, 0]]
        self.materials = type("M", (), {})()
        self.materials.dielectric = _Route({"mp-661": {"material_id": "mp-661", "electronic": eps,
                                                       "ionic": eps, "total": [[8.4, 0, 0], [0, 8.4, 0], [0, 0, 8.8]], "n": 2.07}})
        self.materials.piezoelectric = _Route({"mp-661": {"material_id": "mp-661", "total": e, "ionic": e,
                                                          "electronic": e, "e_ij_max": 1.6757}})
        self.materials.summary = _Route({"mp-661": {"material_id": "mp-661", "structure": ALN.as_dict()}})

    def __enter__(self):
        if self.fail:
            raise ConnectionError(f"cannot connect with key {self.api_key}")
        return self

    def __exit__(self, *a):
        return False


def test_missing_key(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    monkeypatch.delenv("PMG_MAPI_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError):
        MaterialsProjectSource(FakeClient).fetch(["mp-661"])


def test_fetch_and_key_never_logged(monkeypatch, caplog):
    monkeypatch.setenv("MP_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    docs = MaterialsProjectSource(FakeClient).fetch(["mp-661"])
    assert len(docs) == 1
    d = docs[0]
    assert d.e_ij_max_emmet == pytest.approx(1.6757)
    assert d.e_ij_max_longitudinal == pytest.approx(1.46, rel=1e-4)
    assert d.e_total == pytest.approx(8.5333, rel=1e-4)
    assert KEY not in d.model_dump_json() and KEY not in caplog.text


def test_unknown_ids(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", KEY)
    with pytest.raises(UnknownMaterialError, match="mp-999999"):
        MaterialsProjectSource(FakeClient).fetch(["mp-661", "mp-999999"])
    assert len(MaterialsProjectSource(FakeClient).fetch(["mp-661", "mp-999999"], strict=False)) == 1


def test_no_network(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", KEY)
    with pytest.raises(MPConnectionError) as info:
        MaterialsProjectSource(lambda k: FakeClient(k, fail=True)).fetch(["mp-661"])
    assert KEY not in str(info.value)


def test_query_ids(monkeypatch):
    monkeypatch.setenv("MP_API_KEY", KEY)
    assert MaterialsProjectSource(FakeClient).search_ids(chemsys="Al-N", band_gap=(1, 8)) == ["mp-661"]
