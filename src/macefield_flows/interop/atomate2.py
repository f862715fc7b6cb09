"""atomate2's phonon flow with a MACE-Field model and the LO-TO correction really applied.

What atomate2 0.1.5 does by itself (read in ``atomate2/common``):

* ``PhononBSDOSDoc.from_forces_born`` sets phonopy's ``nac_params`` only when
  ``code == "vasp"``; the force-field ``PhononMaker`` has ``code="forcefields"``, so
  ``born`` / ``epsilon_static`` given to it are stored (``has_nac: True``) but NOT
  applied: the band structure has no LO-TO splitting and ``phonopy.yaml`` has no NAC.
* ``born_maker`` is read as a VASP job: ``born_job.output.calcs_reversed[0].output
  .epsilon_static`` and ``...outcar["born"]``; our task documents have no such fields.

What this module adds (no atomate2 code copied, nothing patched globally):

* :func:`macefield_calculator` - an ASE calculator factory atomate2's force-field
  Makers load by name (``force_field_name={"@module": ..., "@callable": ...}``); the
  model name ("default", a registry name or a path) is resolved when the job runs.
* :class:`MACEFieldBornMaker` - a ``born_maker`` whose output has the fields atomate2
  reads (``calcs_reversed[0].output.epsilon_static`` = eps_inf, ``...outcar["born"]`` =
  Z*[k][field][displacement], ``dir_name``, ``uuid``) plus our whole task document
  (``task``), computed on the structure atomate2 hands it (after its relaxation).
* :class:`MACEFieldPhononMaker` - atomate2's force-field ``PhononMaker`` with the model
  everywhere and a final job that builds the same ``PhononBSDOSDoc`` with NAC applied
  (it passes ``code="vasp"`` to ``from_forces_born`` for that switch only - the
  frequency factor of "vasp" and "forcefields" is the same ``VaspToTHz`` - restores
  ``code="forcefields"`` in the document, and checks phonopy.yaml has the NAC).

What atomate2 cannot do, even so: it symmetrises Z* and eps_inf itself (phonopy's
``symmetrize_borns_and_epsilon``), computes the force constants by finite
displacements only, and has no IR spectrum; see :mod:`macefield_flows.interop.phonons`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from atomate2.forcefields.flows.phonons import PhononMaker
from jobflow import Maker, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from macefield_flows.schemas.task import ElectricResponseTaskDoc

logger = logging.getLogger(__name__)

CALCULATOR_META = {"@module": "macefield_flows.interop.atomate2", "@callable": "macefield_calculator"}
"""atomate2 ``force_field_name`` that loads :func:`macefield_calculator`."""


def macefield_calculator(model: str = "default", device: str = "cpu", dtype: str = "float64",
                         head: Optional[str] = None, trust_pickle: bool = False, **kwargs: Any):
    """A :class:`~macefield_flows.calculator.MACEFieldCalculator` (zero field) for atomate2 jobs.

    ``model`` is a file path, "default" or a registry name, resolved at run time.
    """
    from macefield_flows.calculator import MACEFieldCalculator
    from macefield_flows.jobs._model import model_path

    return MACEFieldCalculator(model=str(model_path(model)), device=device, dtype=dtype, head=head,
                               trust_pickle=trust_pickle, **kwargs)


class BornCalcOutput(BaseModel):
    """The part of a VASP calculation atomate2's phonon flow reads for the NAC."""

    epsilon_static: list[list[float]] = Field(description="ELECTRONIC eps_inf, (3, 3), dimensionless.")
    outcar: dict[str, Any] = Field(description="{'born': Z*, (N, 3, 3), e, [k][field i][displacement j]}.")


class BornCalc(BaseModel):
    output: BornCalcOutput = Field(description="Outputs atomate2 reads.")


class Atomate2BornDoc(BaseModel):
    """Output of :class:`MACEFieldBornMaker`: atomate2's ``born_maker`` interface + our document."""

    calcs_reversed: list[BornCalc] = Field(description="One entry, in atomate2's VASP layout.")
    dir_name: Optional[str] = Field(None, description="Directory the job ran in.")
    uuid: Optional[str] = Field(None, description="Unused (atomate2 reads it); the job uuid is in the store.")
    task: ElectricResponseTaskDoc = Field(description="The full macefield-flows dielectric document.")

    model_config = {"arbitrary_types_allowed": True}


