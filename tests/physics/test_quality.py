"""Quality flags (physics/quality.py): each check fires on the absurd case, not on the sound one."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from macefield_flows.physics.quality import IONIC, QualityThresholds, assess, is_reliable
from macefield_flows.testing_faults import perovskite, rocksalt, wurtzite


def names(flags):
    return {f["name"] for f in flags}


def test_sound_rocksalt_has_no_flags():
    mgo = rocksalt(4.21)
    doc = {"structure": mgo, "input_structure": mgo, "forces": [[0, 0, 0], [0, 0, 0]],
           "epsilon_static": np.eye(3) * 3.0, "epsilon_ionic": np.eye(3) * 6.5, "epsilon_total": np.eye(3) * 9.5,
           "phonon_frequencies_thz": [-0.05, 0.0, 0.02, 11.0, 11.0, 11.0],
           "elastic_tensor": np.diag([290, 290, 290, 150, 150, 150.0]),
           "born": [np.eye(3) * 1.95, -np.eye(3) * 1.95], "born_asr_residual": 1e-12,
           "symmetry_violations": {"born": 1e-6, "piezo_tensor": 1.0}}
    flags = assess(doc)
    assert flags == [] and is_reliable(flags)


def test_absurd_geometries_make_everything_unreliable():
    compressed = rocksalt(2.0, ("Na", "Cl"))  # Na-Cl 1.0 A, covalent sum 2.68 A
    flags = assess({"structure": compressed})
    short = next(f for f in flags if f["name"] == "short_distances")
    assert short["value"] == pytest.approx(1.0 / 2.68, abs=0.01) and short["affects"] == ["all"]
    lonely = assess({"structure": Structure(Lattice.cubic(30.0), ["Mg"], [[0, 0, 0]])})
    assert names(lonely) == {"isolated_atoms"} and not is_reliable(lonely)
    # a crystal whose atoms sit 4.9 A apart has neighbours within the 5 A cutoff
    assert assess({"structure": Structure(Lattice.cubic(4.9), ["Mg"], [[0, 0, 0]])}) == []


def test_relaxation_volume_space_group_and_polarity():
    polar = perovskite(4.0, shift=0.03)  # P4mm
    cubic = perovskite(4.0)  # Pm-3m
    flags = assess({"structure": cubic, "input_structure": polar, "relaxed": True})
    assert names(flags) == {"space_group_changed", "polarity_lost"}
    lost = next(f for f in flags if f["name"] == "polarity_lost")
    assert "piezo_tensor" in lost["affects"] and "polarization" in lost["affects"] and "born" not in lost["affects"]
    note = next(f for f in flags if f["name"] == "space_group_changed")
    assert note["affects"] == [] and (note["value"], note["threshold"]) == (221.0, 99.0)
    assert not is_reliable(flags)
    # non-polar -> polar is a space-group change, not a loss of polarity; no relaxation: no check at all
    assert names(assess({"structure": polar, "input_structure": cubic, "relaxed": True})) == {"space_group_changed"}
    assert assess({"structure": cubic, "input_structure": polar, "relaxed": False}) == []
    zno = wurtzite()
    grown = zno.copy()
    grown.scale_lattice(zno.volume * 1.38)
    big = assess({"structure": grown, "input_structure": zno, "relaxed": True})
    assert names(big) == {"large_volume_change"} and big[0]["value"] == pytest.approx(0.38)
    assert assess({"structure": grown, "input_structure": zno, "relaxed": True},
                  QualityThresholds(max_volume_change=0.5)) == []


def test_residual_forces_and_imaginary_modes_affect_ionic_properties_only():
    mgo = rocksalt(4.21)
    flags = assess({"structure": mgo, "forces": [[0.6, 0, 0], [-0.6, 0, 0]]})
    assert names(flags) == {"residual_forces"} and flags[0]["value"] == pytest.approx(0.6)
    assert set(flags[0]["affects"]) == set(IONIC) and "born" not in flags[0]["affects"]
    gamma = {"structure": mgo, "phonon_frequencies_thz": [-2.0, 0, 0, 5, 5, 5]}
    assert next(iter(assess(gamma)))["value"] == -2.0
    # the full-Brillouin-zone minimum wins over Gamma when known
    assert assess({**gamma, "min_frequency_full_bz_thz": 0.0}) == []
    full = assess({"structure": mgo, "phonon_frequencies_thz": [0, 0, 0, 5, 5, 5], "min_frequency_full_bz_thz": -1.5})
    assert full[0]["name"] == "imaginary_modes" and "full Brillouin zone" in full[0]["message"]


def test_dielectric_and_elastic_eigenvalues():
    mgo = rocksalt(4.21)
    # NaCl at a = 2 A gave eps_electronic 267 and eps_ionic -251: negative ionic part
    eps_ion = np.diag([-251.0, 5, 5])
    flags = assess({"structure": mgo, "epsilon_static": np.eye(3) * 267, "epsilon_ionic": eps_ion,
                    "epsilon_total": np.eye(3) * 267 + eps_ion})
    assert names(flags) == {"eps_ionic_not_psd"}  # eps_0 = 16 along x: above 1
    below = assess({"structure": mgo, "epsilon_static": np.diag([0.9, 2, 2])})
    assert names(below) == {"eps_electronic_below_one"} and below[0]["value"] == pytest.approx(0.9)
    # an off-diagonal matrix whose diagonal is fine but whose eigenvalue is not
    hidden = np.array([[2.0, 1.5, 0], [1.5, 2.0, 0], [0, 0, 2.0]])  # eigenvalues 0.5, 2, 3.5
    assert names(assess({"structure": mgo, "epsilon_static": hidden})) == {"eps_electronic_below_one"}
    c = np.diag([300.0, 300, -177, 100, 100, 100])  # the BaTiO3 benchmark's C33 = -177 GPa
    el = assess({"structure": mgo, "elastic_tensor": c})
    assert names(el) == {"elastic_not_positive_definite"}
    assert {"elastic_tensor", "piezo_strain_tensor", "piezo_tensor", "e_ij_max"} <= set(el[0]["affects"])
    assert "epsilon_ionic" not in el[0]["affects"] and "piezo_electronic_tensor" not in el[0]["affects"]
    # MgO with C12 = -49 GPa is still positive definite when C11 = 300: no flag
    c12 = np.full((3, 3), -49.0) + np.eye(3) * (300 + 49)
    assert assess({"structure": mgo, "elastic_tensor": np.block([[c12, np.zeros((3, 3))],
                                                                 [np.zeros((3, 3)), np.eye(3) * 150]])}) == []


def test_asr_and_symmetry_are_relative_and_only_for_allowed_tensors():
    mgo, zno = rocksalt(4.21), wurtzite()
    born = [np.eye(3) * 2.0, -np.eye(3) * 1.8]
    asr = assess({"structure": mgo, "born": born, "born_asr_residual": 0.2})
    assert names(asr) == {"asr_violation"} and asr[0]["value"] == pytest.approx(0.1)
    # the same absolute residual on charges 100 times larger is fine
    assert assess({"structure": mgo, "born": [200 * np.eye(3)], "born_asr_residual": 0.2}) == []
    # piezo of a centrosymmetric crystal: forbidden, the symmetrised zero is the answer: no flag
    assert assess({"structure": mgo, "symmetry_violations": {"piezo_tensor": 1.0}}) == []
    flags = assess({"structure": zno, "symmetry_violations": {"piezo_tensor": 0.5, "epsilon_static": 0.01}})
    assert names(flags) == {"symmetry_violation"} and "piezo_tensor" in flags[0]["affects"]
    assert "epsilon_static" not in flags[0]["affects"]


def test_thresholds_are_validated():
    with pytest.raises(ValueError, match="unknown quality thresholds"):
        QualityThresholds.from_any({"max_force": 1.0})
    with pytest.raises(ValueError, match="expected a finite number"):
        QualityThresholds(max_residual_force=-1)
    assert QualityThresholds.from_any({"max_residual_force": 1}).max_residual_force == 1.0


def test_imaginary_modes_split_by_dipole_and_soft_polar_modes():
    mgo = rocksalt(4.21)
    freqs = [-4.0, 0.0, 0.0, 0.0, 0.73, 3.8, 8.5]
    # the SnO2 benchmark: the -4 THz mode carries no dipole; eps_ionic 350 comes from the 0.73 THz polar mode
    intens = [0.0, 0.0, 0.0, 0.0, 0.14, 0.41, 1.0]
    flags = {f["name"]: f for f in assess({"structure": mgo, "phonon_frequencies_thz": freqs, "ir_intensities": intens})}
    assert set(flags) == {"imaginary_modes_ir_inactive", "soft_polar_mode"}
    assert "epsilon_ionic" not in flags["imaginary_modes_ir_inactive"]["affects"]
    assert "elastic_tensor" in flags["imaginary_modes_ir_inactive"]["affects"]
    assert flags["soft_polar_mode"]["value"] == pytest.approx(0.73) and "epsilon_ionic" in flags["soft_polar_mode"]["affects"]
    polar = assess({"structure": mgo, "phonon_frequencies_thz": freqs, "ir_intensities": [0.5] + intens[1:]})
    assert {f["name"] for f in polar} == {"imaginary_modes", "soft_polar_mode"}
    stiff = assess({"structure": mgo, "phonon_frequencies_thz": [0, 0, 0, 3.0, 8.0], "ir_intensities": [0, 0, 0, 1, 1]})
    assert stiff == []


def test_elastic_tolerance_grows_with_residual_stress():
    mgo = rocksalt(4.21)
    c = np.diag([300.0, 300, -3.0, 100, 100, 100])
    assert names(assess({"structure": mgo, "elastic_tensor": c})) == {"elastic_not_positive_definite"}
    stressed = np.eye(3) * (5.0 / 160.2177)  # 5 GPa residual stress in eV/A^3: -3 GPa is within it
    assert assess({"structure": mgo, "elastic_tensor": c, "stress": stressed}) == []
