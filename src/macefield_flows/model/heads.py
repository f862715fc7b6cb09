"""Readout heads: which head a model is evaluated with when none is given.

The rule is mace-torch's (``MACECalculator`` of mace-torch 0.3.16, which the
authors' ``MACEField`` calculator inherits):

1. a head given explicitly is used (an unknown name is an error here; mace
   would warn and silently fall back to the *last* head);
2. no head and a single-head model: that head;
3. no head and a multi-head model: the head named ``"default"``, compared
   case-insensitively (the first such head); an :class:`ImplicitHeadWarning`
   says which head was taken;
4. no head, several heads and none named ``"default"``: an error listing the
   heads (as mace).

So a user who omits the head gets the physics the published model gives in
the authors' own calculator, and is told so.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Optional, Sequence

from macefield_flows.exceptions import MacefieldError

logger = logging.getLogger(__name__)


class ImplicitHeadWarning(UserWarning):
    """A multi-head model is used without an explicit head (the default head is taken)."""


class HeadError(MacefieldError, ValueError):
    """Unknown head, or no head given for a multi-head model with no ``"default"`` head."""


def model_heads(model: Any) -> list[str]:
    """Head names of a model (``["Default"]`` for a model without a ``heads`` attribute)."""
    heads = getattr(model, "heads", None)
    return list(heads) if heads else ["Default"]


def resolve_head(model_or_heads: Any, head: Optional[str] = None, warn: bool = True) -> str:
    """Name of the head to evaluate (rules in the module docstring).

    Parameters
    ----------
    model_or_heads : a model (its ``heads``) or a sequence of head names.
    head : the head asked for, or None.
    warn : emit :class:`ImplicitHeadWarning` when a multi-head model gets its default head.

    Raises
    ------
    HeadError
        unknown head; no head and no ``"default"`` head in a multi-head model.
    """
    heads = (list(model_or_heads) if isinstance(model_or_heads, (list, tuple))
             else model_heads(model_or_heads))
    if head is not None:
        if head not in heads:
            raise HeadError(f"head={head!r} not in the model's heads {heads}")
        return head
    if len(heads) == 1:
        return heads[0]
    defaults = [h for h in heads if h.lower() == "default"]
    if not defaults:
        raise HeadError(f"this model has several heads {heads} and none is named 'default': "
                        "pass the head to use (head=..., CLI --head)")
    if warn:
        warnings.warn(f"multi-head model {heads} used without an explicit head: using the default "
                      f"head {defaults[0]!r} (as mace's calculator does); pass head=... to choose",
                      ImplicitHeadWarning, stacklevel=3)
    logger.info("no head given: using %r of %s", defaults[0], heads)
    return defaults[0]


def head_index(model_or_heads: Any, head: Optional[str] = None, warn: bool = True) -> int:
    """Index (into ``model.heads``) of :func:`resolve_head`'s head."""
    heads: Sequence[str] = (list(model_or_heads) if isinstance(model_or_heads, (list, tuple))
                            else model_heads(model_or_heads))
    return list(heads).index(resolve_head(list(heads), head, warn=warn))


def single_head_model(model: Any, head: str) -> Any:
    """A single-head FieldMACE made of ``head``'s weights of a multi-head ``model``.

    The backbone is cut by mace-torch's own ``remove_pt_head`` (it slices the
    readouts, E0s and scale/shift of the head), an implementation independent
    of ours; the field blocks are shared by all heads and copied as they are.
    Used to test that evaluating head h of a multi-head model equals the
    single-head model of h. Returns a float64 model in eval mode.
    """
    import torch
    from mace.modules import ScaleShiftMACE
    from mace.tools.scripts_utils import remove_pt_head

    from macefield_flows.model.config import build_field_mace

    h = resolve_head(model, head)
    index = model_heads(model).index(h)
    cls, previous = model.__class__, torch.get_default_dtype()
    try:  # mace checks the class name; its copy is built in the default dtype: use float64
        model.__class__ = ScaleShiftMACE
        torch.set_default_dtype(torch.float64)
        backbone = remove_pt_head(model, h)
    finally:
        model.__class__ = cls
        torch.set_default_dtype(previous)
    config = dict(model.json_config, heads=[h])
    for key in ("atomic_energies", "atomic_inter_scale", "atomic_inter_shift"):
        value = config[key]
        if isinstance(value, list) and len(value) == len(model_heads(model)):
            config[key] = value[index]
    single = build_field_mace(config, dtype=torch.float64)
    target = single.state_dict()
    state = {k: v.reshape(target[k].shape) for k, v in backbone.state_dict().items() if k in target}
    state.update({k: v for k, v in model.state_dict().items()
                  if k.startswith(("field_feats", "field_linear"))})
    single.load_state_dict(state, strict=True)
    return single.eval()
