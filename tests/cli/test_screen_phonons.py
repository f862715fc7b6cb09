"""``macefield screen --phonons``: an instability off Gamma is flagged, a stable crystal is not.

``macefield-small-v3`` (shipped, the default until 2026-12-03) has no imaginary Gamma mode
in MgO, but its dispersion goes imaginary away from Gamma; only the optional full-phonon
step can see it, and the quality section must then carry ``imaginary_modes`` with the
full-BZ value. The default ``macefield-small-v4`` gets MgO stable everywhere (as DFT and
experiment do): the same command must then store a reliable document.
"""

from __future__ import annotations

import json

from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.physics.quality import imaginary_mode_flags

runner = CliRunner()


def _mgo(tmp_path):
    mgo = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    mgo.get_primitive_structure().to(filename=str(tmp_path / "MgO.cif"))
    return str(tmp_path / "MgO.cif")


def test_screen_phonons_flags_mgo_unstable_off_gamma(tmp_path):
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["screen", _mgo(tmp_path), "--device", "cpu", "--store", store,
                                 "--phonons", "--phonon-min-length", "8", "--model", "macefield-small-v3"])
    assert result.exit_code == 0, result.output
    assert "1 unreliable" in result.output
    assert runner.invoke(app, ["query", "--store", store, "--format", "json"]).output.strip() == "[]"
    out = runner.invoke(app, ["query", "--store", store, "--format", "json", "--flag", "imaginary_modes"])
    (doc,) = json.loads(out.output)
    threshold = doc["quality"]["thresholds"]["imaginary_mode_thz"]
    assert min(doc["phonon_frequencies_thz"]) > -threshold  # stable at Gamma
    full = doc["min_frequency_full_bz_thz"]
    assert full < -threshold  # unstable somewhere else in the Brillouin zone
    (flag,) = [f for f in doc["quality"]["flags"] if f["name"] == "imaginary_modes"]
    assert flag["value"] == full and "full Brillouin zone" in flag["message"]
    # without the full-BZ minimum, the same document raises no phonon flag at all
    assert imaginary_mode_flags({**doc, "min_frequency_full_bz_thz": None}) == []
    report = json.loads(open(next(p for p in (tmp_path / "store").iterdir() if p.name.startswith("run_report"))).read())
    assert report["settings"]["phonons"] == {"min_length": 8.0}
    print(f"MgO (macefield-small-v3, 3x3x3 supercell): Gamma min {min(doc['phonon_frequencies_thz']):.3f} THz, "
          f"full-BZ min {full:.3f} THz; flags {[f['name'] for f in doc['quality']['flags']]}")


def test_screen_phonons_default_model_keeps_mgo_stable(tmp_path):
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["screen", _mgo(tmp_path), "--device", "cpu", "--store", store,
                                 "--phonons", "--phonon-min-length", "8"])
    assert result.exit_code == 0, result.output
    assert "1 unreliable" not in result.output
    (doc,) = json.loads(runner.invoke(app, ["query", "--store", store, "--format", "json"]).output)
    threshold = doc["quality"]["thresholds"]["imaginary_mode_thz"]
    assert doc["min_frequency_full_bz_thz"] > -threshold
    assert not [f for f in doc["quality"]["flags"] if f["name"].startswith("imaginary_modes")]
    print(f"MgO (default model, 3x3x3 supercell): full-BZ min {doc['min_frequency_full_bz_thz']:.3f} THz")
