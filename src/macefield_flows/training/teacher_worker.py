"""Teacher worker: energies, forces and stresses from SevenNet (or CHGNet) in a separate venv.

Run by the venv's python (never imported by the project's runtime, which
cannot import ``sevenn``: it needs e3nn >= 0.5 while mace-torch pins 0.4.4)::

    /work/venvs/sevenn/bin/python teacher_worker.py --model 7net-0

Protocol (JSON lines on stdin/stdout): one request per line,
``{"numbers": [..], "positions": [[x, y, z], ..] (A), "cell": [[..], ..] (A)}``
(``"batch": [request, ..]`` for several structures), answered by one line
``{"energy": eV, "forces": [[..]] eV/A, "stress": [[..]] eV/A^3 (ASE sign,
3x3)}`` (``{"batch": [..]}`` for a batch) or ``{"error": "..."}``. The first
line written is ``{"ready": true, "teacher": "..."}``. An empty line or EOF
ends the worker. Only numpy, ase and the teacher package are imported here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def _calculator(model: str):
    if model.startswith("7net"):
        from sevenn.calculator import SevenNetCalculator

        return SevenNetCalculator(model, device="cpu"), f"SevenNet {model} (sevenn wheel)"
    if model == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(use_device="cpu"), "CHGNet 0.3.0 (chgnet wheel)"
    raise SystemExit(f"error: unknown teacher model {model!r}")


def _one(calc, req: dict) -> dict:
    import numpy as np
    from ase import Atoms

    atoms = Atoms(numbers=req["numbers"], positions=req["positions"], cell=req["cell"], pbc=True)
    atoms.calc = calc
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces(), dtype=float)
    voigt = np.asarray(atoms.get_stress(voigt=True), dtype=float)  # ASE: xx yy zz yz xz xy, eV/A^3
    xx, yy, zz, yz, xz, xy = voigt
    stress = [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]
    return {"energy": energy, "forces": forces.tolist(), "stress": stress}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="7net-0")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = sys.stdout  # the protocol's channel; anything the teacher prints goes to stderr
    sys.stdout = sys.stderr
    calc, name = _calculator(args.model)
    out.write(json.dumps({"ready": True, "teacher": name}) + "\n")
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        t0 = time.time()
        try:
            req = json.loads(line)
            if "batch" in req:
                reply = {"batch": [_one(calc, r) for r in req["batch"]]}
            else:
                reply = _one(calc, req)
            reply["seconds"] = time.time() - t0
        except Exception as exc:  # noqa: BLE001 (reported to the caller, which raises)
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
