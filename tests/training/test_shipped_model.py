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
SHIPPED = sorted(name for name, entry in REG.get("models", {}).items()
                 if (REGISTRY_FILE.parent / entry["file"]).is_file())

pytestmark = pytest.mark.skipif(not SHIPPED, reason="no shipped model file")


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request):
    """(name, registry entry, float64 model) of each registered model whose file is present."""
    from macefield_flows.model.io import load_model

    entry = REG["models"][request.param]
    return request.param, entry, load_model(REGISTRY_FILE.parent / entry["file"], dtype="float64")


@pytest.fixture(scope="module")
def model():
    """The registry default."""
    from macefield_flows.model.io import load_model

    if DEFAULT not in SHIPPED:
        pytest.skip("default model file absent")
    return load_model(REGISTRY_FILE.parent / REG["models"][DEFAULT]["file"], dtype="float64")


def test_default_resolves_to_its_registry_file():
    from macefield_flows.training.registry import resolve_model

    if DEFAULT not in SHIPPED:
        pytest.skip("default model file absent")
    assert resolve_model("default") == REGISTRY_FILE.parent / REG["models"][DEFAULT]["file"]


def test_sha256_matches_registry_and_card(shipped):
    from macefield_flows.training.registry import resolve_model

    name, entry, model = shipped
    path = REGISTRY_FILE.parent / entry["file"]
    assert model.model_info.sha256 == entry["sha256"]
    assert resolve_model(name) == path
    card = (REPO_ROOT / entry["card"]).read_text()
    assert entry["sha256"] in card
    assert path.stat().st_size < 20 * 1024**2


def test_model_is_field_aware(shipped):
    _, _, model = shipped
    assert model.has_field_blocks
    assert model.model_info.format == "macefield"


def test_textbook_regression_values(shipped):
    name, entry, model = shipped
    stored = json.loads(REGRESSION_FILE.read_text())["models"][name]
    assert stored["sha256"] == entry["sha256"], "regenerate: python -m tests.training.textbook"
    pred = predict(model)
    for crystal, ref in stored["predictions"].items():
        for key, value in ref.items():
            np.testing.assert_allclose(pred[crystal][key], value, rtol=1e-6, atol=1e-8,
                                       err_msg=f"{name} {crystal} {key}")
    check_textbook_physics(pred)


# Windows around reference values: MgO DFPT (shared data, mp_dielectric_becs_macefield_subset:
# Z*(Mg) = 1.98, eps_inf = 3.21); NaCl Z* ~ 1.1, eps_inf ~ 2.3 and wurtzite ZnO Z* ~ 2.1,
# eps_inf ~ 3.7 (expt.) to 5 (PBE): textbook values. Wide enough for any fitted model, narrow
# enough that a random, untrained or sign-flipped model fails (test below).
WINDOWS = {  # name: (cation, (Z* min, max), (eps_inf min, max))
    "NaCl-rocksalt": ("Na", (0.7, 1.6), (1.8, 3.2)),
    "MgO-rocksalt": ("Mg", (1.4, 2.8), (2.4, 4.2)),
    "ZnO-wurtzite": ("Zn", (1.5, 3.0), (2.8, 6.5)),
}


def check_textbook_physics(pred: dict) -> None:
    """Physics a trained model must get right on three textbook crystals (AssertionError otherwise)."""
    from .textbook import textbook_crystals

    crystals = textbook_crystals()
    for name, (cation, z_range, eps_range) in WINDOWS.items():
        z = np.array(pred[name]["born_charges"])
        eps = np.array(pred[name]["eps_electronic"])
        symbols = crystals[name].get_chemical_symbols()
        assert np.abs(z.sum(axis=0)).max() < 1e-8, name  # charge neutrality
        np.testing.assert_allclose(eps, eps.T, atol=1e-8, err_msg=name)
        for k, sym in enumerate(symbols):
            diag = np.diag(z[k])
            sign = 1.0 if sym == cation else -1.0  # cations positive, anions negative
            assert np.all(sign * diag > z_range[0]) and np.all(sign * diag < z_range[1]), (name, sym, diag)
        ev = np.linalg.eigvalsh(eps)
        assert ev.min() > eps_range[0] and ev.max() < eps_range[1], (name, ev)
    for name in ("NaCl-rocksalt", "MgO-rocksalt"):  # cubic: isotropic Z* and eps
        z = np.array(pred[name]["born_charges"])
        np.testing.assert_allclose(z, z[:, :1, :1] * np.eye(3), atol=1e-6, err_msg=name)
    # chemical trend: the doubly charged oxide is more polar and more polarisable than NaCl
    zmg, zna = (np.array(pred[n]["born_charges"])[0, 0, 0] for n in ("MgO-rocksalt", "NaCl-rocksalt"))
    epsmg, epsna = (np.array(pred[n]["eps_electronic"])[0, 0] for n in ("MgO-rocksalt", "NaCl-rocksalt"))
    assert zmg > zna and epsmg > epsna


def test_textbook_physics_rejects_wrong_models(model):
    """The sanity checks above fail for a random model and for the shipped model with its field sign flipped."""
    import copy

    import torch

    from macefield_flows.testing import tiny_field_model

    from .textbook import predict

    with pytest.raises(AssertionError):
        check_textbook_physics(predict(tiny_field_model(["Na", "Cl", "Mg", "O", "Zn"], seed=0)))
    flipped = copy.deepcopy(model)
    with torch.no_grad():
        for linear in flipped.field_linear:
            for p in linear.parameters():
                p.neg_()
    with pytest.raises(AssertionError):
        check_textbook_physics(predict(flipped))


def test_full_relaxation_keeps_textbook_rocksalts_stable(shipped):
    """Positions + cell relaxed with each shipped model: no imaginary Gamma mode in NaCl, MgO."""
    from ase.build import bulk

    from macefield_flows.training.evaluate import full_relaxation_stability

    strained = [bulk("NaCl", "rocksalt", a=5.64 * 1.03), bulk("MgO", "rocksalt", a=4.21 * 0.97)]
    report = full_relaxation_stability(shipped[2], strained)
    assert report["relaxed"] == 2 and report["converged"] == 2
    assert report["stable"] == 2
