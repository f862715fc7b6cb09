"""Pickled models written by older mace-torch releases and by the published MACE-Field classes.

A pickled MACE model is a whole ``torch.nn.Module``: unpickling rebuilds it with the
classes of the mace that is installed *now* (0.3.16) and the attributes and tensors
the *old* code wrote. This module turns such an object into the JSON config and
state dict of :class:`~macefield_flows.model.field_mace.FieldMACE`, handling each
known version difference explicitly, or refuses it with one error that names the
class, the version or commit, and why.

Fixtures (in ``tests/model/fixtures/old_versions``, written by the old code, with the
outputs the old code computed; files of mace-torch 0.3.14-0.3.16 have the current
layout and load directly):

====================================================  ==============================  =========
class (as pickled)                                    written by                      status
====================================================  ==============================  =========
``mace.modules.models.ScaleShiftMACE``                mace-torch 0.3.4 ... 0.3.13     loads
``mace.modules.models.MACE``                          mace-torch 0.3.13               loads
``mace.modules.extensions.MACEField``                 ACEsuit/mace PR 1177 (9d8b25de) loads
``mace.modules.models.ScaleShiftFieldMACE``           ACEsuit/mace c307e8d9 (07/2025) loads
``mace.modules.models.ScaleShiftFieldMACE``           ACEsuit/mace 75792b8a (06/2025) refused
``mace.modules.models.ScaleShiftFieldMACE``           ACEsuit/mace 449bd74c (01/2025) refused
====================================================  ==============================  =========

Version differences handled here:

* ``weights_{i}_zeroed`` / ``weights_max_zeroed`` buffers of the symmetric
  contractions: added in mace-torch 0.3.14 (ACEsuit/mace a387f602, May 2025) and
  absent from files written before (0.3.13 and older, and the July-2025 field
  branch). They only record which weights the new constructor zeroes; the forward
  pass does not read them. Missing ones are set to the values the installed mace's
  constructor gives the same architecture, and the stored weights (and stored U
  matrices) are loaded unchanged, so the old forward pass is reproduced exactly.
* plain ``MACE`` has no scale/shift block: it maps onto a scale of 1 and a shift
  of 0, which is the same energy (``E0 + sum of readouts``).
* ``ScaleShiftFieldMACE`` of July 2025 (a subclass of ``MACE`` with its own
  scale/shift block, field coupling ``h <- h - W (h x E)`` after every product
  but the last) is the design of the MACE-Field preprint and of our FieldMACE.
* ``ScaleShiftFieldMACE`` of May-June 2025 (12f2bf40 ... 75792b8a) couples the
  field through per-layer charge/dipole readouts (``field_feats`` are
  ``LinearReadoutBlock``s, no ``field_linear``) and uses absolute positions
  ``q r`` in the coupling: a different, pre-paper architecture, not translation
  invariant in a periodic cell. It is refused, as is the January-2025 design
  (449bd74c, no field blocks: the field enters as extra edge attributes).
* ``ScaleShiftFieldMACE`` of the mace-field branch up to December 2025 (19ea39d4)
  has the July-2025 design (same field blocks and outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from mace.modules.models import ScaleShiftMACE

from macefield_flows.exceptions import ModelLoadError

#: the published MACE-Field classes, by the (module, name) they were pickled under
FIELD_CLASSES = {
    ("mace.modules.extensions", "MACEField"): "ACEsuit/mace pull request 1177 (head 9d8b25de)",
    ("mace.modules.mace_field", "MACEField"): "ACEsuit/mace MACE-Field branch",
    ("mace.modules.models", "ScaleShiftFieldMACE"): "ACEsuit/mace MACE-Field branch of 2025",
}
#: plain MACE classes of mace-torch whose pickles load
PLAIN_CLASSES = {"ScaleShiftMACE", "MACE"}
#: the FieldMACE classes (ours) that may appear in a pickle
OWN_CLASSES = {"FieldMACE"}

_ZEROED_SUFFIXES = ("_zeroed",)


@dataclass
class LegacySource:
    """What an unpickled model was and what was done to load it (goes into ModelInfo.metadata)."""

    source_class: str
    layout: str
    adaptations: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        return {"source_class": self.source_class, "source_layout": self.layout,
                "adaptations": list(self.adaptations)}


_STAND_INS: dict[tuple[str, str], type] = {}


def stand_in_class(module: str, name: str) -> type | None:
    """Class that receives the unpickled state of a published MACE-Field model, or None.

    The published classes need not be importable (they are not in mace-torch
    0.3.16): their instances are rebuilt as a ``ScaleShiftMACE`` subclass that
    remembers the original name; only its state dict and attributes are read,
    it is never run.
    """
    if (module, name) not in FIELD_CLASSES:
        return None
    if (module, name) not in _STAND_INS:
        _STAND_INS[(module, name)] = type(
            f"Published{name}", (ScaleShiftMACE,),
            {"__module__": __name__, "source_class": f"{module}.{name}",
             "__doc__": f"stand-in for {module}.{name} (state only, never run)"},
        )
    return _STAND_INS[(module, name)]


def source_class_name(obj: torch.nn.Module) -> str:
    """``module.Class`` the object was pickled as."""
    cls = type(obj)
    return getattr(cls, "source_class", f"{cls.__module__}.{cls.__name__}")


def is_published_field_class(obj: torch.nn.Module) -> bool:
    return hasattr(type(obj), "source_class")


def _refuse_pre_paper_field(obj: torch.nn.Module, cls_name: str, path: Path) -> None:
    """Refuse the designs of the MACE-Field branch that precede the paper's (before July 2025)."""
    supported = ("Supported: ScaleShiftFieldMACE of July 2025 (c307e8d9) and later, MACEField of "
                 "pull request 1177 (9d8b25de).")
    if not hasattr(obj, "field_feats"):
        raise ModelLoadError(
            f"{path}: {cls_name} has no field blocks (field_feats): it is the first MACE-Field "
            "design of January 2025 (ACEsuit/mace commit 449bd74c), where the field enters as "
            "extra edge attributes, a different architecture from the published MACE-Field; it "
            f"cannot be loaded. {supported}"
        )
    feats = obj.field_feats
    readout_style = any(type(block).__name__.endswith("ReadoutBlock") or hasattr(block, "linear")
                        for block in feats)
    if readout_style or (len(feats) > 0 and not hasattr(obj, "field_linear")):
        raise ModelLoadError(
            f"{path}: {cls_name} is the pre-paper MACE-Field design of May-June 2025 "
            "(ACEsuit/mace commits 12f2bf40 to 75792b8a): its field blocks are per-layer "
            "charge/dipole readouts (field_feats = LinearReadoutBlock, no field_linear) coupled "
            "to absolute positions, a different architecture from the published MACE-Field "
            "(h <- h - W(h x E)), not translation invariant in a periodic cell; it cannot be "
            f"loaded. {supported}"
        )


