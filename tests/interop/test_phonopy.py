"""phonopy hand-off against the real phonopy: NAC parameters, BORN files, force constants."""

from __future__ import annotations

import numpy as np
import pytest
from phonopy import Phonopy
from pymatgen.io.ase import AseAtomsAdaptor

from macefield_flows.interop import phonopy as ip
from macefield_flows.units import COULOMB_EV_A, EV_PER_A2_AMU_TO_THZ2


def _nac_frequencies(k, masses, born, eps, volume, q_dir):
    """Gamma frequencies (THz) with our own non-analytical term, written from the textbook formula.

    K_NA[ka, lb] = (e^2 / (4 pi eps0)) (4 pi / Omega) (q.Z_k)_a (q.Z_l)_b / (q.eps.q),
    (q.Z_k)_a = sum_i q_i Z[k, i, a]  (i = field index, a = displacement index).
    """
    q = np.asarray(q_dir, float) / np.linalg.norm(q_dir)
    qz = np.einsum("i,kia->ka", q, born).ravel()
    k_na = COULOMB_EV_A * 4 * np.pi / volume * np.outer(qz, qz) / (q @ eps @ q)
    m = np.repeat(masses, 3)
    lam = np.linalg.eigvalsh((k + k_na) / np.sqrt(np.outer(m, m)))
    return np.sign(lam) * np.sqrt(np.abs(lam) * EV_PER_A2_AMU_TO_THZ2)


def test_nac_params_conventions(mgo_doc):
    params = ip.nac_params(mgo_doc)
    assert set(params) == {"born", "dielectric", "factor"}
    np.testing.assert_array_equal(params["born"], np.asarray(mgo_doc.born))
    np.testing.assert_array_equal(params["dielectric"], np.asarray(mgo_doc.epsilon_static))
    assert params["factor"] == pytest.approx(COULOMB_EV_A, rel=2e-6)  # phonopy's Hartree*Bohr
    assert params["factor"] == pytest.approx(14.3996517, rel=1e-7)


def test_nac_params_refuse_documents_without_born(mgo_doc):
    from macefield_flows.exceptions import MacefieldError

    with pytest.raises(MacefieldError, match="born"):
        ip.nac_params(mgo_doc.model_copy(update={"born": None}))


def test_lo_to_with_unsymmetric_born_charges_matches_textbook_nac(tiny_model, low_symmetry_structures):
    """Low-symmetry cell, Z* not symmetric: phonopy's NAC from our params == our own formula.

    A transposed Z*, a wrong factor or eps_0 in place of eps_inf all fail this.
    """
    from macefield_flows.engine import evaluate

    atoms = low_symmetry_structures[1]
    (r,) = evaluate([atoms], tiny_model, properties=("energy", "born_charges", "epsilon_electronic",
                                                     "force_constants"), symmetry_reduce=False)
    born = r.born_charges.copy()  # make Z* clearly unsymmetric, keeping sum_k Z*[k] = 0
    antisym = np.array([[0, 0.4, -0.3], [-0.4, 0, 0.5], [0.3, -0.5, 0]])
    born[0] += antisym
    born[1] -= antisym
    eps = np.array([[4.0, 0.3, 0.1], [0.3, 5.0, 0.2], [0.1, 0.2, 6.0]])  # random models give eps < 0
    structure = AseAtomsAdaptor.get_structure(atoms)
    doc = {"structure": structure, "born": born.tolist(), "epsilon_static": eps.tolist(),
           "force_constants": r.force_constants.tolist(), "status": "successful"}
    phonon = ip.build_phonopy(doc, None, force_constants="gamma")
    for q_cart in ([1, 0, 0], [0.3, -0.5, 0.8]):
        q_dir = ip.reduced_q_direction(structure, q_cart)  # phonopy wants reciprocal-lattice units
        phonon.run_qpoints([[0, 0, 0]], nac_q_direction=q_dir)
        ours = _nac_frequencies(r.force_constants, r.masses, born, eps, r.volume, q_cart)
        np.testing.assert_allclose(phonon.qpoints.frequencies[0], ours, atol=2e-4)
        wrong = _nac_frequencies(r.force_constants, r.masses, born.transpose(0, 2, 1),
                                 eps, r.volume, q_cart)
        assert np.abs(np.sort(wrong) - np.sort(ours)).max() > 1e-2  # the test can tell the two apart


