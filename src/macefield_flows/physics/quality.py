"""The tool's judgement of one prediction: pure checks -> machine-readable flags.

:func:`assess` reads a task document (a dict of document fields in document
units: eV/Angstrom, THz, GPa, C/m^2, Angstrom) and returns a list of flags
(plain dicts: ``name, message, value, threshold, unit, affects``) that
``macefield_flows.screening`` wraps into the document's ``quality`` section.
Every threshold lives in :class:`QualityThresholds` (documented in
docs/quality.md); change them with ``QualityThresholds(**overrides)``.

Flags and what they make unreliable (``affects``):

==============================  ==========================================  ======================
flag                            test                                        affects
==============================  ==========================================  ======================
isolated_atoms                  an atom has no neighbour within cutoff      all
short_distances                 d_ij < ratio * (r_cov,i + r_cov,j)          all
large_volume_change             |V/V_input - 1| of a cell relaxation        all
residual_forces                 max |F| of the evaluated structure          ionic properties
relaxation_not_converged        optimiser stopped before fmax               ionic properties
imaginary_modes                 an IR-active mode below -threshold at       ionic properties
                                Gamma (or any mode in the full BZ)
imaginary_modes_ir_inactive     only IR-inactive (no dipole) modes below    C, d
                                -threshold at Gamma
soft_polar_mode                 an IR-active Gamma mode below threshold     ionic properties
                                (eps_ionic ~ 1/nu^2 diverges near it)
eps_electronic_below_one        lowest eigenvalue of eps_inf < 1            eps_inf, eps_total, n
eps_total_below_one             lowest eigenvalue of eps_0 < 1              eps_ionic, eps_total
eps_ionic_not_psd               lowest eigenvalue of eps_ionic < 0          eps_ionic, eps_total
elastic_not_positive_definite   lowest eigenvalue of relaxed-ion C < 0      C, d, piezo e (ionic)
asr_violation                   |sum_k Z*_k| / max|Z*|                      born, ionic properties
symmetry_violation              relative deviation from the space group,    that tensor
                                only for tensors the point group allows
polarity_lost                   polar input relaxed to a non-polar group    P, piezo tensors
space_group_changed             relaxation changed the space group          (note only)
non_finite                      a property came out NaN / inf               that property
==============================  ==========================================  ======================

"ionic properties" are eps_ionic, eps_total, the ionic and total piezo
tensors, e_ij_max, the relaxed-ion elastic tensor and d, which all rest on the
structure being a minimum (forces zero, force constants positive).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

import numpy as np

from macefield_flows.units import EV_PER_A3_TO_GPA

ALL = "all"
IONIC = ["epsilon_ionic", "e_ionic", "epsilon_total", "e_total", "piezo_tensor", "piezo_ionic_tensor",
         "e_ij_max", "e_ij_max_longitudinal", "elastic_tensor", "piezo_strain_tensor", "ir_intensities"]
EPS_ELECTRONIC = ["epsilon_static", "e_electronic", "n", "epsilon_total", "e_total"]
EPS_TOTAL = ["epsilon_total", "e_total", "epsilon_ionic", "e_ionic"]
ELASTIC = ["elastic_tensor", "piezo_strain_tensor"]
#: C_relaxed = C_clamped - Lambda^T K+ Lambda / Omega: a negative eigenvalue means K+ Lambda is too large,
#: and K+ Lambda is what the ionic piezo tensor is made of
ELASTIC_AND_PIEZO = ELASTIC + ["piezo_tensor", "piezo_ionic_tensor", "e_ij_max", "e_ij_max_longitudinal"]
PIEZO = ["piezo_tensor", "piezo_ionic_tensor", "piezo_electronic_tensor", "e_ij_max", "e_ij_max_longitudinal",
         "piezo_strain_tensor"]
#: document field of each symmetrised tensor -> the fields it feeds
SYMMETRY_AFFECTS = {
    "born": ["born"] + IONIC, "epsilon_static": EPS_ELECTRONIC, "epsilon_ionic": EPS_TOTAL,
    "piezo_tensor": PIEZO, "piezo_ionic_tensor": PIEZO, "piezo_electronic_tensor": PIEZO,
    "elastic_tensor": ELASTIC, "elastic_tensor_clamped": ["elastic_tensor_clamped"],
}
RANK3 = {"piezo_tensor", "piezo_ionic_tensor", "piezo_electronic_tensor"}
#: crystallographic point groups (Hermann-Mauguin) with a polar axis
POLAR_POINT_GROUPS = {"1", "2", "m", "mm2", "4", "4mm", "3", "3m", "6", "6mm"}
#: point groups whose rank-3 piezo tensor vanishes (centrosymmetric ones and 432)
NO_PIEZO_POINT_GROUPS = {"-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m", "6/m", "6/mmm", "m-3", "m-3m", "432"}


@dataclass
class QualityThresholds:
    """Every threshold of the quality assessment (units in the names' comments).

    Attributes
    ----------
    max_residual_force : eV/Angstrom; max |F| of the evaluated structure above which
        the ionic properties (a minimum is assumed) are unreliable.
    imaginary_mode_thz : THz; a mode with frequency below ``-imaginary_mode_thz``
        is a real instability, not numerical noise.
    ir_active_fraction : an imaginary Gamma mode whose IR intensity exceeds this fraction
        of the largest IR intensity carries a dipole: it enters eps_ionic and the
        ionic piezo tensor (a mode without dipole contributes nothing to them).
    eps_tolerance : dimensionless; eigenvalues of eps_inf / eps_0 below
        ``1 - eps_tolerance`` or of eps_ionic below ``-eps_tolerance`` are flagged.
    elastic_tolerance_gpa : GPa; relaxed-ion C eigenvalues below ``-max(elastic_tolerance_gpa,
        stress_factor * max|stress|)`` are flagged: C of a cell under residual stress
        lacks stress terms of the order of that stress (Wallace), so a smaller negative
        eigenvalue is not evidence of an instability.
    stress_factor : multiple of the residual stress (GPa) added to the elastic tolerance.
    soft_polar_mode_thz : THz; a stable IR-active Gamma mode below it makes eps_ionic and
        the ionic piezo tensor (both ~ 1/nu^2) hypersensitive to model error.
    neighbour_cutoff : Angstrom; an atom without any neighbour within it is isolated.
    min_distance_ratio : an interatomic distance below this fraction of the sum of
        covalent radii is unphysical.
    max_volume_change : fractional |V/V_input - 1| of a cell relaxation.
    max_asr_relative : |sum_k Z*_k| relative to max |Z*|.
    max_symmetry_violation : relative Frobenius deviation of a tensor from its
        space-group average (only tensors the point group allows).
    symprec : Angstrom; spglib tolerance for space groups and polarity.
    """

    max_residual_force: float = 0.05
    imaginary_mode_thz: float = 0.5
    ir_active_fraction: float = 0.01
    soft_polar_mode_thz: float = 1.0
    eps_tolerance: float = 0.01
    elastic_tolerance_gpa: float = 0.5
    stress_factor: float = 1.0
    neighbour_cutoff: float = 5.0
    min_distance_ratio: float = 0.6
    max_volume_change: float = 0.15
    max_asr_relative: float = 0.02
    max_symmetry_violation: float = 0.1
    symprec: float = 0.01

    def __post_init__(self) -> None:
        for f in fields(self):
            value = float(getattr(self, f.name))
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"quality threshold {f.name}={value!r}, expected a finite number >= 0")
            setattr(self, f.name, value)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_any(cls, value: Optional[Mapping[str, float] | "QualityThresholds"]) -> "QualityThresholds":
        """Thresholds from None (defaults), a mapping of overrides or an instance."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        unknown = set(value) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown quality thresholds {sorted(unknown)}; known: {[f.name for f in fields(cls)]}")
        return cls(**dict(value))


