"""The shipped default model: loads, sha256 matches registry and card, regression values hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from macefield_flows.training.registry import REGISTRY_FILE, REPO_ROOT, load_registry

from .textbook import REGRESSION_FILE, predict

REG = load_registry()
DEFAULT = REG.get("default")
ENTRY = REG.get("models", {}).get(DEFAULT or "", {})
MODEL_PATH = REGISTRY_FILE.parent / ENTRY.get("file", "__missing__")

pytestmark = pytest.mark.skipif(not MODEL_PATH.is_file(), reason="shipped model file absent")


@pytest.fixture(scope="module")
def model():
    from macefield_flows.model.io import load_model

    return load_model(MODEL_PATH, dtype="float64")


def test_sha256_matches_registry_and_card(model):
    from macefield_flows.training.registry import resolve_model

    assert model.model_info.sha256 == ENTRY["sha256"]
    assert resolve_model("default") == MODEL_PATH
    card = (REPO_ROOT / ENTRY["card"]).read_text()
    assert ENTRY["sha256"] in card
    assert MODEL_PATH.stat().st_size < 20 * 1024**2


def test_model_is_field_aware(model):
    assert model.has_field_blocks
    assert model.model_info.format == "macefield"


def test_textbook_regression_values(model):
    stored = json.loads(REGRESSION_FILE.read_text())
    assert stored["sha256"] == ENTRY["sha256"], "regenerate: python -m tests.training.textbook"
    pred = predict(model)
    for name, ref in stored["predictions"].items():
        for key, value in ref.items():
            np.testing.assert_allclose(pred[name][key], value, rtol=1e-6, atol=1e-8,
                                       err_msg=f"{name} {key}")
        # physics sanity that holds for any trained model: ASR, symmetric eps, cubic Z* isotropy
        z = np.array(pred[name]["born_charges"])
        assert np.abs(z.sum(axis=0)).max() < 1e-8
        eps = np.array(pred[name]["eps_electronic"])
        np.testing.assert_allclose(eps, eps.T, atol=1e-8)


def test_full_relaxation_keeps_textbook_rocksalts_stable(model):
    """Positions + cell relaxed with the shipped model: no imaginary Gamma mode in NaCl, MgO."""
    from ase.build import bulk

    from macefield_flows.training.evaluate import full_relaxation_stability

    strained = [bulk("NaCl", "rocksalt", a=5.64 * 1.03), bulk("MgO", "rocksalt", a=4.21 * 0.97)]
    report = full_relaxation_stability(model, strained)
    assert report["relaxed"] == 2 and report["converged"] == 2
    assert report["stable"] == 2
