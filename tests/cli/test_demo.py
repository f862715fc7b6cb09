"""`macefield demo`: benchmark reference documents, comparison wiring, and the command end to end."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.cli.demo import benchmark_reference_docs, compare_benchmark
from macefield_flows.references.benchmark import load_benchmark_set
from macefield_flows.schemas.reference import ReferenceDoc

runner = CliRunner()


@pytest.fixture(scope="module")
def entries():
    return load_benchmark_set()


def test_benchmark_reference_docs(entries):
    docs = benchmark_reference_docs(entries)
    assert len(docs) == len(entries)
    for e, d in zip(entries, docs):
        ReferenceDoc.model_validate(d)
        assert d["material_id"] == f"benchmark:{e.name}" and d["split"] == e.split
        born = e.value("born")
        assert (d["born"] is None) == (born is None)
        if born is not None:
            assert np.allclose(d["born"], born)
        if e.values.get("piezo_total"):
            assert d["piezo_invariants"]["frobenius"] > 0


def _perfect_prediction(ref: dict, i: int) -> dict:
    """A task document equal to the reference (what a perfect model would give)."""
    return {"task_id": f"t{i}", "status": "successful", "structure": ref["structure"],
            "formula_pretty": ref["formula_pretty"], "provenance": {"model_name": "perfect"},
            "born": ref["born"], "epsilon_static": ref["eps_electronic"], "epsilon_ionic": ref["eps_ionic"],
            "epsilon_total": ref["eps_total"], "piezo_tensor": ref["piezo_total"]}


def test_compare_benchmark_perfect_predictions(entries, tmp_path):
    refs = benchmark_reference_docs(entries)
    docs = [_perfect_prediction(r, i) for i, r in enumerate(refs)]
    docs[0] = {**docs[0], "status": "failed", "failure_reason": "boom"}
    result = compare_benchmark(entries, docs, tmp_path / "out")
    props = {a["property"]: a for a in result.aggregate}
    assert {"born", "eps_electronic", "eps_ionic", "eps_total", "piezo_frobenius"} <= set(props)
    for a in result.aggregate:
        assert a["mae"] < 5e-3 and a["rmse"] < 5e-3, a  # structure matching: rotations good to ~1e-4
        assert a["r2_true"] == pytest.approx(1.0, abs=1e-4) and a["pearson_r2"] == pytest.approx(1.0, abs=1e-4)
    assert props["eps_electronic"]["count"] == sum(r["eps_electronic"] is not None for r in refs[1:])
    first = result.materials[0]
    assert first["status"] == "failed" and first["failure_reason"] == "boom" and first["eps_inf pred"] is None
    mgo = next(m for m in result.materials if m["crystal"] == "NaCl")
    assert mgo["eps_inf pred"] == pytest.approx(mgo["eps_inf DFPT"]) and mgo["Z* MAE"] == pytest.approx(0)
    text = result.report_path.read_text()
    assert "## Per material" in text and "Z* diagonal" in text and "boom" in text
    assert all(p.path.is_file() and p.n_points > 0 for p in result.plots)


def test_demo_command_with_tiny_default_model(tmp_path, monkeypatch, entries):
    from macefield_flows.model import save_model
    from macefield_flows.testing import tiny_field_model

    limit = 4  # MgO, NaCl, BaTiO3 cubic and P4mm: Born charges, eps_inf, eps_ionic/total, piezo
    assert [e.name for e in entries[:limit]][-1] == "BaTiO3-P4mm"
    elements = sorted({el.symbol for e in entries[:limit] for el in e.structure.composition.elements})
    path = tmp_path / "tiny.pt"
    save_model(tiny_field_model(elements, channels=4), path)
    monkeypatch.setenv("MACEFIELD_DEFAULT_MODEL", str(path))
    monkeypatch.delenv("MACEFIELD_DATA_DIR", raising=False)
    out = tmp_path / "demo-out"
    args = ["demo", "--store", str(tmp_path / "store"), "--limit", str(limit), "--device", "cpu",
            "--output", str(out)]
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for text in ("Z* diagonal", "eps_inf", "eps_total", "piezo \\|e\\|_F", "Pearson R2", "| MgO |", "BaTiO3-P4mm"):
        assert text in result.output, text  # piped: Markdown tables
    assert "…" not in result.output  # full values, never cut at 80 columns
    report = (out / "report.md").read_text()
    assert "## Summary" in report and "## Per material" in report and "| MgO |" in report
    # one plot per property with values in the metrics; the tiny random model's eps_ionic / piezo are
    # flagged unreliable (imaginary modes...) and left out, with the count in the report
    assert len(list(out.glob("parity_*.png"))) >= 2
    assert "n_excluded" in report
    again = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert again.exit_code == 0 and "0 to compute" in again.output
    # then `macefield compare` with nothing but the store: shipped references + benchmark set
    compare_out = tmp_path / "compare-out"
    compared = runner.invoke(app, ["compare", "--store", str(tmp_path / "store"), "--output", str(compare_out)])
    assert compared.exit_code == 0, compared.output
    md = (compare_out / "report.md").read_text()
    assert "## Per material" in md and "| MgO |" in md and "petretto2018_dfpt_becs_epsinf:row595" in md
    assert (compare_out / "report.html").is_file() and list(compare_out.glob("parity_*.png"))


def test_demo_without_default_model_says_what_to_do(tmp_path, monkeypatch):
    import shutil

    from macefield_flows.references.paths import resolve_data_dir

    data = tmp_path / "data"  # the benchmark set but no data/models/registry.json
    data.mkdir()
    shutil.copy(resolve_data_dir() / "benchmark_set.json", data / "benchmark_set.json")
    monkeypatch.setenv("MACEFIELD_DATA_DIR", str(data))
    result = runner.invoke(app, ["demo", "--store", str(tmp_path / "store"), "--limit", "1"])
    assert result.exit_code == 1
    assert "--model PATH" in result.output and "Traceback" not in result.output
