"""Cheaper second derivatives through e3nn's generated code.

e3nn generates the forward code of ``TensorProduct`` and ``Linear`` with
``torch.fx`` and joins the outputs of its instructions (paths) with
``torch.cat``. The backward of ``cat`` returns *slices* of the incoming
gradient; when the first backward pass is recorded (``create_graph=True``, as
for every response property), each later pass through those slices runs
``slice_backward``, which allocates and zero-fills a tensor of the *full*
concatenated size for every slice: for the edge tensor product of a MACE layer
that is ``n_edges x (channels * sum(2l+1))`` written once per path per pass.
Profiling a batch of force-constant passes on a CPU put about 20 % of the time
in those ``fill_`` calls.

:func:`cat_split_backward` is the same concatenation with a backward that
returns ``torch.split`` pieces; their own backward (``SplitBackward0``) joins the
pieces with one ``cat``, so a pass writes the full tensor once instead of once
per path. Values and derivatives of every order are unchanged (tested to
machine precision against the stock code).

:func:`fx_codegen` builds e3nn modules as ``fx.GraphModule`` (not TorchScript)
so that :func:`patch_cat_backward` can rewrite them. Models the project builds
(:func:`macefield_flows.model.config.build_field_mace`) get both.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List

import torch
from torch import fx


class _CatSplitBackward(torch.autograd.Function):
    """``torch.cat`` whose backward is ``torch.split`` (differentiable to any order)."""

    @staticmethod
    def forward(ctx, dim: int, *tensors: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.dim = dim
        ctx.sizes = [t.shape[dim] for t in tensors]
        return torch.cat(tensors, dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        return (None, *torch.split(grad, ctx.sizes, ctx.dim))


def cat_split_backward(tensors: List[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """Drop-in for ``torch.cat(tensors, dim)`` with a split-based backward.

    Under TorchScript (e3nn scripts its modules when a model is pickled) it is
    plain ``torch.cat``, so pickled models stay loadable anywhere.
    """
    if torch.jit.is_scripting():
        return torch.cat(tensors, dim)
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0]
    dim = dim if dim >= 0 else tensors[0].dim() + dim
    return _CatSplitBackward.apply(dim, *tensors)


@contextmanager
def fx_codegen() -> Iterator[None]:
    """Build e3nn modules as ``torch.fx`` graph modules (restores the previous setting)."""
    import e3nn

    previous = e3nn.get_optimization_defaults()["jit_script_fx"]
    e3nn.set_optimization_defaults(jit_script_fx=False)
    try:
        yield
    finally:
        e3nn.set_optimization_defaults(jit_script_fx=previous)


def patch_cat_backward(module: torch.nn.Module) -> int:
    """Replace ``torch.cat`` by :func:`cat_split_backward` in every fx submodule.

    Returns the number of replaced calls (0 for modules built as TorchScript).
    """
    replaced = 0
    for sub in module.modules():
        if not isinstance(sub, fx.GraphModule):
            continue
        changed = False
        for node in sub.graph.nodes:
            if node.op == "call_function" and node.target is torch.cat:
                node.target = cat_split_backward
                changed = True
                replaced += 1
        if changed:
            sub.recompile()
    return replaced
