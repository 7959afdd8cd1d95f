"""Text builders (text_cnn, text_rnn, text_transformer) and wide_and_deep's text input.

Token ids are post-padded with 0 (PAD); a text's output must not depend on its padding.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import topnet
from topnet.io import load_model, save_model
from topnet.nn.models import config_of, create_model
from topnet.nn.models.text import RecurrentTextEncoder, trim_padding

VOCAB, LENGTH = 50, 24
SMALL = {  # tiny models: every test here runs in well under a second per builder
    "text_cnn": {"embed_dim": 8, "filters": 6, "kernel_sizes": [3, 4]},
    "text_rnn": {"cell": "lstm", "units": 6, "embed_dim": 8, "num_layers": 2},
    "text_transformer": {"embed_dim": 8, "num_heads": 2, "num_layers": 2, "ff_dim": 16},
}
BUILDERS = sorted(SMALL)


def build(name: str, num_classes: int = 3, **overrides) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, vocab_size=VOCAB, sequence_length=LENGTH, num_classes=num_classes,
                        **{**SMALL[name], **overrides})


def texts(lengths: list[int], width: int = LENGTH, seed: int = 0) -> torch.Tensor:
    """Random ids in [1, VOCAB) (UNK included), row i post-padded after ``lengths[i]`` tokens."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (len(lengths), width), generator=generator)
    return ids * (torch.arange(width) < torch.tensor(lengths).unsqueeze(1))  # (batch, width)


def test_trim_padding_keeps_the_longest_text():
    ids, lengths = trim_padding(texts([3, 7, 0], width=12))
    assert ids.shape == (3, 7) and lengths.tolist() == [3, 7, 0]
    ids, lengths = trim_padding(torch.zeros(2, 5, dtype=torch.long))
    assert ids.shape == (2, 1) and lengths.tolist() == [0, 0]  # one column is always kept


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("num_classes", [1, 4])
def test_output_shape_and_keyword_call(name, num_classes):
    model = build(name, num_classes).eval()
    x = texts([5, 24, 1])
    assert model(x).shape == (3, num_classes)
    assert torch.equal(model(text=x), model(x))  # the dict form: topnet.fit(model, ({"text": x}, y))


@pytest.mark.parametrize("name", BUILDERS)
def test_extra_trailing_pads_change_nothing(name):
    model = build(name).eval()
    x = texts([4, 9, 2], width=10)
    padded = torch.cat([x, torch.zeros(3, LENGTH - 10, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert torch.equal(model(padded), model(x))  # trimmed to the same 9 columns


@pytest.mark.parametrize("name", BUILDERS)
def test_a_short_text_in_a_batch_of_long_ones_gives_its_own_output(name):
    model = build(name).eval()
    batch = texts([5, 24, 17])
    with torch.no_grad():
        alone = model(batch[:1, :5])  # the short text without any pad
        together = model(batch)[:1]
    assert torch.allclose(together, alone, atol=1e-6)


@pytest.mark.parametrize("name", BUILDERS)
def test_an_empty_text_gives_finite_outputs_and_gradients(name):
    model = build(name).train()
    x = texts([0, 6, 0])
    out = model(x)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, 1, 2])).backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"no gradient reaches {param_name}"
        assert torch.isfinite(param.grad).all(), f"non-finite gradient in {param_name}"
    assert torch.isfinite(model.eval()(torch.zeros(1, LENGTH, dtype=torch.long))).all()  # a batch of one empty text


@pytest.mark.parametrize("name", BUILDERS)
def test_each_builder_learns_whether_token_5_appears(name):
    generator = torch.Generator().manual_seed(1)
    n = 256
    lengths = torch.randint(3, LENGTH + 1, (n,), generator=generator)
    x = torch.randint(6, VOCAB, (n, LENGTH), generator=generator)  # no 5 yet
    y = torch.arange(n) % 2
    where = (torch.rand(n, generator=generator) * lengths).long()  # a position inside the text
    x[y == 1, where[y == 1]] = 5
    x = x * (torch.arange(LENGTH) < lengths.unsqueeze(1))
    model = build(name, num_classes=2, dropout=0.0)
    topnet.fit(model, (x, y), epochs=12, batch_size=16, lr=1e-2, verbose=0, device="cpu", seed=0)  # 192 steps
    accuracy = (topnet.predict(model, x, device="cpu").argmax(1) == y).float().mean().item()
    assert accuracy > 0.9, f"{name}: train accuracy {accuracy:.2f}"


