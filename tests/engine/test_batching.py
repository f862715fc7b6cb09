"""Batch packing, order restoration and out-of-memory back-off (no model needed)."""

from __future__ import annotations

import pytest
import torch

from macefield_flows.engine.batching import pack_batches, run_with_backoff


def test_pack_batches_groups_equal_pass_counts_under_budget():
    costs = [10, 40, 12, 35, 8, 30, 9, 100]
    passes = [6, 96, 6, 96, 6, 96, 6, 3]
    batches = pack_batches(costs, passes, budget=50)
    assert sorted(i for b in batches for i in b) == list(range(len(costs)))  # each item once
    for b in batches:
        assert len({passes[i] for i in b}) == 1  # a small graph never pays a big one's passes
        assert sum(costs[i] for i in b) <= 50 or len(b) == 1
    assert [7] in batches  # over budget: alone
    assert {0, 2, 4, 6} == set(next(b for b in batches if 0 in b))


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
