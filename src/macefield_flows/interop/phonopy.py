"""phonopy hand-off: NAC parameters, BORN files, force constants, ``Phonopy`` objects.

Conventions (checked against phonopy 4.10 in tests/interop):

* Born charges: our ``Z*[k][i][j]`` (i = field, j = displacement) is phonopy's
  ``nac_params["born"][k][i][j]`` as is; ``epsilon_static`` (ELECTRONIC eps_inf)
  is ``nac_params["dielectric"]``.
* ``nac_params["factor"]`` converts the non-analytical term to phonopy's
  eV/Angstrom^2 force-constant units; for eV and Angstrom it is ``e^2/(4 pi eps0)``
  in eV*Angstrom. phonopy's own value (Hartree * Bohr = 14.39965 eV*Angstrom) is
  passed (``nac_factor()``); ``macefield_flows.units.COULOMB_EV_A`` is the CODATA 2018
  value (relative difference 5e-7).
* Force constants: phonopy's full layout is ``fc[k, l, a, b]``, shape
  (N_super, N_super, 3, 3), eV/Angstrom^2; the compact layout keeps the rows of the
  primitive atoms only, ``fc[p2s_map]``, shape (N_prim, N_super, 3, 3). Our
  (3N, 3N) Gamma Hessian is site-major ``K[3k+a, 3l+b]``: it must be reshaped (phonopy
  accepts a 2-D array and fails later), and it equals phonopy's force constants of
  the 1x1x1 supercell only (exact phonons at Gamma, not a dispersion).
* ``nac_q_direction`` of phonopy (the direction of approach to Gamma) is in
  reciprocal-lattice (reduced) coordinates, not Cartesian: :func:`reduced_q_direction`
  converts a Cartesian direction such as [1, 0, 0].
* The unit cell handed to phonopy is the document's ``structure`` and serves as
  phonopy's primitive cell (``primitive_matrix="P"``; phonopy 4 reads None as "auto"), so Born charges and site
  order are those of the document.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from macefield_flows.engine.supercell import hessian_to_pair_layout, pair_layout_to_hessian
from macefield_flows.exceptions import MacefieldError
from macefield_flows.schemas.quality import property_reliable

logger = logging.getLogger(__name__)

_HINT = "phonopy is needed: pip install 'macefield-flows[phonons]'"

__all__ = ["nac_factor", "nac_params", "phonopy_atoms", "write_born", "read_born", "born_lines",
           "to_phonopy_force_constants", "from_phonopy_force_constants", "compact_force_constants",
           "build_phonopy", "reduced_q_direction", "engine_force_constants", "displacement_force_constants",
           "hessian_to_pair_layout", "pair_layout_to_hessian"]


def _phonopy():
    try:
        import phonopy
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(_HINT) from exc
    return phonopy


def nac_factor() -> float:
    """phonopy's NAC unit factor for eV and Angstrom, e^2/(4 pi eps0) in eV*Angstrom (14.39965)."""
    _phonopy()
    from phonopy.physical_units import get_physical_units

    units = get_physical_units()
    return float(units.Hartree * units.Bohr)


def _get(doc: Any, key: str) -> Any:
    return doc.get(key) if isinstance(doc, dict) else getattr(doc, key, None)


def _name(doc: Any) -> str:
    return str(_get(doc, "material_id") or _get(doc, "structure_id") or _get(doc, "formula_pretty")
               or "document")


def doc_structure(doc: Any):
    """The pymatgen Structure the document's properties refer to (relaxed when relaxed)."""
    from pymatgen.core import Structure

    s = _get(doc, "structure")
    if isinstance(s, dict):
        s = Structure.from_dict(s)
    if s is None:
        raise MacefieldError(f"{_name(doc)}: the document has no structure")
    return s


