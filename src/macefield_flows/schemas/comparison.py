"""Comparison documents: prediction vs DFPT reference, per material and in aggregate.

Property names and their measures (units in ``units``):

* ``born``: Born charges Z* (e), compared per site in the reference frame after
  structure matching (site mapping + rotation); parity points = diagonal
  components Z*_ii of every site.
* ``eps_electronic`` (eps_inf = the prediction's ``epsilon_static``),
  ``eps_ionic``, ``eps_total`` (eps_0): 3x3 dimensionless tensors in the reference
  frame; parity points = diagonal components. Without a site/lattice match only
  the rotation-invariant eigenvalues are compared (``frame='eigenvalues'``).
* ``piezo_frobenius``, ``piezo_sv_max``, ``piezo_longitudinal_max``: rotation-
  invariant measures of the total piezo stress tensor (C/m^2); one parity
  point per material. ``piezo_clamped_frobenius`` for the clamped-ion part.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field

PROPERTY_UNITS: dict[str, str] = {
    "born": "e",
    "eps_electronic": "dimensionless",
    "eps_ionic": "dimensionless",
    "eps_total": "dimensionless",
    "piezo_frobenius": "C/m^2",
    "piezo_sv_max": "C/m^2",
    "piezo_longitudinal_max": "C/m^2",
    "piezo_clamped_frobenius": "C/m^2",
}
"""Every comparable property and its unit."""


class PropertyComparison(BaseModel):
    """Errors of one property of one material."""

    property: str = Field(description="Property name (see PROPERTY_UNITS).")
    units: str = Field(description="Unit of every value and error of this property.")
    reference_id: str = Field(description="ReferenceDoc.reference_id used.")
    dataset: str = Field(description="Dataset of the reference.")
    frame: Literal["reference_structure", "eigenvalues", "rotation_invariant"] = Field(
        description="How frames were handled: tensors rotated into the reference structure's frame, "
        "eigenvalues only, or rotation-invariant scalars."
    )
    mae: float = Field(description="Mean absolute error over all tensor components (or the scalar), in `units`.")
    rmse: float = Field(description="Root-mean-square error over all components, in `units`.")
    max_abs_error: float = Field(description="Largest absolute component error, in `units`.")
    frobenius_error: Optional[float] = Field(None, description="||pred - ref||_F (tensors), in `units`.")
    relative_frobenius_error: Optional[float] = Field(None, description="||pred - ref||_F / ||ref||_F, dimensionless.")
    eigenvalue_errors: Optional[list[float]] = Field(
        None, description="pred - ref of the ascending eigenvalues of the symmetric parts, shape (3,), in `units`."
    )
    per_site_errors: Optional[list[float]] = Field(
        None, description="Born: ||Z*_pred[k] - Z*_ref[k]||_F per reference site, shape (N,), e."
    )
    parity_pred: list[float] = Field(description="Predicted values of the parity plot points, in `units`.")
    parity_ref: list[float] = Field(description="Reference values of the parity plot points, in `units`.")
    score: float = Field(description="Scalar used to rank worst offenders (= mae), in `units`.")
    reliable: bool = Field(True, description="Whether this value enters the metrics: False when the prediction's "
                           "quality flags make the property unreliable or the reference value is unusable.")
    excluded_reasons: list[str] = Field(
        default_factory=list, description="Why the value is left out of metrics: quality flag names of the "
        "prediction, or 'reference unusable: ...'.")


class ReferenceMatch(BaseModel):
    """One reference joined to a prediction, with how it was matched."""

    reference_id: str = Field(description="ReferenceDoc.reference_id.")
    dataset: str = Field(description="Dataset of the reference.")
    source_id: str = Field(description="Id of the reference in its source (MP id, row, name).")
    matched_by: str = Field(description="'material_id', 'mp_id_candidates' or 'structure'.")
    space_group_reference: int = Field(description="Space-group number of the reference material.")
    space_group_prediction: Optional[int] = Field(None, description="Space-group number of the predicted material "
                                                  "(input structure, symprec 0.1).")
    rms_distance: Optional[float] = Field(
        None, description="pymatgen StructureMatcher RMS site displacement between the two structures, normalised "
        "by (V/N)^(1/3) (dimensionless); None when the cells do not match site by site.")


class MaterialComparisonDoc(BaseModel):
    """All property comparisons of one prediction."""

    comparison_id: str = Field(description="Unique key: 'material:<prediction id>'.")
    kind: Literal["material"] = Field("material", description="Document kind.")
    prediction_id: str = Field(description="Key of the prediction document in the predictions store.")
    material_id: Optional[str] = Field(None, description="Materials Project id (prediction's, else reference's).")
    formula_pretty: Optional[str] = Field(None, description="Reduced formula.")
    model_name: str = Field(description="provenance.model_name of the prediction ('unknown' if absent).")
    model_sha256: Optional[str] = Field(None, description="provenance.model_sha256 of the prediction.")
    split: Optional[str] = Field(None, description="Material split: train / valid / test.")
    matched_by: Optional[str] = Field(
        None, description="How references were joined: 'material_id', 'mp_id_candidates' or 'structure'."
    )
    reference_ids: list[str] = Field(default_factory=list, description="Reference documents joined.")
    structure_id: Optional[str] = Field(None, description="The prediction's structure_id (input name).")
    space_group: Optional[int] = Field(None, description="Space-group number of the predicted material (input "
                                       "structure, symprec 0.1).")
    matches: list[ReferenceMatch] = Field(default_factory=list, description="References joined and how.")
    rejected: list[str] = Field(default_factory=list, description="Candidate references not joined, with why "
                                "(e.g. another space group).")
    properties: dict[str, PropertyComparison] = Field(default_factory=dict, description="Per-property errors.")
    warnings: list[str] = Field(default_factory=list, description="Problems met while comparing.")
    last_updated: datetime = Field(default_factory=lambda: datetime.now(timezone.utc), description="UTC time.")


class WorstCase(BaseModel):
    """One of the largest per-material errors of a property."""

    prediction_id: str = Field(description="Prediction key.")
    material_id: Optional[str] = Field(None, description="MP id if known.")
    formula_pretty: Optional[str] = Field(None, description="Reduced formula.")
    reference_id: Optional[str] = Field(None, description="Reference compared with.")
    label: Optional[str] = Field(None, description="Readable label: formula (MP id or reference id).")
    score: float = Field(description="Per-material MAE of the property, in the property's units.")


class AggregateMetricsDoc(BaseModel):
    """Aggregate agreement of one model with DFPT for one property and split."""

    comparison_id: str = Field(description="Unique key 'aggregate:<model>:<property>:<split>'.")
    kind: Literal["aggregate"] = Field("aggregate", description="Document kind.")
    model_name: str = Field(description="Model name.")
    property: str = Field(description="Property name.")
    units: str = Field(description="Unit of mae / rmse.")
    split: str = Field(description="'all', 'train', 'valid' or 'test'.")
    measure: str = Field(description="What the parity points are (e.g. 'diagonal components, reference frame').")
    count: int = Field(description="Number of materials in the metrics.")
    n_excluded: int = Field(0, description="Materials left out of the metrics (unreliable values).")
    excluded_reasons: dict[str, int] = Field(default_factory=dict, description="How many materials each reason "
                                             "left out (a material may have several reasons).")
    n_points: int = Field(description="Number of parity points.")
    mae: float = Field(description="Mean absolute error over parity points, in `units`.")
    rmse: float = Field(description="Root-mean-square error over parity points, in `units`.")
    r2_true: float = Field(description="1 - SS_res/SS_tot: agreement with y = x, dimensionless.")
    pearson_r2: float = Field(description="Squared Pearson correlation (the MACE-Field paper's 'R^2').")
    spearman: float = Field(description="Spearman rank correlation, dimensionless.")
    worst: list[WorstCase] = Field(default_factory=list, description="Largest per-material errors, descending.")
    last_updated: datetime = Field(default_factory=lambda: datetime.now(timezone.utc), description="UTC time.")
