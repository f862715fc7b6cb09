"""The screening's optional full-phonon step: stored results, data store, quality from the full BZ."""

from __future__ import annotations

import numpy as np
import pytest
from jobflow import run_locally

from macefield_flows.flows import ScreeningMaker
from macefield_flows.schemas.task import ElectricResponseTaskDoc
from macefield_flows.screening import with_full_bz_minimum
from macefield_flows.stores import get_jobstore, iter_task_docs
from macefield_flows.stores.results import load_large_data

PHONONS = {"supercell_matrix": [2, 2, 2], "mesh": [4, 4, 4], "npoints": 11}


@pytest.fixture(scope="module")
def screened(tmp_path_factory, model_file):
    from tests.flows.conftest import rocksalt

    items = [rocksalt(4.2, ("Mg", "O"), "MgO"), rocksalt(5.6, ("Na", "Cl"), "NaCl")]
    store = get_jobstore(tmp_path_factory.mktemp("ph") / "store")
    maker = ScreeningMaker(model=str(model_file), device="cpu", relax=False, phonons=True, phonon_settings=PHONONS)
    run_locally(maker.make(items), store=store, ensure_success=True, log=False)
    return store, maker, items


def test_phonon_step_stores_full_phonons_in_the_data_store(screened, model_file):
    from macefield_flows.interop import phonopy as ip

    store, maker, items = screened
    docs = {d["structure_id"]: d for d in iter_task_docs(store)}
    assert set(docs) == {"MgO", "NaCl"}
    for sid, d in docs.items():
        assert d["status"] == "successful", d.get("failure_reason")
        assert d["full_phonons"] is None and d["full_phonons_blob_uuid"]  # not inline: in the data store
        assert "full_phonons" in d["large_data_keys"]
        full = load_large_data(store, d, "full_phonons")
        assert full["supercell_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]
        # NAC unless the tiny model's eps_inf / Z* are flagged unphysical (then a note says so)
        notes = [f["name"] for f in d["quality"]["flags"] if f["name"] == "full_phonons_without_nac"]
        assert full["has_nac"] == (not notes) and bool(full["lo_to_splittings"]) == full["has_nac"]
        assert full["min_frequency_full_bz_thz"] == d["min_frequency_full_bz_thz"]
        bands = np.asarray(full["phonon_bandstructure"]["bands"])
        assert full["min_frequency_full_bz_thz"] <= bands.min() + 1e-9
        assert full["ir_spectrum"] and full["phonon_dos"]["densities"]
        # independent route: phonopy's own finite displacements with the same model at the reported q-point
        ph = ip.build_phonopy(ElectricResponseTaskDoc.model_validate(d), [2, 2, 2], model=str(model_file),
                              force_constants="displacements", nac=full["has_nac"], device="cpu")
        ph.run_qpoints([full["min_frequency_qpoint"]])
        assert ph.qpoints.frequencies.min() == pytest.approx(d["min_frequency_full_bz_thz"], abs=2e-3)
        # the Gamma frequencies are part of the full-BZ search
        assert d["min_frequency_full_bz_thz"] <= min(d["phonon_frequencies_thz"]) + 1e-6
        names = [f["name"] for f in d["quality"]["flags"]]
        assert ("imaginary_modes" in names) == (d["min_frequency_full_bz_thz"] < -d["quality"]["thresholds"]
                                                ["imaginary_mode_thz"])


def test_phonon_step_is_part_of_the_resume_key(screened, model_file):
    _, maker, items = screened
    plain = ScreeningMaker(model=str(model_file), device="cpu", relax=False)
    assert set(maker.resume_keys(items)).isdisjoint(plain.resume_keys(items))
    # off by default, and the keys of runs without phonons do not change
    assert plain.response_maker().full_phonons is None
    assert "full_phonons" not in plain.response_maker().settings()
    with pytest.raises(ValueError, match="unknown phonon settings"):
        ScreeningMaker(model=str(model_file), phonons=True, phonon_settings={"supercell": 3})


def _stable_doc(screened) -> ElectricResponseTaskDoc:
    store = screened[0]
    return ElectricResponseTaskDoc.model_validate(next(d for d in iter_task_docs(store)))


def test_full_bz_minimum_raises_the_imaginary_modes_flag(screened):
    """Stable at Gamma, unstable off Gamma: the flag comes from min_frequency_full_bz_thz alone."""
    from macefield_flows.schemas.quality import Quality

    doc = _stable_doc(screened)
    threshold = doc.quality.thresholds["imaginary_mode_thz"]
    assert [f for f in doc.phonon_frequencies_thz if f < -threshold] == []  # stable at Gamma
    # the tiny model's other flags removed, so that only the phonon flag can make it unreliable
    clean = doc.model_copy(update={"min_frequency_full_bz_thz": None, "warnings": [],
                                   "quality": Quality(reliable=True, flags=[], thresholds=doc.quality.thresholds)})
    unstable = with_full_bz_minimum(clean, -3.1)
    flags = {f.name: f for f in unstable.quality.flags}
    assert set(flags) == {"imaginary_modes"}
    assert flags["imaginary_modes"].value == pytest.approx(-3.1)
    assert flags["imaginary_modes"].threshold == pytest.approx(-threshold)
    assert "full Brillouin zone" in flags["imaginary_modes"].message
    assert not unstable.quality.reliable and not unstable.quality.is_reliable("epsilon_ionic")
    assert unstable.quality.is_reliable("epsilon_static")  # the electronic response does not rest on the minimum
    assert unstable.warnings == [flags["imaginary_modes"].message]
    assert unstable.min_frequency_full_bz_thz == pytest.approx(-3.1)
    # just above the threshold: no flag
    fine = with_full_bz_minimum(clean, -0.9 * threshold)
    assert fine.quality.flags == [] and fine.quality.reliable
    assert clean.min_frequency_full_bz_thz is None and clean.quality.reliable  # input not mutated
    # every other flag is kept as it was
    gamma_only = doc.model_copy(update={"min_frequency_full_bz_thz": None})
    others = [f for f in gamma_only.quality.flags if not f.name.startswith(("imaginary", "soft_polar"))]
    kept = with_full_bz_minimum(gamma_only, -3.1).quality.flags
    assert [f for f in kept if f.name != "imaginary_modes"] == others


def test_failed_phonons_are_a_note(screened, model_file, monkeypatch):
    import macefield_flows.interop.phonons as phonons
    from macefield_flows.jobs.phonons import attach_full_phonons, screening_phonon_settings

    def broken(*args, **kwargs):
        raise ValueError("no supercell")

    monkeypatch.setattr(phonons, "full_phonons", broken)
    doc = _stable_doc(screened).model_copy(update={"min_frequency_full_bz_thz": None})
    out = attach_full_phonons(doc, str(model_file), screening_phonon_settings(PHONONS), device="cpu")
    note = [f for f in out.quality.flags if f.name == "full_phonons_failed"]
    assert len(note) == 1 and note[0].affects == [] and "no supercell" in note[0].message
    assert out.quality.reliable == doc.quality.reliable and out.min_frequency_full_bz_thz is None
