"""``macefield show ID``: one material's tensors and the tool's judgement of them."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import numpy as np
import typer

from macefield_flows.cli.common import console, user_errors

#: (document field, label with unit) of the tensors shown, in order
TENSORS = (
    ("epsilon_static", "eps_inf (electronic, clamped-ion)"),
    ("epsilon_ionic", "eps_ionic"),
    ("epsilon_total", "eps_0 (total)"),
    ("piezo_tensor", "piezo e total, C/m^2 (3x6 Voigt xx yy zz yz xz xy)"),
    ("piezo_electronic_tensor", "piezo e clamped-ion, C/m^2"),
    ("piezo_ionic_tensor", "piezo e ionic, C/m^2"),
    ("elastic_tensor", "elastic C relaxed-ion, GPa (6x6 Voigt)"),
    ("piezo_strain_tensor", "piezo d, pC/N (3x6 Voigt)"),
)
SCALARS = ("formula_pretty", "material_id", "structure_id", "input_source", "status", "failure_reason",
           "e_electronic", "e_ionic", "e_total", "n", "e_ij_max", "e_ij_max_longitudinal", "has_imaginary_modes",
           "min_frequency_full_bz_thz", "relaxed", "relax_converged", "duplicate_of", "task_id")


def find_docs(docs: list[dict], ident: str) -> list[dict]:
    """Documents whose task_id (or a prefix of >= 8 characters), structure_id or material_id is ``ident``."""
    exact = [d for d in docs if ident in (d.get("task_id"), d.get("structure_id"), d.get("material_id"))]
    if exact or len(ident) < 8:
        return exact
    return [d for d in docs if str(d.get("task_id") or "").startswith(ident)]


def _matrix(rows: Any) -> str:
    arr = np.asarray(rows, dtype=float)
    return "\n".join("  " + " ".join(f"{x:10.4f}" for x in row) for row in np.atleast_2d(arr))


def describe(doc: dict) -> str:
    """Plain text: identity, scalars, quality flags, Born charges and tensors (full values)."""
    lines = [f"{k}: {doc.get(k)}" for k in SCALARS if doc.get(k) is not None]
    quality = doc.get("quality") or {}
    if quality:
        lines.append(f"reliable: {quality.get('reliable')}")
        for f in quality.get("flags") or []:
            lines.append(f"  flag {f.get('name')}: {f.get('message')} (affects {', '.join(f.get('affects') or [])})")
    born = doc.get("born")
    if born is not None:
        species = [s["species"][0]["element"] for s in ((doc.get("structure") or {}).get("sites") or [])]
        lines.append("Born charges Z*[atom][i = field][j = displacement], e:")
        for k, z in enumerate(born):
            label = species[k] if k < len(species) else str(k)
            lines.append(f" atom {k} {label}:\n{_matrix(z)}")
    for key, label in TENSORS:
        if doc.get(key) is not None:
            lines.append(f"{label}:\n{_matrix(doc[key])}")
    return "\n".join(lines)


def show_command(
    ident: str = typer.Argument(..., help="task_id (or its first 8+ characters), structure_id or material_id."),
    store: Optional[str] = typer.Option(None, "--store", "-s", help="Store folder or mongodb:// URI."),
    fmt: str = typer.Option("text", "--format", "-f", help="text or json."),
) -> None:
    """One material's tensors (Born charges, eps, piezo, elastic) and its quality flags."""
    from macefield_flows.stores import get_jobstore, iter_task_docs

    with user_errors():
        if fmt not in ("text", "json"):
            raise ValueError(f"--format {fmt!r}: expected text or json")
        docs = find_docs(list(iter_task_docs(get_jobstore(store, read_only=True))), ident)
        if not docs:
            raise ValueError(f"no document with task_id, structure_id or material_id {ident!r} in the store")
        if fmt == "json":
            sys.stdout.write(json.dumps(docs if len(docs) > 1 else docs[0], default=str, indent=1) + "\n")
            return
        for i, doc in enumerate(docs):
            if i:
                sys.stdout.write("\n")
            sys.stdout.write(describe(doc) + "\n")
    console.file.flush()