def nac_params(doc: Any) -> dict[str, Any]:
    """phonopy ``nac_params`` from a task document (object or stored dict).

    Returns
    -------
    dict with ``born`` (N, 3, 3) e, [k][field i][displacement j], site order of
    ``doc.structure``; ``dielectric`` (3, 3) eps_inf (electronic, NOT eps_0);
    ``factor`` float, eV*Angstrom (phonopy's e^2/(4 pi eps0)).

    Raises
    ------
    MacefieldError
        Failed document, or no Born charges / eps_inf, or shapes that disagree.
    """
    name = _name(doc)
    status = _get(doc, "status")
    if getattr(status, "value", status) not in (None, "successful"):
        raise MacefieldError(f"{name}: failed document ({_get(doc, 'failure_reason')}), no NAC parameters")
    born, eps = _get(doc, "born"), _get(doc, "epsilon_static")
    if born is None or eps is None:
        raise MacefieldError(f"{name}: the document has no born / epsilon_static (run a DielectricMaker)")
    born, eps = np.asarray(born, dtype=float), np.asarray(eps, dtype=float)
    n = len(doc_structure(doc))
    if born.shape != (n, 3, 3) or eps.shape != (3, 3):
        raise MacefieldError(f"{name}: born {born.shape} / epsilon_static {eps.shape}, expected ({n}, 3, 3) / (3, 3)")
    for prop in ("born", "epsilon_static"):
        if _get(doc, "quality") is not None and not property_reliable(doc, prop):
            logger.warning("%s: %s is flagged unreliable (doc.quality); NAC uses it anyway", name, prop)
    return {"born": born, "dielectric": eps, "factor": nac_factor()}


def phonopy_atoms(structure: Any):
    """PhonopyAtoms of a pymatgen Structure (site order kept, ASE's masses as the engine uses).

    phonopy's own mass table differs from ASE's in the 5th digit; setting the engine's
    masses keeps phonopy's frequencies equal to the task document's.
    """
    _phonopy()
    from ase.data import atomic_masses
    from pymatgen.io.phonopy import get_phonopy_structure

    cell = get_phonopy_structure(structure)
    cell.masses = atomic_masses[np.asarray(cell.numbers)]
    return cell


def born_lines(params: dict[str, Any], structure: Any, symprec: float = 1e-5) -> list[str]:
    """Lines of a BORN file: factor; eps_inf (9 numbers); Z* of the symmetry-independent atoms.

    phonopy reads one Z* line per independent atom of the primitive cell, in the
    order of ``Symmetry(primitive).get_independent_atoms()``, and regenerates the others
    by symmetry; that is the order written here.
    """
    _phonopy()
    from phonopy.structure.symmetry import Symmetry

    cell = phonopy_atoms(structure)
    independent = Symmetry(cell, symprec=symprec).get_independent_atoms()
    born = np.asarray(params["born"], dtype=float)
    lines = [f"{params.get('factor', nac_factor()):.8f}",
             " ".join(f"{x:15.10f}" for x in np.asarray(params["dielectric"], dtype=float).ravel())]
    lines += [" ".join(f"{x:15.10f}" for x in born[i].ravel()) for i in independent]
    return lines


def write_born(doc: Any, path: str | Path, symprec: float = 1e-5) -> Path:
    """Write the BORN file (phonopy's format) of a task document; returns the path.

    The file is only faithful when the Born charges obey the crystal symmetry
    (documents from the Makers are symmetrised by default): a warning reports the
    largest difference between our Z* and phonopy's symmetry expansion of the file.
    """
    params = nac_params(doc)
    structure = doc_structure(doc)
    path = Path(path)
    path.write_text("\n".join(born_lines(params, structure, symprec)) + "\n")
    back = read_born(path, structure, symprec=symprec)
    dev = float(np.max(np.abs(back["born"] - params["born"])))
    if dev > 1e-4:
        logger.warning("%s: Born charges deviate from the crystal symmetry by up to %.3g e; the BORN "
                       "file keeps the independent atoms only", _name(doc), dev)
    return path


