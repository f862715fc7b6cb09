"""Screen the DFPT reference test split with a model and compare with DFPT.

Steps (each a plain `macefield` command, so the same works on a cluster store):

1. pick the test-split materials of the Petretto (Born charges + eps_inf) and
   Petousis (eps_inf, eps_ionic, eps_total) sets, up to ``--max-atoms`` sites;
2. write them as pymatgen JSON files (ids in ``structure.properties``);
3. ``macefield screen`` them into a store (ions relaxed at the DFT cell);
4. ``macefield export`` the predictions and ``macefield compare --split test``.

Usage::

    python workflows/compare_test_split.py [--model PATH] [--limit 40] [--max-atoms 8] [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from pymatgen.core import Structure

from macefield_flows.references.ingest import iter_reference_docs

DATASETS = ("petretto2018_dfpt_becs_epsinf", "mp_dielectric_petousis2017")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--limit", type=int, default=40, help="materials per dataset")
    parser.add_argument("--max-atoms", type=int, default=8)
    parser.add_argument("--output", type=Path, default=Path("compare-test-split"))
    args = parser.parse_args()
    inputs = args.output / "structures"
    inputs.mkdir(parents=True, exist_ok=True)
    n = 0
    for dataset in DATASETS:
        taken = 0
        for doc in iter_reference_docs(dataset):
            if doc.split != "test" or doc.nsites > args.max_atoms or taken >= args.limit:
                continue
            structure = Structure.from_dict(doc.structure)
            structure.properties.update(structure_id=doc.reference_id,
                                        material_id=doc.material_id)
            (inputs / f"{doc.reference_id.replace('/', '_')}.json").write_text(json.dumps(structure.as_dict()))
            taken += 1
            n += 1
    print(f"{n} test-split structures written to {inputs}")
    store = args.output / "store"
    cli = [sys.executable, "-m", "macefield_flows"]
    subprocess.run([*cli, "screen", str(inputs), "--model", args.model, "--store", str(store)], check=True)
    predictions = args.output / "predictions.json"
    subprocess.run([*cli, "export", str(predictions), "--store", str(store)], check=True)
    subprocess.run([*cli, "compare", "--predictions", str(predictions), "--split", "test",
                    "--datasets", ",".join(DATASETS), "--output", str(args.output / "report")], check=True)


if __name__ == "__main__":
    main()
