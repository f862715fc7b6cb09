"""Pure assembly: engine results -> task documents (no jobflow, no torch).

The jobs in :mod:`macefield_flows.jobs` call the engine, then these functions:

* :func:`settings_hash` - the resume key of (structure, model sha256, head, settings);
* :func:`build_task_doc` - one :class:`ElectricResponseTaskDoc` from a
  ``StructureResult`` (and optionally a ``RelaxResult``), running the physics
  assembly (dielectric, phonons, piezo) for whatever properties are present;
* :func:`failed_task_doc` - a document with ``status="failed"`` and the reason.

Any per-structure error of the physics assembly becomes a failed document, so a
bad structure never breaks its chunk.
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import metadata
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from pymatgen.core import Structure

from macefield_flows.exceptions import MacefieldError
from macefield_flows.schemas.quality import Quality, QualityFlag
from macefield_flows.schemas.task import ElectricResponseTaskDoc, Provenance, TaskStatus
from macefield_flows.units import E_PER_A2_TO_C_PER_M2

logger = logging.getLogger(__name__)

DIELECTRIC_PROPERTIES = ("energy", "forces", "stress", "polarization", "born_charges",
                         "susceptibility", "epsilon_electronic", "force_constants")
PIEZO_PROPERTIES = DIELECTRIC_PROPERTIES + ("dipole_strain", "internal_strain", "strain_hessian")
STATIC_PROPERTIES = ("energy", "forces", "stress", "polarization", "born_charges", "epsilon_electronic")

VERSION_PACKAGES = ("macefield-flows", "torch", "mace-torch", "e3nn", "numpy", "pymatgen", "jobflow")


def package_versions(packages: Sequence[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed versions of ``packages`` ("not installed" when absent)."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def structure_fingerprint(structure: Structure, decimals: int = 6) -> dict[str, Any]:
    """Canonical, JSON-able description of a structure used in :func:`settings_hash`."""
    return {
        "lattice": np.round(structure.lattice.matrix, decimals).tolist(),
        "species": [str(sp) for sp in structure.species],
        "frac": np.round(np.mod(structure.frac_coords, 1.0), decimals).tolist(),
        "charge": float(getattr(structure, "charge", 0.0) or 0.0),
    }


def settings_hash(
    structure: Structure, model_sha256: str, head: Optional[str], settings: Mapping[str, Any]
) -> str:
    """sha256 (hex) of (structure, model sha256, head, settings): the resume key.

    ``settings`` must be JSON-serialisable (it is sorted and dumped); device and
    wall-clock quantities must not be in it.
    """
    payload = {
        "structure": structure_fingerprint(structure),
        "model_sha256": model_sha256,
        "head": head,
        "settings": settings,
    }
    blob = json.dumps(payload, sort_keys=True, default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    raise TypeError(f"settings value {obj!r} of type {type(obj).__name__} is not JSON-serialisable")


def _list(x: Any) -> Any:
    return None if x is None else np.asarray(x, dtype=float).tolist()


def _input_source(structure: Any) -> Optional[str]:
    props = getattr(structure, "properties", None) or {}
    src = props.get("input_source")
    return str(src) if src else None


def _identity(structure: Structure) -> dict[str, Any]:
    comp = structure.composition
    elements = sorted({el.symbol for el in comp.elements})
    return {
        "formula_pretty": comp.reduced_formula,
        "chemsys": "-".join(elements),
        "elements": elements,
        "nsites": len(structure),
    }


def assess_quality(doc: dict[str, Any], thresholds: Any = None, extra_flags: Optional[list] = None) -> Quality:
    """The ``quality`` section of a successful document (see :mod:`macefield_flows.physics.quality`)."""
    from macefield_flows.physics.quality import QualityThresholds, assess, is_reliable

    t = QualityThresholds.from_any(thresholds)
    flags = assess(doc, t, extra_flags)
    return Quality(reliable=is_reliable(flags), flags=[QualityFlag(**f) for f in flags], thresholds=t.as_dict())


#: flags that the lowest frequency over the whole Brillouin zone decides (see physics.quality)
PHONON_FLAGS = ("imaginary_modes", "imaginary_modes_ir_inactive", "soft_polar_mode")


def with_full_bz_minimum(doc: ElectricResponseTaskDoc, min_frequency_thz: float,
                         thresholds: Any = None) -> ElectricResponseTaskDoc:
    """A copy of ``doc`` with ``min_frequency_full_bz_thz`` set and its quality assessed again.

    The imaginary-mode flags are recomputed from the full-BZ minimum (a structure
    stable at Gamma but unstable elsewhere gets ``imaginary_modes``); every other
    flag is kept. ``thresholds`` default to the ones the document was assessed with.

    Parameters
    ----------
    doc : successful task document (not mutated).
    min_frequency_thz : lowest frequency over band path and mesh, THz (imaginary negative).
    """
    from macefield_flows.physics.quality import QualityThresholds, imaginary_mode_flags, is_reliable

    quality = doc.quality or Quality()
    t = QualityThresholds.from_any(thresholds if thresholds is not None else (quality.thresholds or None))
    fields = {"min_frequency_full_bz_thz": float(min_frequency_thz),
              "phonon_frequencies_thz": doc.phonon_frequencies_thz, "ir_intensities": doc.ir_intensities}
    kept = [f.model_dump() for f in quality.flags if f.name not in PHONON_FLAGS]
    flags = kept + imaginary_mode_flags(fields, t)
    new_quality = Quality(reliable=is_reliable(flags), flags=[QualityFlag(**f) for f in flags],
                          thresholds=t.as_dict())
    return doc.model_copy(update={"min_frequency_full_bz_thz": float(min_frequency_thz), "quality": new_quality,
                                  "warnings": [f.message for f in new_quality.flags]})


def failed_task_doc(
    input_structure: Structure,
    reason: str,
    provenance: Optional[Provenance] = None,
    material_id: Optional[str] = None,
    structure_id: Optional[str] = None,
    task_label: str = "electric response",
) -> ElectricResponseTaskDoc:
    """A document recording that ``input_structure`` failed and why."""
    ident = _identity(input_structure) if isinstance(input_structure, Structure) else {}
    return ElectricResponseTaskDoc(
        task_id=provenance.settings_hash if provenance and provenance.settings_hash else None,
        task_label=task_label,
        material_id=material_id,
        structure_id=structure_id,
        input_structure=input_structure if isinstance(input_structure, Structure) else None,
        input_source=_input_source(input_structure),
        status=TaskStatus.FAILED,
        failure_reason=reason,
        quality=Quality(reliable=False, flags=[QualityFlag(name="failed", message=reason, affects=["all"])]),
        provenance=provenance,
        **ident,
    )


def build_task_doc(
    input_structure: Structure,
    result: Any,
    provenance: Provenance,
    relax_result: Any = None,
    material_id: Optional[str] = None,
    structure_id: Optional[str] = None,
    task_label: str = "electric response",
    symmetrize: bool = False,
    symprec: float = 1e-3,
    phonon_tol_thz: float = 0.1,
    keep_force_constants: bool = True,
    quality_thresholds: Any = None,
) -> ElectricResponseTaskDoc:
    """Assemble one document from an engine ``StructureResult`` (+ optional ``RelaxResult``).

    Parameters
    ----------
    input_structure : the structure as given by the user.
    result : ``macefield_flows.engine.StructureResult`` of the structure the
        properties refer to (relaxed one when ``relax_result`` is given).
    provenance : model, versions, device, settings and resume key.
    relax_result : ``RelaxResult`` of the preceding relaxation, if any.
    symmetrize : symmetrise Born charges to the space group (spglib, ``symprec`` in A).
    phonon_tol_thz : imaginary frequencies with ``|nu|`` below this are noise (THz).
    keep_force_constants : keep the (3N, 3N) force constants in the document
        (routed to the `data` store by the jobs).
    quality_thresholds : :class:`~macefield_flows.physics.quality.QualityThresholds`, a
        mapping of overrides, or None (defaults) for the document's ``quality`` section.

    Returns a failed document when the engine or the physics assembly failed.
    """
    common = dict(material_id=material_id, structure_id=structure_id, task_label=task_label)
    if relax_result is not None and not relax_result.ok:
        return failed_task_doc(input_structure, f"relaxation failed: {relax_result.error}",
                               provenance, **common)
    if not result.ok:
        reason = f"{result.error_type}: {result.error}" if result.error_type else str(result.error)
        return failed_task_doc(input_structure, reason, provenance, **common)
    structure = relax_result.structure if relax_result is not None else input_structure
    try:
        fields = _assemble(structure, result, symmetrize, symprec, phonon_tol_thz)
    except (ValueError, ArithmeticError, np.linalg.LinAlgError, MacefieldError) as exc:
        logger.warning("physics assembly failed for %s: %s", structure_id or material_id, exc)
        return failed_task_doc(input_structure, f"assembly failed: {type(exc).__name__}: {exc}",
                               provenance, **common)
    if not keep_force_constants:
        fields.pop("force_constants", None)
    if relax_result is not None:
        fields.update(relaxed=True, relax_converged=bool(relax_result.converged),
                      relax_steps=int(relax_result.steps))
    fields["quality"] = assess_quality({**fields, "structure": structure, "input_structure": input_structure},
                                       quality_thresholds, fields.pop("_extra_flags", []))
    fields["warnings"] = [f.message for f in fields["quality"].flags]
    large = ["force_constants"] if fields.get("force_constants") is not None else []
    return ElectricResponseTaskDoc(
        task_id=provenance.settings_hash or None,
        input_structure=input_structure,
        input_source=_input_source(input_structure),
        structure=structure,
        status=TaskStatus.SUCCESS,
        provenance=provenance,
        large_data_keys=large,
        **common,
        **_identity(structure),
        **fields,
    )


def _assemble(structure: Structure, r: Any, symmetrize: bool, symprec: float,
              phonon_tol_thz: float) -> dict[str, Any]:
    """Physics assembly of whatever properties ``r`` carries (internal units in, document units out)."""
    from macefield_flows.physics.born import asr_residual

    out: dict[str, Any] = {"warnings": []}
    violations: dict[str, float] = {}
    n = len(structure)
    ops = None
    if symmetrize:
        from macefield_flows.physics.symmetry import get_symmetry_operations

        ops = get_symmetry_operations(structure, symprec=symprec)
    if r.energy is not None:
        out["energy"] = float(r.energy)
        out["energy_per_atom"] = float(r.energy) / n
    out["forces"] = _list(r.forces)
    out["stress"] = _list(r.stress)
    out["dipole"] = _list(r.dipole)
    if r.polarization is not None:
        out["polarization"] = _list(np.asarray(r.polarization) * E_PER_A2_TO_C_PER_M2)

    born = None if r.born_charges is None else np.asarray(r.born_charges, dtype=float)
    if born is not None:
        out["born_asr_residual"] = float(asr_residual(born))
        if symmetrize:
            from macefield_flows.physics.born import symmetrize_born_charges

            born, violation = symmetrize_born_charges(structure, born, symprec)
            out["born_symmetrized"] = True
            violations["born"] = violation
        out["born"] = born.tolist()

    eps_inf = r.epsilon_electronic
    if eps_inf is None and r.susceptibility is not None:
        eps_inf = np.eye(3) + np.asarray(r.susceptibility)
    if eps_inf is not None:
        from macefield_flows.physics.dielectric import poly, refractive_index

        eps_inf = np.asarray(eps_inf, dtype=float)
        if ops is not None:
            eps_inf, violations["epsilon_static"] = _symmetrized(eps_inf, ops)
        out["epsilon_static"] = eps_inf.tolist()
        out["e_electronic"] = poly(eps_inf)
        out["n"] = refractive_index(eps_inf)

    fc = None if r.force_constants is None else np.asarray(r.force_constants, dtype=float)
    if fc is not None:
        out["force_constants"] = fc.tolist()
    if born is not None and fc is not None and eps_inf is not None:
        from macefield_flows.physics.dielectric import dielectric_response

        chi = eps_inf - np.eye(3) if r.susceptibility is None else np.asarray(r.susceptibility)
        masses = np.asarray(r.masses if r.masses is not None else [s.specie.atomic_mass for s in structure],
                            dtype=float)
        if ops is not None:
            chi = eps_inf - np.eye(3)
        d = dielectric_response(born, chi, fc, masses, float(r.volume or structure.volume),
                                tol_thz=phonon_tol_thz)
        eps_ionic = d.ionic
        if ops is not None:
            eps_ionic, violations["epsilon_ionic"] = _symmetrized(eps_ionic, ops)
        eps_total = eps_inf + eps_ionic
        out.update(
            epsilon_ionic=eps_ionic.tolist(), epsilon_total=eps_total.tolist(),
            e_ionic=float(np.trace(eps_ionic) / 3), e_total=float(np.trace(eps_total) / 3), phonon_frequencies_thz=np.asarray(d.frequencies).tolist(),
            has_imaginary_modes=d.has_imaginary_modes, ionic_dielectric_reliable=d.ionic_reliable,
            ir_intensities=np.asarray(d.ir_intensities).tolist(),
        )

    strain = (r.dipole_strain, r.internal_strain, r.strain_hessian)
    if born is not None and fc is not None and all(x is not None for x in strain):
        from macefield_flows.physics.piezo import piezo_response

        p = piezo_response(born, fc, np.asarray(r.dipole_strain), np.asarray(r.internal_strain),
                           np.asarray(r.strain_hessian), float(r.volume or structure.volume))
        tensors = {"piezo_tensor": p.total, "piezo_ionic_tensor": p.ionic,
                   "piezo_electronic_tensor": p.clamped_ion, "elastic_tensor_clamped": p.clamped_ion_elastic,
                   "elastic_tensor": p.relaxed_ion_elastic}
        if ops is not None:
            tensors = {k: _symmetrized_voigt(v, ops, violations, k) for k, v in tensors.items()}
        from macefield_flows.physics.piezo import (
            e_ij_max_longitudinal,
            emmet_piezo_maximum,
            piezo_strain_tensor,
        )

        out.update({k: np.asarray(v).tolist() for k, v in tensors.items()})
        try:  # emmet's definitions, in the IEEE frame of the structure
            e_max, direction, strain_max = emmet_piezo_maximum(tensors["piezo_tensor"], structure)
            out.update(e_ij_max=e_max, max_direction=direction, strain_for_max=strain_max)
        except (ValueError, ArithmeticError, IndexError, np.linalg.LinAlgError) as exc:
            from macefield_flows.physics.quality import flag as _flag

            out.setdefault("_ieee_flags", []).append(
                _flag("e_ij_max_undefined", f"e_ij_max not computed: {exc}",
                      affects=["e_ij_max", "max_direction", "strain_for_max"]))
        out.update(
            e_ij_max_longitudinal=float(e_ij_max_longitudinal(tensors["piezo_tensor"])[0]),
            piezo_strain_tensor=piezo_strain_tensor(tensors["piezo_tensor"], tensors["elastic_tensor"]).tolist(),
        )
    from macefield_flows.physics.quality import flag

    extra = out.pop("_ieee_flags", [])
    for key, value in list(out.items()):
        if key != "warnings" and isinstance(value, (list, float)) and not np.all(np.isfinite(np.asarray(value, dtype=float))):
            out[key] = None  # never store NaN/inf (invalid JSON): say why instead
            extra.append(flag("non_finite", f"{key} undefined (non-finite; e.g. singular elastic tensor)",
                              affects=[key]))
    out["_extra_flags"] = extra
    if violations:
        out["symmetry_violations"] = violations
    return out


def _symmetrized(t: np.ndarray, ops: Any) -> tuple[np.ndarray, float]:
    from macefield_flows.physics.symmetry import symmetrize_tensor

    return symmetrize_tensor(t, ops)


def _symmetrized_voigt(t: np.ndarray, ops: Any, violations: dict[str, float], name: str) -> np.ndarray:
    """Symmetrise a 3x6 (piezo) or 6x6 (elastic) Voigt tensor; records its violation."""
    from macefield_flows.units import rank3_to_voigt, rank4_to_voigt, voigt_to_rank3, voigt_to_rank4

    t = np.asarray(t, dtype=float)
    if t.shape == (3, 6):
        sym, violations[name] = _symmetrized(voigt_to_rank3(t), ops)
        return rank3_to_voigt(sym)
    sym, violations[name] = _symmetrized(voigt_to_rank4(t), ops)
    return rank4_to_voigt(sym)

