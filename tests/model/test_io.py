"""Model files: safe format round trip, opt-in published pickles, clear errors."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from macefield_flows.exceptions import (
    MissingFieldBlocksError,
    ModelLoadError,
    UnknownElementError,
    UntrustedPickleError,
)
from macefield_flows.model import FieldMACE, load_model, save_model
from tests.model.helpers import ALL, run

FIELD = np.array([0.02, 0.05, -0.04])


def _same_outputs(a, b, atoms):
    out_a, out_b = run(a, atoms, FIELD, **ALL), run(b, atoms, FIELD, **ALL)
    for key in ("energy", "forces", "stress", "born_charges", "susceptibility"):
        np.testing.assert_allclose(out_a[key], out_b[key], rtol=0, atol=1e-12, err_msg=key)


def test_safe_format_round_trip(tmp_path, tiny_model, low_symmetry_structures):
    path = tmp_path / "model.pt"
    sha = save_model(tiny_model, path, metadata={"trained_on": "nothing"})
    loaded = load_model(path)
    info = loaded.model_info
    assert info.sha256 == sha and len(sha) == 64
    assert info.format == "macefield" and info.has_field_blocks
    assert info.elements == ["N", "O", "Na", "Mg", "Cl", "Ti", "Zn", "Ba"]
    assert info.heads == ["Default"] and info.dtype == "float64"
    assert info.metadata == {"trained_on": "nothing"}
    _same_outputs(tiny_model, loaded, low_symmetry_structures[0])
    # the payload is plain data: loadable with weights_only=True
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "macefield-flows-model"
    single = load_model(path, dtype="float32")
    assert single.model_info.dtype == "float32"
    # the numbers, not only the label: every floating parameter and buffer is float32
    tensors = list(single.named_parameters()) + list(single.named_buffers())
    wrong = [name for name, t in tensors if t.is_floating_point() and t.dtype != torch.float32]
    assert not wrong and any(t.dtype == torch.float32 for _, t in tensors), wrong
    # and it computes in float32, agreeing with float64 to float32 precision
    atoms = low_symmetry_structures[0]
    out32, out64 = run(single, atoms, None), run(loaded, atoms, None)
    assert out32["forces"].dtype == np.float32
    np.testing.assert_allclose(out32["forces"], out64["forces"], rtol=1e-3, atol=1e-4)


def _install_published_class(module_name: str, class_name: str):
    module = sys.modules.get(module_name)
    created = module is None
    if created:
        module = types.ModuleType(module_name)
        sys.modules[module_name] = module
    cls = type(class_name, (FieldMACE,), {"__module__": module_name})
    setattr(module, class_name, cls)
    return module, cls, created


@pytest.mark.parametrize(
    "module_name,class_name",
    [("mace.modules.extensions", "MACEField"), ("mace.modules.mace_field", "MACEField"),
     ("mace.modules.models", "ScaleShiftFieldMACE")],
)
def test_published_pickle_needs_opt_in(tmp_path, tiny_model, low_symmetry_structures, module_name, class_name):
    module, cls, created = _install_published_class(module_name, class_name)
    try:
        mimic = cls.__new__(cls)
        mimic.__dict__.update(tiny_model.__dict__)
        del mimic.__dict__["json_config"]  # a published model carries no JSON config
        path = tmp_path / "published.model"
        torch.save(mimic, path)
    finally:
        delattr(module, class_name)
        if created:
            del sys.modules[module_name]
    with pytest.raises(UntrustedPickleError, match="trust_pickle=True"):
        load_model(path)
    loaded = load_model(path, trust_pickle=True)
    assert type(loaded) is FieldMACE and loaded.model_info.format == "published-pickle"
    _same_outputs(tiny_model, loaded, low_symmetry_structures[1])


def test_plain_mace_pickle_loads_without_field_blocks(tmp_path, tiny_model, low_symmetry_structures):
    from tests.model.test_invariances import _backbone_from

    backbone = _backbone_from(tiny_model)
    path = tmp_path / "mace.model"
    torch.save(backbone, path)
    loaded = load_model(path, trust_pickle=True)
    assert loaded.model_info.format == "mace-pickle" and not loaded.has_field_blocks
    atoms = low_symmetry_structures[0]
    ref = run(tiny_model, atoms, None, compute_stress=True)
    out = run(loaded, atoms, None, compute_stress=True)
    np.testing.assert_allclose(out["forces"], ref["forces"], atol=1e-12)
    with pytest.raises(MissingFieldBlocksError, match="no field-coupling blocks"):
        run(loaded, atoms, FIELD, compute_bec=True)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="model file not found"):
        load_model(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00not a model at all" * 10)
    with pytest.raises(ModelLoadError, match="corrupt or not a model file"):
        load_model(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelLoadError, match="not a macefield-flows model file"):
        load_model(other)


def test_unknown_element_names_structure_and_element(tiny_model):
    from ase.build import bulk

    from macefield_flows.model.graph import atoms_to_graph

    with pytest.raises(UnknownElementError, match=r"'GaAs'.*\['Ga', 'As'\]"):
        atoms_to_graph(bulk("GaAs", "zincblende", a=5.65), tiny_model.atomic_numbers.tolist(), 4.0, label="GaAs")


def test_convert_pickle_to_safe_format(tmp_path, tiny_model, low_symmetry_structures):
    from macefield_flows.model.io import convert_model
    from tests.model.test_invariances import _backbone_from

    backbone = _backbone_from(tiny_model)
    pickled = tmp_path / "mace.model"
    torch.save(backbone, pickled)
    with pytest.raises(UntrustedPickleError):
        convert_model(pickled, tmp_path / "out.pt")
    info = convert_model(pickled, tmp_path / "out.pt", trust_pickle=True, add_field_blocks=True)
    assert info.format == "macefield" and info.has_field_blocks
    assert info.metadata["source_format"] == "mace-pickle"
    converted = load_model(tmp_path / "out.pt")
    ref = run(tiny_model, low_symmetry_structures[0], None, compute_stress=True)
    out = run(converted, low_symmetry_structures[0], None, compute_stress=True)
    np.testing.assert_allclose(out["forces"], ref["forces"], atol=1e-10)
