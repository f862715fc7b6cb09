import numpy as np
import pytest

from macefield_flows.references.benchmark import load_benchmark_set
from macefield_flows.references.paths import resolve_data_dir


def test_load_benchmark_set():
    entries = load_benchmark_set()
    assert 10 <= len(entries) <= 20
    assert (resolve_data_dir() / "benchmark_set.json").stat().st_size < 200_000
    names = {e.name for e in entries}
    assert {"MgO", "NaCl", "BaTiO3-P4mm", "ZnO", "AlN", "GaAs", "SnO2", "Al2O3", "SiO2-alpha-quartz"} <= names
    for e in entries:
        for vals in e.values.values():
            for v in vals:
                assert v["verified"] and v["citation"] and v["source_id"]
        assert all(item["verified"] is False for item in e.literature_unverified)
        born = e.value("born")
        if born is not None:
            assert born.shape == (len(e.structure), 3, 3)
            assert np.abs(born.sum(axis=0)).max() < 0.15  # near ASR


def test_data_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("MACEFIELD_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path


@pytest.mark.reference_data
def test_benchmark_values_match_reference_files(reference_dir):
    from macefield_flows.references.ingest import iter_reference_docs

    entries = {e.name: e for e in load_benchmark_set()}
    dejong = {d.source_id: d for d in iter_reference_docs("mp_piezo_dejong2015")
              if d.source_id in {"mp-661", "mp-2133"}}
    assert np.allclose(entries["AlN"].value("piezo_total"), dejong["mp-661"].piezo_total)
    assert np.allclose(entries["ZnO"].value("piezo_total"), dejong["mp-2133"].piezo_total)
    pet = {d.source_id: d for d in iter_reference_docs("mp_dielectric_petousis2017")
           if d.source_id == "mp-5986"}
    assert np.allclose(entries["BaTiO3-P4mm"].value("eps_electronic"), pet["mp-5986"].eps_electronic, atol=1e-6)
    mgo = next(iter_reference_docs("phonopy_born_examples", rows=[1]))
    assert mgo.formula_pretty == "MgO"
    assert np.allclose(entries["MgO"].value("born"), mgo.born, atol=1e-6)


def test_gaas_eps_inf_kept_but_out_of_metrics():
    """GaAs eps_inf 35.1 (Petretto, PBEsol, near-metallic) is carried for provenance, never used."""
    gaas = next(e for e in load_benchmark_set() if e.name == "GaAs")
    (item,) = gaas.values["eps_electronic"]
    assert item["source_id"] == "row1010" and item["value"][0][0] == pytest.approx(35.12, abs=0.01)
    assert item["use_in_metrics"] is False and "PBEsol" in item["exclusion_reason"]
    assert gaas.value("eps_electronic") is None
    assert gaas.value("born") is not None
