"""Imports go one way (architecture.md): no torch or jobflow where they do not belong."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "macefield_flows"
INTEROP_PLAIN = ["interop/__init__.py", "interop/phonopy.py", "interop/emmet.py", "interop/phonons.py"]
NO_TORCH = ["units.py", "exceptions.py", "screening.py", "physics", "schemas", "references", "comparison",
            "interop"]
NO_JOBFLOW = [e for e in NO_TORCH if e != "interop"] + INTEROP_PLAIN + ["model", "engine", "calculator.py",
                                                                         "testing.py"]


def _imports(path: Path) -> set[str]:
    """Top-level package names imported anywhere in a module (lazy imports included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _files(entries: list[str]) -> list[Path]:
    out = []
    for entry in entries:
        path = SRC / entry
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


@pytest.mark.parametrize("path", _files(NO_TORCH), ids=lambda p: str(p.relative_to(SRC)))
def test_no_torch_outside_model_engine_training(path):
    assert not _imports(path) & {"torch", "e3nn", "mace"}, f"{path} imports torch/e3nn/mace"


@pytest.mark.parametrize("path", _files(NO_JOBFLOW), ids=lambda p: str(p.relative_to(SRC)))
def test_no_jobflow_below_jobs(path):
    assert not _imports(path) & {"jobflow", "jobflow_remote"}, f"{path} imports jobflow"
