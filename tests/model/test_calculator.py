"""The ASE calculator: standard result names, explicit field, cache invalidation, heads."""

from __future__ import annotations

import numpy as np
import pytest

from macefield_flows.calculator import MACEFieldCalculator
from macefield_flows.exceptions import MacefieldError
from tests.model.helpers import ALL, run


def test_results_match_model_and_field_invalidates(tiny_model, low_symmetry_structures):
    atoms = low_symmetry_structures[0].copy()
    calc = MACEFieldCalculator(model=tiny_model, electric_field=(0, 0, 0))
    atoms.calc = calc
    e0 = atoms.get_potential_energy()
    ref = run(tiny_model, atoms, None, **ALL)
    assert e0 == pytest.approx(ref["energy"][0], abs=1e-12)
    s = ref["stress"][0]
    np.testing.assert_allclose(atoms.get_stress(), [s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
    np.testing.assert_allclose(calc.get_property("born_effective_charges"), ref["born_charges"])
    np.testing.assert_allclose(calc.get_property("polarization"), ref["polarization"][0])
    np.testing.assert_allclose(calc.get_property("epsilon_electronic"), ref["epsilon_electronic"][0])
    calc.electric_field = (0.0, 0.0, 0.1)
    e1 = atoms.get_potential_energy()
    assert abs(e1 - e0) > 1e-6  # not the cached zero-field value
    ref1 = run(tiny_model, atoms, np.array([0, 0, 0.1]))
    assert e1 == pytest.approx(ref1["energy"][0], abs=1e-12)


def test_second_derivatives_only_on_request(tiny_model, low_symmetry_structures):
    atoms = low_symmetry_structures[0].copy()
    calc = MACEFieldCalculator(model=tiny_model, electric_field=(0.01, 0.0, -0.02))
    atoms.calc = calc
    forces = atoms.get_forces()
    assert {"forces", "stress", "dipole", "polarization"} <= set(calc.results)
    assert "born_effective_charges" not in calc.results  # an MD step pays one pass only
    born = calc.get_property("born_effective_charges", atoms)
    ref = run(tiny_model, atoms, np.array([0.01, 0.0, -0.02]), **ALL)
    np.testing.assert_allclose(born, ref["born_charges"], atol=1e-12)
    np.testing.assert_allclose(calc.get_property("forces", atoms), forces, atol=1e-12)
    assert np.abs(born).max() > 0.1


def test_unknown_head_is_refused(tiny_model):
    with pytest.raises(MacefieldError, match="head='mp-dielectric' not in the model's heads"):
        MACEFieldCalculator(model=tiny_model, head="mp-dielectric")


def test_multi_head_calculator_equals_single_head_models(low_symmetry_structures):
    """Each head's calculator results equal those of a single-head model made of that head's weights
    (cut by mace's own ``remove_pt_head``, :func:`macefield_flows.model.heads.single_head_model`)."""
    from macefield_flows.model.heads import single_head_model
    from macefield_flows.testing import tiny_field_model

    heads = ["pt_head", "mp-dielectric"]
    model = tiny_field_model(["Ba", "Ti", "O"], heads=heads)
    atoms = low_symmetry_structures[0].copy()
    keys = ("energy", "forces", "stress", "dipole", "born_effective_charges", "epsilon_electronic")
    results = {}
    for head in heads:
        multi = MACEFieldCalculator(model=model, head=head, electric_field=(0.01, -0.02, 0.005))
        single = MACEFieldCalculator(model=single_head_model(model, head), electric_field=(0.01, -0.02, 0.005))
        multi.calculate(atoms.copy(), list(keys), [])
        single.calculate(atoms.copy(), list(keys), [])
        for key in keys:
            np.testing.assert_allclose(multi.results[key], single.results[key], rtol=1e-9, atol=1e-10,
                                       err_msg=f"{head}: {key}")
        results[head] = multi.results
    # the heads really differ, so a swapped head would fail the comparison above
    for key in keys:
        diff = np.max(np.abs(np.asarray(results[heads[0]][key]) - np.asarray(results[heads[1]][key])))
        assert diff > 1e-4, key