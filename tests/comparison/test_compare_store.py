"""`macefield compare` from the results store: matching by space group, unreliable values, errors, reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from maggma.stores import MemoryStore
from monty.json import jsanitize
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.comparison.builder import ComparisonBuilder
from macefield_flows.comparison.report import run_compare
from macefield_flows.comparison.synthetic import synthetic_prediction
from macefield_flows.references.ingest import iter_reference_docs

runner = CliRunner()
PETOUSIS_SNO2_PNNM = 276  # mp-550172, CaCl2-type SnO2, Pnnm (58)
PETRETTO_SNO2_RUTILE = 145  # rutile SnO2, P4_2/mnm (136)


def _stores(refs, preds):
    r = MemoryStore(collection_name="refs", key="reference_id")
    p = MemoryStore(collection_name="preds", key="task_id")
    c = MemoryStore(collection_name="comparisons", key="comparison_id")
    for s in (r, p, c):
        s.connect()
    r.update(refs, key="reference_id")
    p.update([jsanitize(x, allow_bson=True) for x in preds], key="task_id")
    return p, r, c


@pytest.fixture(scope="module")
def sno2_refs():
    pnnm = next(iter_reference_docs("mp_dielectric_petousis2017", rows=[PETOUSIS_SNO2_PNNM])).model_dump()
    rutile = next(iter_reference_docs("petretto2018_dfpt_becs_epsinf", rows=[PETRETTO_SNO2_RUTILE])).model_dump()
    assert (pnnm["material_id"], pnnm["space_group"], rutile["space_group"]) == ("mp-550172", 58, 136)
    return pnnm, rutile


@pytest.mark.parametrize("any_space_group", [False, True])
def test_rutile_sno2_never_takes_cacl2_type_values(sno2_refs, any_space_group, tmp_path):
    pnnm, rutile = sno2_refs
    pred = synthetic_prediction(rutile, keep_material_id=False, seed=3)
    pred["epsilon_ionic"] = (300.0 * np.eye(3)).tolist()  # would be compared with Pnnm's eps_ionic if joined
    p, r, c = _stores([pnnm, rutile], [pred])
    ComparisonBuilder(p, r, c, any_space_group=any_space_group).build()
    doc = c.query_one({"kind": "material"})
    joined = {m["reference_id"]: m for m in doc["matches"]}
    assert doc["space_group"] == 136
    assert rutile["reference_id"] in joined
    assert joined[rutile["reference_id"]]["space_group_reference"] == 136
    assert joined[rutile["reference_id"]]["rms_distance"] == pytest.approx(0, abs=1e-6)
    if any_space_group:
        assert pnnm["reference_id"] in joined and "eps_ionic" in doc["properties"]
        assert joined[pnnm["reference_id"]]["space_group_reference"] == 58
    else:
        assert pnnm["reference_id"] not in joined and "eps_ionic" not in doc["properties"]
        assert any("mp-550172" in r and "space group" in r for r in doc["rejected"])
        assert doc["properties"]["eps_electronic"]["reference_id"] == rutile["reference_id"]
    md = run_compare(p, r, tmp_path, any_space_group=any_space_group).markdown_path.read_text()
    assert ("## Candidates not joined" in md and "mp-550172" in md) is (not any_space_group)


def _flagged(pred: dict, names: list[str], affects: list[str]) -> dict:
    pred = dict(pred)
    pred["quality"] = {"reliable": False, "flags": [{"name": n, "message": n, "affects": affects} for n in names]}
    return pred


@pytest.fixture(scope="module")
def petousis_refs():
    return [d.model_dump() for d in iter_reference_docs("mp_dielectric_petousis2017", rows=range(0, 200, 25))]


def test_unreliable_values_left_out_and_counted(petousis_refs, tmp_path):
    preds = [synthetic_prediction(r, offset=0.1, seed=i) for i, r in enumerate(petousis_refs)]
    for i in (0, 1, 2):  # absurd eps_ionic that the document itself flags
        preds[i]["epsilon_ionic"] = (287.0 * np.eye(3)).tolist()
        preds[i] = _flagged(preds[i], ["imaginary_modes"], ["epsilon_ionic", "epsilon_total", "piezo_tensor"])
    preds[3] = _flagged(preds[3], ["absurd_geometry"], ["all"])
    p, r, _ = _stores(petousis_refs, preds)
    rep = run_compare(p, r, tmp_path / "out")
    rows = {row["property"]: row for row in rep.rows}
    assert rows["eps_ionic"]["count"] == len(preds) - 4 and rows["eps_ionic"]["n_excluded"] == 4
    assert rows["eps_ionic"]["excluded_reasons"] == {"absurd_geometry": 1, "imaginary_modes": 3}
    assert rows["eps_ionic"]["mae"] == pytest.approx(0.1, abs=0.02)  # the known offset, absurd values out
    assert rows["eps_electronic"]["n_excluded"] == 1  # only the 'all' flag touches eps_inf
    text = rep.markdown_path.read_text()
    assert "imaginary_modes 3" in text and "n_excluded" in text
    for case in rep.worst["synthetic:eps_ionic"]:
        assert case["label"].startswith(case["formula_pretty"]) and "mp-" in case["label"]  # formula (id), no hash
    flagged = [m for m in rep.materials if m["left out of metrics"]]
    assert len(flagged) == 4 and any("imaginary_modes" in m["left out of metrics"] for m in flagged)
    kept = run_compare(p, r, tmp_path / "all", include_unreliable=True,
                       comparisons_store=None)
    assert {row["property"]: row for row in kept.rows}["eps_ionic"]["mae"] > 50


def test_gaas_pbesol_eps_inf_is_reference_unusable():
    doc = next(iter_reference_docs("petretto2018_dfpt_becs_epsinf", rows=[1010])).model_dump()
    assert doc["formula_pretty"] == "GaAs" and doc["eps_electronic"][0][0] == pytest.approx(35.12, abs=0.01)
    p, r, c = _stores([doc], [synthetic_prediction(doc, keep_material_id=False)])
    ComparisonBuilder(p, r, c).build()
    pc = c.query_one({"kind": "material"})["properties"]
    assert pc["eps_electronic"]["reliable"] is False and "PBEsol" in pc["eps_electronic"]["excluded_reasons"][0]
    assert pc["born"]["reliable"] is True


# --- the command ----------------------------------------------------------------------------------------

@pytest.fixture
def store_with_predictions(tmp_path, petousis_refs, monkeypatch):
    from macefield_flows.stores import get_jobstore
    from macefield_flows.stores.results import write_task_docs

    monkeypatch.setenv("MACEFIELD_HOME", str(tmp_path / "home"))
    preds = [synthetic_prediction(r, offset=0.05, seed=i) for i, r in enumerate(petousis_refs)]
    folder = tmp_path / "store"
    write_task_docs(get_jobstore(str(folder)), [jsanitize(x, allow_bson=True) for x in preds])
    return folder, preds


def _one_error_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output, result.output
    return lines[0]


def test_compare_reads_the_store(store_with_predictions, tmp_path):
    folder, preds = store_with_predictions
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", "--store", str(folder), "--output", str(out), "--materials"])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    assert len(list(out.glob("parity_*.png"))) >= 3
    # piped output: Markdown tables with full values, never cut
    assert "| synthetic | eps_electronic |" in result.output
    for p in preds:
        assert p["formula_pretty"] in result.output
    assert "..." not in result.output
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(list(out.glob("parity_*.png")))


def test_compare_filters_model_and_run(store_with_predictions, tmp_path):
    folder, preds = store_with_predictions
    report = tmp_path / "run_report.json"
    report.write_text(json.dumps({"task_ids": [preds[0]["task_id"], preds[1]["task_id"]]}))
    result = runner.invoke(app, ["compare", "--store", str(folder), "--run", str(report), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "| synthetic | eps_electronic | all | dimensionless | 2 |" in result.output
    assert "no prediction of model 'nope'" in _one_error_line(
        runner.invoke(app, ["compare", "--store", str(folder), "--model", "nope", "-o", str(tmp_path / "o")]))


def test_compare_errors_are_one_line(store_with_predictions, tmp_path):
    folder, _ = store_with_predictions
    out = ["-o", str(tmp_path / "o")]
    from macefield_flows.stores import get_jobstore

    assert "no results store" in _one_error_line(
        runner.invoke(app, ["compare", "--store", str(tmp_path / "nothing"), *out]))
    get_jobstore(str(tmp_path / "empty"))  # created, holds nothing
    assert "no successful predictions" in _one_error_line(
        runner.invoke(app, ["compare", "--store", str(tmp_path / "empty"), *out]))
    assert "unknown property 'eps'" in _one_error_line(
        runner.invoke(app, ["compare", "--store", str(folder), "--property", "eps", *out]))
    assert "not found" in _one_error_line(
        runner.invoke(app, ["compare", "--store", str(folder), "-r", str(tmp_path / "missing.json"), *out]))
    bad = tmp_path / "corrupt.json"
    bad.write_text('{"entries": [')
    assert "not valid JSON" in _one_error_line(runner.invoke(app, ["compare", "--store", str(folder), "-r", str(bad),
                                                                   *out]))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([{"foo": 1}]))
    assert "record 0" in _one_error_line(runner.invoke(app, ["compare", "--store", str(folder), "-r", str(wrong),
                                                              *out]))


def test_benchmark_set_accepted_as_references(store_with_predictions, tmp_path):
    from macefield_flows.references.paths import resolve_data_dir

    folder, _ = store_with_predictions
    result = runner.invoke(app, ["compare", "--store", str(folder), "-r", str(resolve_data_dir() / "benchmark_set.json"),
                                 "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
