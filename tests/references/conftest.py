"""Shared fixtures: skip cleanly when the DFPT reference files are absent."""

from __future__ import annotations

import pytest

from macefield_flows.references.paths import find_reference_dir


@pytest.fixture(scope="session")
def reference_dir():
    found = find_reference_dir()
    if found is None or not (found / "mp_piezo_dejong2015.jsonl.gz").exists():
        pytest.skip("DFPT reference files not found: set MACEFIELD_REFERENCE_DIR to the shared data's reference/ folder")
    return found
