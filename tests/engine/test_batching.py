"""Batch packing, order restoration and out-of-memory back-off (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from macefield_flows.engine.batching import CostModel, pack_batches, run_with_backoff


def _time(batches, costs, passes, model):
    return sum(model.batch_time(max(passes[i] for i in b), sum(costs[i] for i in b)) for b in batches)


def test_pack_batches_keeps_small_graphs_out_of_expensive_batches():
    model = CostModel(pass_overhead=5.0)
    costs = [10, 40, 12, 35, 8, 30, 9, 100]
    passes = [6, 96, 6, 96, 6, 96, 6, 3]
    batches = pack_batches(costs, passes, budget=50, cost_model=model)
    assert sorted(i for b in batches for i in b) == list(range(len(costs)))  # each item once
    for b in batches:
        assert sum(costs[i] for i in b) <= 50 or len(b) == 1
    assert [7] in batches  # over budget: alone
    assert {0, 2, 4, 6} == set(next(b for b in batches if 0 in b))  # 6-pass graphs together
    assert all(len({passes[i] for i in b}) == 1 for b in batches)  # 96 passes would cost more


def test_pack_batches_merges_when_overhead_dominates_and_is_optimal():
    # tiny graphs: one pass of overhead costs more than a few extra passes of work
    model = CostModel(pass_overhead=35.0)
    costs = [2.0, 2.0, 3.0, 3.0, 4.0]
    passes = [13, 16, 19, 19, 22]
    batches = pack_batches(costs, passes, budget=400, cost_model=model)
    assert batches == [[0, 1, 2, 3, 4]]
    # against every contiguous partition of the sorted order (brute force)
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = 7
        costs = list(rng.uniform(1, 60, n))
        passes = list(rng.integers(10, 60, n))
        # varied pass counts (dynamic programme), then equal ones (greedy path)
        for p in (passes, [int(passes[0])] * n):
            got = pack_batches(costs, p, budget=100, cost_model=model)
            assert _time(got, costs, p, model) == pytest.approx(_best_time(costs, p, model, 100))


def _best_time(costs, passes, model, budget):
    order = sorted(range(len(costs)), key=lambda i: (passes[i], costs[i]))
    return min(
        _time(parts, costs, passes, model)
        for mask in range(2 ** (len(costs) - 1))
        for parts in [_split(order, mask)]
        if all(sum(costs[i] for i in b) <= budget or len(b) == 1 for b in parts)
    )


def _split(order, mask):
    parts, cur = [], [order[0]]
    for k in range(1, len(order)):
        if mask >> (k - 1) & 1:
            parts.append(cur)
            cur = []
        cur.append(order[k])
    return parts + [cur]


def test_backoff_splits_on_out_of_memory_and_isolates_failures():
    calls: list[list[int]] = []

    def run(batch):
        calls.append(list(batch))
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        if 5 in batch and len(batch) == 1:
            raise ValueError("bad structure 5")
        if 5 in batch:
            raise ValueError("batch with 5")
        return [i * 10 for i in batch]

    out = run_with_backoff(list(range(8)), run)
    done = {i: r for sub, res in out if not isinstance(res, BaseException) for i, r in zip(sub, res)}
    failed = [sub for sub, res in out if isinstance(res, BaseException)]
    assert failed == [[5]]
    assert done == {i: i * 10 for i in range(8) if i != 5}
    assert calls[0] == list(range(8))


def test_non_oom_error_of_a_single_item_is_returned_not_raised():
    (sub, res), = run_with_backoff([3], lambda b: (_ for _ in ()).throw(RuntimeError("nan")))
    assert sub == [3] and isinstance(res, RuntimeError)
    with pytest.raises(AssertionError):
        assert not isinstance(res, RuntimeError)
