"""Batch packing by a cost model, order restoration and out-of-memory back-off."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import torch

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class CostModel:
    """Relative cost of a graph: ``atoms + edge_weight * edges`` (per evaluation).

    Second derivatives cost roughly 3x per extra backward pass; the memory
    budget is expressed in the same units as the cost.
    """

    edge_weight: float = 0.05

    def cost(self, n_atoms: int, n_edges: int) -> float:
        return n_atoms + self.edge_weight * n_edges


def default_budget(device: torch.device, want_force_constants: bool) -> float:
    """Cost budget per batch: generous on GPUs (by free memory), modest on CPUs."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free / 2**20 / (8.0 if want_force_constants else 2.0)  # ~MB per unit of cost
        return float(max(64.0, budget))
    return 400.0 if not want_force_constants else 200.0


def pack_batches(costs: Sequence[float], passes: Sequence[int], budget: float) -> list[list[int]]:
    """Pack items into batches of total cost <= budget, grouping items of equal pass count.

    Every backward pass runs through the whole batch, and a batch needs as many
    Hessian passes as its most demanding graph (``passes``: 3 x rows of force
    constants, or any per-item count). Items are therefore sorted by pass count and
    packed contiguously (next fit), so a batch never pays a large graph's passes
    for its small neighbours. An item above the budget gets a batch of its own.
    """
    order = sorted(range(len(costs)), key=lambda i: (passes[i], costs[i]))
    batches: list[list[int]] = []
    total = 0.0
    for i in order:
        if batches and total + costs[i] <= budget and passes[batches[-1][0]] == passes[i]:
            batches[-1].append(i)
            total += costs[i]
        else:
            batches.append([i])
            total = costs[i]
    return batches


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA / CPU allocator out-of-memory errors."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def run_with_backoff(
    batch: list[int], run: Callable[[list[int]], T], on_oom: Callable[[], None] | None = None
) -> list[tuple[list[int], T | BaseException]]:
    """Run ``run(batch)``; on out-of-memory split the batch in halves and retry.

    Returns (sub-batch, result or the exception of a single item that still failed).
    """
    try:
        return [(batch, run(batch))]
    except Exception as exc:  # noqa: BLE001 (dispatch on the kind of error below)
        if not is_out_of_memory(exc) or len(batch) == 1:
            if len(batch) == 1:
                return [(batch, exc)]
            # a non-OOM error in a batch: isolate the culprit by splitting
            logger.debug("batch of %d failed (%s); isolating", len(batch), exc)
        else:
            logger.warning("out of memory on a batch of %d graphs; splitting", len(batch))
            if on_oom is not None:
                on_oom()
        half = len(batch) // 2
        return run_with_backoff(batch[:half], run, on_oom) + run_with_backoff(batch[half:], run, on_oom)
