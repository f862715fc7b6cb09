"""Full phonons of one structure: dispersion, DOS, stability over the BZ, LO-TO, IR spectrum.

Force constants of a supercell come from the engine (exact second derivatives,
:func:`macefield_flows.interop.phonopy.engine_force_constants`) or from phonopy's
finite displacements; phonopy does the Fourier interpolation, the NAC (Gonze) and
the DOS. The band path is seekpath's for the space group (Hinuma et al. 2017),
expressed in the reduced coordinates of OUR cell (seekpath standardises and may
rotate the cell; phonopy's own seekpath helper assumes the standard cell).

``full_phonons(doc, model)`` returns a :class:`~macefield_flows.schemas.phonon.FullPhononDoc`
whose ``task`` is the input document with ``min_frequency_full_bz_thz`` set.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from macefield_flows.interop.phonopy import _get, build_phonopy, doc_structure, reduced_q_direction
from macefield_flows.physics.ir import broadened_spectrum, mode_intensities
from macefield_flows.schemas.phonon import FullPhononDoc, IRSpectrum, LOTOSplitting

logger = logging.getLogger(__name__)

CARTESIAN_AXES = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def auto_supercell_matrix(structure: Any, min_length: float = 10.0) -> np.ndarray:
    """Diagonal supercell whose interplanar spacings along each cell vector are >= ``min_length`` (A)."""
    lattice = np.asarray(structure.lattice.matrix, dtype=float)
    spacing = 1.0 / np.linalg.norm(np.linalg.inv(lattice), axis=0)  # d_i = 1 / |b_i| (columns)
    return np.diag(np.maximum(1, np.ceil(min_length / spacing - 1e-8)).astype(int))


def band_path(structure: Any, npoints: int = 51, symprec: float = 1e-5
              ) -> tuple[list[np.ndarray], list[tuple[str, str]], list[bool], dict[str, np.ndarray]]:
    """seekpath's high-symmetry path in the reduced reciprocal coordinates of ``structure``.

    Returns
    -------
    segments : list of (npoints, 3) reduced q-points; labels : (start, end) per segment;
    connections : whether each segment continues into the next; points : label -> reduced q.
    """
    import seekpath

    lattice = np.asarray(structure.lattice.matrix, dtype=float)
    numbers = [site.specie.Z for site in structure]
    res = seekpath.get_path((lattice, structure.frac_coords, numbers), with_time_reversal=True, symprec=symprec)
    lat_sp = np.asarray(res["primitive_lattice"], dtype=float)
    rot = np.asarray(res.get("rotation_matrix", np.eye(3)), dtype=float)

    def ours(q_sp: Sequence[float]) -> np.ndarray:
        q_cart = rot.T @ (np.linalg.inv(lat_sp) @ np.asarray(q_sp, dtype=float))
        return lattice @ q_cart

    points = {name: ours(q) for name, q in res["point_coords"].items()}
    segments, labels, connections = [], [], []
    for i, (start, end) in enumerate(res["path"]):
        segments.append(np.linspace(points[start], points[end], npoints))
        labels.append((start, end))
        nxt = res["path"][i + 1][0] if i + 1 < len(res["path"]) else None
        connections.append(nxt == end)
    return segments, labels, connections, points


def lo_to_splittings(phonon: Any, structure: Any, directions: Sequence[Sequence[float]] = CARTESIAN_AXES
                     ) -> list[LOTOSplitting]:
    """TO (no NAC term) and LO (NAC along each Cartesian direction) frequencies at Gamma."""
    phonon.run_qpoints([[0, 0, 0]])
    to = np.sort(phonon.qpoints.frequencies[0])
    out = []
    for d in directions:
        q_red = reduced_q_direction(structure, d)
        phonon.run_qpoints([[0, 0, 0]], nac_q_direction=q_red)
        lo = np.sort(phonon.qpoints.frequencies[0])
        out.append(LOTOSplitting(direction=list(map(float, d)), q_direction_reduced=q_red.tolist(),
                                 to_frequencies_thz=to.tolist(), lo_frequencies_thz=lo.tolist(),
                                 max_splitting_thz=float(np.max(lo - to))))
    return out


def ir_spectrum(phonon: Any, born: np.ndarray, fwhm_cm1: float = 10.0) -> IRSpectrum:
    """IR spectrum from the Gamma TO modes of ``phonon`` (no NAC term) and ``born``."""
    phonon.run_qpoints([[0, 0, 0]], with_eigenvectors=True)
    freqs = phonon.qpoints.frequencies[0]
    vecs = phonon.qpoints.eigenvectors[0]
    inten = mode_intensities(born, vecs, np.asarray(phonon.primitive.masses))
    grid, absorbance = broadened_spectrum(freqs, inten, fwhm_cm1)
    return IRSpectrum(mode_frequencies_thz=freqs.tolist(), mode_intensities=inten.tolist(), fwhm_cm1=fwhm_cm1,
                      wavenumbers_cm1=grid.tolist(), absorbance=absorbance.tolist())


def _bandstructure(phonon: Any, structure: Any, npoints: int, has_nac: bool):
    from pymatgen.phonon.bandstructure import PhononBandStructureSymmLine

    segments, labels, connections, points = band_path(structure, npoints)
    phonon.run_band_structure(segments, path_connections=connections, labels=[x for pair in labels for x in pair])
    bands = phonon.get_band_structure_dict()
    qpts = np.concatenate(bands["qpoints"])
    freqs = np.concatenate(bands["frequencies"]).T  # (n_bands, n_q)
    names = {k: ("\\Gamma" if k == "GAMMA" else k) for k in points}
    labels_dict = {names[k]: v for k, v in points.items()}
    bs = PhononBandStructureSymmLine(qpts, freqs, structure.lattice.reciprocal_lattice, has_nac=has_nac,
                                     labels_dict=labels_dict, structure=structure)
    return bs, qpts, freqs


def full_phonons(
    doc: Any,
    model: Any = "default",
    supercell_matrix: Optional[Sequence] = None,
    min_length: float = 10.0,
    mesh: Sequence[int] | float = 20.0,
    nac: bool = True,
    force_constants: str = "engine",
    npoints: int = 51,
    tol_imaginary_thz: float = 0.1,
    fwhm_cm1: float = 10.0,
    device: str = "auto",
    dtype: str = "float64",
    head: Optional[str] = None,
    keep_force_constants: bool = False,
) -> FullPhononDoc:
    """Dispersion, DOS, full-BZ stability, LO-TO splittings and IR spectrum of one document.

    Parameters
    ----------
    doc : task document (object or dict) with ``structure`` (+ ``born`` /
        ``epsilon_static`` for the NAC and the IR spectrum).
    model : the model the force constants are computed with (path, name, "default", FieldMACE).
    supercell_matrix : default :func:`auto_supercell_matrix` with ``min_length`` (A).
    mesh : q-mesh (3 integers) or phonopy's length (A) for the DOS and the stability check.
    nac : apply the LO-TO correction when the document has Born charges.
    force_constants : "engine" (exact) or "displacements" (phonopy finite differences).
    tol_imaginary_thz : frequencies below ``-tol`` count as imaginary (THz).
    """
    from pymatgen.phonon.dos import PhononDos

    t0 = time.perf_counter()
    structure = doc_structure(doc)
    has_born = _get(doc, "born") is not None and _get(doc, "epsilon_static") is not None
    use_nac = nac and has_born
    sc = auto_supercell_matrix(structure, min_length) if supercell_matrix is None else supercell_matrix
    phonon = build_phonopy(doc, sc, model=model, force_constants=force_constants, nac=use_nac, device=device,
                           dtype=dtype, head=head)
    warnings = [] if use_nac or not nac else ["no Born charges / eps_inf: no LO-TO correction"]
    bs, path_q, path_f = _bandstructure(phonon, structure, npoints, use_nac)
    phonon.run_mesh(mesh, is_gamma_center=True)
    mesh_f, mesh_q = phonon.mesh.frequencies, phonon.mesh.qpoints
    phonon.run_total_dos()
    dos = PhononDos(phonon.total_dos.frequency_points, phonon.total_dos.dos)
    all_f = np.concatenate([path_f.T, mesh_f])
    all_q = np.concatenate([path_q, mesh_q])
    i_min = np.unravel_index(np.argmin(all_f), all_f.shape)
    f_min = float(all_f[i_min])
    born = np.asarray(_get(doc, "born"), dtype=float) if has_born else None
    task = _task_with_min_frequency(doc, f_min)
    return FullPhononDoc(
        material_id=_get(doc, "material_id"), structure_id=_get(doc, "structure_id"),
        formula_pretty=structure.composition.reduced_formula, structure=structure,
        supercell_matrix=np.asarray(phonon.supercell_matrix).astype(int).tolist(),
        primitive_matrix=np.eye(3).tolist(), force_constants_method=force_constants, has_nac=use_nac,
        born=born.tolist() if use_nac else None,
        epsilon_static=np.asarray(_get(doc, "epsilon_static")).tolist() if use_nac else None,
        phonon_bandstructure=bs, phonon_dos=dos, mesh=[int(x) for x in phonon.mesh_numbers],
        has_imaginary_modes=f_min < -tol_imaginary_thz, tol_imaginary_thz=tol_imaginary_thz,
        min_frequency_full_bz_thz=f_min, min_frequency_qpoint=np.asarray(all_q[i_min[0]]).tolist(),
        lo_to_splittings=lo_to_splittings(phonon, structure) if use_nac else [],
        ir_spectrum=ir_spectrum(phonon, born, fwhm_cm1) if has_born else None,
        force_constants=np.asarray(phonon.force_constants).tolist() if keep_force_constants else None,
        task=task, warnings=warnings, wall_time_s=time.perf_counter() - t0,
    )


def _task_with_min_frequency(doc: Any, f_min: float):
    """The task document with ``min_frequency_full_bz_thz`` set and its quality assessed again (None: not one)."""
    from macefield_flows.schemas.task import ElectricResponseTaskDoc, TaskStatus
    from macefield_flows.screening import with_full_bz_minimum

    if isinstance(doc, dict) and "provenance" in doc:
        try:
            doc = ElectricResponseTaskDoc.model_validate(doc)
        except ValueError:
            return None
    if not isinstance(doc, ElectricResponseTaskDoc):
        return None
    if doc.status != TaskStatus.SUCCESS or doc.quality is None:
        return doc.model_copy(update={"min_frequency_full_bz_thz": f_min})
    return with_full_bz_minimum(doc, f_min)


def plot_ir_spectrum(doc: FullPhononDoc | IRSpectrum, path: str | Path) -> Path:
    """IR absorption (broadened line and mode sticks) against wavenumber, saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from macefield_flows.units import THZ_TO_CM1

    ir = doc.ir_spectrum if isinstance(doc, FullPhononDoc) else doc
    if ir is None:
        raise ValueError("no IR spectrum (the document has no Born charges)")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ir.wavenumbers_cm1, ir.absorbance, lw=1.5)
    peak = max(ir.absorbance) or 1.0
    top = max(ir.mode_intensities) or 1.0
    for f, i in zip(ir.mode_frequencies_thz, ir.mode_intensities):
        if f > 0.1:
            ax.vlines(f * THZ_TO_CM1, 0, i / top * peak, colors="k", lw=0.8)
    ax.set_xlabel("wavenumber (cm$^{-1}$)")
    ax.set_ylabel("IR absorbance (e$^2$/amu per cm$^{-1}$)")
    ax.set_title(f"IR spectrum, FWHM {ir.fwhm_cm1:g} cm$^{{-1}}$")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_band_structure(doc: FullPhononDoc, path: str | Path) -> Path:
    """Phonon dispersion (pymatgen's PhononBSPlotter, THz) saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    from pymatgen.phonon.plotter import PhononBSPlotter

    path = Path(path)
    PhononBSPlotter(doc.phonon_bandstructure).save_plot(str(path), units="thz")
    return path
