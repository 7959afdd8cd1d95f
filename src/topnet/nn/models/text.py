"""Text classifiers over token ids: a 1-D convnet, a recurrent net and a small transformer.

The inputs are int64 token ids ``(batch, length)`` from ``topnet.data.TextVectorizer``:
id 0 is PAD and id 1 is UNK, and each text is post-padded with PAD up to the batch's length.
Each builder is an encoder (ids to one feature vector per text) under a ``TextClassifier``
(dropout, then a linear layer to ``num_classes`` logits); the encoders are public, so a
model of your own can reuse them (docs/text.md builds Chollet 7.1's question-answering model
and Siamese LSTM from ``RecurrentTextEncoder``).

* ``text_cnn``: parallel Conv1d of several kernel sizes over the embedded words, each
  max-pooled over the text's real tokens (Kim 2014; Chollet 6.4's 1-D convnets).
* ``text_rnn``: an LSTM or GRU that reads only the real tokens (packed sequences) and
  classifies its final hidden state(s), both directions concatenated (Chollet 6.2).
* ``text_transformer``: token plus learned position embeddings, a pre-norm
  ``nn.TransformerEncoder`` that masks the pads, and the mean over the real tokens.

Padding never changes a text's output: a text gives the same logits alone or in a batch of
longer ones, and with any number of extra trailing pads (``tests/nn/test_text_models.py``).
An empty text (all PAD) reads as one PAD token and gives finite logits.

Bucketing on the device: each encoder first trims the batch's trailing all-PAD columns
(``trim_padding``), so a batch of short texts costs as much as its longest text, not as
``sequence_length``. Shuffled batches of reviews are mostly far shorter than the longest
review, which is where most of the time goes otherwise; sorting texts by length is not needed.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from topnet.errors import format_message
from topnet.nn.models.basic import _check_classes, _check_rate, _check_widths
from topnet.nn.models.registry import register_model
from topnet.nn.models.sequence import CELLS, _positive

__all__ = ["PAD", "ConvTextEncoder", "RecurrentTextEncoder", "TextClassifier", "TransformerTextEncoder",
           "embedding", "text_cnn", "text_rnn", "text_transformer", "trim_padding"]

PAD = 0  # the padding id (TextVectorizer's; UNK is 1)


def trim_padding(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the trailing columns that are PAD in every row; return them with each row's length.

    A row's length is the position of its last non-PAD token plus one (its token count, when
    texts are post-padded); an all-PAD row has length 0. At least one column is kept.

    Example:
        >>> ids, lengths = trim_padding(torch.tensor([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]]))
        >>> ids.tolist(), lengths.tolist()
        ([[5, 6], [7, 0]], [2, 1])
    """
    positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)  # (length,): 1-based
    lengths = ((ids != PAD) * positions).amax(dim=1) if ids.numel() else ids.new_zeros(ids.shape[0])
    width = int(lengths.max().clamp(min=1)) if lengths.numel() else 1  # one host sync per batch
    return ids[:, :width], lengths


def embedding(num_embeddings: int, embedding_dim: int, padding_idx: int | None = PAD) -> nn.Embedding:
    """An ``nn.Embedding`` initialised as Keras's: uniform in [-0.05, 0.05], the PAD row zero.

    PyTorch's N(0, 1) start is too large for these models: on 6,000 Rotten Tomatoes reviews
    (3 epochs, several seeds) each builder reached about 0.75 validation accuracy from this
    start and 0.62-0.66 from N(0, 1); large inputs saturate an LSTM's gates.
    """
    layer = nn.Embedding(num_embeddings, embedding_dim, padding_idx=padding_idx)
    nn.init.uniform_(layer.weight, -0.05, 0.05)
    if padding_idx is not None:
        with torch.no_grad():
            layer.weight[padding_idx].zero_()
    return layer


def _check_ids(text: torch.Tensor) -> None:
    if not isinstance(text, torch.Tensor) or text.dim() != 2 or text.shape[1] < 1:
        got = tuple(text.shape) if isinstance(text, torch.Tensor) else type(text).__name__
        raise ValueError(format_message("text", got, "token ids shaped (batch, length)",
                                        "vectorise the texts with topnet.data.TextVectorizer"))
    if text.is_floating_point() or text.is_complex() or text.dtype == torch.bool:
        raise TypeError(format_message("text", text.dtype, "integer token ids (int64)",
                                       "pass TextVectorizer.transform's ids, not embeddings or one-hot rows"))


