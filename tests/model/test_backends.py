"""Backends: e3nn (reference) and cuEquivariance, same numbers, files independent of the backend.

The cueq tests run wherever cuequivariance-torch imports (its pure-PyTorch path runs on a
CPU; CI has no cuequivariance: they skip there). The rest runs everywhere.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from macefield_flows.model.backends import BackendError, cueq_available, normalize_backend

CUEQ, WHY = cueq_available()
needs_cueq = pytest.mark.skipif(not CUEQ, reason=f"cuequivariance not importable ({WHY})")

PROPS = ("energy", "forces", "stress", "polarization", "born_charges", "epsilon_electronic",
         "force_constants")
FIELD = (0.01, -0.02, 0.005)


def _model(reduced_cg: bool = False):
    """Tiny random FieldMACE; ``reduced_cg=False`` pins e3nn's symmetric-contraction basis."""
    from macefield_flows.testing import tiny_field_model

    return tiny_field_model(["Ba", "Ti", "O"], seed=0, dtype=torch.float64, use_reduced_cg=reduced_cg)


def _max_differences(model, atoms, device="cpu") -> dict[str, float]:
    from macefield_flows.engine import evaluate

    ref = evaluate([atoms], model, properties=PROPS, device=device, electric_field=FIELD)[0]
    other = evaluate([atoms], model, properties=PROPS, device=device, electric_field=FIELD, backend="cueq")[0]
    assert ref.ok and other.ok, (ref.error, other.error)
    return {k: float(np.max(np.abs(np.asarray(getattr(ref, k)) - np.asarray(getattr(other, k)))))
            for k in PROPS}


def test_backend_names():
    assert normalize_backend("cuequivariance") == "cueq" and normalize_backend("E3NN") == "e3nn"
    assert normalize_backend(None) is None
    with pytest.raises(BackendError, match="expected one of"):
        normalize_backend("openequivariance")


@pytest.mark.skipif(CUEQ, reason="cuequivariance is installed")
def test_cueq_missing_is_one_clear_error(tiny_model, tmp_path):
    from macefield_flows.model import load_model, save_model

    save_model(tiny_model, tmp_path / "m.pt")
    with pytest.raises(BackendError, match=r"pip install 'macefield-flows\[gpu\]'"):
        load_model(tmp_path / "m.pt", backend="cueq")


def test_saved_backend_is_kept_and_falls_back_without_cueq(tiny_model, tmp_path, caplog):
    """A file saved for cueq holds e3nn-layout weights: it loads under e3nn too."""
    from macefield_flows.model import load_model, save_model

    path = tmp_path / "m.pt"
    save_model(tiny_model, path)
    payload = torch.load(path, weights_only=True)
    assert payload["config"]["backend"] == "e3nn"
    payload["config"]["backend"] = "cueq"  # as written by save_model of a cueq model
    torch.save(payload, path)
    with caplog.at_level(logging.WARNING):
        loaded = load_model(path)
    assert loaded.model_info.backend == ("cueq" if CUEQ else "e3nn")
    if not CUEQ:
        assert "not installed: using e3nn" in caplog.text
    e3nn = load_model(path, backend="e3nn")
    assert e3nn.model_info.backend == "e3nn"
    for key, value in tiny_model.state_dict().items():
        torch.testing.assert_close(e3nn.state_dict()[key], value, rtol=0, atol=0)


@needs_cueq
def test_parity_e3nn_basis(low_symmetry_structures):
    """Symmetric contractions in e3nn's basis: cueq equals e3nn to 1e-10 (measured <= 3e-14)."""
    diffs = _max_differences(_model(reduced_cg=False), low_symmetry_structures[0])
    for key, diff in diffs.items():
        assert diff < 1e-10, (key, diffs)


@needs_cueq
def test_parity_reduced_basis(low_symmetry_structures):
    """cuequivariance's reduced basis: mace's weight projection between the two bases has a
    residual of 1e-8 (the bases span slightly different spaces), so parity is ~1e-7 only."""
    diffs = _max_differences(_model(reduced_cg=True), low_symmetry_structures[0])
    for key, diff in diffs.items():
        assert diff < 1e-5, (key, diffs)


@needs_cueq
def test_parity_shipped_model(low_symmetry_structures):
    from macefield_flows.model import load_model

    diffs = _max_differences(load_model("default"), low_symmetry_structures[1])
    for key, diff in diffs.items():
        assert diff < 1e-10, (key, diffs)


@needs_cueq
def test_files_and_entry_points_keep_the_backend(tmp_path, low_symmetry_structures):
    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.jobs._model import get_model
    from macefield_flows.model import load_model, save_model
    from macefield_flows.model.backends import convert_backend

    model = _model()
    cueq = convert_backend(model, "cueq")
    assert cueq.backend == "cueq" and model.backend == "e3nn"  # never in place
    save_model(cueq, tmp_path / "c.pt")
    save_model(model, tmp_path / "e.pt")
    assert torch.load(tmp_path / "c.pt", weights_only=True)["config"]["backend"] == "cueq"
    assert load_model(tmp_path / "c.pt").backend == "cueq"
    assert load_model(tmp_path / "c.pt", backend="e3nn").backend == "e3nn"
    assert load_model(tmp_path / "e.pt", backend="cueq").backend == "cueq"
    assert get_model(str(tmp_path / "e.pt"), "cpu", "float64", False, "cueq").backend == "cueq"
    atoms = low_symmetry_structures[0]
    results = []
    for m, backend in ((model, None), (model, "cueq"), (tmp_path / "c.pt", None)):
        calc = MACEFieldCalculator(model=m, backend=backend, electric_field=FIELD)
        calc.calculate(atoms.copy(), ["energy", "born_effective_charges"], [])
        results.append(calc.results)
    for other in results[1:]:
        assert other["energy"] == pytest.approx(results[0]["energy"], abs=1e-10)
        np.testing.assert_allclose(other["born_effective_charges"], results[0]["born_effective_charges"],
                                   atol=1e-10)


@needs_cueq
@pytest.mark.gpu
def test_parity_on_cuda(low_symmetry_structures):
    diffs = _max_differences(_model(reduced_cg=False), low_symmetry_structures[0], device="cuda")
    for key, diff in diffs.items():
        assert diff < 1e-9, (key, diffs)
