"""The Materials Project source with mp-api's own client and emmet-core documents.

Only the network layer is fake: ``requests``' HTTP adapter is replaced by a
tiny in-process MP API that serves the JSON of real emmet-core
``DielectricDoc`` / ``PiezoelectricDoc`` documents, so mp-api's ``MPRester``
parses them into its own document classes exactly as it would in production.
"""

import json
import logging
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

pytest.importorskip("mp_api.client")
emmet_polar = pytest.importorskip("emmet.core.polar")

from macefield_flows.references.mp_source import (  # noqa: E402
    MaterialsProjectSource,
    MissingAPIKeyError,
    MPConnectionError,
    UnknownMaterialError,
)

KEY = "secret-test-key-1234567890abcdef"
ALN = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.11, 4.98), ["Al", "N"],
                                [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.382]])
EPS_ELECTRONIC = np.diag([4.2, 4.2, 4.4])
EPS_IONIC = np.diag([4.1, 4.1, 4.6])
# VASP Voigt order (xx, yy, zz, xy, yz, zx), as emmet's from_ionic_and_electronic takes it
E_IONIC_VASP = [[0, 0, 0, 0, 0, -0.22], [0, 0, 0, 0, -0.22, 0], [-0.45, -0.45, 1.30, 0, 0, 0]]
E_ELEC_VASP = [[0, 0, 0, 0, 0, -0.07], [0, 0, 0, 0, -0.07, 0], [-0.13, -0.13, 0.16, 0, 0, 0]]


def _server_docs() -> dict[str, dict[str, dict]]:
    """JSON the MP API serves, per route and material id (built with emmet-core)."""
    diel = emmet_polar.DielectricDoc.from_ionic_and_electronic(
        epsilon_ionic=EPS_IONIC.tolist(), epsilon_static=EPS_ELECTRONIC.tolist(), structure=ALN,
        material_id="mp-661")
    piezo = emmet_polar.PiezoelectricDoc.from_ionic_and_electronic(
        piezo_ionic=E_IONIC_VASP, piezo_static=E_ELEC_VASP, structure=ALN, material_id="mp-661")
    out = {}
    for route, doc in (("dielectric", diel), ("piezoelectric", piezo)):
        data = json.loads(doc.model_dump_json())
        data["material_id"] = "mp-661"  # the API serves the plain id string
        out[route] = {"mp-661": data}
    out["summary"] = {"mp-661": {"material_id": "mp-661", "structure": ALN.as_dict(), "band_gap": 4.1}}
    return out


class FakeMPNetwork:
    """Replaces ``requests.adapters.HTTPAdapter.send``: answers like api.materialsproject.org."""

    def __init__(self, fail: bool = False):
        self.docs = _server_docs()
        self.fail = fail
        self.requests: list[str] = []

    def send(self, adapter, request, **kwargs):
        import requests
        from requests.models import Response

        self.requests.append(request.url)
        if self.fail:
            raise requests.exceptions.ConnectionError(f"cannot reach {request.url}")
        url = urlparse(request.url)
        query = parse_qs(url.query)
        if url.path.rstrip("/") == "/heartbeat":
            body = {"version": "0.87.3", "db_version": "2025.09.25", "access_controlled_batch_ids": []}
        else:
            route = url.path.strip("/").split("/")[-1]
            table = self.docs.get(route, {})
            ids = query.get("material_ids", [",".join(table)])[0].split(",")
            data = [table[m] for m in ids if m in table]
            fields = query.get("_fields", [""])[0]
            if fields:
                data = [{k: v for k, v in d.items() if k in fields.split(",")} for d in data]
            body = {"data": data, "meta": {"total_doc": len(data), "max_limit": 1000}}
        response = Response()
        response.status_code = 200
        response.url = request.url
        response.request = request
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(body).encode()
        return response


@pytest.fixture
def network(monkeypatch):
    from requests.adapters import HTTPAdapter

    fake = FakeMPNetwork()
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, request, **kw: fake.send(self, request, **kw))
    monkeypatch.setenv("MP_API_KEY", KEY)
    return fake


def test_real_client_returns_emmet_documents(network):
    """The client under test is mp-api's, and it hands emmet-core documents to our code."""
    from mp_api.client import MPRester

    with MPRester(api_key=KEY, mute_progress_bars=True) as client:
        docs = client.materials.dielectric.search(material_ids=["mp-661"])
    from emmet.core.mpid import MPID

    # mp-api's partial-document model built from emmet's DielectricDoc fields
    assert "DielectricDoc" in repr(docs[0])
    assert set(emmet_polar.DielectricDoc.model_fields) >= set(type(docs[0]).model_fields) - {"fields_not_requested", "unavailable_fields"}
    assert isinstance(docs[0].material_id, MPID) and str(docs[0].material_id) == "mp-661"
    assert docs[0].model_dump()["material_id"] != "mp-661"  # the emmet quirk behind the old bug


def test_fetch_with_real_client(network, caplog):
    caplog.set_level(logging.DEBUG)
    docs = MaterialsProjectSource().fetch(["mp-661"])
    assert len(docs) == 1
    d = docs[0]
    assert d.material_id == "mp-661" and d.source_id == "mp-661"
    assert d.formula_pretty == "AlN" and d.space_group == 186
    np.testing.assert_allclose(d.eps_electronic, EPS_ELECTRONIC, atol=1e-8)
    np.testing.assert_allclose(d.eps_total, EPS_ELECTRONIC + EPS_IONIC, atol=1e-8)
    assert d.e_total == pytest.approx(np.trace(EPS_ELECTRONIC + EPS_IONIC) / 3)
    assert d.n == pytest.approx(np.sqrt(np.trace(EPS_ELECTRONIC) / 3))
    # piezo in our Voigt order (xx, yy, zz, yz, xz, xy): e33 = 1.46, e31 = -0.58, e15 = e[0, 4] = -0.29
    e = np.asarray(d.piezo_total)
    assert e[2, 2] == pytest.approx(1.46) and e[2, 0] == pytest.approx(-0.58)
    assert e[0, 4] == pytest.approx(-0.29) and e[1, 3] == pytest.approx(-0.29)
    assert d.e_ij_max_emmet == pytest.approx(float(network.docs["piezoelectric"]["mp-661"]["e_ij_max"]))
    assert d.e_ij_max_longitudinal == pytest.approx(1.46, rel=1e-4)
    assert KEY not in d.model_dump_json() and KEY not in caplog.text
    assert any("/materials/dielectric/" in u for u in network.requests)


def test_missing_key(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    monkeypatch.delenv("PMG_MAPI_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError):
        MaterialsProjectSource().fetch(["mp-661"])


def test_unknown_ids(network):
    with pytest.raises(UnknownMaterialError, match="mp-999999"):
        MaterialsProjectSource().fetch(["mp-661", "mp-999999"])
    docs = MaterialsProjectSource().fetch(["mp-661", "mp-999999"], strict=False)
    assert [d.material_id for d in docs] == ["mp-661"]


def test_no_network(network):
    network.fail = True
    with pytest.raises(MPConnectionError) as info:
        MaterialsProjectSource().fetch(["mp-661"])
    assert KEY not in str(info.value)


def test_query_ids(network):
    assert MaterialsProjectSource().search_ids(chemsys="Al-N", band_gap=(1, 8)) == ["mp-661"]
    assert any("has_props=dielectric" in u or "has_props" in u for u in network.requests)
