"""Pure-numpy physics of the screening: sum rules, phonons, dielectric and
piezoelectric tensors, polarisation branches and crystal symmetrisation.

No torch and no jobflow here. Internal units are those of `macefield_flows.units`
(e, A, eV, amu, V/A); results leave in the documented units (C/m^2, GPa, pC/N, THz).
"""

from __future__ import annotations

from macefield_flows.physics.born import (
    asr_residual,
    check_born_charges,
    enforce_asr,
    symmetrize_born_charges,
)
from macefield_flows.physics.dielectric import (
    DielectricResult,
    dielectric_response,
    eps_inf_from_chi,
    epsilon_ionic,
    epsilon_ionic_from_modes,
    epsilon_total,
    poly,
    refractive_index,
)
from macefield_flows.physics.phonons import (
    GammaPhonons,
    acoustic_mode_mask,
    detect_unstable_modes,
    gamma_phonons,
    ir_intensities,
    mode_effective_charges,
    project_force_constants,
    pseudo_inverse_force_constants,
    symmetrize_force_constants,
    translation_basis,
    translational_projector,
)
from macefield_flows.physics.piezo import (
    PiezoResult,
    clamped_ion_elastic,
    clamped_ion_piezo,
    e_ij_max_longitudinal,
    e_ij_max_singular,
    elastic_to_voigt,
    emmet_piezo_maximum,
    ionic_piezo,
    piezo_response,
    piezo_strain_tensor,
    piezo_to_voigt,
    relaxed_ion_elastic,
)
from macefield_flows.physics.polarization import (
    PolarizationPath,
    fold_polarization_difference,
    polarization_quantum,
    spontaneous_polarization,
)
from macefield_flows.physics.symmetry import (
    SymmetryOperations,
    get_symmetry_operations,
    rotate_tensor,
    symmetrize_per_atom_rank2,
    symmetrize_rank2,
    symmetrize_rank3,
    symmetrize_rank4,
    symmetrize_tensor,
)

__all__ = [
    "DielectricResult",
    "GammaPhonons",
    "PiezoResult",
    "PolarizationPath",
    "SymmetryOperations",
    "acoustic_mode_mask",
    "asr_residual",
    "check_born_charges",
    "clamped_ion_elastic",
    "clamped_ion_piezo",
    "detect_unstable_modes",
    "dielectric_response",
    "e_ij_max_longitudinal",
    "e_ij_max_singular",
    "emmet_piezo_maximum",
    "elastic_to_voigt",
    "enforce_asr",
    "eps_inf_from_chi",
    "epsilon_ionic",
    "epsilon_ionic_from_modes",
    "epsilon_total",
    "fold_polarization_difference",
    "gamma_phonons",
    "get_symmetry_operations",
    "ionic_piezo",
    "ir_intensities",
    "mode_effective_charges",
    "piezo_response",
    "piezo_strain_tensor",
    "piezo_to_voigt",
    "polarization_quantum",
    "poly",
    "project_force_constants",
    "pseudo_inverse_force_constants",
    "refractive_index",
    "relaxed_ion_elastic",
    "rotate_tensor",
    "spontaneous_polarization",
    "symmetrize_born_charges",
    "symmetrize_force_constants",
    "symmetrize_per_atom_rank2",
    "symmetrize_rank2",
    "symmetrize_rank3",
    "symmetrize_rank4",
    "symmetrize_tensor",
    "translation_basis",
    "translational_projector",
]
