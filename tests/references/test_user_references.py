"""Users' own references: emmet documents, atomate2 task documents, plain JSON; `references update` via mp-api."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.references.user import VASP_TO_VOIGT, read_reference_file

emmet_polar = pytest.importorskip("emmet.core.polar")

ALN = Structure.from_spacegroup("P6_3mc", Lattice.hexagonal(3.11, 4.98), ["Al", "N"],
                                [[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.382]])
EPS_INF, EPS_ION = np.diag([4.2, 4.2, 4.4]), np.diag([4.1, 4.1, 4.6])
E_IONIC_VASP = [[0, 0, 0, 0, 0, -0.22], [0, 0, 0, 0, -0.22, 0], [-0.45, -0.45, 1.30, 0, 0, 0]]
E_ELEC_VASP = [[0, 0, 0, 0, 0, -0.07], [0, 0, 0, 0, -0.07, 0], [-0.13, -0.13, 0.16, 0, 0, 0]]
BORN = [np.diag([2.6, 2.6, 2.7])] * 2 + [-np.diag([2.6, 2.6, 2.7])] * 2


def test_emmet_documents(tmp_path):
    diel = emmet_polar.DielectricDoc.from_ionic_and_electronic(
        epsilon_ionic=EPS_ION.tolist(), epsilon_static=EPS_INF.tolist(), structure=ALN, material_id="mp-661")
    piezo = emmet_polar.PiezoelectricDoc.from_ionic_and_electronic(
        piezo_ionic=E_IONIC_VASP, piezo_static=E_ELEC_VASP, structure=ALN, material_id="mp-661")
    docs = [json.loads(diel.model_dump_json()), json.loads(piezo.model_dump_json())]
    assert "structure" not in docs[0] and docs[0]["material_id"] == "mp-aaaaaazl"  # emmet's JSON form
    f = tmp_path / "mine.json"
    f.write_text(json.dumps(docs))
    (shipped,) = read_reference_file(f)  # structure of mp-661 taken from the shipped sets
    assert shipped["material_id"] == "mp-661" and shipped["formula_pretty"] == "AlN" and shipped["space_group"] == 186
    for d in docs:
        d["structure"] = ALN.as_dict()
    f.write_text(json.dumps(docs))
    (doc,) = read_reference_file(f)
    assert doc["dataset"] == "user:mine" and doc["space_group"] == 186 and doc["formula_pretty"] == "AlN"
    assert np.allclose(doc["eps_total"], EPS_INF + EPS_ION) and np.allclose(doc["eps_electronic"], EPS_INF)
    assert np.allclose(doc["piezo_total"], piezo.total)
    assert doc["e_ij_max_emmet"] == pytest.approx(np.linalg.svd(np.asarray(piezo.total), compute_uv=False)[0])


def _task_doc(new_style: bool) -> dict:
    calc_out = {"structure": ALN.as_dict()}
    if new_style:  # emmet >= 0.84: dielectric_properties
        calc_out["dielectric_properties"] = {
            "born_charges": [b.tolist() for b in BORN], "dielectric_tensor": EPS_INF.tolist(),
            "dielectric_ionic_tensor": EPS_ION.tolist(), "piezo_tensor": E_ELEC_VASP,
            "piezo_ionic_tensor": E_IONIC_VASP}
    else:  # atomate2 VASP LEPSILON task as the born_maker reads it
        calc_out.update(epsilon_static=EPS_INF.tolist(), epsilon_ionic=EPS_ION.tolist(),
                        outcar={"born": [b.tolist() for b in BORN], "piezo_tensor": E_ELEC_VASP,
                                "piezo_ionic_tensor": E_IONIC_VASP})
    return {"task_id": "task-1", "run_type": "PBE", "calcs_reversed": [{"output": calc_out}]}


@pytest.mark.parametrize("new_style", [False, True])
def test_atomate2_task_document(tmp_path, new_style):
    f = tmp_path / "task.json.gz"
    with gzip.open(f, "wt") as fh:
        json.dump(_task_doc(new_style), fh)
    (doc,) = read_reference_file(f)
    assert doc["source_id"] == "task-1" and "PBE" in doc["method"]
    assert np.allclose(doc["born"], BORN) and np.allclose(doc["eps_ionic"], EPS_ION)
    total_voigt = (np.asarray(E_ELEC_VASP) + np.asarray(E_IONIC_VASP))[:, VASP_TO_VOIGT]
    assert np.allclose(doc["piezo_total"], total_voigt)
    assert doc["piezo_total"][0][4] == pytest.approx(-0.29)  # VASP zx column -> Voigt xz (index 4)
    # the same as emmet's own conversion of VASP order into Voigt order
    emmet_doc = emmet_polar.PiezoelectricDoc.from_ionic_and_electronic(
        piezo_ionic=E_IONIC_VASP, piezo_static=E_ELEC_VASP, structure=ALN, material_id="mp-661")
    assert np.allclose(np.linalg.svd(total_voigt, compute_uv=False),
                       np.linalg.svd(np.asarray(emmet_doc.total), compute_uv=False), atol=1e-6)


def test_plain_json_and_bad_records(tmp_path):
    f = tmp_path / "plain.json"
    f.write_text(json.dumps({"citation": "me 2026", "method": "QE DFPT, PBEsol", "references": [
        {"id": "AlN-w", "structure": ALN.as_dict(), "eps_electronic": EPS_INF.tolist(), "born": [b.tolist() for b in BORN]}]}))
    (doc,) = read_reference_file(f)
    assert doc["reference_id"] == "user:plain:AlN-w" and doc["citation"] == "me 2026"
    assert doc["method"] == "QE DFPT, PBEsol" and doc["eps_ionic"] is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"structure": ALN.as_dict()}]))
    with pytest.raises(ReferenceDataError, match="record 0"):
        read_reference_file(bad)
    (tmp_path / "trunc.json.gz").write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(ReferenceDataError, match="not valid JSON"):
        read_reference_file(tmp_path / "trunc.json.gz")


def test_references_update_and_list_with_real_client(monkeypatch, tmp_path):
    """`macefield references update` through mp-api's MPRester; only requests' HTTP adapter is fake."""
    pytest.importorskip("mp_api.client")
    from requests.adapters import HTTPAdapter

    from macefield_flows.cli.app import app
    from tests.references.test_mp_source import KEY, FakeMPNetwork

    fake = FakeMPNetwork()
    monkeypatch.setattr(HTTPAdapter, "send", lambda self, request, **kw: fake.send(self, request, **kw))
    monkeypatch.setenv("MP_API_KEY", KEY)
    monkeypatch.setenv("MACEFIELD_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    result = runner.invoke(app, ["references", "update", "--ids", "mp-661"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "home" / "references" / "materials_project_api.json.gz"
    with gzip.open(out, "rt") as fh:
        docs = json.load(fh)
    assert [d["reference_id"] for d in docs] == ["materials_project_api:mp-661"]
    assert KEY not in out.read_bytes().decode("latin-1") and KEY not in result.output
    listed = runner.invoke(app, ["references", "list"])
    assert listed.exit_code == 0 and "materials_project_api 1 documents" in listed.output
    assert "mp_piezo_dejong2015" in listed.output and "sha256 verified" in listed.output
    monkeypatch.delenv("MP_API_KEY")
    monkeypatch.delenv("PMG_MAPI_KEY", raising=False)
    failed = runner.invoke(app, ["references", "update", "--ids", "mp-661"])
    assert failed.exit_code == 1 and failed.output.startswith("error:") and "MP_API_KEY" in failed.output
