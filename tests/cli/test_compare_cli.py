"""`macefield screen` then `macefield compare --run latest`: the run report names the run's documents."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from macefield_flows.cli.app import app

runner = CliRunner()


def test_screen_then_compare_latest_run(tmp_path, model_file, monkeypatch):
    from pymatgen.core import Lattice, Structure

    monkeypatch.setenv("MACEFIELD_HOME", str(tmp_path / "home"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    a = 4.21  # rock-salt MgO and NaCl: joined by structure with the shipped Petretto / phonopy rows
    for name, sp, lat in (("MgO", ("Mg", "O"), a), ("NaCl", ("Na", "Cl"), 5.6)):
        s = Structure(Lattice([[0, lat / 2, lat / 2], [lat / 2, 0, lat / 2], [lat / 2, lat / 2, 0]]), list(sp),
                      [[0, 0, 0], [0.5, 0.5, 0.5]])
        (inputs / f"{name}.json").write_text(json.dumps(s.as_dict()))
    store = tmp_path / "store"
    done = runner.invoke(app, ["screen", str(inputs / "MgO.json"), "--model", str(model_file), "--store", str(store),
                               "--device", "cpu", "--no-relax"])
    assert done.exit_code == 0, done.output
    first = sorted(store.glob("run_report_*.json"))
    assert len(first) == 1 and len(json.loads(first[0].read_text())["task_ids"]) == 1
    done = runner.invoke(app, ["screen", str(inputs / "NaCl.json"), "--model", str(model_file), "--store",
                               str(store), "--device", "cpu", "--no-relax"])
    assert done.exit_code == 0, done.output
    out = tmp_path / "cmp"
    latest = runner.invoke(app, ["compare", "--store", str(store), "--run", "latest", "--materials", "-o", str(out)])
    assert latest.exit_code == 0, latest.output
    assert "| NaCl |" in latest.output and "| MgO |" not in latest.output  # only the latest run
    both = runner.invoke(app, ["compare", "--store", str(store), "--materials", "-o", str(out)])
    assert both.exit_code == 0 and "| NaCl |" in both.output and "| MgO |" in both.output
    md = (out / "report.md").read_text()
    assert "225 / 225" in md  # space group of prediction and reference in the per-material table
