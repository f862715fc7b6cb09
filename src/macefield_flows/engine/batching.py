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


def pack_batches(costs: Sequence[float], sizes: Sequence[int], budget: float) -> list[list[int]]:
    """First-fit-decreasing packing of items into batches of total cost <= budget.

    Items are grouped by size first (sorted by atom count), so graphs in one
    batch have similar sizes: the force-constant passes scale with the largest.
    An item above the budget gets a batch of its own.
    """
    order = sorted(range(len(costs)), key=lambda i: (sizes[i], costs[i]), reverse=True)
    batches: list[list[int]] = []
    totals: list[float] = []
    for i in order:
        for b, total in enumerate(totals):
            if total + costs[i] <= budget:
                batches[b].append(i)
                totals[b] += costs[i]
                break
        else:
            batches.append([i])
            totals.append(costs[i])
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
