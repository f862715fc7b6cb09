"""The shipped reference sets: manifest integrity, licences, and faithfulness to the full sources."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from pymatgen.core import Structure

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.references.ingest import iter_reference_docs
from macefield_flows.references.paths import external_reference_dir, shipped_reference_dir
from macefield_flows.references.shipped import load_manifest, sha256_of, shipped_datasets, verify_shipped

SHIPPED = {"mp_dielectric_petousis2017": 1056, "mp_piezo_dejong2015": 941, "petretto2018_dfpt_becs_epsinf": 1520,
           "mp_ferroelectric_paths_smidt2020": 413, "phonopy_born_examples": 7}


def test_manifest_sha256_and_counts():
    manifest = verify_shipped()
    assert {k: v["entries"] for k, v in manifest.items()} == SHIPPED
    for name, info in manifest.items():
        path = shipped_reference_dir() / info["file"]
        with gzip.open(path, "rt") as fh:
            assert sum(1 for line in fh if line.strip()) == info["entries"], name
        assert info["licence"] and info["citation"] and info["units"] and info["method"]
    total = sum(info["bytes"] for info in manifest.values())
    assert total < 3_000_000  # compact: the full sources are ~8 MB
    assert "mp_dielectric_becs_macefield_subset" not in shipped_datasets()  # never ships (no licence)


def test_readme_names_every_set_licence_and_citation():
    text = (shipped_reference_dir() / "README.md").read_text()
    for name, info in load_manifest()["datasets"].items():
        assert info["file"] in text and info["citation"].split(",")[0] in text, name
    assert "PBEsol" in text and "MACE-Field" in text


def test_altered_file_detected(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "references").mkdir(parents=True)
    for f in shipped_reference_dir().iterdir():
        (data / "references" / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("MACEFIELD_DATA_DIR", str(data))
    verify_shipped()
    target = data / "references" / "mp_piezo_dejong2015.jsonl.gz"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(ReferenceDataError, match="sha256"):
        verify_shipped()
    assert sha256_of(target) != load_manifest()["datasets"]["mp_piezo_dejong2015"]["sha256"]


@pytest.mark.reference_data
def test_shipped_docs_readable_and_consistent():
    """Every shipped set converts to ReferenceDocs whose tensors obey their own invariants."""
    for name in SHIPPED:
        docs = list(iter_reference_docs(name, rows=range(0, SHIPPED[name], max(1, SHIPPED[name] // 6))))
        assert docs, name
        for d in docs:
            s = Structure.from_dict(d.structure)
            assert len(s) == d.nsites and s.is_ordered
            if d.eps_total is not None:
                assert np.allclose(np.asarray(d.eps_total), np.asarray(d.eps_electronic) + np.asarray(d.eps_ionic),
                                   atol=2e-3)
            if d.born is not None:
                assert np.abs(np.asarray(d.born).sum(axis=0)).max() < 0.15  # ASR of the DFPT charges (anatase 0.094)
            if d.piezo_total is not None:
                assert d.e_ij_max_longitudinal == pytest.approx(d.e_ij_max_longitudinal_as_given, rel=0.02, abs=1e-4)


def test_shipped_rows_equal_full_sources_when_available():
    """When the full files are configured, the shipped rows agree with them to the rounding."""
    ext = external_reference_dir()
    if ext is None or not (ext / "mp_piezo_dejong2015.jsonl.gz").exists():
        pytest.skip("full sources not configured (MACEFIELD_REFERENCE_DIR): nothing to compare with")
    for name, info in load_manifest()["datasets"].items():
        src = ext / info["source_file"].split("/")[-1]
        with gzip.open(shipped_reference_dir() / info["file"], "rt") as fh:
            shipped = [json.loads(line) for line in fh]
        if src.suffix == ".gz":
            with gzip.open(src, "rt") as fh:
                full = [json.loads(line) for line in fh]
        else:
            full = json.loads(src.read_text())
        assert len(full) == len(shipped)
        for a, b in zip(full[:: 97], shipped[:: 97]):
            for key in ("eps_electronic", "eps_total", "born_charges", "piezo_e_voigt_C_m2"):
                if a.get(key) is not None:
                    assert np.allclose(a[key], b[key], atol=1e-6), (name, key)
            sa = Structure.from_dict(a.get("structure") or a.get("structure_primitive") or a["structures"][-1])
            sb = Structure.from_dict(b.get("structure") or b.get("structure_primitive") or b["structures"][-1])
            assert np.allclose(sa.lattice.matrix, sb.lattice.matrix, atol=1e-6)
            assert np.allclose(sa.frac_coords, sb.frac_coords, atol=1e-6)