def read_born(path: str | Path, structure: Any, symprec: float = 1e-5) -> dict:
    """Read a BORN file with phonopy's own parser for ``structure`` (the primitive cell).

    Returns phonopy's NAC dict: ``born`` (N, 3, 3) e expanded to every atom by
    symmetry, ``dielectric`` (3, 3), ``factor`` (eV*Angstrom) when the file has one.
    """
    _phonopy()
    from phonopy.file_IO import parse_BORN

    params = parse_BORN(phonopy_atoms(structure), symprec=symprec, is_symmetry=True, filename=str(path))
    return {k: np.asarray(v) if k in ("born", "dielectric") else v for k, v in params.items()}


def to_phonopy_force_constants(force_constants: Any) -> np.ndarray:
    """Our (3N, 3N) Hessian (or a (N, 3, N, 3) view) -> phonopy's full (N, N, 3, 3), eV/Angstrom^2."""
    k = np.asarray(force_constants, dtype=float)
    if k.ndim == 4 and k.shape[1] == 3 and k.shape[3] == 3:
        k = k.reshape(3 * k.shape[0], 3 * k.shape[0])
    return hessian_to_pair_layout(k)


def from_phonopy_force_constants(fc: Any, phonon: Any = None) -> np.ndarray:
    """phonopy force constants (full, or compact with ``phonon``) -> our (3N, 3N) site-major Hessian."""
    fc = np.asarray(fc, dtype=float)
    if fc.shape[0] != fc.shape[1]:
        if phonon is None:
            raise ValueError(f"compact force constants {fc.shape} need the Phonopy object to expand")
        from phonopy.harmonic.force_constants import compact_fc_to_full_fc

        fc = compact_fc_to_full_fc(phonon.primitive, fc)
    return pair_layout_to_hessian(fc)


def compact_force_constants(fc_full: Any, phonon: Any) -> np.ndarray:
    """Full (N_s, N_s, 3, 3) -> phonopy's compact layout (N_p, N_s, 3, 3): rows of ``p2s_map``."""
    fc_full = np.asarray(fc_full, dtype=float)
    return np.ascontiguousarray(fc_full[phonon.primitive.p2s_map])


def reduced_q_direction(structure: Any, cartesian: Sequence[float]) -> np.ndarray:
    """Cartesian direction -> phonopy's reduced ``nac_q_direction`` (q_cart = sum_j q_j b_j).

    With the lattice vectors as rows of ``L``, the reciprocal vectors are the columns of
    ``L^-1`` (no 2 pi), so ``q_red = L q_cart`` (normalised; only the direction matters).
    """
    lattice = np.asarray(getattr(getattr(structure, "lattice", None), "matrix", None)
                         if hasattr(structure, "lattice") else structure.cell, dtype=float)
    q = lattice @ np.asarray(cartesian, dtype=float)
    return q / np.linalg.norm(q)


def _supercell_matrix(supercell_matrix: Any) -> np.ndarray:
    m = np.eye(3, dtype=int) if supercell_matrix is None else np.asarray(supercell_matrix)
    m = np.diag(m) if m.shape == (3,) else m
    if m.shape != (3, 3) or not np.allclose(m, np.round(m)) or abs(np.linalg.det(m)) < 0.5:
        raise ValueError(f"supercell_matrix={supercell_matrix!r}: expected 3 integers or an integer 3x3 "
                         "matrix with non-zero determinant")
    return np.round(m).astype(int)


