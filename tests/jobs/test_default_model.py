"""The default model is resolved in one place: engine.inputs.default_model_path (env, registry, sha256)."""

from __future__ import annotations

import hashlib
import json

import pytest
from typer.testing import CliRunner

from macefield_flows.engine.inputs import default_model_path, resolve_model
from macefield_flows.exceptions import ModelLoadError
from macefield_flows.jobs._model import model_path, model_sha256


def _registry(folder, model_file, sha=None):
    models = folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    target = models / "small.pt"
    target.write_bytes(model_file.read_bytes())
    entry = {"file": "small.pt"}
    if sha is not False:
        entry["sha256"] = sha or hashlib.sha256(target.read_bytes()).hexdigest()
    (models / "registry.json").write_text(json.dumps({"default": "small", "models": {"small": entry}}))
    return target


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("MACEFIELD_DEFAULT_MODEL", raising=False)
    monkeypatch.setenv("MACEFIELD_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_registry_default_and_one_resolver(data_dir, model_file):
    target = _registry(data_dir, model_file)
    assert default_model_path() == target.resolve()
    assert model_path("default") == model_path(None) == target.resolve()  # jobs use the same resolver
    assert model_sha256("default") == hashlib.sha256(target.read_bytes()).hexdigest()
    model = resolve_model("default", device="cpu")
    assert model.model_info.sha256 == model_sha256("default")


def test_registry_without_sha256_is_accepted(data_dir, model_file):
    target = _registry(data_dir, model_file, sha=False)
    assert default_model_path() == target.resolve()


def test_env_override_wins(data_dir, model_file, monkeypatch):
    _registry(data_dir, model_file, sha="0" * 64)  # a broken registry is not even read
    monkeypatch.setenv("MACEFIELD_DEFAULT_MODEL", str(model_file))
    assert default_model_path() == model_file.resolve()
    assert model_path("default") == model_file.resolve()
    monkeypatch.setenv("MACEFIELD_DEFAULT_MODEL", str(data_dir / "nope.pt"))
    with pytest.raises(ModelLoadError, match="MACEFIELD_DEFAULT_MODEL=.*is not a file"):
        default_model_path()


def test_missing_registry_says_what_to_do(data_dir):
    with pytest.raises(ModelLoadError, match=r"registry .* not found.*--model PATH"):
        default_model_path()
    with pytest.raises(ModelLoadError, match="--model PATH"):
        resolve_model(None)


def test_sha256_mismatch(data_dir, model_file):
    _registry(data_dir, model_file, sha="ab" * 32)
    with pytest.raises(ModelLoadError, match=r"sha256 .* expects abab.*--model PATH"):
        default_model_path()
    with pytest.raises(ModelLoadError, match="sha256"):
        model_path("default")


def test_cli_without_default_model_is_one_clear_line(data_dir, tmp_path, structures):
    from macefield_flows.cli.app import app

    cif = tmp_path / "MgO.cif"
    structures[0].to(filename=str(cif))
    result = CliRunner().invoke(app, ["screen", str(cif), "--store", str(tmp_path / "store"), "--no-relax"])
    assert result.exit_code == 1
    assert "error:" in result.output and "--model PATH" in result.output and "Traceback" not in result.output


def test_default_and_registry_names_everywhere(data_dir, model_file, tmp_path, structures):
    """'default' and a registered name mean the same file in load_model, the calculator, evaluate,
    the Makers and the CLI (one resolver: model/registry.py)."""
    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.cli.app import app
    from macefield_flows.engine import evaluate
    from macefield_flows.model import load_model
    from macefield_flows.model.registry import resolve_model_path

    target = _registry(data_dir, model_file).resolve()
    sha = hashlib.sha256(target.read_bytes()).hexdigest()
    for spec in ("default", "Default", None, "small", str(target)):
        assert resolve_model_path(spec) == target
    for spec in ("default", "small"):
        assert load_model(spec).model_info.sha256 == sha
        assert MACEFieldCalculator(model=spec).model.model_info.sha256 == sha
        assert model_path(spec) == target
        energy = evaluate(structures[:1], spec, properties=("energy",), device="cpu")[0].energy
        assert energy == pytest.approx(evaluate(structures[:1], str(target), properties=("energy",),
                                                device="cpu")[0].energy, abs=0)
        result = CliRunner().invoke(app, ["info", "--model", spec])
        assert result.exit_code == 0 and sha in result.output, result.output
    assert MACEFieldCalculator().model.model_info.sha256 == sha  # no model given: the default


def test_unknown_name_lists_registered_names(data_dir, model_file):
    from macefield_flows.model import load_model

    _registry(data_dir, model_file)
    with pytest.raises(ModelLoadError, match=r"model file not found: .*nonesuch.*registered model name: "
                                             r"default, small"):
        load_model("nonesuch")
