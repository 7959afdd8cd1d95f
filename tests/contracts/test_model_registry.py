"""Contract: every registered model builder builds, trains a step, and round-trips through io."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from topnet.io import load_model, save_model
from topnet.nn.models import config_of, create_model, list_models

NUM_CLASSES = 3
BATCH = 4
IMAGE = [1, 16, 16]

# Small arguments per builder, so every model is tiny and the suite stays fast. A builder that
# cannot take 1×16×16 images says why here.
SMALL = {
    "mlp": dict(input_shape=IMAGE, hidden=[8, 8], batch_norm=True, dropout=0.1, activation="elu", initializer="auto"),
    "small_convnet": dict(input_shape=IMAGE, filters=[4, 8], dense=8),
    "convnet": dict(input_shape=IMAGE, filters=[4, 8], dense=8, dropout=0.1),
    "separable_convnet": dict(input_shape=[3, 16, 16], filters=[4, 8], dense=8),
    "resnet": dict(input_shape=IMAGE, stage_channels=[4, 8], blocks_per_stage=1),
    "inception_net": dict(input_shape=IMAGE, stem_channels=4, num_modules=2, width=2, factorize_5x5=True),
    "xception_net": dict(input_shape=IMAGE, stem_channels=[4, 4], entry_channels=[8, 8], middle_blocks=1,
                         exit_channels=[8, 8], final_channels=[8, 8], dropout=0.1),
    "selu_mlp": dict(input_shape=IMAGE, units=8, num_layers=2, dropout=0.05),
    "wide_and_deep": dict(num_numeric=3, categorical_sizes=[4, 5], embedding_dim=2, hidden=[8], crosses=[[0, 1]]),
    "chollet_simple_cnn": dict(input_shape=IMAGE),
    "chollet_separable_cnn": dict(input_shape=[3, 32, 32]),  # its "valid" convs need 32×32
    "geron_bn_mlp": dict(input_shape=IMAGE),
    "geron_deep_elu": dict(input_shape=IMAGE, num_layers=3, units=8, batch_norm=True),
    "geron_deep_selu": dict(input_shape=IMAGE, num_layers=3, units=8, dropout=0.1),
    "conv1d_net": dict(input_shape=[2, 16], filters=[4, 8], dense=8, dropout=0.1),  # signals: (channels, length)
    "rnn_net": dict(input_shape=[2, 16], units=4, num_layers=2, cell="lstm", dropout=0.1),
    # text: token ids (batch, length), 0 = PAD
    "text_cnn": dict(vocab_size=20, sequence_length=12, embed_dim=4, filters=4, kernel_sizes=[3, 4], dropout=0.1),
    "text_rnn": dict(vocab_size=20, sequence_length=12, embed_dim=4, units=4, num_layers=2, cell="gru", dropout=0.1),
    "text_transformer": dict(vocab_size=20, sequence_length=12, embed_dim=8, num_heads=2, num_layers=1, ff_dim=8),
}


def inputs(name: str, kwargs: dict) -> dict[str, torch.Tensor] | torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    if name == "wide_and_deep":
        codes = [torch.randint(0, size, (BATCH, 1), generator=generator) for size in kwargs["categorical_sizes"]]
        return {"numeric": torch.randn(BATCH, kwargs["num_numeric"], generator=generator), "categorical": torch.cat(codes, 1)}
    if "vocab_size" in kwargs:  # post-padded token ids: rows of 12, 7, 3 and 0 tokens
        ids = torch.randint(1, kwargs["vocab_size"], (BATCH, kwargs["sequence_length"]), generator=generator)
        return ids * (torch.arange(kwargs["sequence_length"]) < torch.tensor([[12], [7], [3], [0]]))
    return torch.randn(BATCH, *kwargs["input_shape"], generator=generator)


def forward(model: torch.nn.Module, x: dict[str, torch.Tensor] | torch.Tensor) -> torch.Tensor:
    return model(**x) if isinstance(x, dict) else model(x)


def test_registry_has_the_documented_builders():
    assert len(list_models()) >= 14
    assert set(SMALL) <= set(list_models())


@pytest.mark.parametrize("name", list_models())
def test_builder_trains_and_round_trips(name, tmp_path):
    assert name in SMALL, f"add small arguments for the new builder {name!r} to SMALL"
    torch.manual_seed(0)
    kwargs = {"num_classes": NUM_CLASSES, **SMALL[name]}
    model = create_model(name, **kwargs)
    assert config_of(model) == {"builder": name, "kwargs": kwargs}
    x = inputs(name, kwargs)

    model.train()
    out = forward(model, x)
    assert out.shape == (BATCH, NUM_CLASSES)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.arange(BATCH) % NUM_CLASSES).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{name}: no gradient reaches {param_name}"
        assert torch.isfinite(param.grad).all(), f"{name}: non-finite gradient in {param_name}"

    model.eval()
    with torch.no_grad():
        expected = forward(model, x)
    reloaded = load_model(save_model(model, tmp_path / name))
    assert not reloaded.training
    with torch.no_grad():
        assert torch.equal(forward(reloaded, x), expected)
