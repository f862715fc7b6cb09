"""``macefield screen --phonons`` with the shipped model: MgO is stable at Gamma, not off Gamma.

The shipped model's MgO has no imaginary Gamma mode, but its dispersion goes
imaginary away from Gamma; only the optional full-phonon step can see it, and the
quality section must then carry ``imaginary_modes`` with the full-BZ value.
"""

from __future__ import annotations

import json

from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from macefield_flows.cli.app import app
from macefield_flows.physics.quality import imaginary_mode_flags

runner = CliRunner()


def test_screen_phonons_flags_mgo_unstable_off_gamma(tmp_path):
    mgo = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.21), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    mgo.get_primitive_structure().to(filename=str(tmp_path / "MgO.cif"))
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["screen", str(tmp_path / "MgO.cif"), "--device", "cpu", "--store", store,
                                 "--phonons", "--phonon-min-length", "8"])
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
    print(f"MgO (shipped model, 3x3x3 supercell): Gamma min {min(doc['phonon_frequencies_thz']):.3f} THz, "
          f"full-BZ min {full:.3f} THz; flags {[f['name'] for f in doc['quality']['flags']]}")
