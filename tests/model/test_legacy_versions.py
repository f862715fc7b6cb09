"""Pickles written by older mace-torch releases and the published MACE-Field classes.

Each fixture in ``fixtures/old_versions`` is a random-weight float64 model pickled by
the old code itself (see that folder's README), with the outputs that code computed.
Loading through the public :func:`load_model` must reproduce them; the pre-paper
June-2025 design must be refused with a message naming class, commit and reason.
"""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from macefield_flows.exceptions import ModelLoadError, UntrustedPickleError
from macefield_flows.model.io import load_model
from macefield_flows.units import EPS0
from tests.model.helpers import run

FIXTURES = Path(__file__).parent / "fixtures" / "old_versions"

#: fixture -> (class as pickled, how the class names P / Z* / chi, factor: theirs = factor * ours)
LOADABLE = {
    "mace-0.3.4_ScaleShiftMACE": ("mace.modules.models.ScaleShiftMACE", None),
    # pickled by torch 1.12.1 under Python 3.10 (the others: torch 2.13.0, Python 3.11)
    "mace-0.3.4_torch-1.12.1_ScaleShiftMACE": ("mace.modules.models.ScaleShiftMACE", None),
    "mace-0.3.6_ScaleShiftMACE": ("mace.modules.models.ScaleShiftMACE", None),
    "mace-0.3.10_ScaleShiftMACE": ("mace.modules.models.ScaleShiftMACE", None),
    # ZBL pair repulsion + Agnesi distance transform, as the MACE-MP-0b models
    "mace-0.3.10_ScaleShiftMACE_zbl_agnesi": ("mace.modules.models.ScaleShiftMACE", None),
    "mace-0.3.13_ScaleShiftMACE": ("mace.modules.models.ScaleShiftMACE", None),
    "mace-0.3.13_MACE": ("mace.modules.models.MACE", None),
    # PR 1177: P in e/A^2, Z* [atom, P component, displacement component], chi dimensionless
    "mace-9d8b25de_MACEField": ("mace.modules.extensions.MACEField",
                                {"polarization": ("polarization", 1.0),
                                 "becs": ("born_charges", 1.0),
                                 "polarizability": ("susceptibility", 1.0)}),
    # July 2025: same P and Z*; "polarisability" is dP/dE in e/(V A) = eps0 * chi
    "mace-c307e8d9_ScaleShiftFieldMACE": ("mace.modules.models.ScaleShiftFieldMACE",
                                          {"polarisation": ("polarization", 1.0),
                                           "becs": ("born_charges", 1.0),
                                           "polarisability": ("susceptibility", EPS0)}),
}
TOL = 1e-10  # float64 throughout: differences are summation-order round-off (~1e-16)


def _unpack(name: str, tmp_path: Path) -> tuple[Path, dict]:
    path = tmp_path / f"{name}.model"
    path.write_bytes(lzma.decompress((FIXTURES / f"{name}.model.xz").read_bytes()))
    return path, json.loads((FIXTURES / f"{name}.json").read_text())


def _close(ours: np.ndarray, theirs, what: str) -> float:
    theirs = np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape, what
    scale = max(1.0, float(np.abs(theirs).max()))
    deviation = float(np.abs(ours - theirs).max())
    assert deviation <= TOL * scale, f"{what}: max deviation {deviation:.3e}"
    return deviation


@pytest.mark.parametrize("name", sorted(LOADABLE))
def test_old_pickle_reproduces_its_reference_outputs(tmp_path, name):
    source_class, field_names = LOADABLE[name]
    path, ref = _unpack(name, tmp_path)
    assert ref["class"] == source_class and ref["dtype"] == "float64"
    with pytest.raises(UntrustedPickleError):
        load_model(path)
    model = load_model(path, trust_pickle=True)
    info = model.model_info
    assert info.metadata["source_class"] == source_class
    assert info.dtype == "float64" and info.elements == ["O", "Si"]
    assert model.has_field_blocks == (field_names is not None)
    for structure in ref["structures"]:
        atoms = Atoms(structure["symbols"], positions=structure["positions"],
                      cell=structure["cell"], pbc=True)
        cases = [("zero_field", [0.0, 0.0, 0.0])]
        if field_names is not None:
            cases.append(("field", ref["field_V_per_A"]))
        for key, field in cases:
            theirs = structure[key]
            flags = dict(compute_stress=True)
            if field_names is not None:
                flags.update(compute_dipole=True, compute_bec=True, compute_polarizability=True)
            ours = run(model, atoms, np.array([field]), **flags)
            for quantity in ("energy", "forces", "stress"):
                _close(ours[quantity], theirs[quantity], f"{name} {key} {quantity}")
            for their_name, (our_name, factor) in (field_names or {}).items():
                _close(factor * ours[our_name], theirs[their_name], f"{name} {key} {their_name}")
        if field_names is not None:  # the field changes the answers: the comparison has teeth
            assert not np.allclose(structure["field"]["forces"], structure["zero_field"]["forces"],
                                   rtol=0, atol=1e-9)


