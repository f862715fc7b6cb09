"""Build the reference sets shipped in ``data/references/`` from the full shared files.

Only the sets whose licence allows redistribution are written (see
``data/references/README.md``): the Materials Project dielectric set of Petousis
et al., the piezoelectric set of de Jong et al. (with its tensor frames), the
Born-charge set of Petretto et al., the ferroelectric paths of Smidt et al. and
the phonopy example BORN files. The MACE-Field paper subset and the paper's own
files never ship (no licence; evaluation only through ``MACEFIELD_REFERENCE_DIR``).

Format (one for every set): gzipped JSON Lines, one row per line, with the field
names of the source files (documented in the README). Compaction only:

* structures become minimal pymatgen dicts (``lattice.matrix`` rounded to 1e-6 A,
  per site ``species`` and ``abc`` rounded to 1e-7; no ``xyz``/``label``/derived
  lattice parameters), still read by ``Structure.from_dict``;
* tensors and other floats are rounded to a fixed number of decimals per field
  (:data:`DECIMALS`, far below the sources' own precision of 1e-4 to 1e-5);
* bulky fields derivable from others or irrelevant to comparisons are dropped
  (:data:`DROP`: Petousis' per-entry INCAR, whose settings are in the README).

Row order and row count are those of the source, so the material-level split
indices of ``splits.json`` stay valid. The output is deterministic (gzip mtime 0,
no file name in the header): ``manifest.json`` records each file's sha256 and a
test checks them.

Usage::

    python workflows/build_shipped_references.py --source /path/to/shared/data [--output data/references]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

#: shipped dataset name -> (source file under reference/, shipped file name)
SHIPPED = {
    "mp_dielectric_petousis2017": ("mp_dielectric_petousis2017.jsonl.gz", "mp_dielectric_petousis2017.jsonl.gz"),
    "mp_piezo_dejong2015": ("mp_piezo_dejong2015.jsonl.gz", "mp_piezo_dejong2015.jsonl.gz"),
    "petretto2018_dfpt_becs_epsinf": ("petretto2018_dfpt_becs_epsinf_e3nn.jsonl.gz",
                                      "petretto2018_dfpt_becs_epsinf_e3nn.jsonl.gz"),
    "mp_ferroelectric_paths_smidt2020": ("mp_ferroelectric_paths_smidt2020.jsonl.gz",
                                         "mp_ferroelectric_paths_smidt2020.jsonl.gz"),
    "phonopy_born_examples": ("phonopy_born_examples.json", "phonopy_born_examples.jsonl.gz"),
}

#: decimals kept per field (default for other floats: 8)
DECIMALS = {
    "eps_electronic": 6, "eps_ionic": 6, "eps_total": 6, "born_charges": 6, "piezo_e_voigt_C_m2": 6,
    "ieee_rotation": 9, "structure_tensor_frame_rotation_from_ieee": 9, "v_max": 6,
    "polarization_same_branch_abc_uC_cm2": 5, "polarization_quantum_abc_uC_cm2": 5, "Ps_vector_abc_uC_cm2": 5,
    "energy_per_atom_eV": 7, "total_magnetization": 5, "volume_A3": 5,
    "symdev_structure": 6, "symdev_structure_ieee": 6, "symdev_conventional_standard": 6,
}
DROP = {"mp_dielectric_petousis2017": {"vasp_incar"}}
STRUCTURE_KEYS = {"structure", "structure_ieee", "structure_conventional_standard", "structure_tensor_frame",
                  "structure_primitive"}

LICENCES = {
    "mp_dielectric_petousis2017": {
        "licence": "CC BY 4.0 (Materials Project data); redistributed via matminer (BSD-style) / mlrap (MIT)",
        "citation": "I. Petousis et al., Sci. Data 4, 160134 (2017), doi:10.1038/sdata.2016.134",
        "method": "VASP DFPT (LEPSILON, IBRION=8), PBE, ENCUT 600 eV",
        "units": {"eps_*": "dimensionless, 3x3 in the frame of structure", "band_gap_eV": "eV",
                  "volume_A3": "A^3", "structure": "A"},
    },
    "mp_piezo_dejong2015": {
        "licence": "CC BY 4.0 (Materials Project data); redistributed via matminer (BSD-style licence, LBNL)",
        "citation": "M. de Jong et al., Sci. Data 2, 150053 (2015), doi:10.1038/sdata.2015.53",
        "method": "VASP DFPT, PBE; total (relaxed-ion) piezoelectric stress tensor",
        "units": {"piezo_e_voigt_C_m2": "C/m^2, 3x6 Voigt xx,yy,zz,yz,xz,xy, frame: frames_symmetry_consistent",
                  "eij_max_C_m2": "C/m^2", "structure*": "A"},
    },
    "petretto2018_dfpt_becs_epsinf": {
        "licence": "MIT (redistribution by shiangfang/e3nn-models); underlying data CC BY 4.0 (Sci. Data)",
        "citation": "G. Petretto et al., Sci. Data 5, 180065 (2018), doi:10.1038/sdata.2018.65",
        "method": "ABINIT DFPT, PBEsol (Petretto et al. 2018 phonon database)",
        "units": {"born_charges": "e, Z*[atom][i=field][j=displacement]", "eps_electronic": "dimensionless",
                  "structure": "A"},
    },
    "mp_ferroelectric_paths_smidt2020": {
        "licence": "MIT (blondegeek/ferroelectric_search_site, T. Smidt 2019)",
        "citation": "T. E. Smidt et al., Sci. Data 7, 72 (2020), doi:10.1038/s41597-020-0407-9",
        "method": "VASP Berry phase, PBE(+U), 10 frames per non-polar -> polar path",
        "units": {"polarization_*_uC_cm2": "uC/cm^2 along lattice directions a, b, c",
                  "energy_per_atom_eV": "eV/atom", "structures": "A"},
    },
    "phonopy_born_examples": {
        "licence": "BSD-3-Clause (phonopy examples, A. Togo)",
        "citation": "A. Togo, J. Phys. Soc. Jpn. 92, 012001 (2023); phonopy example BORN files",
        "method": "VASP DFPT (LEPSILON)",
        "units": {"born_charges": "e", "eps_electronic": "dimensionless", "structure_primitive": "A"},
    },
}


def compact_structure(d: dict[str, Any]) -> dict[str, Any]:
    """Minimal pymatgen Structure dict (readable by ``Structure.from_dict``)."""
    return {
        "@module": "pymatgen.core.structure", "@class": "Structure",
        "lattice": {"matrix": [[round(float(x), 6) + 0.0 for x in row] for row in d["lattice"]["matrix"]]},
        "sites": [{"species": [{"element": sp["element"], "occu": sp["occu"]} for sp in site["species"]],
                   "abc": [round(float(x), 7) + 0.0 for x in site["abc"]]} for site in d["sites"]],
    }


def _round(value: Any, decimals: int) -> Any:
    if isinstance(value, float):
        return round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    if isinstance(value, list):
        return [_round(v, decimals) for v in value]
    if isinstance(value, dict):
        return {k: _round(v, decimals) for k, v in value.items()}
    return value


def compact_row(dataset: str, row: dict[str, Any]) -> dict[str, Any]:
    """One source row with structures compacted, floats rounded and dropped fields removed."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in DROP.get(dataset, ()):
            continue
        if key in STRUCTURE_KEYS and isinstance(value, str):  # phonopy examples store repr strings
            raise ValueError(f"{dataset}: field {key} is not a dict")
        if key in STRUCTURE_KEYS and value:
            out[key] = compact_structure(value)
        elif key == "structures":
            out[key] = [compact_structure(s) for s in value]
        else:
            out[key] = _round(value, DECIMALS.get(key, 8))
    return out