def flag(name: str, message: str, value: Optional[float] = None, threshold: Optional[float] = None,
         unit: Optional[str] = None, affects: Optional[list[str]] = None) -> dict[str, Any]:
    """One flag as a plain dict (the fields of ``schemas.quality.QualityFlag``)."""
    return {"name": name, "message": message, "value": None if value is None else float(value),
            "threshold": None if threshold is None else float(threshold), "unit": unit,
            "affects": [ALL] if affects is None else list(affects)}


def _structure(obj: Any) -> Any:
    if obj is None:
        return None
    from pymatgen.core import Structure

    return obj if isinstance(obj, Structure) else Structure.from_dict(obj)


def _min_eig(matrix: Any) -> Optional[float]:
    if matrix is None:
        return None
    m = np.asarray(matrix, dtype=float)
    if not np.all(np.isfinite(m)):
        return None
    return float(np.linalg.eigvalsh(0.5 * (m + m.T)).min())


def geometry_flags(structure: Any, t: QualityThresholds) -> list[dict[str, Any]]:
    """isolated_atoms and short_distances of a structure (Angstrom)."""
    from ase.data import covalent_radii

    out: list[dict[str, Any]] = []
    n = len(structure)
    i_idx, j_idx, _, dist = structure.get_neighbor_list(r=t.neighbour_cutoff, exclude_self=True)
    has_neighbour = np.zeros(n, dtype=bool)
    has_neighbour[np.asarray(i_idx, dtype=int)] = True
    lonely = np.flatnonzero(~has_neighbour)
    if lonely.size:
        out.append(flag("isolated_atoms", f"{lonely.size} of {n} atoms have no neighbour within "
                        f"{t.neighbour_cutoff:g} A (e.g. site {int(lonely[0])}): not a bonded crystal",
                        float(lonely.size), t.neighbour_cutoff, "Angstrom"))
    if len(dist):
        z = np.array([site.specie.Z for site in structure])
        rsum = covalent_radii[z[np.asarray(i_idx, dtype=int)]] + covalent_radii[z[np.asarray(j_idx, dtype=int)]]
        ratio = np.asarray(dist) / rsum
        k = int(np.argmin(ratio))
        if ratio[k] < t.min_distance_ratio:
            a, b = structure[int(i_idx[k])].specie, structure[int(j_idx[k])].specie
            out.append(flag("short_distances", f"{a}-{b} distance {dist[k]:.3g} A is {ratio[k]:.2f} of the "
                            f"covalent-radius sum {rsum[k]:.3g} A (< {t.min_distance_ratio:g}): absurd geometry",
                            float(ratio[k]), t.min_distance_ratio, "fraction of covalent-radius sum"))
    return out


