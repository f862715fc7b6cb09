"""Full phonons: band path in our basis, full-BZ stability, LO-TO, IR, the Maker."""

from __future__ import annotations

import numpy as np
import pytest
import seekpath
from pymatgen.core import Structure

from macefield_flows.interop import phonopy as ip
from macefield_flows.interop.phonons import band_path, full_phonons, plot_band_structure, plot_ir_spectrum
from macefield_flows.physics.ir import broadened_spectrum
from macefield_flows.units import THZ_TO_CM1

from .conftest import mgo


@pytest.fixture(scope="module")
def mgo_phonons(mgo_doc, default_model):
    return full_phonons(mgo_doc, default_model, supercell_matrix=[3, 3, 3], mesh=[6, 6, 6], device="cpu", npoints=21)


def test_band_path_points_are_seekpaths_in_our_basis(default_model):
    """Frequencies at X and L of our (pymatgen) primitive cell == at seekpath's X and L of its own cell.

    2x2x2 supercells of both bases contain X and L, so both are exact; a wrong basis
    change lands on another q-point with other frequencies.
    """
    ours = mgo()
    _, _, _, points = band_path(ours)
    res = seekpath.get_path((ours.lattice.matrix, ours.frac_coords, [s.specie.Z for s in ours]))
    theirs = Structure(res["primitive_lattice"], [{12: "Mg", 8: "O"}[z] for z in res["primitive_types"]],
                       res["primitive_positions"])
    assert not np.allclose(theirs.lattice.matrix, ours.lattice.matrix)  # the bases really differ
    ph_ours = ip.build_phonopy(ours, [2, 2, 2], model=default_model, nac=False, device="cpu")
    ph_theirs = ip.build_phonopy(theirs, [2, 2, 2], model=default_model, nac=False, device="cpu")
    for label in ("X", "L"):
        ph_ours.run_qpoints([points[label]])
        ph_theirs.run_qpoints([res["point_coords"][label]])
        np.testing.assert_allclose(ph_ours.qpoints.frequencies, ph_theirs.qpoints.frequencies, atol=1e-4)
    ph_ours.run_qpoints([points["X"]])
    ph_theirs.run_qpoints([res["point_coords"]["L"]])
    assert np.abs(ph_ours.qpoints.frequencies - ph_theirs.qpoints.frequencies).max() > 0.1  # X != L


def test_full_bz_stability(mgo_phonons, mgo_doc):
    p = mgo_phonons
    bands = np.asarray(p.phonon_bandstructure.bands)
    assert p.min_frequency_full_bz_thz <= bands.min() + 1e-9
    assert p.has_imaginary_modes == (p.min_frequency_full_bz_thz < -p.tol_imaginary_thz)
    assert p.task.min_frequency_full_bz_thz == p.min_frequency_full_bz_thz
    assert mgo_doc.min_frequency_full_bz_thz is None  # input not mutated
    # the reported q-point really has that frequency (phonopy, NAC on: off Gamma it is analytic anyway)
    ph = ip.build_phonopy(mgo_doc, [3, 3, 3], model="default", device="cpu")
    ph.run_qpoints([p.min_frequency_qpoint])
    assert ph.qpoints.frequencies.min() == pytest.approx(p.min_frequency_full_bz_thz, abs=1e-6)
    assert p.phonon_dos.frequencies.size > 10 and np.all(np.asarray(p.phonon_dos.densities) >= -1e-8)


def test_lo_to_and_gamma_to(mgo_phonons, mgo_doc):
    """TO at Gamma of the supercell force constants == our Gamma Hessian; LST for LO."""
    for split in mgo_phonons.lo_to_splittings:
        np.testing.assert_allclose(split.to_frequencies_thz, np.sort(mgo_doc.phonon_frequencies_thz), atol=1e-5)
        lo, to = split.lo_frequencies_thz[5], split.to_frequencies_thz[5]
        assert (lo / to) ** 2 == pytest.approx(mgo_doc.e_total / mgo_doc.e_electronic, rel=1e-3)
        assert split.max_splitting_thz == pytest.approx(lo - to, rel=1e-9)


def test_anisotropic_lo_to_zno(zno_doc, default_model):
    p = full_phonons(zno_doc, default_model, supercell_matrix=[2, 2, 2], mesh=[4, 4, 4], device="cpu", npoints=11)
    x, y, z = (np.asarray(s.lo_frequencies_thz) for s in p.lo_to_splittings)
    np.testing.assert_allclose(x, y, atol=1e-6)  # hexagonal: x and y equivalent
    assert abs(x[-1] - z[-1]) > 0.05  # E1(LO) != A1(LO)


def test_ir_spectrum(mgo_phonons, mgo_doc):
    ir = mgo_phonons.ir_spectrum
    f, inten = np.asarray(ir.mode_frequencies_thz), np.asarray(ir.mode_intensities)
    # phonopy's eigenvectors + our Z* == the task document's intensities (physics.phonons route)
    np.testing.assert_allclose(np.sort(inten), np.sort(mgo_doc.ir_intensities), atol=1e-6)
    assert abs(inten[f > 1].sum() - 3 * inten[f > 1].max()) < 1e-6  # one triply degenerate IR mode
    grid, absorb = np.asarray(ir.wavenumbers_cm1), np.asarray(ir.absorbance)
    assert grid[np.argmax(absorb)] == pytest.approx(f.max() * THZ_TO_CM1, abs=grid[1] - grid[0])


def test_broadened_spectrum_is_area_normalised():
    grid = np.linspace(-5000, 6000, 200001)
    _, a = broadened_spectrum(np.array([10.0, 20.0]), np.array([1.0, 3.0]), fwhm_cm1=8.0, wavenumbers_cm1=grid)
    assert np.trapezoid(a, grid) == pytest.approx(4.0, rel=2e-3)
    peak = a[np.argmin(np.abs(grid - 20.0 * THZ_TO_CM1))]
    assert peak == pytest.approx(3.0 * 2 / (np.pi * 8.0), rel=1e-2)  # height of a Lorentzian, FWHM 8


def test_plots(mgo_phonons, tmp_path):
    for path in (plot_ir_spectrum(mgo_phonons, tmp_path / "ir.png"),
                 plot_band_structure(mgo_phonons, tmp_path / "bands.png")):
        assert path.stat().st_size > 5000


def test_full_phonon_maker(mgo_doc):
    from jobflow import run_locally

    from macefield_flows.jobs.phonons import FullPhononMaker

    job = FullPhononMaker(device="cpu", supercell_matrix=[2, 2, 2], mesh=[4, 4, 4], npoints=11).make(mgo_doc)
    out = run_locally(job, ensure_success=True, log=False)[job.uuid][1].output
    assert out.task.min_frequency_full_bz_thz == pytest.approx(out.min_frequency_full_bz_thz)
    assert out.has_nac and len(out.lo_to_splittings) == 3