def _check_vocab(vocab_size: int) -> int:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
        raise ValueError(format_message("vocab_size", vocab_size, "an int >= 2 (PAD, UNK and the words)",
                                        "pass TextVectorizer.vocabulary_size"))
    return vocab_size


def _pad_same(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Zeros on both sides so that a convolution keeps the length ("same"; the extra one on the
    right for an even kernel). Zeros are what the PAD embedding is, so a real position's window
    reads the same values whatever follows the text."""
    left = (kernel_size - 1) // 2
    return F.pad(x, (left, kernel_size - 1 - left))


class ConvTextEncoder(nn.Module):
    """Embedding, parallel Conv1d + ReLU (one per kernel size), global max pool over real tokens.

    Output: ``(batch, filters * len(kernel_sizes))``, in ``out_features``.

    Example:
        >>> encoder = ConvTextEncoder(100, embed_dim=8, filters=4, kernel_sizes=(3, 5))
        >>> encoder.out_features, tuple(encoder(torch.tensor([[5, 6, 7, 0], [0, 0, 0, 0]])).shape)
        (8, (2, 8))
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, filters: int = 128,
                 kernel_sizes: Sequence[int] = (3, 5)) -> None:
        super().__init__()
        self.vocab_size, self.embed_dim = _check_vocab(vocab_size), _positive("embed_dim", embed_dim)
        self.filters = _positive("filters", filters)
        self.kernel_sizes = _check_widths("kernel_sizes", kernel_sizes, allow_empty=False)
        self.embedding = embedding(vocab_size, embed_dim)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, filters, k) for k in self.kernel_sizes)
        self.out_features = filters * len(self.kernel_sizes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids, _ = trim_padding(ids)
        x = self.embedding(ids).transpose(1, 2)  # (batch, embed_dim, length): Conv1d's layout
        pad = (ids == PAD).unsqueeze(1)  # (batch, 1, length)
        # ReLU outputs are >= 0, so a 0 at the pads masks them as -inf would, and an all-PAD
        # row pools to 0 rather than -inf
        pooled = [torch.relu(conv(_pad_same(x, conv.kernel_size[0]))).masked_fill(pad, 0.0).amax(dim=2)
                  for conv in self.convs]
        return torch.cat(pooled, dim=1)  # (batch, filters * len(kernel_sizes))


class RecurrentTextEncoder(nn.Module):
    """Embedding, then an LSTM or GRU over each text's real tokens; its final hidden state(s).

    The sequences are packed (``pack_padded_sequence``), so the forward direction stops at a
    text's last token and the backward one starts there: no step reads a pad. Output:
    ``(batch, units * directions)``, the top layer's last state per direction, in ``out_features``.

    Example:
        >>> encoder = RecurrentTextEncoder(100, embed_dim=8, units=4, cell="gru")
        >>> encoder.out_features, tuple(encoder(torch.tensor([[5, 6, 7, 0], [9, 0, 0, 0]])).shape)
        (8, (2, 8))
    """

    def __init__(self, vocab_size: int, embed_dim: int = 64, units: int = 64, num_layers: int = 1,
                 cell: str = "lstm", bidirectional: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab_size, self.embed_dim = _check_vocab(vocab_size), _positive("embed_dim", embed_dim)
        self.units, self.num_layers = _positive("units", units), _positive("num_layers", num_layers)
        if cell not in CELLS:
            raise ValueError(format_message("cell", cell, f"one of {list(CELLS)}"))
        _check_rate("dropout", dropout)
        self.cell, self.bidirectional = cell, bool(bidirectional)
        self.embedding = embedding(vocab_size, embed_dim)
        recurrent = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = recurrent(embed_dim, units, num_layers=num_layers, batch_first=True, bidirectional=self.bidirectional,
                             dropout=dropout if num_layers > 1 else 0.0)  # between stacked layers only
        self.out_features = units * (2 if self.bidirectional else 1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids, lengths = trim_padding(ids)
        lengths = lengths.clamp(min=1).cpu()  # an empty text reads one PAD; packing wants lengths on the CPU
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, hidden = self.rnn(packed)  # (num_layers * directions, batch, units), in the batch's order
        if isinstance(hidden, tuple):  # LSTM: (h, c)
            hidden = hidden[0]
        last = hidden[-2:] if self.bidirectional else hidden[-1:]  # the top layer, each direction
        return torch.cat(list(last), dim=1)


class TransformerTextEncoder(nn.Module):
    """Token + learned position embeddings, a pre-norm transformer encoder, mean over real tokens.

    The pads are masked as attention keys (``src_key_padding_mask``) and left out of the mean.
    Output: ``(batch, embed_dim)``, in ``out_features``.

    Example:
        >>> encoder = TransformerTextEncoder(100, sequence_length=4, embed_dim=8, num_heads=2, ff_dim=16)
        >>> tuple(encoder(torch.tensor([[5, 6, 7, 0], [0, 0, 0, 0]])).shape)
        (2, 8)
    """

    def __init__(self, vocab_size: int, sequence_length: int, embed_dim: int = 64, num_heads: int = 4,
                 num_layers: int = 2, ff_dim: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.vocab_size, self.sequence_length = _check_vocab(vocab_size), _positive("sequence_length", sequence_length)
        self.embed_dim, self.num_heads = _positive("embed_dim", embed_dim), _positive("num_heads", num_heads)
        self.num_layers, self.ff_dim = _positive("num_layers", num_layers), _positive("ff_dim", ff_dim)
        if embed_dim % num_heads:
            raise ValueError(format_message("num_heads", num_heads, f"a divisor of embed_dim={embed_dim}",
                                            "each head gets embed_dim // num_heads dimensions"))
        _check_rate("dropout", dropout)
        self.embedding = embedding(vocab_size, embed_dim)
        self.position = embedding(sequence_length, embed_dim, padding_idx=None)
        layer = nn.TransformerEncoderLayer(embed_dim, num_heads, ff_dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(embed_dim), enable_nested_tensor=False)
        self.out_features = embed_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids, lengths = trim_padding(ids)
        if ids.shape[1] > self.sequence_length:
            raise ValueError(format_message("text length", ids.shape[1], f"at most sequence_length={self.sequence_length}",
                                            "vectorise with the sequence_length the model was built with"))
        keep = ids != PAD  # (batch, length)
        keep[:, 0] |= lengths == 0  # an empty text reads as one PAD token: attention needs one key
        x = self.embedding(ids) + self.position.weight[: ids.shape[1]]  # (batch, length, embed_dim)
        x = self.encoder(x, src_key_padding_mask=~keep)
        weights = keep.unsqueeze(-1).to(x.dtype)
        return (x * weights).sum(dim=1) / weights.sum(dim=1)  # (batch, embed_dim)


class TextClassifier(nn.Module):
    """An encoder of token ids, dropout, then a linear layer to logits.

    Called as ``model(ids)`` or ``model(text=ids)`` (a dict ``{"text": ids}`` in ``topnet.fit``).
    """

    def __init__(self, encoder: nn.Module, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(encoder.out_features, num_classes)

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        _check_ids(text)
        return self.head(self.dropout(self.encoder(text)))  # (batch, num_classes)


def _check_common(sequence_length: int, num_classes: int, dropout: float, input_shape: Sequence[int] | None) -> None:
    _positive("sequence_length", sequence_length)
    _check_classes(num_classes)
    _check_rate("dropout", dropout)
    if input_shape is not None and list(input_shape) != [sequence_length]:
        raise ValueError(format_message("input_shape", input_shape, f"[{sequence_length}] (from sequence_length)"))


@register_model("text_cnn")
def text_cnn(vocab_size: int, sequence_length: int, num_classes: int, embed_dim: int = 64, filters: int = 128,
             kernel_sizes: Sequence[int] = (3, 5), dropout: float = 0.3, *,
             input_shape: Sequence[int] | None = None) -> nn.Module:
    """A 1-D convnet text classifier (``ConvTextEncoder`` under a ``TextClassifier``).

    Args:
        vocab_size: ids in ``[0, vocab_size)`` (``TextVectorizer.vocabulary_size``).
        sequence_length: the vectoriser's length; any length up to it works.
        num_classes: output units (logits; 1 for regression or a binary logit).
        embed_dim: word embedding size.
        filters: channels of each convolution.
        kernel_sizes: one convolution per size, in words (zero-padded to keep the length).
        dropout: dropout rate before the output layer.
        input_shape: optional ``[sequence_length]``, checked.

    Raises:
        ValueError: an argument out of range.

    Example:
        >>> net = text_cnn(vocab_size=100, sequence_length=16, num_classes=2, embed_dim=8, filters=4)
        >>> tuple(net(torch.randint(2, 100, (3, 16))).shape)
        (3, 2)
    """
    _check_common(sequence_length, num_classes, dropout, input_shape)
    return TextClassifier(ConvTextEncoder(vocab_size, embed_dim, filters, kernel_sizes), num_classes, dropout)


@register_model("text_rnn")
def text_rnn(vocab_size: int, sequence_length: int, num_classes: int, cell: str = "lstm", units: int = 64,
             num_layers: int = 1, bidirectional: bool = True, embed_dim: int = 64, dropout: float = 0.3, *,
             input_shape: Sequence[int] | None = None) -> nn.Module:
    """A recurrent text classifier (``RecurrentTextEncoder`` under a ``TextClassifier``).

    Args:
        vocab_size: ids in ``[0, vocab_size)`` (``TextVectorizer.vocabulary_size``).
        sequence_length: the vectoriser's length; any length works.
        num_classes: output units (logits).
        cell: ``"lstm"`` or ``"gru"``.
        units: hidden units per direction.
        num_layers: stacked recurrent layers.
        bidirectional: read each text both ways.
        embed_dim: word embedding size.
        dropout: between stacked layers and before the output layer.
        input_shape: optional ``[sequence_length]``, checked.

    Raises:
        ValueError: an argument out of range, or an unknown ``cell``.

    Example:
        >>> net = text_rnn(vocab_size=100, sequence_length=16, num_classes=2, cell="gru", units=8, embed_dim=8)
        >>> tuple(net(torch.randint(2, 100, (3, 16))).shape)
        (3, 2)
    """
    _check_common(sequence_length, num_classes, dropout, input_shape)
    encoder = RecurrentTextEncoder(vocab_size, embed_dim, units, num_layers, cell, bidirectional, dropout)
    return TextClassifier(encoder, num_classes, dropout)


@register_model("text_transformer")
def text_transformer(vocab_size: int, sequence_length: int, num_classes: int, embed_dim: int = 64,
                     num_heads: int = 4, num_layers: int = 2, ff_dim: int = 128, dropout: float = 0.1, *,
                     input_shape: Sequence[int] | None = None) -> nn.Module:
    """A small transformer text classifier (``TransformerTextEncoder`` under a ``TextClassifier``).

    Args:
        vocab_size: ids in ``[0, vocab_size)`` (``TextVectorizer.vocabulary_size``).
        sequence_length: the longest text it reads (the position embedding's size).
        num_classes: output units (logits).
        embed_dim: token and position embedding size (the model width).
        num_heads: attention heads; they divide ``embed_dim``.
        num_layers: encoder layers.
        ff_dim: width of each layer's feed-forward block.
        dropout: dropout inside the encoder layers.
        input_shape: optional ``[sequence_length]``, checked.

    Raises:
        ValueError: an argument out of range, or ``num_heads`` not dividing ``embed_dim``.

    Example:
        >>> net = text_transformer(vocab_size=100, sequence_length=16, num_classes=2, embed_dim=8, num_heads=2)
        >>> tuple(net(torch.randint(2, 100, (3, 16))).shape)
        (3, 2)
    """
    _check_common(sequence_length, num_classes, dropout, input_shape)
    encoder = TransformerTextEncoder(vocab_size, sequence_length, embed_dim, num_heads, num_layers, ff_dim, dropout)
    return TextClassifier(encoder, num_classes)