def _point_group(structure: Any, symprec: float) -> tuple[Optional[int], Optional[str]]:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sga = SpacegroupAnalyzer(structure, symprec=symprec)
        return int(sga.get_space_group_number()), str(sga.get_point_group_symbol())
    except Exception:  # noqa: BLE001 (spglib fails on absurd cells: no symmetry judgement then)
        return None, None


def relaxation_flags(doc: Mapping[str, Any], structure: Any, t: QualityThresholds) -> list[dict[str, Any]]:
    """Volume change, space-group change and loss of polarity between input and evaluated structure."""
    out: list[dict[str, Any]] = []
    initial = _structure(doc.get("input_structure"))
    if initial is None or not doc.get("relaxed") or len(initial) != len(structure):
        return out
    change = structure.volume / initial.volume - 1.0
    if abs(change) > t.max_volume_change:
        out.append(flag("large_volume_change", f"the cell relaxation changed the volume by {100 * change:+.1f} % "
                        f"(> {100 * t.max_volume_change:g} %): the model's equilibrium is far from the input",
                        abs(change), t.max_volume_change, "fraction"))
    sg0, pg0 = _point_group(initial, t.symprec)
    sg1, pg1 = _point_group(structure, t.symprec)
    if sg0 is not None and sg1 is not None and sg0 != sg1:
        out.append(flag("space_group_changed", f"relaxation changed the space group {sg0} ({pg0}) -> {sg1} ({pg1})",
                        float(sg1), float(sg0), "space group number", affects=[]))
        if pg0 in POLAR_POINT_GROUPS and pg1 not in POLAR_POINT_GROUPS:
            out.append(flag("polarity_lost", f"the polar input ({pg0}) relaxed to a non-polar structure ({pg1}): "
                            "polarisation and piezoelectric results describe the non-polar phase",
                            float(sg1), float(sg0), "space group number",
                            affects=["polarization"] + PIEZO))
    return out


