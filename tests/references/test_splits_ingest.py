import json

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
    import gzip

    splits = json.loads((reference_dir.parent / "splits" / "splits.json").read_text())
    for info in splits["datasets"].values():
        with gzip.open(reference_dir.parent / info["file"], "rt") as fh:
            rows = [json.loads(line) for line in fh]
        for split, idx in info["row_index_by_split"].items():
            for i in idx[::7]:
                assert material_split(rows[i]["reduced_formula"], rows[i]["space_group"]) == split


@pytest.mark.reference_data
def test_data_root_accepted(reference_dir, monkeypatch):
    monkeypatch.setenv("MACEFIELD_REFERENCE_DIR", str(reference_dir.parent))
    assert resolve_reference_dir() == reference_dir


@pytest.mark.reference_data
def test_ingest_sample_into_store(reference_dir):
    store = MemoryStore(collection_name="refs", key="reference_id")
    store.connect()
    n = ingest_references(store, ["mp_dielectric_petousis2017", "mp_piezo_dejong2015",
                                  "petretto2018_dfpt_becs_epsinf", "mp_dielectric_becs_macefield_subset",
                                  "mp_ferroelectric_paths_smidt2020", "phonopy_born_examples"], limit=5)
    assert n == 5 * 5 + 5
    doc = store.query_one({"dataset": "mp_dielectric_becs_macefield_subset"})
    assert doc["allowed_for_training"] is False
    assert np.allclose(np.asarray(doc["eps_total"]), np.asarray(doc["eps_electronic"]) + np.asarray(doc["eps_ionic"]), atol=2e-3)
    assert store.query_one({"dataset": "mp_ferroelectric_paths_smidt2020"})["spontaneous_polarization_norm"] is not None


@pytest.mark.reference_data
def test_dejong_both_e_ij_max_and_frame(reference_dir):
    docs = list(iter_reference_docs("mp_piezo_dejong2015", rows=range(0, 941, 47)))
    for d in docs:
        assert d.piezo_frame in {"structure", "structure_ieee", "structure_tensor_frame",
                                 "structure_conventional_standard", "unknown"}
        assert d.e_ij_max_longitudinal == pytest.approx(d.e_ij_max_longitudinal_as_given, rel=0.02, abs=1e-4)
        assert d.e_ij_max_emmet >= d.e_ij_max_longitudinal - 1e-9