def build_phonopy(
    doc: Any,
    supercell_matrix: Optional[Sequence] = None,
    model: Any = None,
    force_constants: str = "engine",
    nac: bool = True,
    device: str = "auto",
    dtype: str = "float64",
    head: Optional[str] = None,
    symprec: float = 1e-5,
    displacement: float = 0.01,
):
    """A ``Phonopy`` object with force constants and NAC from our results.

    Parameters
    ----------
    doc : task document (object or dict) with ``structure`` (and ``born`` /
        ``epsilon_static`` when ``nac``), or a pymatgen Structure when ``nac=False``.
    supercell_matrix : 3 integers or a 3x3 integer matrix (default identity).
    model : model for the supercell force constants (path, registry name, "default",
        FieldMACE); default: the document's provenance model name is NOT trusted to
        be a file, so give it explicitly unless ``force_constants="gamma"``.
    force_constants : "engine" (exact second derivatives of the supercell, default),
        "displacements" (phonopy's finite displacements of ``displacement`` Angstrom,
        forces from the engine) or "gamma" (the document's (3N, 3N) Gamma force
        constants; only with the identity supercell: exact at Gamma, no dispersion).
    nac : set ``nac_params`` from the document (LO-TO splitting).
    """
    _phonopy()
    from phonopy import Phonopy
    from pymatgen.core import Structure

    structure = doc if isinstance(doc, Structure) else doc_structure(doc)
    m = _supercell_matrix(supercell_matrix)
    phonon = Phonopy(phonopy_atoms(structure), supercell_matrix=m, primitive_matrix="P", symprec=symprec)
    if force_constants == "gamma":
        k = _get(doc, "force_constants")
        if k is None:
            raise MacefieldError(f"{_name(doc)}: the document carries no force_constants")
        if not np.array_equal(m, np.eye(3, dtype=int)):
            raise ValueError("force_constants='gamma' (the unit-cell Hessian) needs the identity supercell")
        phonon.force_constants = to_phonopy_force_constants(k)
    elif force_constants == "engine":
        phonon.force_constants = engine_force_constants(phonon, model, device, dtype, head, symprec)
    elif force_constants == "displacements":
        phonon.force_constants = displacement_force_constants(phonon, model, displacement, device, dtype, head)
    else:
        raise ValueError(f"{force_constants=}, expected 'engine', 'displacements' or 'gamma'")
    if nac:
        phonon.nac_params = nac_params(doc)
    return phonon


def _supercell_atoms(cell: Any):
    from ase import Atoms

    return Atoms(symbols=list(cell.symbols), cell=np.asarray(cell.cell), scaled_positions=cell.scaled_positions,
                 pbc=True)


def engine_force_constants(phonon: Any, model: Any, device: str = "auto", dtype: str = "float64",
                           head: Optional[str] = None, symprec: float = 1e-5) -> np.ndarray:
    """Exact force constants of ``phonon.supercell`` (full layout, eV/Angstrom^2) by the engine."""
    from macefield_flows.engine.supercell import supercell_force_constants

    if model is None:
        raise ValueError("a model is needed for supercell force constants (path, name or 'default')")
    return supercell_force_constants(_supercell_atoms(phonon.supercell), model, device=device, dtype=dtype,
                                     head=head, symprec=symprec, label=f"supercell of {phonon.unitcell.formula}"
                                     if hasattr(phonon.unitcell, "formula") else None)


def displacement_force_constants(phonon: Any, model: Any, distance: float = 0.01, device: str = "auto",
                                 dtype: str = "float64", head: Optional[str] = None) -> np.ndarray:
    """phonopy's finite-displacement force constants, forces of the displaced supercells by the engine.

    The reference route (``phonon.generate_displacements`` + ``produce_force_constants``);
    returns the full layout (N, N, 3, 3), eV/Angstrom^2, and leaves ``phonon`` with it.
    """
    from macefield_flows.engine.evaluate import evaluate

    if model is None:
        raise ValueError("a model is needed for the displaced supercells (path, name or 'default')")
    phonon.generate_displacements(distance=distance)
    cells = [_supercell_atoms(c) for c in phonon.supercells_with_displacements]
    results = evaluate(cells, model, properties=("energy", "forces"), device=device, dtype=dtype, head=head)
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise MacefieldError(f"displaced supercells failed: {bad[:3]}")
    phonon.forces = np.array([r.forces for r in results])
    phonon.produce_force_constants()
    return np.asarray(phonon.force_constants)
