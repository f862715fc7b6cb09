"""Screen the test split of every shipped DFPT set with a model and compare with DFPT.

Works on a fresh clone: the references are the shipped sets in ``data/references``
(``MACEFIELD_REFERENCE_DIR`` is not needed). Steps, each a plain ``macefield``
command so that the same works on a cluster store:

1. pick the ``test``-split materials of the Petretto (Born charges, eps_inf),
   Petousis (eps_inf, eps_ionic, eps_total) and de Jong (piezo) sets with at most
   ``--max-atoms`` sites, at most ``--limit`` per set (file order);
2. write them as pymatgen JSON files, with the reference id as ``structure_id``
   and the MP id as ``material_id``;
3. ``macefield screen`` them into a store (ions relaxed at the DFT cell);
4. ``macefield compare --store STORE --split test``: Markdown + HTML report,
   parity plots and the per-property table (unreliable values left out and counted),
   once against all shipped sets and the benchmark set (``report/all``) and once
   per shipped set (``report/<dataset>``, ``--datasets <dataset> --no-benchmark``).

The sizes are chosen so that the default run takes well under 15 minutes on one
CPU core (``nice``-d). Usage::

    python workflows/compare_test_split.py [--model default] [--limit 50] [--max-atoms 8] [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from pymatgen.core import Structure

from macefield_flows.references.ingest import iter_reference_docs

DATASETS = ("petretto2018_dfpt_becs_epsinf", "mp_dielectric_petousis2017", "mp_piezo_dejong2015")


def write_inputs(folder: Path, limit: int, max_atoms: int) -> dict[str, int]:
    """Write the selected test-split structures; return the count per dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for dataset in DATASETS:
        taken = 0
        for doc in iter_reference_docs(dataset):
            if taken >= limit:
                break
            if doc.split != "test" or doc.nsites > max_atoms:
                continue
            structure = Structure.from_dict(doc.structure)
            structure.properties.update(structure_id=doc.reference_id,
                                        **({"material_id": doc.material_id} if doc.material_id else {}))
            name = doc.reference_id.replace("/", "_").replace(":", "__")
            (folder / f"{name}.json").write_text(json.dumps(structure.as_dict()))
            taken += 1
        counts[dataset] = taken
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--limit", type=int, default=50, help="materials per dataset")
    parser.add_argument("--max-atoms", type=int, default=8)
    parser.add_argument("--output", type=Path, default=Path("compare-test-split"))
    parser.add_argument("--skip-screen", action="store_true", help="only compare what the store holds")
    args = parser.parse_args()
    inputs = args.output / "structures"
    store = args.output / "store"
    cli = [sys.executable, "-m", "macefield_flows"]
    if not args.skip_screen:
        counts = write_inputs(inputs, args.limit, args.max_atoms)
        print(f"test-split structures written to {inputs}: {counts}")
        t0 = time.perf_counter()
        subprocess.run([*cli, "screen", str(inputs), "--model", args.model, "--store", str(store)], check=True)
        print(f"screening took {time.perf_counter() - t0:.0f} s")
    runs = [("all", [])] + [(d, ["--datasets", d, "--no-benchmark"]) for d in DATASETS]
    for name, extra in runs:
        done = subprocess.run([*cli, "compare", "--store", str(store), "--split", "test", *extra,
                               "--output", str(args.output / "report" / name)], capture_output=True, text=True)
        print(f"\n## {name}\n\n{done.stdout}{done.stderr}")
        if done.returncode:
            raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
