"""Wide & Deep (Cheng et al. 2016): a linear model and an MLP trained jointly, logits summed.

Chollet 7.3.3: "jointly training a deep neural network with a large linear model" blends deep
and shallow learning, a cheap ensemble of two very different models. The inputs are topnet's
CSV inputs (``topnet.data.read_csv``), passed to ``forward`` as keyword arguments:

    numeric      float (batch, num_numeric), standardised
    categorical  int64 codes (batch, len(categorical_sizes)); column j in [0, categorical_sizes[j])
    text         int64 token ids (batch, text_length) in [0, text_vocab_size), post-padded with 0
                 (``topnet.data.TextVectorizer``); only when built with ``text_vocab_size``

* wide: a linear model on the raw numeric features, the one-hot categorical codes and the
  one-hot crossed pairs ``crosses`` (category of column i × category of column j). A linear
  layer on one-hots is a sum of rows of a table, so it is stored as one ``nn.Embedding`` of
  ``num_classes`` columns (no one-hot matrix is ever built). A text adds a bag-of-words term:
  the sum of one weight row per token (PAD left out), an ``nn.EmbeddingBag``.
* deep: each categorical column embedded in ``embedding_dim`` dimensions, concatenated with the
  numeric features and, for a text, the mean of its tokens' embeddings (a bag of embeddings,
  PAD left out), through an MLP to ``num_classes`` logits.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from topnet.errors import format_message
from topnet.nn.models.registry import register_model
from topnet.nn.models.basic import _check_classes, _check_rate, _check_widths, mlp

__all__ = ["WideAndDeep", "WideLinear", "DeepTabular", "wide_and_deep"]


def _offsets(sizes: Sequence[int]) -> torch.Tensor:
    return torch.tensor([0, *sizes[:-1]], dtype=torch.long).cumsum(0)  # first row of each column's block


def _check_inputs(module: nn.Module, numeric: torch.Tensor | None, categorical: torch.Tensor | None,
                  text: torch.Tensor | None = None) -> None:
    widths = (getattr(module, "num_numeric", 0), getattr(module, "num_categorical", 0))  # 0: a custom module, not checked
    for name, tensor, width in zip(("numeric", "categorical"), (numeric, categorical), widths):
        if width and (tensor is None or tensor.dim() != 2 or tensor.shape[1] != width):
            got = None if tensor is None else tuple(tensor.shape)
            raise ValueError(format_message(f"input {name!r}", got, f"a (batch, {width}) tensor",
                                            "pass the inputs as model(numeric=..., categorical=..., text=...)"))
    if categorical is not None and categorical.is_floating_point():
        raise TypeError(format_message("input 'categorical'", categorical.dtype, "integer category codes (int64)",
                                       "pass the codes from topnet.data.read_csv, not one-hot or float values"))
    if getattr(module, "text_vocab_size", 0) and (text is None or text.dim() != 2 or text.is_floating_point()):
        got = None if text is None else (tuple(text.shape), text.dtype)
        raise ValueError(format_message("input 'text'", got, "int64 token ids shaped (batch, length)",
                                        "pass TextVectorizer ids as model(..., text=...)"))
    if text is not None and getattr(module, "text_vocab_size", None) == 0:
        raise ValueError(format_message("input 'text'", tuple(text.shape), "no text (the model has no text input)",
                                        "build it with text_vocab_size and text_length"))


class WideLinear(nn.Module):
    """The wide part: one linear layer over numeric features, one-hot codes, crossed codes and
    (with ``text_vocab_size``) a text's bag of words.

    Example:
        >>> wide = WideLinear(2, [3, 4], 5, crosses=[[0, 1]])
        >>> wide.table.num_embeddings, tuple(wide(torch.zeros(6, 2), torch.zeros(6, 2, dtype=torch.long)).shape)
        (19, (6, 5))
    """

    def __init__(self, num_numeric: int, categorical_sizes: Sequence[int], num_classes: int,
                 crosses: Sequence[Sequence[int]] = (), text_vocab_size: int = 0) -> None:
        super().__init__()
        self.num_numeric, self.num_categorical = num_numeric, len(categorical_sizes)
        self.text_vocab_size = text_vocab_size
        self.crosses = [(int(i), int(j)) for i, j in crosses]
        sizes = list(categorical_sizes) + [categorical_sizes[i] * categorical_sizes[j] for i, j in self.crosses]
        first, second = [i for i, _ in self.crosses], [j for _, j in self.crosses]
        self.register_buffer("cross_first", torch.tensor(first, dtype=torch.long), persistent=False)
        self.register_buffer("cross_second", torch.tensor(second, dtype=torch.long), persistent=False)
        self.register_buffer("cross_scale", torch.tensor([categorical_sizes[j] for j in second], dtype=torch.long),
                             persistent=False)
        self.register_buffer("offsets", _offsets(sizes), persistent=False)
        self.numeric = nn.Linear(num_numeric, num_classes, bias=False) if num_numeric else None
        self.table = nn.Embedding(sum(sizes), num_classes) if sizes else None  # one weight row per category
        # a bag of words: one weight row per token, summed over the text's tokens (PAD left out)
        self.words = nn.EmbeddingBag(text_vocab_size, num_classes, mode="sum", padding_idx=0) if text_vocab_size else None
        self.bias = nn.Parameter(torch.zeros(num_classes))
        for table in (self.table, self.words):
            if table is not None:
                nn.init.zeros_(table.weight)  # a linear model starts at zero, as Keras's LinearModel

    def forward(self, numeric: torch.Tensor | None = None, categorical: torch.Tensor | None = None,
                text: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.bias
        if self.numeric is not None:
            logits = logits + self.numeric(numeric)
        if self.table is not None:
            codes = categorical
            if self.crosses:
                crossed = categorical[:, self.cross_first] * self.cross_scale + categorical[:, self.cross_second]
                codes = torch.cat([categorical, crossed], dim=1)
            logits = logits + self.table(codes + self.offsets).sum(dim=1)  # (batch, num_classes)
        if self.words is not None:
            logits = logits + self.words(text)  # (batch, num_classes)
        return logits


class DeepTabular(nn.Module):
    """The deep part: categorical embeddings and a text's mean word embedding, concatenated with
    the numeric features, then an MLP.

    Example:
        >>> deep = DeepTabular(2, [3, 4], 5, embedding_dim=2, hidden=(8,), text_vocab_size=50, text_embed_dim=4)
        >>> codes, words = torch.zeros(6, 2, dtype=torch.long), torch.randint(0, 50, (6, 10))
        >>> tuple(deep(torch.zeros(6, 2), codes, words).shape)
        (6, 5)
    """

    def __init__(self, num_numeric: int, categorical_sizes: Sequence[int], num_classes: int, embedding_dim: int = 8,
                 hidden: Sequence[int] = (64, 32), text_vocab_size: int = 0, text_embed_dim: int = 32,
                 **mlp_kwargs: Any) -> None:
        super().__init__()
        self.num_numeric, self.num_categorical = num_numeric, len(categorical_sizes)
        self.text_vocab_size = text_vocab_size
        self.register_buffer("offsets", _offsets(list(categorical_sizes)), persistent=False)
        self.embedding = nn.Embedding(sum(categorical_sizes), embedding_dim) if categorical_sizes else None
        # a bag of embeddings: the mean over the text's tokens, PAD left out (an all-PAD text gives zeros)
        self.words = nn.EmbeddingBag(text_vocab_size, text_embed_dim, mode="mean", padding_idx=0) \
            if text_vocab_size else None
        width = num_numeric + embedding_dim * len(categorical_sizes) + (text_embed_dim if text_vocab_size else 0)
        self.mlp = mlp((width,), num_classes, hidden=hidden, **mlp_kwargs)

    def forward(self, numeric: torch.Tensor | None = None, categorical: torch.Tensor | None = None,
                text: torch.Tensor | None = None) -> torch.Tensor:
        parts = [numeric] if self.num_numeric else []
        if self.embedding is not None:
            parts.append(self.embedding(categorical + self.offsets).flatten(1))  # (batch, columns * embedding_dim)
        if self.words is not None:
            parts.append(self.words(text))  # (batch, text_embed_dim)
        return self.mlp(torch.cat(parts, dim=1))


class WideAndDeep(nn.Module):
    """Sum of two models' logits, trained jointly: ``wide(**inputs) + deep(**inputs)``.

    Args:
        wide, deep: modules taking ``numeric`` and ``categorical`` (and ``text``, when the
            model is given one) and returning logits of the same shape (``WideLinear`` and
            ``DeepTabular``, or your own).
    """

    def __init__(self, wide: nn.Module, deep: nn.Module) -> None:
        super().__init__()
        self.wide, self.deep = wide, deep

    def forward(self, numeric: torch.Tensor | None = None, categorical: torch.Tensor | None = None,
                text: torch.Tensor | None = None) -> torch.Tensor:
        _check_inputs(self.wide, numeric, categorical, text)
        inputs = (numeric, categorical) if text is None else (numeric, categorical, text)
        return self.wide(*inputs) + self.deep(*inputs)


def _check_text(text_vocab_size: int, text_length: int, text_embed_dim: int) -> None:
    """Both of ``text_vocab_size`` and ``text_length`` 0 (no text) or both set; a positive ``text_embed_dim``."""
    def count(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    if not count(text_vocab_size) or text_vocab_size == 1:
        raise ValueError(format_message("text_vocab_size", text_vocab_size, "0 (no text) or an int >= 2 (PAD, UNK, words)"))
    if not count(text_length):
        raise ValueError(format_message("text_length", text_length, "0 (no text) or a positive int"))
    if not count(text_embed_dim) or text_embed_dim < 1:
        raise ValueError(format_message("text_embed_dim", text_embed_dim, "a positive int"))
    if bool(text_vocab_size) != bool(text_length):
        raise ValueError(format_message("(text_vocab_size, text_length)", (text_vocab_size, text_length),
                                        "both 0 (no text input) or both positive",
                                        "pass TextVectorizer's vocabulary_size and sequence_length"))


@register_model("wide_and_deep")
def wide_and_deep(input_shape: dict[str, Sequence[int]] | None = None, *, num_classes: int, num_numeric: int = 0,
                  categorical_sizes: Sequence[int] = (), embedding_dim: int = 8, hidden: Sequence[int] = (64, 32),
                  activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                  crosses: Sequence[Sequence[int]] = (), initializer: str | None = "auto", text_vocab_size: int = 0,
                  text_length: int = 0, text_embed_dim: int = 32) -> nn.Module:
    """A Wide & Deep model for ``{"numeric", "categorical", "text"}`` inputs (see the module docstring).

    Args:
        input_shape: optional ``{"numeric": [k], "categorical": [m], "text": [length]}`` (the
            inputs the model has), checked against ``num_numeric``, ``len(categorical_sizes)``
            and ``text_length``.
        num_classes: output units (logits).
        num_numeric: numeric features ``k`` (0: none).
        categorical_sizes: categories of each categorical column (``len(vocabulary)`` from
            ``Dataset.meta["vocabularies"]``, code 0 ``"<missing>"`` included).
        embedding_dim: embedding size of each categorical column in the deep part.
        hidden, activation, dropout, batch_norm, initializer: the deep part's MLP (as ``mlp``).
        crosses: pairs ``[i, j]`` of categorical columns whose crossed categories the wide part
            also sees (``categorical_sizes[i] * categorical_sizes[j]`` weights per class each).
        text_vocab_size: token ids of the ``text`` input, ``TextVectorizer.vocabulary_size``
            (0: no text input).
        text_length: the ``text`` input's length, ``TextVectorizer.sequence_length`` (0: no text).
        text_embed_dim: word embedding size of the deep part's bag of embeddings.

    Raises:
        ValueError: no inputs, a bad ``num_classes``, sizes that are not positive ints, crosses naming missing columns,
            only one of ``text_vocab_size`` and ``text_length``, or an ``input_shape`` that disagrees.

    Example:
        >>> net = wide_and_deep(num_classes=3, num_numeric=2, categorical_sizes=[4, 5], crosses=[[0, 1]])
        >>> tuple(net(numeric=torch.randn(8, 2), categorical=torch.randint(0, 4, (8, 2))).shape)
        (8, 3)
        >>> reviews = wide_and_deep(num_classes=2, text_vocab_size=1000, text_length=64)  # a text-only table
        >>> tuple(reviews(text=torch.randint(0, 1000, (8, 64))).shape)
        (8, 2)
    """
    _check_classes(num_classes)
    if not isinstance(num_numeric, int) or num_numeric < 0:
        raise ValueError(format_message("num_numeric", num_numeric, "a non-negative int"))
    sizes = _check_widths("categorical_sizes", categorical_sizes)
    _check_text(text_vocab_size, text_length, text_embed_dim)
    if not num_numeric and not sizes and not text_vocab_size:
        raise ValueError(format_message("(num_numeric, categorical_sizes, text_vocab_size)",
                                        (num_numeric, categorical_sizes, text_vocab_size),
                                        "at least one numeric feature, categorical column or text input"))
    if input_shape is not None:
        expected = {name: [width] for name, width in (("numeric", num_numeric), ("categorical", len(sizes)),
                                                      ("text", text_length)) if width}
        if not isinstance(input_shape, dict) or {k: list(v) for k, v in input_shape.items()} != expected:
            raise ValueError(format_message("input_shape", input_shape,
                                            f"{expected} (from num_numeric, categorical_sizes and text_length)"))
    if any(len(pair) != 2 or not all(isinstance(c, int) and 0 <= c < len(sizes) for c in pair) for pair in crosses):
        raise ValueError(format_message("crosses", crosses, f"pairs [i, j] of categorical column indices in [0, {len(sizes)})"))
    if not isinstance(embedding_dim, int) or embedding_dim < 1:
        raise ValueError(format_message("embedding_dim", embedding_dim, "a positive int"))
    _check_rate("dropout", dropout)
    wide = WideLinear(num_numeric, sizes, num_classes, crosses, text_vocab_size)
    deep = DeepTabular(num_numeric, sizes, num_classes, embedding_dim, hidden, text_vocab_size, text_embed_dim,
                       activation=activation, dropout=dropout, batch_norm=batch_norm, initializer=initializer)
    return WideAndDeep(wide, deep)
