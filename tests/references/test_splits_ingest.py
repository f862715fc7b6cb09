import json
from pathlib import Path

import numpy as np
import pytest
from maggma.stores import MemoryStore

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.references.ingest import ingest_references, iter_reference_docs
from macefield_flows.references.paths import resolve_reference_dir
from macefield_flows.references.splits import allowed_for_training, material_split


def test_split_rule_known_values():
    assert material_split("BaTiO3", 99) == "train"
    assert material_split("AlN", 186) == "test"
    assert material_split("SiC", 216) == "valid"


def test_training_permissions():
    assert allowed_for_training("mp_dielectric_petousis2017", "train")
    assert not allowed_for_training("mp_dielectric_petousis2017", "test")
    for split in ("train", "valid", "test"):
        assert not allowed_for_training("mp_dielectric_becs_macefield_subset", split)
    with pytest.raises(ReferenceDataError):
        allowed_for_training("nonexistent", "train")


def test_missing_reference_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MACEFIELD_REFERENCE_DIR", str(tmp_path / "nope"))
    with pytest.raises(ReferenceDataError, match="MACEFIELD_REFERENCE_DIR"):
        resolve_reference_dir()


@pytest.mark.reference_data
def test_splits_json_reproduced(reference_dir):
    from macefield_flows.references.ingest import _read_rows
    from macefield_flows.references.paths import splits_file

    splits = json.loads(splits_file().read_text())
    assert {"mp_dielectric_petousis2017", "mp_piezo_dejong2015", "petretto2018_dfpt_becs_epsinf"} <= set(
        splits["datasets"])
    for name, info in splits["datasets"].items():
        rows = _read_rows(Path(info["file"]).name, None)
        assert len(rows) == info["entries"] == sum(len(v) for v in info["row_index_by_split"].values()), name
        for split, idx in info["row_index_by_split"].items():
            for i in idx[::7]:
                assert material_split(rows[i]["reduced_formula"], rows[i]["space_group"]) == split


def test_data_root_accepted(tmp_path, monkeypatch):
    (tmp_path / "reference").mkdir()
    monkeypatch.setenv("MACEFIELD_REFERENCE_DIR", str(tmp_path))
    assert resolve_reference_dir() == tmp_path / "reference"


def test_shipped_is_the_default(monkeypatch):
    from macefield_flows.references.paths import reference_file, shipped_reference_dir

    monkeypatch.delenv("MACEFIELD_REFERENCE_DIR", raising=False)
    assert resolve_reference_dir() == shipped_reference_dir()
    assert reference_file("mp_piezo_dejong2015.jsonl.gz").parent == shipped_reference_dir()
    with pytest.raises(ReferenceDataError, match="not shipped"):
        reference_file("mp_dielectric_becs_macefield_subset.jsonl.gz")


def test_override_folder_first_then_shipped(tmp_path, monkeypatch):
    """A configured folder wins for the files it holds; shipped sets it lacks still load."""
    from macefield_flows.references.paths import reference_file, shipped_reference_dir

    (tmp_path / "mp_piezo_dejong2015.jsonl.gz").write_bytes(b"")
    monkeypatch.setenv("MACEFIELD_REFERENCE_DIR", str(tmp_path))
    assert reference_file("mp_piezo_dejong2015.jsonl.gz") == tmp_path / "mp_piezo_dejong2015.jsonl.gz"
    assert reference_file("mp_dielectric_petousis2017.jsonl.gz").parent == shipped_reference_dir()
    with pytest.raises(ReferenceDataError, match="not found in"):
        reference_file("mp_dielectric_becs_macefield_subset.jsonl.gz")


def test_corrupt_reference_file_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "mp_piezo_dejong2015.jsonl.gz").write_bytes(b"\x1f\x8b not really gzip")
    (tmp_path / "mp_dielectric_petousis2017.jsonl.gz").write_text("{not json")
    monkeypatch.setenv("MACEFIELD_REFERENCE_DIR", str(tmp_path))
    for name in ("mp_piezo_dejong2015", "mp_dielectric_petousis2017"):
        with pytest.raises(ReferenceDataError, match="corrupt"):
            list(iter_reference_docs(name))


@pytest.mark.reference_data
def test_ingest_sample_into_store(reference_dir):
    store = MemoryStore(collection_name="refs", key="reference_id")
    store.connect()
    n = ingest_references(store, ["mp_dielectric_petousis2017", "mp_piezo_dejong2015",
                                  "petretto2018_dfpt_becs_epsinf", "mp_ferroelectric_paths_smidt2020",
                                  "phonopy_born_examples"], limit=5)
    assert n == 5 * 5
    doc = store.query_one({"dataset": "mp_dielectric_petousis2017"})
    assert doc["allowed_for_training"] is (doc["split"] == "train")
    assert np.allclose(np.asarray(doc["eps_total"]), np.asarray(doc["eps_electronic"]) + np.asarray(doc["eps_ionic"]), atol=2e-3)
    assert store.query_one({"dataset": "mp_ferroelectric_paths_smidt2020"})["spontaneous_polarization_norm"] is not None
    assert len(store.query_one({"dataset": "phonopy_born_examples"})["born"]) > 0


@pytest.mark.reference_data
def test_evaluation_only_subset_from_configured_folder():
    """The MACE-Field paper subset never ships: it is read only from MACEFIELD_REFERENCE_DIR."""
    import os

    from macefield_flows.references.paths import external_reference_dir

    ext = external_reference_dir()
    if ext is None or not (ext / "mp_dielectric_becs_macefield_subset.jsonl.gz").exists():
        pytest.skip("evaluation-only set (not redistributable): set MACEFIELD_REFERENCE_DIR to a folder holding "
                    "mp_dielectric_becs_macefield_subset.jsonl.gz")
    assert os.environ.get("MACEFIELD_REFERENCE_DIR")
    doc = next(iter_reference_docs("mp_dielectric_becs_macefield_subset", limit=1))
    assert doc.allowed_for_training is False
    assert np.allclose(np.asarray(doc.eps_total), np.asarray(doc.eps_electronic) + np.asarray(doc.eps_ionic), atol=2e-3)


@pytest.mark.reference_data
def test_dejong_both_e_ij_max_and_frame(reference_dir):
    docs = list(iter_reference_docs("mp_piezo_dejong2015", rows=range(0, 941, 47)))
    for d in docs:
        assert d.piezo_frame in {"structure", "structure_ieee", "structure_tensor_frame",
                                 "structure_conventional_standard", "unknown"}
        assert d.e_ij_max_longitudinal == pytest.approx(d.e_ij_max_longitudinal_as_given, rel=0.02, abs=1e-4)
        assert d.e_ij_max_emmet >= d.e_ij_max_longitudinal - 1e-9
