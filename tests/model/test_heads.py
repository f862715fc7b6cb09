"""Default head as the reference implementation chooses it (mace-torch's MACECalculator rule)."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest

from macefield_flows.calculator import MACEFieldCalculator
from macefield_flows.model.heads import HeadError, ImplicitHeadWarning, resolve_head

HEADS = ["pt_head", "Default"]  # the default head is not the first one


@pytest.fixture(scope="module")
def two_head_model():
    from macefield_flows.testing import tiny_field_model

    return tiny_field_model(["Ba", "Ti", "O"], heads=HEADS)


def test_rule_table():
    assert resolve_head(["only"]) == "only"
    assert resolve_head(["a", "b"], "b") == "b"
    with pytest.warns(ImplicitHeadWarning, match="'DEFAULT'"):
        assert resolve_head(["pt_head", "DEFAULT", "default"]) == "DEFAULT"  # case-insensitive, first
    with pytest.raises(HeadError, match="none is named 'default'"):
        resolve_head(["a", "b"])
    with pytest.raises(HeadError, match="head='c' not in the model's heads"):
        resolve_head(["a", "b"], "c")


def test_no_head_matches_mace_calculator(two_head_model, low_symmetry_structures):
    """Without a head our calculator gives what mace's own calculator gives on the same model."""
    from mace.calculators import MACECalculator

    atoms = low_symmetry_structures[0]
    reference = MACECalculator(models=[copy.deepcopy(two_head_model)], default_dtype="float64",
                               device="cpu")
    assert reference.head == "Default"
    ref_atoms = atoms.copy()
    ref_atoms.calc = reference
    with pytest.warns(ImplicitHeadWarning, match="using the default head 'Default'"):
        ours = MACEFieldCalculator(model=two_head_model)
    assert ours.head == "Default"
    our_atoms = atoms.copy()
    our_atoms.calc = ours
    assert our_atoms.get_potential_energy() == pytest.approx(ref_atoms.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(our_atoms.get_forces(), ref_atoms.get_forces(), atol=1e-10)
    np.testing.assert_allclose(our_atoms.get_stress(), ref_atoms.get_stress(), atol=1e-10)
    # the first head really is different physics: the old rule would fail the comparison above
    first = atoms.copy()
    first.calc = MACEFieldCalculator(model=two_head_model, head="pt_head")
    assert abs(first.get_potential_energy() - ref_atoms.get_potential_energy()) > 1e-3
    z_first = first.calc.get_property("born_effective_charges", first)
    z_default = ours.get_property("born_effective_charges", our_atoms)
    assert np.abs(z_first - z_default).max() > 1e-2


def test_no_default_head_is_refused_like_mace(low_symmetry_structures):
    from mace.calculators import MACECalculator

    from macefield_flows.testing import tiny_field_model

    model = tiny_field_model(["Ba", "Ti", "O"], heads=["a", "b"])
    with pytest.raises(ValueError, match="no head in the model is 'default'"):
        MACECalculator(models=[copy.deepcopy(model)], default_dtype="float64", device="cpu")
    with pytest.raises(HeadError, match="none is named 'default'"):
        MACEFieldCalculator(model=model)


def test_engine_uses_the_same_rule(two_head_model, low_symmetry_structures):
    from macefield_flows.engine import evaluate

    atoms = low_symmetry_structures[0]
    with pytest.warns(ImplicitHeadWarning):
        implicit = evaluate([atoms], two_head_model, properties=("energy", "born_charges"), device="cpu")[0]
    explicit = evaluate([atoms], two_head_model, properties=("energy", "born_charges"), device="cpu",
                        head="Default")[0]
    assert implicit.energy == explicit.energy
    np.testing.assert_array_equal(implicit.born_charges, explicit.born_charges)


def test_single_head_model_warns_nothing(tiny_model, low_symmetry_structures):
    from macefield_flows.engine import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("error", ImplicitHeadWarning)
        MACEFieldCalculator(model=tiny_model)
        evaluate([low_symmetry_structures[0]], tiny_model, properties=("energy",), device="cpu")


def test_info_shows_the_default_head(two_head_model, tmp_path):
    from typer.testing import CliRunner

    from macefield_flows.cli.app import app
    from macefield_flows.model import save_model

    path = tmp_path / "two_heads.pt"
    save_model(two_head_model, path)
    result = CliRunner().invoke(app, ["info", "--model", str(path)])
    assert result.exit_code == 0, result.output
    assert "model.heads" in result.output and "model.head       Default" in result.output


def test_provenance_records_the_head_used(two_head_model):
    from macefield_flows.jobs.base import ModelSettings, make_provenance

    maker = ModelSettings(model="default", device="cpu")
    maker._check_model_settings()
    assert make_provenance(two_head_model, maker, {}).head == "Default"
    maker.head = "pt_head"
    assert make_provenance(two_head_model, maker, {}).head == "pt_head"
