"""Every stored number of a task document, checked by an independent route.

The crystal is a random triclinic (P1) 4-atom toy with anisotropic, non-symmetric
Born charges and anisotropic springs (`random_anisotropic_toy`), wrapped as a
FieldMACE (`testing.toy_field_model`) so that the real engine and the real
document assembly (`screening.build_task_doc`, symmetrisation on) produce the
document. The references use only first derivatives through the ASE calculator
(forces, stress, dipole) and finite differences:

* eps_electronic: d dipole / dE at clamped ions; eps_total: the same with the
  ions relaxed at each field (Newton steps on calculator forces);
* Born charges: d dipole / d R; force constants: d force / d R;
* phonons: eigenvalues of the finite-difference dynamical matrix; IR
  intensities: |d dipole / dQ|^2 along each finite-difference eigen-displacement;
* piezo clamped / total: d dipole / d strain without / with ion relaxation;
  elastic clamped / relaxed: d stress / d strain without / with relaxation;
* d: the stress-free strain per field, from d stress / dE (relaxed ions) and the
  relaxed elastic tensor (a different route from e C^-1 of the dipoles).

`tests/mutants.py` holds the faults (eps_total stored as epsilon_static, ionic
piezo as total, clamped elastic as relaxed, Z contracted over the wrong index);
`test_fault_is_caught` injects each and asserts the named checks then fail.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.data import atomic_masses, atomic_numbers

from macefield_flows import screening
from macefield_flows.physics.toymodels import random_anisotropic_toy
from macefield_flows.schemas.task import Provenance
from macefield_flows.units import (
    E_PER_A2_TO_C_PER_M2,
    EPS0,
    EV_PER_A2_AMU_TO_THZ2,
    EV_PER_A3_TO_GPA,
    VOIGT_PAIRS,
    voigt_to_rank3,
)
from tests import mutants

SYMBOLS = ["Zn", "O", "N", "Mg"]
H_FIELD = 1e-2  # V/A (the toy is exactly linear in the field)
H_STRAIN = 1e-3
H_DISP = 1e-3  # A


class Probe:
    """First derivatives (forces, stress, dipole) of the toy model through the ASE calculator."""

    def __init__(self, model, toy):
        from macefield_flows.calculator import MACEFieldCalculator

        self.calc = MACEFieldCalculator(model)
        self.toy = toy
        self.base = Atoms(SYMBOLS, positions=toy.positions, cell=toy.lattice, pbc=True)
        self.volume = toy.volume
        self.masses = self.base.get_masses()
        n3 = 3 * len(self.base)
        self.hessian = np.zeros((n3, n3))
        self.born = np.zeros((len(self.base), 3, 3))
        for ka in range(n3):
            plus, minus = self._displaced(self.base, ka, H_DISP), self._displaced(self.base, ka, -H_DISP)
            (fp, _, dp), (fm, _, dm) = self.eval(plus), self.eval(minus)
            self.hessian[:, ka] = -(fp - fm).ravel() / (2 * H_DISP)
            self.born[ka // 3, :, ka % 3] = (dp - dm) / (2 * H_DISP)
        self.hessian = 0.5 * (self.hessian + self.hessian.T)
        self.hessian_pinv = np.linalg.pinv(self.hessian, rcond=1e-8)

    @staticmethod
    def _displaced(atoms: Atoms, ka: int, h: float) -> Atoms:
        a = atoms.copy()
        a.positions[ka // 3, ka % 3] += h
        return a

    def eval(self, atoms: Atoms, field=(0.0, 0.0, 0.0)):
        self.calc.electric_field = field
        self.calc.calculate(atoms.copy(), ["energy", "forces", "stress", "dipole"], all_changes)
        r = self.calc.results
        return np.array(r["forces"]), np.array(r["stress"]), np.array(r["dipole"])

    def relaxed(self, atoms: Atoms, field=(0.0, 0.0, 0.0)):
        """Forces, stress, dipole after relaxing the ions (Newton steps with the FD Hessian)."""
        a = atoms.copy()
        for _ in range(30):
            f, s, d = self.eval(a, field)
            if np.max(np.abs(f)) < 1e-10:
                return f, s, d
            a.positions += (self.hessian_pinv @ f.ravel()).reshape(-1, 3)
        raise AssertionError(f"relaxation did not converge: max force {np.max(np.abs(f))}")

    def strained(self, j: int, l: int, h: float) -> Atoms:
        eta = np.zeros((3, 3))
        eta[j, l] = eta[l, j] = h
        a = self.base.copy()
        a.set_cell(self.base.cell.array @ (np.eye(3) + eta), scale_atoms=True)
        return a


def _references(probe: Probe) -> dict[str, np.ndarray]:
    v = probe.volume
    out: dict[str, np.ndarray] = {"born": probe.born}
    # --- field
    dd_clamped, dd_relaxed, dsig_de = np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((3, 6))
    for j in range(3):
        e = np.zeros(3)
        e[j] = H_FIELD
        dd_clamped[:, j] = (probe.eval(probe.base, e)[2] - probe.eval(probe.base, -e)[2]) / (2 * H_FIELD)
        (_, sp, dp), (_, sm, dm) = probe.relaxed(probe.base, e), probe.relaxed(probe.base, -e)
        dd_relaxed[:, j] = (dp - dm) / (2 * H_FIELD)
        dsig_de[j] = (sp - sm) / (2 * H_FIELD)
    out["eps_electronic"] = np.eye(3) + dd_clamped / (EPS0 * v)
    out["eps_total"] = np.eye(3) + dd_relaxed / (EPS0 * v)
    out["eps_ionic"] = out["eps_total"] - out["eps_electronic"]
    # --- strain (Voigt J: normal strains h, shear eta_jl = eta_lj = h, i.e. engineering 2h)
    e_cl, e_tot, c_cl, c_rel = np.zeros((3, 6)), np.zeros((3, 6)), np.zeros((6, 6)), np.zeros((6, 6))
    for big_j, (j, l) in enumerate(VOIGT_PAIRS):
        factor = 1.0 if j == l else 2.0
        plus, minus = probe.strained(j, l, H_STRAIN), probe.strained(j, l, -H_STRAIN)
        (_, sp, dp), (_, sm, dm) = probe.eval(plus), probe.eval(minus)
        e_cl[:, big_j] = (dp - dm) / (2 * H_STRAIN) / (factor * v)
        c_cl[:, big_j] = (sp - sm) / (2 * H_STRAIN) / factor
        (_, sp, dp), (_, sm, dm) = probe.relaxed(plus), probe.relaxed(minus)
        e_tot[:, big_j] = (dp - dm) / (2 * H_STRAIN) / (factor * v)
        c_rel[:, big_j] = (sp - sm) / (2 * H_STRAIN) / factor
    out["piezo_clamped"] = e_cl * E_PER_A2_TO_C_PER_M2
    out["piezo_total"] = e_tot * E_PER_A2_TO_C_PER_M2
    out["piezo_ionic"] = (e_tot - e_cl) * E_PER_A2_TO_C_PER_M2
    out["elastic_clamped"] = c_cl * EV_PER_A3_TO_GPA
    out["elastic_relaxed"] = c_rel * EV_PER_A3_TO_GPA
    # stress-free strain per field: sigma = dsig_de^T E + C eps = 0  ->  d = -dsig_de C^-1 (A/V = 100 pC/N)
    out["d"] = -dsig_de @ np.linalg.inv(c_rel) * 100.0
    # Maxwell relation: the two routes to the relaxed-ion piezo tensor agree (validates the probe)
    np.testing.assert_allclose(-dsig_de, e_tot, rtol=1e-5, atol=1e-6 * np.abs(e_tot).max())
    # --- phonons and IR from the FD Hessian
    inv_sqrt_m = np.repeat(1.0 / np.sqrt(probe.masses), 3)
    lam, vec = np.linalg.eigh(inv_sqrt_m[:, None] * probe.hessian * inv_sqrt_m[None, :])
    out["frequencies"] = np.sign(lam) * np.sqrt(np.abs(lam) * EV_PER_A2_AMU_TO_THZ2)
    ir = []
    for m in range(vec.shape[1]):
        u = (inv_sqrt_m * vec[:, m]).reshape(-1, 3)
        plus, minus = probe.base.copy(), probe.base.copy()
        plus.positions += H_FIELD * u
        minus.positions -= H_FIELD * u
        dq = (probe.eval(plus)[2] - probe.eval(minus)[2]) / (2 * H_FIELD)
        ir.append(float(dq @ dq))
    out["ir"] = np.array(ir)
    return out


def _provenance() -> Provenance:
    return Provenance(model_name="anisotropic-toy", model_sha256="0" * 64, device="cpu", dtype="float64")


def _toy_model():
    from macefield_flows.testing import toy_field_model

    toy = random_anisotropic_toy(n_atoms=4, seed=3)
    toy = dataclasses.replace(toy, masses=np.array([atomic_masses[atomic_numbers[s]] for s in SYMBOLS]))
    return toy, toy_field_model(toy, SYMBOLS)


@pytest.fixture(scope="module")
def toy_setup():
    from pymatgen.io.ase import AseAtomsAdaptor

    from macefield_flows.engine import evaluate

    toy, model = _toy_model()
    probe = Probe(model, toy)
    structure = AseAtomsAdaptor.get_structure(probe.base)
    result = evaluate([structure], model, properties=screening.PIEZO_PROPERTIES)[0]
    assert result.ok, result.error
    return structure, result, _references(probe)


def build_doc(structure, result):
    return screening.build_task_doc(structure, result, _provenance(), structure_id="toy", symmetrize=True)


@pytest.fixture(scope="module")
def doc(toy_setup):
    structure, result, _ = toy_setup
    d = build_doc(structure, result)
    assert d.status.value == "successful", d.failure_reason
    return d


@pytest.fixture(scope="module")
def ref(toy_setup):
    return toy_setup[2]


def _close(stored, expected, rtol, what, atol_rel=1e-6):
    assert stored is not None, f"{what} not stored"
    expected = np.asarray(expected, dtype=float)
    np.testing.assert_allclose(np.asarray(stored, dtype=float), expected, rtol=rtol,
                               atol=atol_rel * float(np.max(np.abs(expected))), err_msg=what)


# ---- one check per group of stored numbers ------------------------------------------------
def check_born(d, r):
    _close(d.born, r["born"], 1e-7, "born")
    assert d.born_asr_residual < 1e-10


def check_epsilon_static(d, r):
    _close(d.epsilon_static, r["eps_electronic"], 1e-7, "epsilon_static (eps_inf)")


def check_epsilon_ionic(d, r):
    _close(d.epsilon_ionic, r["eps_ionic"], 1e-6, "epsilon_ionic")


def check_epsilon_total(d, r):
    _close(d.epsilon_total, r["eps_total"], 1e-7, "epsilon_total")


def check_averages(d, r):
    for name, key in (("e_electronic", "eps_electronic"), ("e_ionic", "eps_ionic"), ("e_total", "eps_total")):
        assert getattr(d, name) == pytest.approx(np.trace(r[key]) / 3, rel=1e-6), name
    assert d.n == pytest.approx(np.sqrt(np.trace(r["eps_electronic"]) / 3), rel=1e-7)


def check_phonons(d, r):
    _close(d.phonon_frequencies_thz, r["frequencies"], 1e-6, "phonon_frequencies_thz", atol_rel=1e-5)
    assert d.has_imaginary_modes is False and d.ionic_dielectric_reliable is True


def check_ir(d, r):
    _close(d.ir_intensities, r["ir"], 1e-6, "ir_intensities")


def check_piezo(d, r):
    _close(d.piezo_electronic_tensor, r["piezo_clamped"], 1e-5, "piezo_electronic_tensor (clamped)")
    _close(d.piezo_ionic_tensor, r["piezo_ionic"], 1e-5, "piezo_ionic_tensor")
    _close(d.piezo_tensor, r["piezo_total"], 1e-5, "piezo_tensor (total)")


def check_elastic(d, r):
    _close(d.elastic_tensor_clamped, r["elastic_clamped"], 1e-5, "elastic_tensor_clamped")
    _close(d.elastic_tensor, r["elastic_relaxed"], 1e-5, "elastic_tensor (relaxed)")


def check_piezo_strain(d, r):
    _close(d.piezo_strain_tensor, r["d"], 1e-5, "piezo_strain_tensor d")


def check_e_ij_max_longitudinal(d, r):
    t = voigt_to_rank3(r["piezo_total"])
    g = np.random.default_rng(0).normal(size=(200000, 3))
    g /= np.linalg.norm(g, axis=1)[:, None]
    brute = float(np.max(np.einsum("ijk,ni,nj,nk->n", t, g, g, g)))
    assert brute <= d.e_ij_max_longitudinal * (1 + 1e-6) and d.e_ij_max_longitudinal < brute * 1.01


CHECKS = {
    "born": check_born, "epsilon_static": check_epsilon_static, "epsilon_ionic": check_epsilon_ionic,
    "epsilon_total": check_epsilon_total, "averages": check_averages, "phonons": check_phonons,
    "ir": check_ir, "piezo": check_piezo, "elastic": check_elastic, "piezo_strain": check_piezo_strain,
    "e_ij_max_longitudinal": check_e_ij_max_longitudinal,
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_document(doc, ref, name):
    CHECKS[name](doc, ref)


def test_toy_is_anisotropic_stable_and_low_symmetry(doc, ref):
    """The test crystal can tell every tensor and index apart."""
    z = ref["born"]
    assert min(np.max(np.abs(zk - zk.T)) for zk in z) > 0.3
    for key in ("eps_electronic", "eps_ionic"):
        t = ref[key]
        assert np.ptp(np.diag(t)) > 0.05 * np.max(np.abs(t)) and np.max(np.abs(t - np.diag(np.diag(t)))) > 1e-3
    for a, b in (("piezo_clamped", "piezo_ionic"), ("elastic_clamped", "elastic_relaxed")):
        assert np.max(np.abs(ref[a] - ref[b])) > 0.05 * np.max(np.abs(ref[a]))
    assert np.min(np.abs(ref["piezo_ionic"])) > 1e-4  # no accidental zeros: every component is tested
    assert np.all(ref["frequencies"][3:] > 1.0) and np.all(np.linalg.eigvalsh(ref["elastic_relaxed"]) > 0)
    assert doc.symmetry_violations.get("born", 1.0) < 1e-12  # P1: symmetrisation is the identity


def test_static_fields_away_from_rest():
    """Energy (and per atom), forces, stress, dipole and P of a displaced, strained cell: the calculator's.

    At the toy's rest point all of them vanish, so the check is made where they do not.
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.engine import evaluate

    toy, model = _toy_model()
    probe = Probe.__new__(Probe)  # only eval() is needed: no finite-difference set-up
    probe.calc = MACEFieldCalculator(model)
    atoms = Atoms(SYMBOLS, positions=toy.positions, cell=toy.lattice, pbc=True)
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + np.array([[4e-3, 1e-3, 0], [1e-3, -2e-3, 2e-3], [0, 2e-3, 3e-3]])),
                   scale_atoms=True)
    atoms.positions += np.random.default_rng(5).normal(scale=0.03, size=atoms.positions.shape)
    forces, stress_voigt, dipole = probe.eval(atoms)
    energy = float(probe.calc.results["energy"])
    xx, yy, zz, yz, xz, xy = stress_voigt  # ASE Voigt order and sign
    stress = np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])
    assert abs(energy) > 1e-4 and np.abs(forces).max() > 1e-3 and np.abs(stress).max() > 1e-5
    assert np.abs(dipole).min() > 1e-4  # every number below can be wrong
    structure = AseAtomsAdaptor.get_structure(atoms)
    result = evaluate([structure], model, properties=screening.PIEZO_PROPERTIES)[0]
    d = screening.build_task_doc(structure, result, _provenance(), structure_id="toy-displaced", symmetrize=True)
    assert d.status.value == "successful", d.failure_reason
    assert d.energy == pytest.approx(energy, rel=1e-10)
    assert d.energy_per_atom == pytest.approx(energy / len(SYMBOLS), rel=1e-10)
    _close(d.forces, forces, 1e-8, "forces (eV/A)")
    _close(d.stress, stress, 1e-8, "stress (eV/A^3, ASE sign)")
    # P = d / Omega in C/m^2 (the dipole is far inside one polarisation quantum)
    _close(d.polarization, dipole / atoms.get_volume() * E_PER_A2_TO_C_PER_M2, 1e-8, "polarization (C/m^2)")
    assert d.born_symmetrized is True and set(d.symmetry_violations) >= {"born", "epsilon_static", "epsilon_ionic"}


