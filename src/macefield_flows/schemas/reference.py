"""Reference (DFPT) document: one material of one dataset, one schema, explicit units.

Every reference dataset (Petousis 2017 dielectric, de Jong 2015 piezo,
Petretto 2018 Born charges, the MACE-Field MP subset, Smidt 2020 ferroelectric
paths, phonopy examples, the Materials Project API) is converted to this
document by :mod:`macefield_flows.references`.

Frames: 3x3 tensors and Born charges are in the Cartesian frame of
``structure``. Piezo tensors are in the frame of ``piezo_structure``, which is
NOT ``structure`` for the de Jong data (IEEE frame; see ``piezo_frame``);
comparisons therefore use rotation-invariant piezo measures.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

Matrix3 = list[list[float]]
Voigt3x6 = list[list[float]]


class ReferenceDoc(BaseModel):
    """DFPT reference values of one material from one dataset."""

    reference_id: str = Field(description="Unique key '<dataset>:<source id>', e.g. 'mp_piezo_dejong2015:mp-661'.")
    dataset: str = Field(description="Dataset name (see macefield_flows.references.splits.DATASETS).")
    source_id: str = Field(description="Id of the row in its source (MP id, row index, example name).")
    citation: str = Field(description="Literature reference of the dataset.")
    method: str = Field(description="Electronic-structure method of the reference values.")
    material_id: Optional[str] = Field(None, description="Materials Project id when given by the source.")
    mp_id_candidates: list[str] = Field(
        default_factory=list, description="MP ids assigned by structure matching (not given by the source)."
    )
    formula_pretty: str = Field(description="Reduced formula (pymatgen).")
    space_group: int = Field(description="International space-group number of `structure`.")
    nsites: int = Field(description="Number of sites of `structure`.")
    structure: dict[str, Any] = Field(description="pymatgen Structure.as_dict(), Angstrom; frame of all 3x3/Born tensors.")
    split: Literal["train", "valid", "test"] = Field(description="Material-level split (reduced_formula|space_group).")
    allowed_for_training: bool = Field(description="Whether this row may train a shipped model.")

    band_gap: Optional[float] = Field(None, description="DFT band gap, eV.")
    born: Optional[list[Matrix3]] = Field(
        None, description="Born charges Z*[k][i][j], e, shape (N, 3, 3); i = field, j = displacement; site order of `structure`."
    )
    born_asr_residual: Optional[float] = Field(None, description="max |sum_k Z*[k]| of the reference, e.")
    eps_electronic: Optional[Matrix3] = Field(
        None, description="eps_inf (clamped-ion, 'epsilon_static' in atomate2 naming), 3x3, dimensionless."
    )
    eps_ionic: Optional[Matrix3] = Field(None, description="Ionic dielectric contribution, 3x3, dimensionless.")
    eps_total: Optional[Matrix3] = Field(None, description="eps_0 = eps_inf + eps_ionic, 3x3, dimensionless.")
    e_electronic: Optional[float] = Field(None, description="trace(eps_inf)/3, dimensionless.")
    e_ionic: Optional[float] = Field(None, description="trace(eps_ionic)/3, dimensionless.")
    e_total: Optional[float] = Field(None, description="trace(eps_0)/3, dimensionless.")
    n: Optional[float] = Field(None, description="Refractive index sqrt(e_electronic), dimensionless.")

    piezo_total: Optional[Voigt3x6] = Field(
        None, description="Relaxed-ion piezo stress tensor e, C/m^2, 3x6 Voigt (xx,yy,zz,yz,xz,xy), frame `piezo_frame`."
    )
    piezo_clamped_ion: Optional[Voigt3x6] = Field(
        None, description="Clamped-ion (electronic) piezo stress tensor, C/m^2, 3x6 Voigt, frame `piezo_frame`."
    )
    piezo_frame: Optional[str] = Field(
        None,
        description="Frame of the piezo tensors: 'structure', 'structure_ieee', 'structure_tensor_frame', "
        "'structure_conventional_standard' or 'unknown' (no symmetry-consistent frame).",
    )
    piezo_structure: Optional[dict[str, Any]] = Field(
        None, description="Structure (as_dict, Angstrom) in whose Cartesian frame the piezo tensors are."
    )
    e_ij_max_longitudinal: Optional[float] = Field(
        None, description="Legacy MP / de Jong e_ij_max (largest longitudinal modulus, shear columns halved), C/m^2."
    )
    e_ij_max_longitudinal_as_given: Optional[float] = Field(
        None, description="The source's own eij_max value (de Jong), C/m^2."
    )
    e_ij_max_emmet: Optional[float] = Field(
        None, description="emmet-core e_ij_max: largest singular value of the 3x6 Voigt total tensor, C/m^2."
    )
    piezo_invariants: Optional[dict[str, Any]] = Field(
        None, description="Rotation-invariant measures of piezo_total (frobenius, singular_values, sv_max, longitudinal_max), C/m^2."
    )

    spontaneous_polarization_abc: Optional[list[float]] = Field(
        None, description="Ps along lattice directions a, b, c of the polar frame (same branch), uC/cm^2."
    )
    spontaneous_polarization_norm: Optional[float] = Field(None, description="|Ps| as given by the source, uC/cm^2.")
    nonpolar_id: Optional[str] = Field(None, description="MP id of the non-polar end of a ferroelectric path.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Source-specific fields kept verbatim.")