@pytest.mark.parametrize("name", BUILDERS)
def test_registry_config_and_save_round_trip(name, tmp_path):
    model = build(name).eval()
    config = config_of(model)
    assert config == {"builder": name, "kwargs": {"vocab_size": VOCAB, "sequence_length": LENGTH, "num_classes": 3,
                                                  **SMALL[name]}}
    twin = create_model(config["builder"], **config["kwargs"])
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    x = texts([3, 11, 24])
    with torch.no_grad():
        assert torch.equal(load_model(save_model(model, tmp_path / name))(x), model(x))


@pytest.mark.parametrize("name, bad, match", [
    ("text_cnn", {"vocab_size": 1}, "vocab_size"),
    ("text_cnn", {"sequence_length": 0}, "sequence_length"),
    ("text_cnn", {"num_classes": 0}, "num_classes"),
    ("text_cnn", {"dropout": 1.0}, "dropout"),
    ("text_cnn", {"kernel_sizes": []}, "kernel_sizes"),
    ("text_cnn", {"kernel_sizes": [3, 0]}, "kernel_sizes"),
    ("text_cnn", {"filters": 0}, "filters"),
    ("text_cnn", {"input_shape": [LENGTH + 1]}, "input_shape"),
    ("text_rnn", {"cell": "rnn"}, "cell"),
    ("text_rnn", {"units": 0}, "units"),
    ("text_rnn", {"num_layers": True}, "num_layers"),
    ("text_transformer", {"num_heads": 3}, "divisor of embed_dim"),
    ("text_transformer", {"ff_dim": 0}, "ff_dim"),
])
def test_builders_check_their_arguments(name, bad, match):
    kwargs = {"vocab_size": VOCAB, "sequence_length": LENGTH, "num_classes": 3, **SMALL[name], **bad}
    with pytest.raises(ValueError, match=match):
        create_model(name, **kwargs)


@pytest.mark.parametrize("name", BUILDERS)
def test_models_check_their_inputs(name):
    model = build(name)
    with pytest.raises(TypeError, match="integer token ids"):
        model(texts([3, 4]).float())
    with pytest.raises(ValueError, match=r"\(batch, length\)"):
        model(texts([3, 4])[0])


def test_the_transformer_reads_at_most_sequence_length_tokens():
    model = build("text_transformer")
    model(torch.cat([texts([LENGTH]), torch.zeros(1, 8, dtype=torch.long)], dim=1))  # trailing pads: trimmed first
    with pytest.raises(ValueError, match="sequence_length"):
        model(texts([LENGTH + 1], width=LENGTH + 1))


def test_the_recurrent_encoder_stops_at_the_last_token():
    torch.manual_seed(0)
    encoder = RecurrentTextEncoder(VOCAB, embed_dim=4, units=3, cell="gru", bidirectional=False).eval()
    x = texts([6], width=6)
    with torch.no_grad():
        _, hidden = encoder.rnn(encoder.embedding(x))  # no packing: the text alone, no pads
        assert torch.allclose(encoder(torch.cat([x, torch.zeros(1, 9, dtype=torch.long)], dim=1)), hidden[-1], atol=1e-6)


# wide_and_deep with a text input

