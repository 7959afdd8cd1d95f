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


def test_a_last_batch_of_one_row_joins_the_one_before_and_batchnorm_trains():
    """A 33-row fold at batch 32 left one row for the last batch, and PyTorch's BatchNorm raised
    "Expected more than 1 value per channel when training" (a failed search trial on a table)."""
    from topnet.train import fit

    batches = TensorBatches(torch.arange(33), None, 32, seed=0)
    sizes = [len(xb) for xb, _ in batches.epoch(0)]
    assert sizes == [33] and len(batches) == 1
    assert sorted(torch.cat([xb for xb, _ in batches.epoch(1)]).tolist()) == list(range(33))
    assert [len(xb) for xb, _ in TensorBatches(torch.arange(34), None, 32).epoch(0)] == [32, 2]
    assert [len(xb) for xb, _ in TensorBatches(torch.arange(33), None, 32, drop_last=True).epoch(0)] == [32]
    assert [len(xb) for xb, _ in TensorBatches(torch.arange(1), None, 32).epoch(0)] == [1]
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x, y = torch.randn(65, 3), torch.randint(0, 2, (65,))
    history = fit(model, (x, y), epochs=2, batch_size=32, loss="cross_entropy", verbose=0)
    assert len(history.history["loss"]) == 2
