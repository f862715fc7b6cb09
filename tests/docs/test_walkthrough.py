"""docs/phonons_walkthrough.md runs as written (real phonopy, atomate2, emmet-core)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[2] / "docs" / "phonons_walkthrough.md"


def test_walkthrough_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 (our own documentation)
    assert (tmp_path / "BORN").exists() and (tmp_path / "mgo_bands.png").exists()
    lo_to = namespace["full"].lo_to_splittings[0]
    assert lo_to.lo_frequencies_thz[-1] > lo_to.to_frequencies_thz[-1] + 1.0
    f = np.sort(namespace["bs"].bands[:, namespace["gamma"]])
    assert f[-1] > f[-2] + 1.0  # atomate2's band structure has the LO-TO splitting
    assert namespace["screened"].min_frequency_full_bz_thz == namespace["full"].min_frequency_full_bz_thz
