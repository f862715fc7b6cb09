"""`macefield export` hand-off files, read back with pymatgen and phonopy's own parsers."""

from __future__ import annotations

import json

import numpy as np
import phonopy
from phonopy.file_IO import parse_FORCE_CONSTANTS
from pymatgen.core import Structure
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.interop.phonopy import read_born, to_phonopy_force_constants
from macefield_flows.stores import get_jobstore, iter_task_docs
from macefield_flows.stores.results import load_large_data

runner = CliRunner()


def test_export_hand_off_files(tmp_path, structures):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    structures[0].to(filename=str(inputs / "MgO.cif"))
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["screen", str(inputs), "--model", "default", "--device", "cpu", "--store", store,
                                 "--no-relax"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    args = ["export", "--store", store, "--structures", str(out / "s"), "--born", str(out / "b"),
            "--force-constants", str(out / "fc"), "--phonons", str(out / "ph")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    job_store = get_jobstore(store)
    (doc,) = list(iter_task_docs(job_store))
    s = Structure.from_dict(doc["structure"])
    for ext in ("cif", "vasp"):
        back = Structure.from_file(str(out / "s" / f"MgO.{ext}"))
        assert back.matches(s) and back.composition == s.composition
    born = read_born(out / "b" / "MgO" / "BORN", s)
    np.testing.assert_allclose(born["born"], doc["born"], atol=1e-8)
    fc = parse_FORCE_CONSTANTS(str(out / "fc" / "MgO" / "FORCE_CONSTANTS"))
    np.testing.assert_allclose(fc, to_phonopy_force_constants(load_large_data(job_store, doc)), atol=1e-10)
    ph = phonopy.load(str(out / "ph" / "MgO" / "phonopy.yaml"))
    assert ph.nac_params is not None
    gamma = json.loads((out / "ph" / "MgO" / "gamma.json").read_text())
    to = gamma["lo_to"][0]["to_frequencies_thz"]
    np.testing.assert_allclose(to, np.sort(doc["phonon_frequencies_thz"]), atol=1e-5)


def test_export_needs_something(tmp_path):
    result = runner.invoke(app, ["export", "--store", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "nothing to export" in result.output


def test_export_supercell_phonons(tmp_path, structures):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    structures[0].to(filename=str(inputs / "MgO.cif"))
    store = str(tmp_path / "store")
    assert runner.invoke(app, ["screen", str(inputs), "--device", "cpu", "--store", store, "--no-relax"]).exit_code == 0
    out = tmp_path / "ph"
    result = runner.invoke(app, ["export", "--store", store, "--phonons", str(out), "--supercell", "2",
                                 "--supercell", "2", "--supercell", "2"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "MgO" / "phonons.json").read_text())
    assert data["supercell_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]] and data["has_nac"]
    assert isinstance(data["min_frequency_full_bz_thz"], float)
    assert (out / "MgO" / "bands.png").stat().st_size > 5000 and (out / "MgO" / "ir.png").exists()
    assert phonopy.load(str(out / "MgO" / "phonopy.yaml")).supercell_matrix.tolist() == data["supercell_matrix"]
