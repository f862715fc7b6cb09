"""``macefield export`` hand-off files: structures, BORN, force constants, phonon data.

One sub-folder per successful task document, named after its structure id (or
formula + task id prefix), inside each requested folder:

* ``--structures DIR``: ``<name>.cif`` and ``<name>.vasp`` (POSCAR) of the structure the
  properties refer to (the relaxed one when a relaxation ran);
* ``--born DIR``: ``<name>/BORN`` (phonopy's format: factor, eps_inf, Z* of the
  symmetry-independent atoms);
* ``--force-constants DIR``: ``<name>/FORCE_CONSTANTS`` (phonopy's text format, full
  layout (N, N, 3, 3), eV/Angstrom^2) of the Gamma force constants, i.e. phonopy's force
  constants of the 1x1x1 supercell; with ``--supercell`` the exact supercell force
  constants of ``--model`` instead;
* ``--phonons DIR``: ``<name>/phonopy.yaml`` (unit cell, supercell, force constants,
  NAC: ``phonopy.load`` it), ``<name>/gamma.json`` (TO/LO frequencies along x, y, z,
  IR intensities) and, with ``--supercell``, ``band.yaml``-equivalent
  ``phonons.json`` (dispersion, DOS, full-BZ minimum) plus ``bands.png`` / ``ir.png``.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

logger = logging.getLogger(__name__)


def _name(doc: dict, used: set[str]) -> str:
    base = doc.get("structure_id") or doc.get("material_id") or doc.get("formula_pretty") or "structure"
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(base)).strip("._") or "structure"
    name, k = base, 1
    while name in used:
        k += 1
        name = f"{base}_{k}"
    used.add(name)
    return name


def export_files(
    docs: Iterable[dict],
    store: Any = None,
    structures: Optional[Path] = None,
    born: Optional[Path] = None,
    force_constants: Optional[Path] = None,
    phonons: Optional[Path] = None,
    supercell: Optional[Sequence[int]] = None,
    model: str = "default",
    device: str = "cpu",
) -> dict[str, int]:
    """Write the requested hand-off files for every successful document; returns counts per kind.

    Documents lacking what a kind needs (no Born charges, no force constants) are
    skipped with a warning naming them; nothing is written for failed documents.
    """
    from macefield_flows.interop import phonopy as ip

    counts = {"structures": 0, "born": 0, "force_constants": 0, "phonons": 0, "skipped": 0}
    used: set[str] = set()
    for folder in (structures, born, force_constants, phonons):
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
    for doc in docs:
        if doc.get("status") != "successful" or doc.get("structure") is None:
            counts["skipped"] += 1
            continue
        name = _name(doc, used)
        s = ip.doc_structure(doc)
        if structures is not None:
            s.to(filename=str(Path(structures) / f"{name}.cif"))
            s.to(filename=str(Path(structures) / f"{name}.vasp"), fmt="poscar")
            counts["structures"] += 1
        has_born = doc.get("born") is not None and doc.get("epsilon_static") is not None
        if born is not None:
            if has_born:
                (Path(born) / name).mkdir(exist_ok=True)
                ip.write_born(doc, Path(born) / name / "BORN")
                counts["born"] += 1
            else:
                logger.warning("%s: no Born charges / eps_inf, no BORN file", name)
        if force_constants is None and phonons is None:
            continue
        if supercell is None and store is not None and doc.get("force_constants") is None:
            from macefield_flows.stores.results import load_large_data

            doc = {**doc, "force_constants": load_large_data(store, doc)}
        if supercell is None and doc.get("force_constants") is None:
            logger.warning("%s: no force constants stored (and no --supercell), skipped", name)
            continue
        method = "gamma" if supercell is None else "engine"
        phonon = ip.build_phonopy(doc, supercell, model=model, force_constants=method, nac=has_born,
                                  device=device)
        if force_constants is not None:
            from phonopy.file_IO import write_FORCE_CONSTANTS

            (Path(force_constants) / name).mkdir(exist_ok=True)
            write_FORCE_CONSTANTS(np.asarray(phonon.force_constants),
                                  filename=str(Path(force_constants) / name / "FORCE_CONSTANTS"))
            counts["force_constants"] += 1
        if phonons is not None:
            _write_phonons(doc, phonon, Path(phonons) / name, supercell, model, device)
            counts["phonons"] += 1
    return counts


def _write_phonons(doc: dict, phonon: Any, folder: Path, supercell: Optional[Sequence[int]], model: str,
                   device: str) -> None:
    from macefield_flows.interop.phonons import (
        full_phonons,
        ir_spectrum,
        lo_to_splittings,
        plot_band_structure,
        plot_ir_spectrum,
    )

    folder.mkdir(exist_ok=True)
    phonon.save(str(folder / "phonopy.yaml"), settings={"force_constants": True})
    from macefield_flows.interop.phonopy import doc_structure

    phonon_structure = doc_structure(doc)
    gamma: dict[str, Any] = {"units": {"frequency": "THz", "ir_intensity": "e^2/amu"}}
    if phonon.nac_params is not None:
        gamma["lo_to"] = [x.model_dump() for x in lo_to_splittings(phonon, phonon_structure)]
        gamma["ir"] = ir_spectrum(phonon, np.asarray(doc["born"])).model_dump(
            include={"mode_frequencies_thz", "mode_intensities"})
    else:
        phonon.run_qpoints([[0, 0, 0]])
        gamma["frequencies_thz"] = phonon.qpoints.frequencies[0].tolist()
    (folder / "gamma.json").write_text(json.dumps(gamma, indent=1))
    if supercell is not None:
        full = full_phonons(doc, model, supercell_matrix=supercell, device=device)
        from monty.json import jsanitize

        data = jsanitize(full.model_dump(exclude={"task"}), strict=True, allow_bson=False)
        (folder / "phonons.json").write_text(json.dumps(data))
        plot_band_structure(full, folder / "bands.png")
        if full.ir_spectrum is not None:
            plot_ir_spectrum(full, folder / "ir.png")
