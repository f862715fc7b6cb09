"""`macefield convert`: pickles need the opt-in; the output loads safely."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.model import load_model


def test_convert_requires_opt_in_and_writes_safe_file(tmp_path, tiny_model):
    from tests.model.test_invariances import _backbone_from

    pickled = tmp_path / "foundation.model"
    torch.save(_backbone_from(tiny_model), pickled)
    out = tmp_path / "converted.pt"
    runner = CliRunner()
    refused = runner.invoke(app, ["convert", str(pickled), str(out)])
    assert refused.exit_code == 1 and "trust_pickle=True" in refused.output and not out.exists()
    done = runner.invoke(app, ["convert", str(pickled), str(out), "--trust-pickle", "--add-field-blocks"])
    assert done.exit_code == 0, done.output
    assert "field blocks True" in done.output
    assert load_model(out).model_info.has_field_blocks
