"""emmet-core documents from our task documents, with nothing lost on the way.

* :func:`to_dielectric_doc` -> ``emmet.core.polar.DielectricDoc`` (``electronic`` =
  our ``epsilon_static`` = eps_inf, ``ionic`` = ``epsilon_ionic``; emmet adds them and
  rotates to the IEEE frame).
* :func:`to_piezoelectric_doc` -> ``emmet.core.polar.PiezoelectricDoc``. emmet's
  constructor reads its inputs in VASP's Voigt order (xx, yy, zz, xy, yz, zx), ours is
  the standard (xx, yy, zz, yz, xz, xy): passing our tensors unconverted silently
  zeroes e15 of wurtzites. The reordering is :func:`macefield_flows.units.voigt_to_vasp_order`,
  the only place where the two orders meet. The documents emmet returns store the
  standard order again (``PiezoTensor.voigt``), in C/m^2.

Our judgement survives: the returned documents are subclasses of emmet's with
``quality`` (our :class:`~macefield_flows.schemas.quality.Quality`), ``reliable`` (for
the properties of that document), ``source_task_id`` and ``model_name`` /
``model_sha256``; every flag that affects them is also appended to emmet's own
``warnings`` list, so a plain emmet reader sees it. ``emmet_only=True`` returns the
plain emmet class (flags still in ``warnings``).
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np

from macefield_flows.exceptions import MacefieldError
from macefield_flows.interop.phonopy import _get, _name, doc_structure
from macefield_flows.schemas.quality import Quality, property_reliable
from macefield_flows.units import voigt_to_vasp_order

logger = logging.getLogger(__name__)

DIELECTRIC_FIELDS = ("epsilon_static", "epsilon_ionic", "epsilon_total")
PIEZO_FIELDS = ("piezo_tensor", "piezo_ionic_tensor", "piezo_electronic_tensor")


def _emmet_polar():
    try:
        from emmet.core import polar
    except ImportError as exc:  # pragma: no cover
        raise ImportError("emmet-core is needed: pip install emmet-core") from exc
    return polar


def _quality(doc: Any) -> Optional[Quality]:
    q = _get(doc, "quality")
    if q is None or isinstance(q, Quality):
        return q
    return Quality.model_validate(q)


def _extras(doc: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    quality = _quality(doc)
    prov = _get(doc, "provenance")
    warnings = [f"macefield-flows quality flag {f.name}: {f.message}" for f in (quality.flags if quality else [])
                if "all" in f.affects or set(f.affects) & set(fields)]
    warnings += list(_get(doc, "warnings") or [])
    return {
        "quality": quality,
        "reliable": all(property_reliable(doc, f) for f in fields),
        "source_task_id": _get(doc, "task_id"),
        "model_name": _get(prov, "model_name") if prov is not None else None,
        "model_sha256": _get(prov, "model_sha256") if prov is not None else None,
        "warnings": warnings,
    }


def _subclass(base: type, kind: str) -> type:
    from pydantic import Field, create_model

    return create_model(
        f"Macefield{base.__name__}",
        __base__=base,
        __doc__=f"emmet-core {base.__name__} with macefield-flows' judgement of the {kind} kept beside it.",
        quality=(Optional[Quality], Field(None, description="macefield-flows quality section (schemas.quality).")),
        reliable=(bool, Field(True, description=f"No quality flag affects the {kind} tensors.")),
        source_task_id=(Optional[str], Field(None, description="task_id of the macefield-flows document.")),
        model_name=(Optional[str], Field(None, description="Model that predicted the tensors.")),
        model_sha256=(Optional[str], Field(None, description="sha256 of the model file.")),
    )


_CLASSES: dict[str, type] = {}


def _cls(name: str) -> type:
    if name not in _CLASSES:
        base = getattr(_emmet_polar(), name)
        _CLASSES[name] = _subclass(base, "dielectric" if name == "DielectricDoc" else "piezoelectric")
    return _CLASSES[name]


def _require(doc: Any, keys: tuple[str, ...]) -> list[np.ndarray]:
    status = _get(doc, "status")
    if getattr(status, "value", status) not in (None, "successful"):
        raise MacefieldError(f"{_name(doc)}: failed document ({_get(doc, 'failure_reason')})")
    values = [_get(doc, k) for k in keys]
    missing = [k for k, v in zip(keys, values) if v is None]
    if missing:
        raise MacefieldError(f"{_name(doc)}: the document has no {', '.join(missing)}")
    return [np.asarray(v, dtype=float) for v in values]


def to_dielectric_doc(doc: Any, material_id: Optional[str] = None, emmet_only: bool = False):
    """emmet-core ``DielectricDoc`` (IEEE frame) of a task document with eps_inf and eps_ionic.

    Parameters
    ----------
    doc : ElectricResponseTaskDoc or its stored dict.
    material_id : overrides ``doc.material_id`` (emmet wants an id like 'mp-1').
    emmet_only : return emmet's class instead of the subclass with our quality fields.
    """
    polar = _emmet_polar()
    electronic, ionic = _require(doc, ("epsilon_static", "epsilon_ionic"))
    extras = _extras(doc, DIELECTRIC_FIELDS)
    cls = polar.DielectricDoc if emmet_only else _cls("DielectricDoc")
    if emmet_only:
        extras = {"warnings": extras["warnings"]}
    return cls.from_ionic_and_electronic(
        epsilon_ionic=ionic.tolist(), epsilon_static=electronic.tolist(), structure=doc_structure(doc),
        material_id=material_id or _get(doc, "material_id"), **extras)


def to_piezoelectric_doc(doc: Any, material_id: Optional[str] = None, emmet_only: bool = False):
    """emmet-core ``PiezoelectricDoc`` (IEEE frame, C/m^2) of a task document with piezo tensors.

    The clamped-ion (``piezo_electronic_tensor``) and ionic (``piezo_ionic_tensor``)
    parts are reordered to VASP's Voigt order before emmet reads them; emmet sums
    them, rotates to the IEEE frame and computes ``e_ij_max`` / ``max_direction``.
    """
    polar = _emmet_polar()
    electronic, ionic = _require(doc, ("piezo_electronic_tensor", "piezo_ionic_tensor"))
    if electronic.shape != (3, 6) or ionic.shape != (3, 6):
        raise MacefieldError(f"{_name(doc)}: piezo tensors {electronic.shape}, {ionic.shape}, expected (3, 6)")
    extras = _extras(doc, PIEZO_FIELDS)
    cls = polar.PiezoelectricDoc if emmet_only else _cls("PiezoelectricDoc")
    if emmet_only:
        extras = {"warnings": extras["warnings"]}
    return cls.from_ionic_and_electronic(
        piezo_ionic=voigt_to_vasp_order(ionic).tolist(), piezo_static=voigt_to_vasp_order(electronic).tolist(),
        structure=doc_structure(doc), material_id=material_id or _get(doc, "material_id"), **extras)
