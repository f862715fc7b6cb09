"""Three textbook crystals and each shipped model's predictions on them (regression values).

Regenerate after exporting or re-exporting a model: ``python -m tests.training.textbook``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

REGRESSION_FILE = Path(__file__).with_name("regression_values.json")


def textbook_crystals():
    from ase.build import bulk

    return {
        "NaCl-rocksalt": bulk("NaCl", "rocksalt", a=5.64),
        "MgO-rocksalt": bulk("MgO", "rocksalt", a=4.21),
        "ZnO-wurtzite": bulk("ZnO", "wurtzite", a=3.25, c=5.21, u=0.382),
    }


def predict(model) -> dict[str, dict]:
    """Energy (eV), forces (eV/A), stress (eV/A^3), Z* (e) and eps_inf at zero field, float64."""
    from macefield_flows.model.graph import atoms_to_graph, collate

    z = model.atomic_numbers.tolist()
    out = {}
    for name, atoms in textbook_crystals().items():
        data = collate([atoms_to_graph(atoms, z, float(model.r_max))], len(z), next(model.parameters()).dtype)
        res = model(data, compute_force=True, compute_stress=True, compute_bec=True,
                    compute_polarizability=True)
        out[name] = {
            "energy": float(res["energy"][0].detach()),
            "forces": res["forces"].detach().numpy().tolist(),
            "stress": res["stress"][0].detach().numpy().tolist(),
            "born_charges": res["born_charges"].detach().numpy().tolist(),
            "eps_electronic": res["epsilon_electronic"][0].detach().numpy().tolist(),
        }
    return out


if __name__ == "__main__":  # pragma: no cover
    from macefield_flows.model.io import load_model
    from macefield_flows.training.registry import REGISTRY_FILE, load_registry

    models = {}
    for name, entry in sorted(load_registry()["models"].items()):
        model = load_model(REGISTRY_FILE.parent / entry["file"], dtype="float64")
        models[name] = {"model": entry["file"], "sha256": model.model_info.sha256, "predictions": predict(model)}
        for k, v in models[name]["predictions"].items():
            zd = np.diagonal(np.array(v["born_charges"]), axis1=1, axis2=2)
            print(name, k, "E", round(v["energy"], 4), "Z* diag", np.round(zd, 3).tolist(),
                  "eps diag", np.round(np.diag(v["eps_electronic"]), 3).tolist())
    REGRESSION_FILE.write_text(json.dumps({"models": models}, indent=1) + "\n")