def _gzip_lines(rows: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        for row in rows:
            gz.write((json.dumps(row, separators=(",", ":")) + "\n").encode())
    return buf.getvalue()


def _read_source(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    data = json.loads(path.read_text())
    return list(data.values()) if isinstance(data, dict) else data


def _row_split(dataset: str, row: dict[str, Any]) -> str | None:
    from macefield_flows.references.splits import material_split

    formula = row.get("reduced_formula")
    sg = row.get("space_group")
    if dataset == "mp_ferroelectric_paths_smidt2020" or formula is None or sg is None:
        return None  # splits of these are computed from the structure at read time
    return material_split(formula, sg)


def build(source: Path, output: Path) -> dict[str, Any]:
    """Write the shipped files, ``splits.json`` and ``manifest.json``; return the manifest.

    Parameters
    ----------
    source
        The shared data root (holding ``reference/`` and ``splits/``).
    output
        Destination folder (``data/references``).
    """
    output.mkdir(parents=True, exist_ok=True)
    splits_in = json.loads((source / "splits" / "splits.json").read_text())
    manifest: dict[str, Any] = {
        "format": "gzipped JSON Lines, one row per line, field names of the source files; structures as minimal "
                  "pymatgen dicts (Angstrom); see README.md",
        "built_by": "workflows/build_shipped_references.py",
        "splits": "splits.json",
        "datasets": {},
    }
    splits_out = {"rule": splits_in["rule"], "datasets": {}}
    for dataset, (src_name, out_name) in SHIPPED.items():
        rows = [compact_row(dataset, r) for r in _read_source(source / "reference" / src_name)]
        blob = _gzip_lines(rows)
        (output / out_name).write_bytes(blob)
        counts: dict[str, int] = {}
        for r in rows:
            s = _row_split(dataset, r)
            if s:
                counts[s] = counts.get(s, 0) + 1
        manifest["datasets"][dataset] = {
            "file": out_name, "source_file": f"reference/{src_name}", "entries": len(rows),
            "bytes": len(blob), "sha256": hashlib.sha256(blob).hexdigest(), "split_counts": counts,
            **LICENCES[dataset],
        }
        if dataset in splits_in["datasets"]:
            info = dict(splits_in["datasets"][dataset])
            info["file"] = out_name
            splits_out["datasets"][dataset] = info
    (output / "splits.json").write_text(json.dumps(splits_out, separators=(",", ":")) + "\n")
    (output / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="shared data root (reference/, splits/)")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "references")
    args = parser.parse_args()
    manifest = build(args.source, args.output)
    total = sum(d["bytes"] for d in manifest["datasets"].values())
    for name, d in manifest["datasets"].items():
        print(f"{name:36s} {d['entries']:5d} rows {d['bytes'] / 1e6:6.2f} MB")
    print(f"total {total / 1e6:.2f} MB in {args.output}")


if __name__ == "__main__":
    main()
