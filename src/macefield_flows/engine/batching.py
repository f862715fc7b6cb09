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
    """Relative cost of a graph and of a batch, in "atom units".

    ``cost(n_atoms, n_edges) = atoms + edge_weight * edges`` is the work (and memory)
    of one backward pass through a graph. A batch of total cost ``C`` whose graphs
    need at most ``p`` passes takes about ``p * (pass_overhead + C)``: every pass runs
    through the whole batch and pays a fixed dispatch overhead. ``pass_overhead``
    was measured on a 2-core CPU (a 32-channel model: about 13 ms per pass, 0.38 ms
    per unit, so about 35 units); on a GPU the overhead is larger relative to the work
    (500 units is an estimate, not yet measured on a GPU).
    """

    edge_weight: float = 0.05
    pass_overhead: float = 35.0

    def cost(self, n_atoms: int, n_edges: int) -> float:
        return n_atoms + self.edge_weight * n_edges

    def batch_time(self, passes: int, total_cost: float) -> float:
        """Relative wall time of a batch that needs ``passes`` backward passes."""
        return passes * (self.pass_overhead + total_cost)


def default_cost_model(device: torch.device) -> CostModel:
    """Pass overhead by device: kernel launches dominate small batches on a GPU."""
    return CostModel(pass_overhead=500.0 if device.type == "cuda" else 35.0)


def default_budget(device: torch.device, want_force_constants: bool) -> float:
    """Cost budget per batch: generous on GPUs (by free memory), modest on CPUs."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free / 2**20 / (8.0 if want_force_constants else 2.0)  # ~MB per unit of cost
        return float(max(64.0, budget))
    return 400.0


def pack_batches(
    costs: Sequence[float],
    passes: Sequence[int],
    budget: float,
    cost_model: CostModel = CostModel(),
) -> list[list[int]]:
    """Partition items into batches of total cost <= budget with the least modelled time.

    A batch needs as many backward passes as its most demanding graph (``passes``:
    base passes + 3 x force-constant rows), and each pass costs
    ``pass_overhead + batch cost`` (:meth:`CostModel.batch_time`). Items are sorted
    by (passes, cost) and split into contiguous batches by dynamic programming, so a
    few small graphs join a batch of larger pass count only when the overhead they
    save outweighs the passes they add. An item above the budget gets a batch of its own.
    """
    order = sorted(range(len(costs)), key=lambda i: (passes[i], costs[i]))
    n = len(order)
    if len(set(passes)) <= 1:  # equal passes: fewest contiguous batches = greedy (linear time)
        greedy: list[list[int]] = []
        total = 0.0
        for i in order:
            if greedy and total + costs[i] <= budget:
                greedy[-1].append(i)
                total += costs[i]
            else:
                greedy.append([i])
                total = costs[i]
        return greedy
    best = [0.0] + [float("inf")] * n  # best[k]: least time for the first k sorted items
    cut = [0] * (n + 1)
    for k in range(1, n + 1):
        p_max = passes[order[k - 1]]  # sorted: the last item of a segment has the most passes
        total = 0.0
        for j in range(k - 1, -1, -1):  # segment order[j:k]
            total += costs[order[j]]
            if total > budget and j < k - 1:
                break
            t = best[j] + cost_model.batch_time(p_max, total)
            if t < best[k]:
                best[k], cut[k] = t, j
    batches: list[list[int]] = []
    k = n
    while k > 0:
        batches.append(order[cut[k]:k])
        k = cut[k]
    return batches[::-1]


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
