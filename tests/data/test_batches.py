"""TensorBatches: index-slice batching, per-epoch order from the seed, sharding."""
import torch

from topnet.data.batches import TensorBatches


def test_same_seed_and_epoch_same_order_other_epoch_other_order():
    a = TensorBatches(torch.arange(50), None, 8, seed=3)
    b = TensorBatches(torch.arange(50), None, 8, seed=3)
    assert torch.equal(a.order(2), b.order(2)) and not torch.equal(a.order(2), a.order(3))
    assert sorted(a.order(1).tolist()) == list(range(50))


def test_resume_from_a_batch_gives_the_rest_of_the_epoch():
    batches = TensorBatches(torch.arange(50), torch.arange(50), 8, seed=0)
    full = [xb for xb, _ in batches.epoch(4)]
    rest = [xb for xb, _ in batches.epoch(4, start_batch=3)]
    assert all(torch.equal(a, b) for a, b in zip(full[3:], rest)) and len(rest) == len(full) - 3


def test_shards_partition_each_global_batch():
    x = torch.arange(48)
    whole = [xb for xb, _ in TensorBatches(x, None, 12, seed=1).epoch(0)]
    shards = [[xb for xb, _ in TensorBatches(x, None, 12, seed=1, num_shards=3, shard=r).epoch(0)] for r in range(3)]
    for index, batch in enumerate(whole):
        parts = torch.cat([shards[r][index] for r in range(3)])
        assert sorted(parts.tolist()) == sorted(batch.tolist())
        assert all(len(shards[r][index]) == 4 for r in range(3))


def test_dict_inputs_and_targets_are_sliced_together():
    x = {"a": torch.arange(10), "b": torch.arange(10) * 10}
    (xb, yb), = list(TensorBatches(x, {"t": torch.arange(10) * 100}, 10, seed=0).epoch(0))
    assert torch.equal(xb["b"], xb["a"] * 10) and torch.equal(yb["t"], xb["a"] * 100)