REFUSED = {
    "mace-75792b8a_ScaleShiftFieldMACE": ("75792b8a", "May-June 2025", "charge/dipole readouts"),
    "mace-449bd74c_ScaleShiftFieldMACE": ("449bd74c", "January 2025", "edge attributes"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_pre_paper_field_designs_are_refused(tmp_path, name):
    path, ref = _unpack(name, tmp_path)
    commit, period, reason = REFUSED[name]
    assert ref["mace_commit"].startswith(commit)
    with pytest.raises(ModelLoadError) as refused:
        load_model(path, trust_pickle=True)
    message = str(refused.value)
    for part in ("ScaleShiftFieldMACE", commit, period, reason, str(path)):
        assert part in message
    with pytest.raises(UntrustedPickleError):  # refusal never bypasses the opt-in
        load_model(path)


def test_converted_old_pickle_keeps_outputs_and_source(tmp_path):
    from macefield_flows.model.io import convert_model

    path, ref = _unpack("mace-0.3.13_ScaleShiftMACE", tmp_path)
    info = convert_model(path, tmp_path / "safe.pt", trust_pickle=True)
    assert info.format == "macefield"
    assert info.metadata["source_class"] == "mace.modules.models.ScaleShiftMACE"
    safe = load_model(tmp_path / "safe.pt")
    structure = ref["structures"][0]
    atoms = Atoms(structure["symbols"], positions=structure["positions"], cell=structure["cell"],
                  pbc=True)
    ours = run(safe, atoms, None, compute_stress=True)
    _close(ours["forces"], structure["zero_field"]["forces"], "converted forces")


def test_old_multi_head_pickle_reproduces_every_head(tmp_path):
    """mace-torch 0.3.13 two-head ScaleShiftMACE (heads ["pt_head", "Default"], per-head
    E0s, scale and shift): every head, selected by name, gives the old code's outputs."""
    import torch

    from macefield_flows.model.graph import atoms_to_graph, collate

    path, ref = _unpack("mace-0.3.13_ScaleShiftMACE_2heads", tmp_path)
    model = load_model(path, trust_pickle=True)
    assert model.model_info.heads == ["pt_head", "Default"]
    from macefield_flows.model.heads import resolve_head

    assert resolve_head(model, warn=False) == "Default"  # as mace's calculator picks it
    for structure in ref["structures"]:
        atoms = Atoms(structure["symbols"], positions=structure["positions"],
                      cell=structure["cell"], pbc=True)
        graph = atoms_to_graph(atoms, model.atomic_numbers.tolist(), float(model.r_max))
        energies = []
        for index, head in enumerate(model.model_info.heads):
            data = collate([graph], len(model.atomic_numbers), torch.float64, head_index=index)
            ours = {k: v.detach().numpy() for k, v in model(data, compute_stress=True).items()
                    if isinstance(v, torch.Tensor)}
            theirs = structure[f"zero_field:{head}"]
            for quantity in ("energy", "forces", "stress"):
                _close(ours[quantity], theirs[quantity], f"head {head} {quantity}")
            energies.append(theirs["energy"][0])
        assert abs(energies[0] - energies[1]) > 1.0  # the heads differ: the head really is selected


def test_cli_info_names_the_source_and_refusal_is_one_error_line(tmp_path):
    from typer.testing import CliRunner

    from macefield_flows.cli.app import app

    runner = CliRunner()
    path, _ = _unpack("mace-0.3.6_ScaleShiftMACE", tmp_path)
    shown = runner.invoke(app, ["info", "--model", str(path), "--trust-pickle"])
    assert shown.exit_code == 0, shown.output
    assert "mace.modules.models.ScaleShiftMACE (mace-torch <= 0.3.13 layout" in shown.output
    path, _ = _unpack("mace-75792b8a_ScaleShiftFieldMACE", tmp_path)
    refused = runner.invoke(app, ["convert", str(path), str(tmp_path / "out.pt"), "--trust-pickle"])
    assert refused.exit_code == 1 and not (tmp_path / "out.pt").exists()
    errors = [line for line in refused.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "75792b8a" in refused.output


def test_other_mace_classes_are_refused_by_name(tmp_path, tiny_model):
    """A pickled mace ScaleShiftMACE subclass with extra parts (mace's real
    ``mace.modules.extensions.MACELES``, pickled under its name) is refused, not cut down."""
    import torch
    from mace.modules.extensions import MACELES

    from tests.model.test_invariances import _backbone_from

    model = _backbone_from(tiny_model)
    model.__class__ = MACELES  # the pickle names the class; its LES parts are not needed here
    path = tmp_path / "les.model"
    torch.save(model, path)
    with pytest.raises(ModelLoadError, match="mace.modules.extensions.MACELES is not a supported"):
        load_model(path, trust_pickle=True)
