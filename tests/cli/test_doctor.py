"""`macefield doctor`: every check reports, damage is found and named with its fix, exit codes."""

from __future__ import annotations

import hashlib
import json
import shutil

from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.cli.doctor import FAIL, OK, SKIP, WARN, Doctor, check_model, check_store
from macefield_flows.model.registry import default_model_path


def _by_name(doc: Doctor) -> dict[str, tuple[str, str, str]]:
    return {f"{c.group} {c.name}": (c.status, c.detail, c.fix) for c in doc.checks}


def test_full_run_on_this_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("MACEFIELD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MACEFIELD_STORE", raising=False)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for line in ("software torch", "backends e3nn", "model sha256", "model heads", "model field blocks",
                 "store writable", "references shipped sets"):
        assert line in result.output, line
    from macefield_flows.training.registry import load_registry

    assert f"= registry entry '{load_registry()['default']}'" in result.output
    assert "-dF/dE = dipole" in result.output
    assert " failed" in result.output and "0 failed" in result.output
    # a warning (no GPU, no cuEquivariance in CI) turns into exit 2 only with --strict
    if "warn " in result.output:
        assert "to fix:" in result.output
        strict = CliRunner().invoke(app, ["doctor", "--strict"])
        assert strict.exit_code == 2, strict.output


def test_altered_model_fails_with_its_fix(tmp_path, monkeypatch):
    """A registered file whose bytes changed: sha256 FAIL; a damaged file: loads FAIL."""
    models = tmp_path / "models"
    models.mkdir()
    target = models / "m.pt"
    shutil.copy(default_model_path(), target)
    (models / "registry.json").write_text(json.dumps(
        {"default": "m", "models": {"m": {"file": "m.pt", "sha256": "ab" * 32}}}))
    monkeypatch.setenv("MACEFIELD_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MACEFIELD_DEFAULT_MODEL", raising=False)
    doc = Doctor()
    check_model(doc, "default", trust_pickle=False, backend=None)
    checks = _by_name(doc)
    assert checks["model sha256"][0] == FAIL and "altered or corrupt" in checks["model sha256"][1]
    assert "restore the file" in checks["model sha256"][2]
    assert checks["model loads"][0] == OK  # the bytes are a good model: only the registry disagrees

    target.write_bytes(target.read_bytes()[: 1000])  # truncated
    (models / "registry.json").write_text(json.dumps({"default": "m", "models": {"m": {
        "file": "m.pt", "sha256": hashlib.sha256(target.read_bytes()).hexdigest()}}}))
    doc = Doctor()
    check_model(doc, "default", trust_pickle=False, backend=None)
    checks = _by_name(doc)
    assert checks["model sha256"][0] == OK
    assert checks["model loads"][0] == FAIL and "corrupt" in checks["model loads"][1]
    assert checks["model elements"][0] == SKIP


def test_unknown_model_and_bad_store(tmp_path):
    doc = Doctor()
    check_model(doc, str(tmp_path / "nope.pt"), trust_pickle=False, backend=None)
    checks = _by_name(doc)
    assert checks["model file"][0] == FAIL and "--model PATH" in checks["model file"][2]
    assert checks["model loads"][0] == SKIP

    a_file = tmp_path / "store-is-a-file"
    a_file.write_text("x")
    doc = Doctor()
    check_store(doc, str(a_file))
    checks = _by_name(doc)
    assert checks["store reachable"][0] == FAIL and "is a file" in checks["store reachable"][1]
    assert checks["store writable"][0] == SKIP

    folder = tmp_path / "store"
    folder.mkdir()
    doc = Doctor()
    check_store(doc, str(folder))
    assert [c.status for c in doc.checks] == [OK, OK]
    assert not list(folder.iterdir())  # the probe is removed


def test_a_crashing_check_is_reported_not_raised():
    doc = Doctor()

    def boom():
        raise RuntimeError("kaputt")

    check = doc.run("x", "y", boom, "do this")
    assert check.status == FAIL and "kaputt" in check.detail and check.fix == "do this"
    assert doc.failed and not doc.warned
    doc.add("x", "z", WARN)
    assert doc.warned