def response_flags(doc: Mapping[str, Any], t: QualityThresholds) -> list[dict[str, Any]]:
    """Residual forces, relaxation convergence, imaginary modes, eps / elastic eigenvalues, ASR."""
    out: list[dict[str, Any]] = []
    forces = doc.get("forces")
    if forces is not None and len(forces):
        fmax = float(np.linalg.norm(np.asarray(forces, dtype=float), axis=1).max())
        if fmax > t.max_residual_force:
            out.append(flag("residual_forces", f"max residual force {fmax:.3g} eV/A (> {t.max_residual_force:g}): "
                            "not a minimum, ionic properties unreliable", fmax, t.max_residual_force,
                            "eV/Angstrom", IONIC))
    if doc.get("relaxed") and doc.get("relax_converged") is False:
        out.append(flag("relaxation_not_converged", f"relaxation not converged after {doc.get('relax_steps')} "
                        "steps", doc.get("relax_steps"), None, "steps", IONIC))
    out += _imaginary_mode_flags(doc, t)
    checks = (("epsilon_static", "eps_electronic_below_one", 1.0 - t.eps_tolerance, EPS_ELECTRONIC),
              ("epsilon_total", "eps_total_below_one", 1.0 - t.eps_tolerance, EPS_TOTAL),
              ("epsilon_ionic", "eps_ionic_not_psd", -t.eps_tolerance, EPS_TOTAL))
    for key, name, limit, affects in checks:
        low = _min_eig(doc.get(key))
        if low is not None and low < limit:
            out.append(flag(name, f"{key} has eigenvalue {low:.4g} (< {limit:g}): unphysical", low, limit, None,
                            affects))
    low = _min_eig(doc.get("elastic_tensor"))
    stress = doc.get("stress")
    stress_gpa = float(np.abs(np.asarray(stress, dtype=float)).max()) * EV_PER_A3_TO_GPA if stress is not None else 0.0
    tol = max(t.elastic_tolerance_gpa, t.stress_factor * stress_gpa)
    if low is not None and low < -tol:
        out.append(flag("elastic_not_positive_definite", f"relaxed-ion elastic tensor has eigenvalue {low:.4g} GPa: "
                        f"mechanically unstable (beyond the residual stress {stress_gpa:.3g} GPa), C, d and the ionic piezo "
                        "tensor unreliable", low, -tol,
                        "GPa", ELASTIC_AND_PIEZO))
    born, resid = doc.get("born"), doc.get("born_asr_residual")
    if born is not None and resid is not None:
        scale = float(np.abs(np.asarray(born, dtype=float)).max())
        rel = float(resid) / scale if scale > 0 else 0.0
        if rel > t.max_asr_relative:
            out.append(flag("asr_violation", f"Born charges violate the acoustic sum rule: |sum Z*| {resid:.3g} e "
                            f"is {rel:.3g} of max|Z*| {scale:.3g} e", rel, t.max_asr_relative, "fraction",
                            ["born"] + IONIC))
    return out