@pytest.mark.parametrize("missing", ["epsilon_electronic", "susceptibility"])
def test_eps_inf_or_chi_alone_gives_the_same_document(toy_setup, doc, ref, missing):
    """A result with only one of chi / eps_inf (an engine asked for one of them) stores the same dielectric numbers."""
    structure, result, _ = toy_setup
    assert result.susceptibility is not None and result.epsilon_electronic is not None
    d = build_doc(structure, dataclasses.replace(result, **{missing: None}))
    assert d.status.value == "successful", d.failure_reason
    check_epsilon_static(d, ref)
    for key in ("epsilon_static", "epsilon_ionic", "epsilon_total"):
        _close(getattr(d, key), getattr(doc, key), 1e-12, f"{key} without {missing}")


# fault -> the checks (named tests above) it must make fail
FAULTS = {
    "eps_total_as_static": ["epsilon_static"],
    "ionic_piezo_as_total": ["piezo"],
    "clamped_elastic_as_relaxed": ["elastic"],
    "wrong_index_born": ["epsilon_ionic", "epsilon_total", "averages", "ir", "piezo", "piezo_strain",
                         "e_ij_max_longitudinal"],
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_is_caught(toy_setup, ref, monkeypatch, fault):
    structure, result, _ = toy_setup
    mutants.DOCUMENT_FAULTS[fault](monkeypatch)
    faulty = build_doc(structure, result)
    for name in FAULTS[fault]:
        with pytest.raises(AssertionError):
            CHECKS[name](faulty, ref)


SAME_SHAPE = [
    ["epsilon_static", "epsilon_ionic", "epsilon_total"],
    ["piezo_tensor", "piezo_ionic_tensor", "piezo_electronic_tensor", "piezo_strain_tensor"],
    ["elastic_tensor", "elastic_tensor_clamped"],
    ["e_electronic", "e_ionic", "e_total", "n"],
    ["phonon_frequencies_thz", "ir_intensities"],
]


def test_any_swap_of_two_stored_tensors_is_caught(doc, ref):
    for group in SAME_SHAPE:
        for a, b in itertools.combinations(group, 2):
            swapped = doc.model_copy(update={a: getattr(doc, b), b: getattr(doc, a)})
            failed = []
            for name, check in CHECKS.items():
                try:
                    check(swapped, ref)
                except AssertionError:
                    failed.append(name)
            assert failed, f"swapping {a} and {b} is not detected"
