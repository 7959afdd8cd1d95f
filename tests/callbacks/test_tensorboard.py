"""``TensorBoard``: what it writes, read back with TensorBoard's own EventAccumulator."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

import topnet  # noqa: E402
from topnet.callbacks.tensorboard import TensorBoard  # noqa: E402


def load(path):
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0, "images": 0})
    return accumulator.Reload()


def small_convnet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.ReLU(), nn.Linear(8, 3))


def images(n=24):
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=generator), torch.randint(0, 3, (n,), generator=generator)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("tb")
    x, y = images()
    callback = TensorBoard(log_dir, histogram_freq=1, write_images=True, update_freq=2, embeddings_freq=1,
                           embeddings_data=(x[:10], y[:10]), hparams={"lr": 0.01, "optimizer": "adam"})
    topnet.fit(small_convnet(), (x, y), validation_data=images(12), epochs=2, batch_size=8, lr=0.01,
               metrics=["accuracy"], callbacks=[callback], verbose=0, device="cpu")
    return log_dir


def test_epoch_scalars_follow_keras_layout(run):
    train, validation = load(run / "train"), load(run / "validation")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(train.Tags()["scalars"])
    assert {"epoch_loss", "epoch_accuracy"} <= set(validation.Tags()["scalars"])
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1]
    assert train.Scalars("epoch_learning_rate")[0].value == pytest.approx(0.01)


def test_batch_scalars_every_update_freq_steps(run):
    assert [e.step for e in load(run / "train").Scalars("batch_loss")] == [2, 4, 6]


def test_histograms_of_weights_gradients_and_activations(run):
    tags = set(load(run / "train").Tags()["histograms"])
    for tag in ("weights/0.weight", "weights/5.bias", "gradients/0.weight", "gradients/5.weight",
                "activations/0", "activations/4", "activations/5"):
        assert tag in tags, (tag, sorted(tags))
    assert {"images/0.weight", "images/3.weight"} <= set(load(run / "train").Tags()["images"])


def test_graph_is_written(run):
    train = load(run / "train")
    assert train.Tags()["graph"]
    assert any("Conv" in node.op or "conv" in node.name.lower() for node in train.Graph().node)


def test_projector_config_and_embeddings(run):
    config = (run / "projector_config.pbtxt").read_text()
    assert config.count("embeddings {") == 2 and "metadata_path" in config and "sprite" in config
    tensors = sorted(run.glob("*/penultimate/tensors.tsv"))
    assert len(tensors) == 2
    rows = tensors[0].read_text().splitlines()
    assert len(rows) == 10 and len(rows[0].split("\t")) == 8  # the 8 features feeding the last Linear


def test_hparams_with_final_metrics(run):
    root = load(run)
    assert set(root.PluginTagToContent("hparams")) == {
        "_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    assert {"hparam/val_loss", "hparam/accuracy"} <= set(root.Tags()["scalars"])


def test_named_inputs_skip_the_graph_with_a_warning(tmp_path):
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 3), nn.Linear(1, 3)

        def forward(self, left, right):
            return self.a(left) + self.b(right)

    x = {"left": torch.randn(8, 2), "right": torch.randn(8, 1)}
    with pytest.warns(RuntimeWarning, match="named inputs"):
        topnet.fit(TwoInputs(), (x, torch.randint(0, 3, (8,))), callbacks=[TensorBoard(tmp_path)], verbose=0, device="cpu")
    assert "activations/a" in load(tmp_path / "train").Tags()["histograms"]


def test_training_is_unchanged_by_logging(tmp_path):
    def train(callbacks):
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        torch.manual_seed(0)
        x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
        topnet.fit(model, (x, y), epochs=2, batch_size=4, callbacks=callbacks, verbose=0, device="cpu", seed=0)
        return model[0].weight.detach().clone()

    callback = TensorBoard(tmp_path, embeddings_freq=1, embeddings_data=torch.randn(5, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(1)
        logged = train([callback])
        torch.manual_seed(1)
        plain = train([])
    assert torch.equal(logged, plain)  # graph tracing and activation passes don't draw dropout masks


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="update_freq"):
        TensorBoard(update_freq="step")
    with pytest.raises(ValueError, match="embeddings_data"):
        TensorBoard(embeddings_freq=1)
    with pytest.raises(ValueError, match="histogram_freq"):
        TensorBoard(histogram_freq=-1)