@dataclass
class MACEFieldBornMaker(Maker):
    """Born charges and eps_inf for atomate2's ``PhononMaker(born_maker=...)``.

    Attributes: model (path, "default" or registry name), device, dtype, head, symmetrize.
    """

    name: str = "macefield born"
    model: str = "default"
    device: str = "cpu"
    dtype: str = "float64"
    head: Optional[str] = None
    symmetrize: bool = True

    @job
    def make(self, structure: Structure, prev_dir: Any = None) -> Atomate2BornDoc:
        """Dielectric response of ``structure`` (site order kept), in atomate2's born layout."""
        from macefield_flows.jobs.response import DielectricMaker, run_response

        maker = DielectricMaker(model=self.model, device=self.device, dtype=self.dtype, head=self.head,
                                symmetrize=self.symmetrize)
        doc = run_response(maker, structure)
        if doc.status != "successful" or doc.born is None:
            raise RuntimeError(f"born job failed for {structure.composition.reduced_formula}: {doc.failure_reason}")
        out = BornCalcOutput(epsilon_static=doc.epsilon_static, outcar={"born": doc.born})
        return Atomate2BornDoc(calcs_reversed=[BornCalc(output=out)], dir_name=os.getcwd(), task=doc)


def _ff_makers(model: str, device: str, dtype: str, head: Optional[str], relax: bool,
               fmax: float) -> dict[str, Any]:
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker, ForceFieldStaticMaker

    kwargs = {"model": model, "device": device, "dtype": dtype, "head": head}
    common = {"force_field_name": dict(CALCULATOR_META), "calculator_kwargs": kwargs}
    return {
        "bulk_relax_maker": ForceFieldRelaxMaker(relax_kwargs={"fmax": fmax}, **common) if relax else None,
        "static_energy_maker": ForceFieldStaticMaker(**common),
        "phonon_displacement_maker": ForceFieldStaticMaker(**common),
        "born_maker": MACEFieldBornMaker(model=model, device=device, dtype=dtype, head=head),
    }


def nac_frequencies_eigenvectors(**kwargs: Any):
    """atomate2's phonon collection with phonopy's NAC applied (see the module docstring).

    Same keyword arguments as ``atomate2.common.jobs.phonons.generate_frequencies_eigenvectors``.
    """
    from atomate2.common.schemas.phonons import PhononBSDOSDoc

    code = kwargs.pop("code")
    has_nac = kwargs.get("born") is not None and kwargs.get("epsilon_static") is not None
    doc = PhononBSDOSDoc.from_forces_born(code="vasp" if has_nac else code, **kwargs)
    if has_nac:
        _check_nac_applied(Path(kwargs.get("filename_phonopy_yaml", "phonopy.yaml")))
    return doc.model_copy(update={"code": code})


def _check_nac_applied(path: Path) -> None:
    import phonopy

    if path.exists() and phonopy.load(str(path), produce_fc=False).nac_params is None:
        raise RuntimeError(f"{path}: phonopy has no NAC parameters although Born charges were given")


def _attach_nac(flow: Any) -> Any:
    """Point the flow's final phonon-collection job at :func:`nac_frequencies_eigenvectors`."""
    collect = flow.jobs[-1]
    name = getattr(collect.function, "__name__", "")
    if name != "generate_frequencies_eigenvectors":
        raise RuntimeError(f"unexpected last job {name!r} in atomate2's phonon flow: cannot attach the NAC")
    collect.function = nac_frequencies_eigenvectors
    return flow


@dataclass
class MACEFieldPhononMaker(PhononMaker):
    """atomate2's force-field ``PhononMaker`` with a MACE-Field model and NAC applied.

    Attributes (besides atomate2's: ``min_length``, ``supercell_matrix`` at make,
    ``displacement``, ``kpath_scheme``, ...)
    ----------
    model : model file, "default" or registry name (resolved when the jobs run).
    device, dtype, head : calculator settings.
    relax : relax the structure first (atomate2's ForceFieldRelaxMaker, ``fmax`` eV/A).
    apply_nac : apply the LO-TO correction (needs born/epsilon_static from the born
        job or given to ``make``).
    """

    name: str = "macefield phonon"
    model: str = "default"
    device: str = "cpu"
    dtype: str = "float64"
    head: Optional[str] = None
    relax: bool = True
    fmax: float = 1e-4
    apply_nac: bool = True
    bulk_relax_maker: Any = None
    static_energy_maker: Any = None
    phonon_displacement_maker: Any = None
    born_maker: Any = None
    generate_frequencies_eigenvectors_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        defaults = _ff_makers(self.model, self.device, self.dtype, self.head, self.relax, self.fmax)
        for key, value in defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)

    def make(self, structure: Structure, prev_dir: Any = None, born: Any = None,
             epsilon_static: Any = None, total_dft_energy_per_formula_unit: Any = None,
             supercell_matrix: Any = None):
        """atomate2's phonon flow (see ``atomate2.common.flows.phonons``) ending with NAC applied."""
        flow = super().make(structure, prev_dir=prev_dir, born=born, epsilon_static=epsilon_static,
                            total_dft_energy_per_formula_unit=total_dft_energy_per_formula_unit,
                            supercell_matrix=supercell_matrix)
        return _attach_nac(flow) if self.apply_nac else flow