def _layout(obj: torch.nn.Module, state: dict[str, torch.Tensor]) -> str:
    contractions = [k for k in state if ".symmetric_contractions.contractions." in k
                    and "U_matrix_" in k]
    has_zeroed = any(k.endswith(_ZEROED_SUFFIXES) for k in state)
    if contractions and not has_zeroed:
        return "mace-torch <= 0.3.13 layout (no weights_*_zeroed buffers)"
    return "mace-torch >= 0.3.14 layout"


def adapt_pickled_model(
    obj: torch.nn.Module, path: Path
) -> tuple[torch.nn.Module, LegacySource]:
    """Check that ``obj`` is a loadable MACE / MACE-Field model and present it as a
    ``ScaleShiftMACE`` for config extraction.

    Returns the (possibly modified, it is a throwaway unpickled object) module and a
    :class:`LegacySource`. Raises :class:`ModelLoadError` naming the class, the
    version or commit and the reason when the model is not supported.
    """
    cls_name = source_class_name(obj)
    short = cls_name.rsplit(".", 1)[-1]
    if is_published_field_class(obj):
        _refuse_pre_paper_field(obj, cls_name, path)
    elif short not in PLAIN_CLASSES | OWN_CLASSES:
        # e.g. MACELES, PolarMACE, AtomicDipolesMACE, EnergyDipolesMACE: parts FieldMACE lacks
        raise ModelLoadError(
            f"{path}: pickled {cls_name} is not a supported model class (its outputs or "
            "blocks, e.g. long-range, charge or dipole heads, have no FieldMACE counterpart); "
            "supported: ScaleShiftMACE and MACE (mace-torch 0.3.x), FieldMACE, the published "
            f"MACE-Field classes ({', '.join(sorted(f'{m}.{n}' for m, n in FIELD_CLASSES))})"
        )
    if not hasattr(obj, "products") or not hasattr(obj, "interactions"):
        raise ModelLoadError(f"{path}: pickled object of type {cls_name} is not a MACE model")
    source = LegacySource(source_class=cls_name, layout=_layout(obj, obj.state_dict()))
    if not hasattr(obj, "scale_shift"):
        from mace.modules.blocks import ScaleShiftBlock

        dtype = obj.atomic_energies_fn.atomic_energies.dtype
        previous = torch.get_default_dtype()
        try:
            torch.set_default_dtype(dtype)
            obj.scale_shift = ScaleShiftBlock(scale=1.0, shift=0.0)
        finally:
            torch.set_default_dtype(previous)
        if type(obj) is not ScaleShiftMACE and issubclass(ScaleShiftMACE, type(obj)):
            obj.__class__ = ScaleShiftMACE  # MACE + scale/shift block: what config extraction reads
        source.adaptations.append("plain MACE: scale 1, shift 0 (same energy)")
    return obj, source


def complete_state_dict(
    state: dict[str, torch.Tensor], model: torch.nn.Module, source: LegacySource
) -> dict[str, torch.Tensor]:
    """Add the buffers that newer mace expects and older files lack (see module docstring).

    Only ``*_zeroed`` flags of the symmetric contractions are filled, from the
    freshly built ``model`` of the same architecture; any other missing key is
    left missing so that the caller reports it.
    """
    target = model.state_dict()
    filled = {k: target[k].clone() for k in target
              if k not in state and k.endswith(_ZEROED_SUFFIXES)
              and ".symmetric_contractions." in k}
    if filled:
        source.adaptations.append(
            f"added {len(filled)} weights_*_zeroed buffers (absent before mace-torch 0.3.14) "
            "as the installed mace sets them for this architecture; weights kept as written"
        )
    return {**state, **filled}