def test_gamma_force_constants_layout(mgo_doc):
    """Our (3N, 3N) Hessian in phonopy's (N, N, 3, 3) layout gives our Gamma frequencies."""
    k = np.asarray(mgo_doc.force_constants)
    fc = ip.to_phonopy_force_constants(k)
    assert fc.shape == (2, 2, 3, 3)
    np.testing.assert_array_equal(ip.from_phonopy_force_constants(fc), k)
    phonon = ip.build_phonopy(mgo_doc, None, force_constants="gamma", nac=False)
    phonon.run_qpoints([[0, 0, 0]])
    np.testing.assert_allclose(np.sort(phonon.qpoints.frequencies[0]), np.sort(mgo_doc.phonon_frequencies_thz),
                               atol=1e-4)


def test_lyddane_sachs_teller_mgo(mgo_doc):
    """Cubic diatomic: LO^2 / TO^2 = eps_0 / eps_inf exactly (one polar mode)."""
    phonon = ip.build_phonopy(mgo_doc, None, force_constants="gamma")
    phonon.run_qpoints([[0, 0, 0]], nac_q_direction=[1, 0, 0])
    f = np.sort(phonon.qpoints.frequencies[0])
    to, lo = f[3], f[5]
    assert f[4] == pytest.approx(to, abs=1e-6)
    assert (lo / to) ** 2 == pytest.approx(mgo_doc.e_total / mgo_doc.e_electronic, rel=1e-4)


def test_born_file_round_trip(zno_doc, tmp_path):
    """BORN: factor, eps_inf, one line per independent atom; phonopy's parser gives Z* back."""
    path = ip.write_born(zno_doc, tmp_path / "BORN")
    lines = path.read_text().splitlines()
    assert len(lines) == 2 + 2  # wurtzite: one Zn and one O orbit
    assert float(lines[0]) == pytest.approx(ip.nac_factor())
    back = ip.read_born(path, ip.doc_structure(zno_doc))
    np.testing.assert_allclose(back["born"], np.asarray(zno_doc.born), atol=1e-8)
    np.testing.assert_allclose(back["dielectric"], np.asarray(zno_doc.epsilon_static), atol=1e-9)
    assert back["factor"] == pytest.approx(ip.nac_factor())


@pytest.mark.parametrize("which", ["mgo", "zno"])
def test_engine_supercell_force_constants_match_phonopy_displacements(which, mgo_doc, zno_doc, default_model):
    """Exact supercell Hessian (symmetry-reduced rows) == phonopy's finite displacements of the same model."""
    doc = {"mgo": mgo_doc, "zno": zno_doc}[which]
    exact = ip.build_phonopy(doc, [2, 2, 2], model=default_model, device="cpu")
    fd = ip.build_phonopy(doc, [2, 2, 2], model=default_model, device="cpu", force_constants="displacements")
    scale = np.abs(fd.force_constants).max()
    diff = np.abs(exact.force_constants - fd.force_constants).max()
    assert diff < 2e-3 * scale, (diff, scale)  # finite-difference error of 0.01 A displacements
    # not symmetric under a wrong layout: swapping (a, b) of off-diagonal blocks would fail
    swapped = exact.force_constants.transpose(0, 1, 3, 2)
    assert np.abs(swapped - fd.force_constants).max() > 10 * diff or which == "mgo"
    qpts = [[0.5, 0, 0], [0.5, 0.5, 0.0], [0.25, 0.1, 0.3]]
    exact.run_qpoints(qpts)
    fd.run_qpoints(qpts)
    np.testing.assert_allclose(exact.qpoints.frequencies, fd.qpoints.frequencies, atol=0.02)


def test_compact_force_constants(mgo_doc, default_model):
    phonon = ip.build_phonopy(mgo_doc, [2, 2, 2], model=default_model, device="cpu", nac=False)
    full = np.array(phonon.force_constants)
    compact = ip.compact_force_constants(full, phonon)
    assert compact.shape == (2, 16, 3, 3)
    np.testing.assert_allclose(ip.from_phonopy_force_constants(compact, phonon),
                               ip.from_phonopy_force_constants(full), atol=1e-12)
    other = Phonopy(phonon.unitcell, supercell_matrix=phonon.supercell_matrix, primitive_matrix="P")
    other.force_constants = compact
    q = [[0.3, 0.1, 0.2]]
    other.run_qpoints(q)
    phonon.run_qpoints(q)
    np.testing.assert_allclose(other.qpoints.frequencies, phonon.qpoints.frequencies, atol=1e-8)
