"""Split assignment follows shared/data/splits/splits.json; test/eval-only rows never reach training."""

from __future__ import annotations

import hashlib
import json

import pytest

from macefield_flows.references.paths import splits_file
from macefield_flows.training import data as D

REF = D.reference_dir()
SPLITS_JSON = splits_file()
_skip_no_data = pytest.mark.skipif(not (REF / D.TRAINING_ALLOWED["mp_dielectric_petousis2017"]).is_file(),
                                reason="reference data absent")


def needs_data(fn):
    return pytest.mark.reference_data(_skip_no_data(fn))


def test_split_rule_on_keys():
    for key in ("NaCl|225", "MgO|225", "ZnO|186", "BaTiO3|99"):
        bucket = int(hashlib.sha256(key.encode()).hexdigest(), 16) % 100
        expect = "train" if bucket < 70 else "valid" if bucket < 85 else "test"
        assert D.split_of_key(key) == expect
    assert D.material_key("NaCl", "225") == "NaCl|225"


@needs_data
@pytest.mark.parametrize("dataset,key", [("mp_dielectric_petousis2017", "mp_dielectric_petousis2017"),
                                         ("petretto2018_dfpt_becs_epsinf_e3nn", "petretto2018_dfpt_becs_epsinf")])
def test_split_matches_splits_json(dataset, key):
    ref = json.loads(SPLITS_JSON.read_text())["datasets"][key]["row_index_by_split"]
    rows = D._read_jsonl(REF / D.TRAINING_ALLOWED[dataset])
    for split, idx in ref.items():
        assert all(D.split_of_row(rows[i]) == split for i in idx)
    assert sum(len(v) for v in ref.values()) == len(rows)


@needs_data
def test_training_loader_refuses_non_train_and_eval_only():
    with pytest.raises(D.SplitRuleError):
        D.load_split("mp_dielectric_petousis2017", "test", for_training=True)
    with pytest.raises(D.SplitRuleError):
        D.load_split("mp_dielectric_petousis2017", "valid", for_training=True)
    with pytest.raises(D.SplitRuleError):
        D.load_split("mp_dielectric_becs_macefield_subset", "train", for_training=True)
    with pytest.raises(D.SplitRuleError):
        D.check_training_samples([D.Sample(atoms=None, name="x", dataset="mp_dielectric_petousis2017",
                                           split="test")])


@needs_data
def test_pipeline_training_sets_are_train_rows_only():
    from macefield_flows.training.pipeline import DataSettings, response_structures, select_structures

    settings = DataSettings(max_atoms=4, n_train_structures=30)
    chosen = select_structures("train", settings) + response_structures("train", settings, 30)
    assert chosen
    D.check_training_samples(chosen)
    for s in chosen:
        assert D.split_of_key(D.material_key(s.meta["reduced_formula"], s.meta["space_group"])) == "train"
    # no material of the train selection appears among test rows
    test_keys = {D.material_key(s.meta["reduced_formula"], s.meta["space_group"])
                 for ds in D.TRAINING_ALLOWED for s in D.load_split(ds, "test", max_atoms=4)}
    assert not test_keys & {D.material_key(s.meta["reduced_formula"], s.meta["space_group"]) for s in chosen}
