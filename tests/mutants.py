"""Deliberate faults ("mutants") that the test-suite must detect.

Each helper takes pytest's ``monkeypatch`` and injects one wrong piece of
physics or document assembly. Tests apply them and assert that the check
they guard then raises ``AssertionError``: a check that still passes under a
mutant cannot tell the right physics from the wrong one.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def wrong_index_born(monkeypatch: Any) -> None:
    """Contract the Born charges over the wrong index: ``Z[k, a, i]`` instead of ``Z[k, i, a]``.

    Patched where the physics modules take Z in (``check_born_charges`` of the
    dielectric and piezo modules), so eps_ionic, mode charges, IR intensities
    and the ionic piezo tensor all use ``Z^T`` per site.
    """
    from macefield_flows.physics import born, dielectric, piezo

    original = born.check_born_charges

    def transposed(z: Any) -> np.ndarray:
        return original(z).transpose(0, 2, 1)

    monkeypatch.setattr(dielectric, "check_born_charges", transposed)
    monkeypatch.setattr(piezo, "check_born_charges", transposed)


def _patch_assembly(monkeypatch: Any, edit: Callable[[dict], None]) -> None:
    from macefield_flows import screening

    original = screening._assemble

    def faulty(*args: Any, **kwargs: Any) -> dict:
        out = original(*args, **kwargs)
        edit(out)
        return out

    monkeypatch.setattr(screening, "_assemble", faulty)


def eps_total_as_static(monkeypatch: Any) -> None:
    """Store eps_0 (electronic + ionic) under ``epsilon_static`` (the eps_inf field)."""

    def edit(out: dict) -> None:
        out["epsilon_static"] = out["epsilon_total"]

    _patch_assembly(monkeypatch, edit)


def ionic_piezo_as_total(monkeypatch: Any) -> None:
    """Store the ionic piezo tensor as the total one."""

    def edit(out: dict) -> None:
        out["piezo_tensor"] = out["piezo_ionic_tensor"]

    _patch_assembly(monkeypatch, edit)


def clamped_elastic_as_relaxed(monkeypatch: Any) -> None:
    """Store the clamped-ion elastic tensor as the relaxed-ion one."""

    def edit(out: dict) -> None:
        out["elastic_tensor"] = out["elastic_tensor_clamped"]

    _patch_assembly(monkeypatch, edit)


DOCUMENT_FAULTS: dict[str, Callable[[Any], None]] = {
    "eps_total_as_static": eps_total_as_static,
    "ionic_piezo_as_total": ionic_piezo_as_total,
    "clamped_elastic_as_relaxed": clamped_elastic_as_relaxed,
    "wrong_index_born": wrong_index_born,
}
"""Fault name -> injector, for the document-level tests."""
