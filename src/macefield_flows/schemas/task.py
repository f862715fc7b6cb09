"""The prediction document: one structure, one model, every response property.

Names follow emmet-core / atomate2 so that outputs plug into their flows:

* ``born`` and ``epsilon_static`` are exactly what atomate2's phonon flows take
  for the non-analytical correction (``epsilon_static`` is the ELECTRONIC,
  clamped-ion tensor eps_inf, as VASP LEPSILON names it; never eps_0).
* ``e_electronic``, ``e_ionic``, ``e_total`` and ``n`` are the polycrystalline
  averages (trace/3) that emmet-core's ``DielectricDoc`` reports.
* Piezoelectric tensors are 3x6 Voigt (xx, yy, zz, yz, xz, xy), C/m^2, proper
  (DFPT) stress tensors e_iJ; see ``macefield_flows.physics.piezo``.

A failed structure is a document with ``status="failed"`` and ``failure_reason``,
never a silent gap.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any, Optional

from pydantic import BaseModel, Field
from pymatgen.core import Structure

from macefield_flows.schemas.quality import Quality

Matrix3 = list[list[float]]
Voigt3x6 = list[list[float]]
Voigt6x6 = list[list[float]]


class TaskStatus(str, Enum):
    """Outcome of one structure in a screening."""

    SUCCESS = "successful"
    FAILED = "failed"


class Provenance(BaseModel):
    """Where a prediction came from: enough to reproduce it bit for bit."""

    model_name: str = Field(description="Human-readable model name (file stem or registry name).")
    model_sha256: str = Field(description="sha256 of the model file (hex).")
    head: Optional[str] = Field(None, description="Readout head used for a multi-head model.")
    device: str = Field(description="torch device the engine ran on, e.g. 'cpu' or 'cuda:0'.")
    dtype: str = Field(description="torch dtype name of the evaluation, e.g. 'float64'.")
    backend: str = Field("e3nn", description="Tensor-product backend: 'e3nn' or 'cuequivariance'.")
    electric_field: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, 0.0],
        description="Uniform electric field at which properties were evaluated, V/Angstrom, shape (3,).",
    )
    versions: dict[str, str] = Field(
        default_factory=dict, description="Package versions (macefield_flows, torch, mace-torch, e3nn...)."
    )
    engine_settings: dict[str, Any] = Field(
        default_factory=dict, description="Engine / relaxation settings that affect the numbers."
    )
    settings_hash: str = Field(
        "", description="sha256 of (structure, model sha256, head, settings): the resume key."
    )
    wall_time_s: Optional[float] = Field(None, description="Wall time spent on this structure, s.")
    completed_at: datetime = Field(
        default_factory=lambda: datetime.now(timezone.utc), description="UTC time of completion."
    )


class ElectricResponseTaskDoc(BaseModel):
    """Predicted electric response of one crystal (the document a screening stores)."""

    # --- identity -------------------------------------------------------------------
    task_id: Optional[str] = Field(
        None, description="Unique id of the prediction: the resume key `provenance.settings_hash`."
    )
    task_label: str = Field("electric response", description="Short label of the job kind.")
    material_id: Optional[str] = Field(None, description="Materials Project id when known, e.g. 'mp-149'.")
    structure_id: Optional[str] = Field(
        None, description="User or dataset label of the input structure (file name, row id...)."
    )
    input_source: Optional[str] = Field(
        None, description="Where the input came from: file path, 'file[index]' for a file of several "
        "structures, or a Materials Project id (set by `macefield screen`).")
    duplicate_of: Optional[str] = Field(
        None, description="task_id of the document computed for an identical structure under another id "
        "(this document repeats its results under this input's id).")
    formula_pretty: Optional[str] = Field(None, description="Reduced formula.")
    chemsys: Optional[str] = Field(None, description="Dash-joined sorted elements, e.g. 'O-Si'.")
    elements: list[str] = Field(default_factory=list, description="Sorted element symbols.")
    nsites: Optional[int] = Field(None, description="Number of sites.")
    input_structure: Optional[Structure] = Field(None, description="Structure as given (Angstrom).")
    structure: Optional[Structure] = Field(
        None, description="Structure the properties refer to (relaxed if a relaxation ran)."
    )
    status: TaskStatus = Field(TaskStatus.SUCCESS, description="'successful' or 'failed'.")
    failure_reason: Optional[str] = Field(None, description="Why the structure failed, if it did.")
    warnings: list[str] = Field(default_factory=list, description="Non-fatal problems found.")
    quality: Optional[Quality] = Field(
        None, description="The tool's judgement: `reliable` and machine-readable flags (schemas.quality)."
    )

    # --- relaxation -----------------------------------------------------------------
    relaxed: bool = Field(False, description="Whether `structure` is the result of a relaxation.")
    relax_converged: Optional[bool] = Field(None, description="Relaxation reached fmax (and smax).")
    relax_steps: Optional[int] = Field(None, description="Optimiser steps taken.")

    # --- ground state at the given field ----------------------------------------------
    energy: Optional[float] = Field(None, description="Electric enthalpy F incl. E0s, eV.")
    energy_per_atom: Optional[float] = Field(None, description="energy / nsites, eV/atom.")
    forces: Optional[list[list[float]]] = Field(None, description="Forces, eV/Angstrom, shape (N, 3).")
    stress: Optional[Matrix3] = Field(
        None, description="Stress, eV/Angstrom^3, shape (3, 3), ASE sign (positive = tensile)."
    )
    polarization: Optional[list[float]] = Field(
        None, description="Polarisation P = -(1/Omega) dF/dE (one branch), C/m^2, shape (3,)."
    )
    dipole: Optional[list[float]] = Field(None, description="Dipole d = -dF/dE, e*Angstrom, shape (3,).")

    # --- dielectric (emmet DielectricDoc / atomate2 names) ---------------------------
    born: Optional[list[Matrix3]] = Field(
        None,
        description=(
            "Born effective charges Z*[k][i][j], e, shape (N, 3, 3); i = field direction, "
            "j = displacement direction; site order of `structure`."
        ),
    )
    born_asr_residual: Optional[float] = Field(
        None, description="max_ij |sum_k Z*[k, i, j]| before any correction, e."
    )
    born_symmetrized: bool = Field(False, description="Whether the tensors were symmetrised to the space group.")
    symmetry_violations: dict[str, float] = Field(
        default_factory=dict,
        description=(
            "Relative Frobenius deviation of each tensor from its space-group average BEFORE "
            "symmetrisation (keys: born, epsilon_static, epsilon_ionic, piezo_tensor, ...)."
        ),
    )
    epsilon_static: Optional[Matrix3] = Field(
        None,
        description=(
            "ELECTRONIC (clamped-ion, high-frequency) dielectric tensor eps_inf = I + chi, "
            "shape (3, 3), dimensionless (VASP/atomate2 'epsilon_static'; NOT eps_0)."
        ),
    )
    epsilon_ionic: Optional[Matrix3] = Field(
        None, description="Ionic (lattice) dielectric contribution, shape (3, 3), dimensionless."
    )
    epsilon_total: Optional[Matrix3] = Field(
        None, description="Static dielectric tensor eps_0 = eps_inf + eps_ionic, shape (3, 3)."
    )
    e_electronic: Optional[float] = Field(None, description="Polycrystalline eps_inf = trace/3.")
    e_ionic: Optional[float] = Field(None, description="Polycrystalline eps_ionic = trace/3.")
    e_total: Optional[float] = Field(None, description="Polycrystalline eps_0 = trace/3.")
    n: Optional[float] = Field(None, description="Refractive index sqrt(e_electronic).")

    # --- phonons at Gamma ---------------------------------------------------------------
    phonon_frequencies_thz: Optional[list[float]] = Field(
        None, description="Gamma frequencies nu in THz, imaginary ones negative, shape (3N,)."
    )
    has_imaginary_modes: Optional[bool] = Field(
        None, description="True when an optical mode is imaginary beyond tolerance (not a minimum)."
    )
    ionic_dielectric_reliable: Optional[bool] = Field(
        None, description="False when unstable modes make eps_ionic meaningless."
    )
    min_frequency_full_bz_thz: Optional[float] = Field(
        None,
        description=(
            "Lowest phonon frequency over the whole Brillouin zone (band path and mesh, "
            "supercell force constants), THz, imaginary negative; None when only Gamma was computed."
        ),
    )
    full_phonons: Optional[Any] = Field(
        None,
        description=(
            "Full phonons of the screening's optional phonon step (FullPhononDoc fields without "
            "`task`: dispersion, DOS, LO-TO, IR spectrum; THz), kept in the additional `data` store."
        ),
    )
    ir_intensities: Optional[list[float]] = Field(
        None, description="IR intensities per mode, e^2/amu, shape (3N,)."
    )

    # --- piezoelectric / elastic --------------------------------------------------------
    piezo_tensor: Optional[Voigt3x6] = Field(
        None, description="Total (relaxed-ion) piezoelectric stress tensor e, C/m^2, 3x6 Voigt."
    )
    piezo_ionic_tensor: Optional[Voigt3x6] = Field(
        None, description="Ionic (internal-relaxation) part of e, C/m^2, 3x6 Voigt."
    )
    piezo_electronic_tensor: Optional[Voigt3x6] = Field(
        None, description="Clamped-ion part of e (proper tensor), C/m^2, 3x6 Voigt."
    )
    e_ij_max: Optional[float] = Field(
        None,
        description=(
            "emmet-core e_ij_max: largest singular value of the 3x6 Voigt total e after "
            "conversion to the IEEE frame of `structure` (as PiezoelectricDoc), C/m^2."
        ),
    )
    max_direction: Optional[list[int]] = Field(
        None, description="emmet-core max_direction (IEEE frame, integer components), shape (3,)."
    )
    strain_for_max: Optional[list[float]] = Field(
        None, description="emmet-core strain_for_max (IEEE frame, unit Voigt vector), shape (6,)."
    )
    e_ij_max_longitudinal: Optional[float] = Field(
        None,
        description="Legacy MP (de Jong 2015) e_ij_max: largest longitudinal modulus, C/m^2.",
    )
    elastic_tensor_clamped: Optional[Voigt6x6] = Field(
        None, description="Clamped-ion elastic tensor, GPa, 6x6 Voigt."
    )
    elastic_tensor: Optional[Voigt6x6] = Field(
        None, description="Relaxed-ion elastic tensor, GPa, 6x6 Voigt."
    )
    piezo_strain_tensor: Optional[Voigt3x6] = Field(
        None, description="Piezoelectric strain tensor d = e C^-1, pC/N, 3x6 Voigt."
    )

    # --- provenance ---------------------------------------------------------------------
    provenance: Optional[Provenance] = Field(None, description="Model, versions, device, settings.")
    force_constants: Optional[list[list[float]]] = Field(
        None,
        description=(
            "Gamma force constants d2F/dR dR, eV/Angstrom^2, shape (3N, 3N), site-major "
            "(k*3 + a); kept in the additional `data` store by the jobs."
        ),
    )
    large_data_keys: list[str] = Field(
        default_factory=list,
        description="Keys of arrays kept in the additional `data` store (e.g. force_constants).",
    )

    model_config = {"arbitrary_types_allowed": True}


class ElectricResponseBatchDoc(BaseModel):
    """Output of one batched job (a chunk of a screening): one task document per input."""

    kind: str = Field("electric_response_batch", description="Marker used to find batch outputs.")
    task_label: str = Field("electric response", description="Short label of the job kind.")
    tasks: list[ElectricResponseTaskDoc] = Field(
        default_factory=list, description="One document per input structure, in input order."
    )
    skipped: list[str] = Field(
        default_factory=list, description="Resume keys of inputs skipped because already stored."
    )
    n_successful: int = Field(0, description="Number of successful documents in `tasks`.")
    n_failed: int = Field(0, description="Number of failed documents in `tasks`.")
    wall_time_s: Optional[float] = Field(None, description="Wall time of the job, s.")

    model_config = {"arbitrary_types_allowed": True}


class RelaxRecord(BaseModel):
    """Relaxation outcome of one structure (part of :class:`RelaxBatchDoc`)."""

    ok: bool = Field(description="Whether the relaxation ran without error.")
    error: Optional[str] = Field(None, description="Error message when `ok` is False.")
    structure: Optional[Structure] = Field(None, description="Relaxed structure (Angstrom); input if failed.")
    energy: Optional[float] = Field(None, description="Final electric enthalpy, eV.")
    converged: Optional[bool] = Field(None, description="Whether fmax (and the stress criterion) was reached.")
    steps: Optional[int] = Field(None, description="Optimiser steps taken.")
    max_force: Optional[float] = Field(None, description="Final max |force|, eV/Angstrom.")
    max_stress: Optional[float] = Field(None, description="Final max |stress|, eV/Angstrom^3.")
    structure_id: Optional[str] = Field(None, description="Label of the input structure.")
    material_id: Optional[str] = Field(None, description="Materials Project id when known.")
    resume_key: Optional[str] = Field(
        None, description="Resume key of the screening this relaxation belongs to (lets an interrupted "
        "screening reuse a finished relaxation).")
    reused: bool = Field(False, description="True when this record was taken from an earlier run, not recomputed.")

    model_config = {"arbitrary_types_allowed": True}


class RelaxBatchDoc(BaseModel):
    """Output of a batched relaxation job: one record per input, in input order."""

    kind: str = Field("relax_batch", description="Marker used to find relaxation outputs.")
    records: list[RelaxRecord] = Field(default_factory=list, description="One record per input structure.")
    structures: list[Optional[Structure]] = Field(
        default_factory=list, description="Relaxed structures (input structure where relaxation failed)."
    )
    provenance: Optional[Provenance] = Field(None, description="Model, device and relaxation settings.")

    model_config = {"arbitrary_types_allowed": True}


class FieldSweepDoc(BaseModel):
    """Polarisation (and optionally relaxed structure) along a list of applied fields."""

    task_label: str = Field("field sweep", description="Short label of the job kind.")
    structure_id: Optional[str] = Field(None, description="Label of the input structure.")
    material_id: Optional[str] = Field(None, description="Materials Project id when known.")
    formula_pretty: Optional[str] = Field(None, description="Reduced formula.")
    input_structure: Optional[Structure] = Field(None, description="Structure as given (Angstrom).")
    status: TaskStatus = Field(TaskStatus.SUCCESS, description="'successful' or 'failed'.")
    failure_reason: Optional[str] = Field(None, description="Why the sweep failed, if it did.")
    electric_fields: list[list[float]] = Field(
        default_factory=list, description="Applied fields in sweep order, V/Angstrom, shape (n_fields, 3)."
    )
    polarization: list[Optional[list[float]]] = Field(
        default_factory=list,
        description="Polarisation at each field (one branch, unfolded), C/m^2, shape (n_fields, 3).",
    )
    energies: list[Optional[float]] = Field(
        default_factory=list, description="Electric enthalpy at each field, eV, shape (n_fields,)."
    )
    structures: list[Optional[Structure]] = Field(
        default_factory=list, description="Structure at each field (relaxed when relaxation ran)."
    )
    relaxed: bool = Field(False, description="Whether the ions were relaxed at each field.")
    relax_converged: list[Optional[bool]] = Field(
        default_factory=list, description="Relaxation convergence at each field."
    )
    provenance: Optional[Provenance] = Field(None, description="Model, versions, device, settings.")

    model_config = {"arbitrary_types_allowed": True}