def _imaginary_mode_flags(doc: Mapping[str, Any], t: QualityThresholds) -> list[dict[str, Any]]:
    """imaginary_modes (IR-active at Gamma, or anywhere in the full BZ) / imaginary_modes_ir_inactive."""
    full = doc.get("min_frequency_full_bz_thz")
    out = []
    if full is not None and full < -t.imaginary_mode_thz:
        out.append(flag("imaginary_modes", f"imaginary mode {full:.3g} THz (full Brillouin zone; threshold "
                        f"-{t.imaginary_mode_thz:g}): not a minimum, eps_ionic and piezo unreliable",
                        full, -t.imaginary_mode_thz, "THz", IONIC))
    freqs = doc.get("phonon_frequencies_thz")
    if not freqs:
        return out
    f = np.asarray(freqs, dtype=float)
    # the full-BZ minimum (when known) decides about instabilities; Gamma data otherwise
    unstable = (f < -t.imaginary_mode_thz) if full is None else np.zeros(len(f), dtype=bool)
    intens = doc.get("ir_intensities")
    i = np.abs(np.asarray(intens, dtype=float)) if intens is not None and len(intens) == len(f) else None
    if unstable.any():
        fmin = float(f.min())
        rel = None if i is None else (float(i[unstable].max() / i.max()) if i.max() > 0 else 0.0)
        if rel is None or rel > t.ir_active_fraction:
            out.append(flag("imaginary_modes", f"IR-active imaginary mode(s) at Gamma, lowest {fmin:.3g} THz "
                            f"(threshold -{t.imaginary_mode_thz:g}): not a minimum, eps_ionic and piezo unreliable",
                            fmin, -t.imaginary_mode_thz, "THz", IONIC))
        else:
            out.append(flag("imaginary_modes_ir_inactive", f"imaginary mode(s) without dipole at Gamma, lowest "
                            f"{fmin:.3g} THz (relative IR intensity {rel:.2g} <= {t.ir_active_fraction:g}): not a "
                            "minimum; eps and piezo e unaffected, relaxed-ion C and d unreliable",
                            fmin, -t.imaginary_mode_thz, "THz", ELASTIC))
    if i is not None and i.max() > 0:
        polar = (i / i.max() > t.ir_active_fraction) & (f > t.imaginary_mode_thz)
        if polar.any() and f[polar].min() < t.soft_polar_mode_thz:
            low = float(f[polar].min())
            out.append(flag("soft_polar_mode", f"IR-active mode at {low:.3g} THz (< {t.soft_polar_mode_thz:g}): "
                            "eps_ionic and the ionic piezo tensor scale as 1/nu^2 and are hypersensitive to model "
                            "error (near a polar instability)", low, t.soft_polar_mode_thz, "THz", IONIC))
    return out


def imaginary_mode_flags(doc: Mapping[str, Any], thresholds: Optional[QualityThresholds] = None
                         ) -> list[dict[str, Any]]:
    """The phonon flags alone (``imaginary_modes``, ``imaginary_modes_ir_inactive``, ``soft_polar_mode``).

    ``doc`` needs ``phonon_frequencies_thz`` (Gamma, THz), ``ir_intensities`` and/or
    ``min_frequency_full_bz_thz`` (THz): when the full-BZ minimum is known it alone
    decides about instabilities (a crystal stable at Gamma may be unstable elsewhere).
    """
    return _imaginary_mode_flags(doc, QualityThresholds.from_any(thresholds))


def symmetry_flags(doc: Mapping[str, Any], point_group: Optional[str],
                   t: QualityThresholds) -> list[dict[str, Any]]:
    """symmetry_violation for each symmetrised tensor the point group allows (relative measure)."""
    out = []
    for key, violation in sorted((doc.get("symmetry_violations") or {}).items()):
        if key in RANK3 and (point_group is None or point_group in NO_PIEZO_POINT_GROUPS):
            continue  # forbidden by symmetry: the symmetrised (zero) tensor is the answer
        if violation is not None and violation > t.max_symmetry_violation:
            out.append(flag("symmetry_violation", f"{key} deviates from the space group by {violation:.3g} "
                            f"(relative; > {t.max_symmetry_violation:g}) before symmetrisation", violation,
                            t.max_symmetry_violation, "fraction", SYMMETRY_AFFECTS.get(key, [key])))
    return out


def assess(doc: Mapping[str, Any], thresholds: Optional[QualityThresholds] = None,
           extra_flags: Optional[list[dict[str, Any]]] = None) -> list[dict[str, Any]]:
    """Every flag of one successful task document (dict of document fields, document units).

    ``doc["structure"]`` (the evaluated structure; Structure or dict) is required;
    ``input_structure`` enables the relaxation checks. ``extra_flags`` (e.g.
    non-finite properties found during assembly) are appended.
    """
    t = thresholds or QualityThresholds()
    structure = _structure(doc.get("structure") or doc.get("input_structure"))
    out: list[dict[str, Any]] = []
    if structure is not None:
        out += geometry_flags(structure, t)
        out += relaxation_flags(doc, structure, t)
    out += response_flags(doc, t)
    point_group = _point_group(structure, t.symprec)[1] if structure is not None else None
    out += symmetry_flags(doc, point_group, t)
    return out + list(extra_flags or [])


def is_reliable(flags: list[dict[str, Any]]) -> bool:
    """True when no flag affects any property (flags with ``affects=[]`` are notes)."""
    return not any(f["affects"] for f in flags)
