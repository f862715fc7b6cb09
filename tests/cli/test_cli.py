"""The `macefield` CLI as a user calls it (typer's CliRunner and python -m)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from macefield_flows.cli.app import app

runner = CliRunner()


@pytest.fixture
def cif_dir(tmp_path, structures):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for s in structures[:2]:
        s.to(filename=str(folder / f"{s.properties['structure_id']}.cif"))
    return folder


def test_help_everywhere():
    for cmd in ([], ["screen"], ["demo"], ["query"], ["compare"], ["info"], ["export"], ["train"], ["show"]):
        result = runner.invoke(app, cmd + ["--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_train_is_registered_lazily():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0, result.output
    assert "macefield train" in result.output and "finetune" in result.output
    sub = runner.invoke(app, ["train", "labels", "--help"])
    assert sub.exit_code == 0 and "--work" in sub.output
    code = ("import sys; from macefield_flows.cli.app import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['--help']); assert 'train' in r.output; "
            "print([m for m in sys.modules if m.startswith(('macefield_flows.training', 'torch'))])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"  # nothing heavy imported for --help


def test_screen_query_rerun(tmp_path, model_file, cif_dir):
    store = str(tmp_path / "store")
    args = ["screen", str(cif_dir), "--model", str(model_file), "--device", "cpu", "--store", store,
            "--no-relax", "--chunk-size", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 to compute" in result.output
    counts = next(line for line in result.output.splitlines() if line.startswith("2 inputs: ") and "compute" not in line)
    assert "failed" not in counts and "missing" not in counts, counts
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "0 to compute" in again.output

    out = runner.invoke(app, ["query", "--store", store, "--format", "json", "--include-unreliable"])
    assert out.exit_code == 0, out.output
    docs = json.loads(out.output)
    assert {d["structure_id"] for d in docs} == {"MgO", "NaCl"}
    default = json.loads(runner.invoke(app, ["query", "--store", store, "--format", "json"]).output)
    assert {d["task_id"] for d in default} == {d["task_id"] for d in docs if d["quality"]["reliable"]}
    csv = runner.invoke(app, ["query", "--store", store, "--format", "csv", "--formula", "NaCl",
                              "--include-unreliable"])
    assert csv.exit_code == 0 and csv.output.count("\n") == 2 and "NaCl" in csv.output
    assert runner.invoke(app, ["query", "--store", store, "--failed", "--format", "json"]).output.strip() == "[]"


def test_bad_inputs_one_line_and_nonzero(tmp_path, model_file, cif_dir):
    store = tmp_path / "store"
    ok = runner.invoke(app, ["screen", str(cif_dir), "--model", str(model_file), "--store", str(store),
                             "--no-relax", "--device", "cpu"])
    assert ok.exit_code == 0, ok.output
    from macefield_flows.stores import get_jobstore, iter_task_docs

    def stored():
        return sorted(json.dumps(d, sort_keys=True, default=str) for d in iter_task_docs(get_jobstore(store)))

    before = stored()
    assert len(before) == 2

    bad = tmp_path / "broken.cif"
    bad.write_text("this is not a CIF\n")
    # a bad input is a failed document naming the file, not an abort; --strict makes it an exit status
    recorded = runner.invoke(app, ["screen", str(bad), "--model", str(model_file), "--store", str(store)])
    assert recorded.exit_code == 0, recorded.output
    assert "1 failed" in recorded.output and "broken.cif" in recorded.output
    strict = runner.invoke(app, ["screen", str(bad), "--model", str(model_file), "--store", str(store), "--strict"])
    assert strict.exit_code == 3, strict.output
    failed = [d for d in iter_task_docs(get_jobstore(store)) if d["status"] == "failed"]
    assert len(failed) == 1 and "broken.cif: unreadable" in failed[0]["failure_reason"]
    cases = [
        ["screen", str(cif_dir), "--model", str(tmp_path / "nope.pt"), "--store", str(store)],
        ["screen", str(cif_dir), "--model", str(model_file), "--store", "mongodb://127.0.0.1:9/x"],
    ]
    for args in cases:
        result = runner.invoke(app, args, env={"MACEFIELD_MONGO_TIMEOUT_MS": "300"})
        assert result.exit_code == 1, result.output
        assert "error:" in result.output and "Traceback" not in result.output
    assert [d for d in stored() if '"successful"' in d] == before  # nothing lost


def test_info_and_python_m(model_file):
    result = runner.invoke(app, ["info", "--model", str(model_file)])
    assert result.exit_code == 0, result.output
    assert "model.sha256" in result.output and "macefield-flows" in result.output
    proc = subprocess.run([sys.executable, "-m", "macefield_flows", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "demo" in proc.stdout
