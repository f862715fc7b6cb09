"""Full phonon documents: dispersion, DOS, stability over the Brillouin zone, LO-TO, IR.

Field names follow atomate2's ``PhononBSDOSDoc`` where it has them
(``phonon_bandstructure``, ``phonon_dos``, ``has_imaginary_modes``,
``supercell_matrix``, ``primitive_matrix``, ``born``, ``epsilon_static``,
``force_constants``, ``code``); the rest is ours. Frequencies are nu in THz
(not angular), imaginary ones negative.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, Field

from macefield_flows.schemas.task import ElectricResponseTaskDoc, Matrix3


class LOTOSplitting(BaseModel):
    """Gamma frequencies without (TO) and with (LO) the non-analytical term along one direction."""

    direction: list[float] = Field(description="Cartesian direction of approach to Gamma, shape (3,).")
    q_direction_reduced: list[float] = Field(description="The same in reciprocal-lattice units (phonopy's).")
    to_frequencies_thz: list[float] = Field(description="Gamma frequencies without NAC, THz, ascending, (3N,).")
    lo_frequencies_thz: list[float] = Field(description="Gamma frequencies with NAC along `direction`, THz, (3N,).")
    max_splitting_thz: float = Field(description="max over modes of (LO - TO) after sorting each, THz.")


class IRSpectrum(BaseModel):
    """IR absorption from the TO modes and Z* (physics.ir)."""

    mode_frequencies_thz: list[float] = Field(description="Gamma TO frequencies, THz, (3N,).")
    mode_intensities: list[float] = Field(description="IR intensities sum_i Z_m[i]^2, e^2/amu, (3N,).")
    fwhm_cm1: float = Field(description="Lorentzian full width at half maximum, cm^-1.")
    wavenumbers_cm1: list[float] = Field(description="Grid, cm^-1, (n_grid,).")
    absorbance: list[float] = Field(description="Broadened intensity, e^2/amu per cm^-1, (n_grid,).")


class FullPhononDoc(BaseModel):
    """Phonons over the whole Brillouin zone of one structure, from supercell force constants."""

    task_label: str = Field("full phonons", description="Short label of the job kind.")
    code: str = Field("macefield-flows", description="Who computed the forces (atomate2's `code`).")
    material_id: Optional[str] = Field(None, description="Materials Project id when known.")
    structure_id: Optional[str] = Field(None, description="User label of the structure.")
    formula_pretty: Optional[str] = Field(None, description="Reduced formula.")
    structure: Any = Field(None, description="pymatgen Structure (phonopy's unit and primitive cell), Angstrom.")
    supercell_matrix: list[list[int]] = Field(description="Supercell matrix (rows: supercell vectors in unit-cell vectors).")
    primitive_matrix: list[list[float]] = Field(description="Identity: the structure is phonopy's primitive cell.")
    force_constants_method: str = Field(description="'engine' (exact Hessian) or 'displacements' (phonopy FD).")
    has_nac: bool = Field(description="Whether the non-analytical (LO-TO) correction was applied.")
    born: Optional[list[Matrix3]] = Field(None, description="Z* used for the NAC, e, (N, 3, 3).")
    epsilon_static: Optional[Matrix3] = Field(None, description="eps_inf used for the NAC (electronic), (3, 3).")
    phonon_bandstructure: Any = Field(None, description="pymatgen PhononBandStructureSymmLine, THz (seekpath path).")
    phonon_dos: Any = Field(None, description="pymatgen PhononDos (THz, states/THz per cell).")
    mesh: list[int] = Field(description="q-point mesh used for the DOS and the stability check.")
    has_imaginary_modes: bool = Field(description="min frequency over path and mesh below -tol_imaginary_thz.")
    tol_imaginary_thz: float = Field(description="Tolerance of `has_imaginary_modes`, THz.")
    min_frequency_full_bz_thz: float = Field(description="Lowest frequency over band path and mesh, THz.")
    min_frequency_qpoint: list[float] = Field(description="Where it occurs, reduced coordinates, (3,).")
    lo_to_splittings: list[LOTOSplitting] = Field(default_factory=list, description="One per direction.")
    ir_spectrum: Optional[IRSpectrum] = Field(None, description="IR absorption (when Born charges are known).")
    force_constants: Optional[list] = Field(
        None, description="Supercell force constants, phonopy full layout (N_s, N_s, 3, 3), eV/Angstrom^2.")
    task: Optional[ElectricResponseTaskDoc] = Field(
        None, description="The input task document with `min_frequency_full_bz_thz` set.")
    warnings: list[str] = Field(default_factory=list, description="Non-fatal problems.")
    wall_time_s: Optional[float] = Field(None, description="Wall time, s.")

    model_config = {"arbitrary_types_allowed": True}
