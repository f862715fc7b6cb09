"""Materials Project source of DFPT references (dielectric, piezoelectric, structures) via mp-api.

The API key is read from the environment (``MP_API_KEY``, else ``PMG_MAPI_KEY``)
at call time; it is passed only to the client and never logged or stored.
Tests inject a fake client with ``client_factory``; no test touches the network.

Documents follow :class:`~macefield_flows.schemas.reference.ReferenceDoc` with
``dataset="materials_project_api"``. Both e_ij_max definitions are stored:
``e_ij_max_emmet`` (emmet's largest singular value, as served) and
``e_ij_max_longitudinal`` (legacy de Jong definition, recomputed). emmet serves
piezo tensors in the IEEE frame of the structure (``piezo_frame='structure_ieee'``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Callable, Optional

import numpy as np
from pymatgen.core import Structure

from macefield_flows.exceptions import ReferenceDataError
from macefield_flows.references.splits import material_split
from macefield_flows.references.tensors import (
    e_ij_max_emmet,
    e_ij_max_longitudinal_legacy,
    piezo_invariants,
)
from macefield_flows.schemas.reference import ReferenceDoc

logger = logging.getLogger(__name__)

API_KEY_ENVS = ("MP_API_KEY", "PMG_MAPI_KEY")
MP_DATASET = "materials_project_api"
MP_CITATION = "A. Jain et al., APL Mater. 1, 011002 (2013); Petousis 2017; de Jong 2015"


class MPSourceError(ReferenceDataError):
    """Materials Project access failed."""


class MissingAPIKeyError(MPSourceError):
    """No Materials Project API key in the environment."""


class MPConnectionError(MPSourceError):
    """The Materials Project API could not be reached."""


class UnknownMaterialError(MPSourceError):
    """Some requested material ids do not exist or have no data."""


def get_api_key() -> str:
    """The MP API key from the environment; raise :class:`MissingAPIKeyError` when absent."""
    for name in API_KEY_ENVS:
        if os.environ.get(name):
            return os.environ[name]
    raise MissingAPIKeyError(f"no Materials Project API key: set one of {API_KEY_ENVS} in the environment")


def _default_client_factory(api_key: str) -> Any:
    try:
        from mp_api.client import MPRester
    except ImportError as exc:  # optional dependency
        raise MPSourceError("mp-api is not installed: pip install 'macefield-flows[mp]'") from exc
    return MPRester(api_key=api_key, mute_progress_bars=True)


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'no network / API refused' (requests, mp-api)."""
    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import requests

        errors.append(requests.exceptions.RequestException)
    except ImportError:
        pass
    try:
        from mp_api.client.core.client import MPRestError

        errors.append(MPRestError)
    except ImportError:
        pass
    return tuple(errors)


_ID_FIELDS = ("material_id", "task_id")


def _as_dict(doc: Any) -> dict[str, Any]:
    """A plain dict of an mp-api / emmet-core document (or a dict as is).

    emmet's identifier types (``MPID``) dump to an internal alphabetic form
    (``model_dump()["material_id"] == 'mp-aaaaaazl'`` for mp-661): identifiers
    are taken from the attribute's ``str`` instead.
    """
    if isinstance(doc, dict):
        return doc
    if hasattr(doc, "model_dump"):
        out = doc.model_dump()
        for key in _ID_FIELDS:
            value = getattr(doc, key, None)
            if value is not None:
                out[key] = str(value)
        return out
    raise MPSourceError(f"unexpected document type {type(doc).__name__}")


def _structure(value: Any) -> Structure:
    return value if isinstance(value, Structure) else Structure.from_dict(value)