def table(n=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    numeric = torch.randn(n, 2, generator=generator)
    categorical = torch.randint(0, 3, (n, 2), generator=generator)
    lengths = torch.randint(0, 10, (n,), generator=generator).tolist()
    return numeric, categorical, texts(lengths, width=10, seed=seed)


def test_wide_and_deep_on_text_alone():
    torch.manual_seed(0)
    model = create_model("wide_and_deep", num_classes=2, text_vocab_size=VOCAB, text_length=10, hidden=[8],
                         input_shape={"text": [10]})
    _, _, text = table()
    assert model(text=text).shape == (8, 2)
    assert torch.equal(model.wide(text=text), model.wide.bias.expand(8, 2))  # the wide table starts at zero
    words = model.deep.words.weight
    counts = F.one_hot(text, VOCAB).sum(1).float()  # (batch, VOCAB) bag of words
    counts[:, 0] = 0  # PAD left out
    mean = counts @ words / counts.sum(1, keepdim=True).clamp(min=1)  # the mean over real tokens; 0 for an empty text
    assert torch.allclose(model.deep.words(text), mean, atol=1e-6)
    padded = torch.cat([text, torch.zeros(8, 5, dtype=torch.long)], dim=1)
    assert torch.allclose(model(text=padded), model(text=text), atol=1e-6)


def test_wide_part_is_a_linear_model_on_the_bag_of_words():
    model = create_model("wide_and_deep", num_classes=3, num_numeric=2, text_vocab_size=VOCAB, text_length=10)
    with torch.no_grad():
        model.wide.words.weight.normal_()
    numeric, _, text = table()
    counts = F.one_hot(text, VOCAB).sum(1).float()
    counts[:, 0] = 0
    expected = numeric @ model.wide.numeric.weight.T + counts @ model.wide.words.weight + model.wide.bias
    assert torch.allclose(model.wide(numeric, None, text), expected, atol=1e-5)


def test_wide_and_deep_with_text_numeric_and_categorical_trains_with_fit():
    torch.manual_seed(0)
    numeric, categorical, text = table(32)
    y = ((text == 7).any(1) | (categorical[:, 0] == 1)).long()
    model = create_model("wide_and_deep", num_classes=2, num_numeric=2, categorical_sizes=[3, 3],
                         text_vocab_size=VOCAB, text_length=10, text_embed_dim=4, hidden=[8])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = {"numeric": numeric, "categorical": categorical, "text": text}
    history = topnet.fit(model, (inputs, y), epochs=2, batch_size=8, verbose=0, device="cpu")
    assert all(math.isfinite(v) for v in history.history["loss"])
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert {"wide.words.weight", "deep.words.weight"} <= changed


def test_wide_and_deep_text_errors():
    with pytest.raises(ValueError, match="both 0"):
        create_model("wide_and_deep", num_classes=2, text_vocab_size=VOCAB)
    with pytest.raises(ValueError, match="text_vocab_size"):
        create_model("wide_and_deep", num_classes=2, text_vocab_size=1, text_length=10)
    with pytest.raises(ValueError, match="text_embed_dim"):
        create_model("wide_and_deep", num_classes=2, text_vocab_size=VOCAB, text_length=10, text_embed_dim=0)
    with pytest.raises(ValueError, match="input_shape"):
        create_model("wide_and_deep", num_classes=2, num_numeric=2, text_vocab_size=VOCAB, text_length=10,
                     input_shape={"numeric": [2]})
    numeric, _, text = table()
    with_text = create_model("wide_and_deep", num_classes=2, num_numeric=2, text_vocab_size=VOCAB, text_length=10)
    with pytest.raises(ValueError, match="input 'text'"):
        with_text(numeric=numeric)
    with pytest.raises(ValueError, match="input 'text'"):
        with_text(numeric=numeric, text=text.float())
    without = create_model("wide_and_deep", num_classes=2, num_numeric=2)
    with pytest.raises(ValueError, match="no text input"):
        without(numeric=numeric, text=text)


def test_embeddings_start_as_keras_s():
    # Keras's Embedding default: uniform in [-0.05, 0.05]; the PAD row stays zero (padding_idx)
    for name in BUILDERS:
        for table in (m for m in build(name).modules() if isinstance(m, torch.nn.Embedding)):
            assert table.weight.abs().max() <= 0.05
            if table.padding_idx is not None:
                assert torch.equal(table.weight[table.padding_idx], torch.zeros(table.embedding_dim))