class MaterialsProjectSource:
    """Fetch dielectric / piezoelectric references and structures from the Materials Project.

    Parameters
    ----------
    client_factory
        ``f(api_key) -> client``; the client is a context manager exposing
        ``materials.dielectric.search``, ``materials.piezoelectric.search`` and
        ``materials.summary.search`` (mp-api ``MPRester``). Default: MPRester.
    """

    def __init__(self, client_factory: Optional[Callable[[str], Any]] = None):
        self._factory = client_factory or _default_client_factory

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        api_key = get_api_key()
        try:
            with self._factory(api_key) as client:
                return fn(client)
        except _network_errors() as exc:
            msg = str(exc).replace(api_key, "***")[:200]
            raise MPConnectionError(
                f"Materials Project request failed ({type(exc).__name__}): {msg}"
            ) from exc

    def search_ids(
        self,
        chemsys: Optional[str | list[str]] = None,
        band_gap: Optional[tuple[float, float]] = None,
        elements: Optional[list[str]] = None,
        has_dielectric: bool = True,
        limit: Optional[int] = None,
    ) -> list[str]:
        """Material ids matching a query (chemical system, band-gap range in eV, elements)."""
        kwargs: dict[str, Any] = {"fields": ["material_id"]}
        if chemsys:
            kwargs["chemsys"] = chemsys
        if band_gap:
            kwargs["band_gap"] = band_gap
        if elements:
            kwargs["elements"] = elements
        if has_dielectric:
            kwargs["has_props"] = ["dielectric"]
        docs = self._call(lambda c: c.materials.summary.search(**kwargs))
        ids = [str(_as_dict(d)["material_id"]) for d in docs]
        return ids[:limit] if limit else ids

    def structures(self, material_ids: Sequence[str]) -> dict[str, Structure]:
        """Structures (Angstrom) by material id; raise :class:`UnknownMaterialError` for missing ids."""
        docs = self._call(
            lambda c: c.materials.summary.search(material_ids=list(material_ids), fields=["material_id", "structure"])
        )
        out = {str(_as_dict(d)["material_id"]): _structure(_as_dict(d)["structure"]) for d in docs}
        missing = sorted(set(material_ids) - set(out))
        if missing:
            raise UnknownMaterialError(f"unknown material ids (no structure): {missing}")
        return out

    def fetch(self, material_ids: Sequence[str], strict: bool = True) -> list[ReferenceDoc]:
        """Dielectric and piezoelectric references for ``material_ids`` (one doc per id).

        Ids with neither dielectric nor piezo data raise :class:`UnknownMaterialError`
        when ``strict``, else they are logged and skipped.
        """
        ids = list(dict.fromkeys(material_ids))
        diel = self._call(lambda c: c.materials.dielectric.search(material_ids=ids))
        piezo = self._call(lambda c: c.materials.piezoelectric.search(material_ids=ids))
        diel_by = {str(_as_dict(d)["material_id"]): _as_dict(d) for d in diel}
        piezo_by = {str(_as_dict(d)["material_id"]): _as_dict(d) for d in piezo}
        missing = [m for m in ids if m not in diel_by and m not in piezo_by]
        if missing and strict:
            raise UnknownMaterialError(f"no dielectric or piezoelectric data for {missing}")
        if missing:
            logger.warning("no MP dielectric/piezo data for %s", missing)
        found = [m for m in ids if m not in missing]
        structures = self.structures(found) if found else {}
        return [self._to_doc(m, structures[m], diel_by.get(m), piezo_by.get(m)) for m in found]

    @staticmethod
    def _to_doc(mid: str, structure: Structure, diel: Optional[dict], piezo: Optional[dict]) -> ReferenceDoc:
        formula = structure.composition.reduced_formula
        sg = structure.get_space_group_info(symprec=0.01)[1]
        split = material_split(formula, sg)
        values: dict[str, Any] = {}
        if diel:
            values["eps_electronic"] = np.asarray(diel["electronic"], dtype=float).tolist()
            values["eps_ionic"] = np.asarray(diel["ionic"], dtype=float).tolist()
            values["eps_total"] = np.asarray(diel["total"], dtype=float).tolist()
            values["e_electronic"] = float(np.trace(values["eps_electronic"]) / 3)
            values["e_ionic"] = float(np.trace(values["eps_ionic"]) / 3)
            values["e_total"] = float(np.trace(values["eps_total"]) / 3)
            values["n"] = float(diel.get("n") or np.sqrt(values["e_electronic"]))
        if piezo:
            e = np.asarray(piezo["total"], dtype=float)
            values.update(
                piezo_total=e.tolist(),
                piezo_clamped_ion=np.asarray(piezo["electronic"], dtype=float).tolist() if piezo.get("electronic") is not None else None,
                piezo_frame="structure_ieee",
                e_ij_max_emmet=float(piezo["e_ij_max"]) if piezo.get("e_ij_max") is not None else e_ij_max_emmet(e),
                e_ij_max_longitudinal=e_ij_max_longitudinal_legacy(e),
                piezo_invariants=piezo_invariants(e),
            )
        return ReferenceDoc(
            reference_id=f"{MP_DATASET}:{mid}", dataset=MP_DATASET, source_id=mid, citation=MP_CITATION,
            method="VASP DFPT, PBE (Materials Project)", material_id=mid, formula_pretty=formula,
            space_group=int(sg), nsites=len(structure), structure=structure.as_dict(), split=split,
            allowed_for_training=False, **values,
        )
