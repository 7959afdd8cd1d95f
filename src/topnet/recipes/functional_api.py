"""The functional API's four examples, trained on synthetic data (Chollet 7.1).

Keras's functional API is plain Python in a module's ``forward``: a question-answering model
with two inputs (text and question), a posts model with three outputs (age, income group,
gender) and loss weights, a Siamese LSTM (one layer applied to two inputs) and a two-camera
model that calls a whole convnet as a layer. The chapter trains them on pure random data, which
shows that the code runs but not that it learns; here each data set is random too, with a rule
planted in it, so the held-out scores can be read against the chance baseline beside them.
Sizes are shrunk to run on a CPU; docs/functional_api.md walks through the same models.

    topnet recipe run functional-api --seeds 3
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

import topnet
from topnet.errors import format_message
from topnet.nn import count_params
from topnet.recipes.common import resolve_seeds
from topnet.recipes.table import RecipeResult, mean_spread
from topnet.seeding import make_generator, seed_everything

__all__ = ["run", "QuestionAnswering", "PostsModel", "SiameseLSTM", "DualCamera"]

FULL = {"num_train": 2000, "num_test": 1000, "epochs": 8}
QUICK = {"num_train": 128, "num_test": 64, "epochs": 1}
VOCABULARY, NUM_ANSWERS, NUM_INCOME_GROUPS = 1000, 20, 10


class QuestionAnswering(nn.Module):
    """Two inputs: text and question, each embedded and encoded by its own LSTM, then concatenated."""

    def __init__(self):
        super().__init__()
        self.text_embedding, self.text_lstm = nn.Embedding(VOCABULARY, 64), nn.LSTM(64, 32, batch_first=True)
        self.question_embedding, self.question_lstm = nn.Embedding(VOCABULARY, 32), nn.LSTM(32, 16, batch_first=True)
        self.answer = nn.Linear(32 + 16, NUM_ANSWERS)

    def forward(self, text, question):  # (batch, words) token ids each
        encoded_text = self.text_lstm(self.text_embedding(text))[1][0][-1]  # last hidden state: (batch, 32)
        encoded_question = self.question_lstm(self.question_embedding(question))[1][0][-1]  # (batch, 16)
        return self.answer(torch.cat([encoded_text, encoded_question], dim=-1))  # (batch, answers) logits


class PostsModel(nn.Module):
    """One 1-D convnet over a person's posts feeding three heads: age, income group, gender."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCABULARY, 32)
        self.trunk = nn.Sequential(nn.Conv1d(32, 64, 5), nn.ReLU(), nn.MaxPool1d(5), nn.Conv1d(64, 64, 5), nn.ReLU(),
                                   nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
        self.age, self.income, self.gender = nn.Linear(32, 1), nn.Linear(32, NUM_INCOME_GROUPS), nn.Linear(32, 1)

    def forward(self, posts):  # (batch, words) token ids
        features = self.trunk(self.embedding(posts).transpose(1, 2))  # Conv1d wants (batch, channels, words)
        return {"age": self.age(features).squeeze(-1), "income": self.income(features),
                "gender": self.gender(features).squeeze(-1)}


class SiameseLSTM(nn.Module):
    """One LSTM (one set of weights) reads both sequences; a small head compares the two encodings."""

    def __init__(self, features: int = 8, units: int = 16):
        super().__init__()
        self.lstm = nn.LSTM(features, units, batch_first=True)
        self.head = nn.Sequential(nn.Linear(2 * units, 16), nn.ReLU(), nn.Linear(16, 1))

    def forward(self, left, right):  # (batch, steps, features) each
        merged = torch.cat([self.lstm(left)[0][:, -1], self.lstm(right)[0][:, -1]], dim=-1)  # (batch, 2 units)
        return self.head(merged).squeeze(-1)  # (batch,) logit of "same source"


class DualCamera(nn.Module):
    """A whole convnet used as a layer on both camera views (shared weights), then one output."""

    def __init__(self, backbone: nn.Module, features: int = 32):
        super().__init__()
        self.backbone = backbone
        self.size = nn.Linear(2 * features, 1)

    def forward(self, left, right):  # (batch, 1, 20, 20) each
        return self.size(torch.cat([self.backbone(left), self.backbone(right)], dim=-1)).squeeze(-1)


def camera_backbone() -> nn.Module:
    """A small convnet: (batch, 1, H, W) -> (batch, 32) features."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def bands(labels: torch.Tensor, length: int, band: int, offset: int, share: float, g: torch.Generator) -> torch.Tensor:
    """Token ids: a ``share`` of them from the label's band ``[offset + label·band, + band)``, the rest uniform."""
    uniform = torch.randint(0, VOCABULARY, (len(labels), length), generator=g)
    planted = offset + labels[:, None] * band + torch.randint(0, band, (len(labels), length), generator=g)
    return torch.where(torch.rand(len(labels), length, generator=g) < share, planted, uniform)


def question_answering_data(n: int, g: torch.Generator) -> tuple[dict, torch.Tensor]:
    answers = torch.randint(0, NUM_ANSWERS, (n,), generator=g)
    text = bands(answers, 24, VOCABULARY // NUM_ANSWERS, 0, 0.3, g)  # the rule: the text's topic is the answer
    question = torch.randint(0, VOCABULARY, (n, 8), generator=g)  # pure noise, as in the chapter
    return {"text": text, "question": question}, answers


def posts_data(n: int, g: torch.Generator) -> tuple[torch.Tensor, dict]:
    income = torch.randint(0, NUM_INCOME_GROUPS, (n,), generator=g)
    gender = torch.randint(0, 2, (n,), generator=g)
    posts = torch.where(torch.rand(n, 60, generator=g) < 0.5, bands(income, 60, 50, 0, 0.6, g),
                        bands(gender, 60, 250, 500, 0.6, g))
    age = 20 + 3 * income + 5 * gender + 3 * torch.randn(n, generator=g)  # years
    age = age - 40  # years from 40: centred, so a fresh output layer starts near the targets
    return posts, {"age": age.float(), "income": income, "gender": gender.float()}


def siamese_data(n: int, g: torch.Generator) -> tuple[dict, torch.Tensor]:
    direction = torch.tensor([1.0, -1.0] * 4)  # fixed: source +1 drifts along it, source -1 against it
    sources = torch.randint(0, 2, (2, n), generator=g) * 2 - 1
    left, right = (0.5 * s[:, None, None] * direction + torch.randn(n, 10, 8, generator=g) for s in sources)
    return {"left": left, "right": right}, (sources[0] == sources[1]).float()


def camera_data(n: int, g: torch.Generator) -> tuple[dict, torch.Tensor]:
    sizes = torch.randint(2, 9, (n,), generator=g)  # the object's side in pixels, seen by both cameras
    views = []
    for shift in (0, 1):
        images = 0.1 * torch.rand(n, 1, 20, 20, generator=g)
        corner = torch.randint(0, 11, (n, 2), generator=g)
        side = sizes - shift * torch.randint(0, 2, (n,), generator=g)  # the second view may see one pixel less
        rows = torch.arange(20)
        inside = lambda axis: (rows >= corner[:, axis, None]) & (rows < (corner[:, axis] + side)[:, None])  # noqa: E731
        views.append(images + (inside(0)[:, :, None] & inside(1)[:, None, :]).float()[:, None])
    return {"left": views[0], "right": views[1]}, sizes.float()


#: name -> (model builder, data maker ``(n, generator) -> (x, y)``, the arguments of fit and evaluate)
EXAMPLES = {
    "two inputs: question answering": (lambda: QuestionAnswering(), question_answering_data,
                                       {"optimizer": "rmsprop", "metrics": ["accuracy"]}),
    "three outputs, loss weights: posts": (lambda: PostsModel(), posts_data, {
        "optimizer": "rmsprop", "loss": {"age": "mse", "income": "cross_entropy", "gender": "binary_cross_entropy"},
        "loss_weights": {"age": 0.25, "income": 1.0, "gender": 10.0},
        "metrics": {"age": ["mae"], "income": ["accuracy"], "gender": ["accuracy"]}}),
    "shared layer: Siamese LSTM": (lambda: SiameseLSTM(), siamese_data,
                                   {"loss": "binary_cross_entropy", "metrics": ["accuracy"]}),
    "model as a layer: two cameras": (lambda: DualCamera(camera_backbone()), camera_data,
                                      {"loss": "mse", "metrics": ["mae"]}),
}


def run(data: Any = "synthetic", seeds: Any = None, quick: bool = False, out: Any = None,
        device: Any = "auto", batch_size: int = 32) -> RecipeResult:
    """Train the four models per seed on fresh synthetic data; return held-out scores beside chance."""
    if data != "synthetic":
        raise ValueError(format_message("data", data, "'synthetic' (this recipe makes its own data, as the chapter "
                                        "does)", "leave --data out"))
    sizes = QUICK if quick else FULL
    seeds = resolve_seeds(seeds, quick)
    scores: dict[str, dict[str, list[float]]] = {}
    params = {}
    for seed in seeds:
        for name, (build, make_data, fit_kwargs) in EXAMPLES.items():
            g = make_generator(seed, "data", name)
            train, test = make_data(sizes["num_train"], g), make_data(sizes["num_test"], g)
            seed_everything(seed)
            model = build()
            params[name] = count_params(model)[0]
            history = topnet.fit(model, train, epochs=sizes["epochs"], batch_size=batch_size, seed=seed, device=device,
                                 verbose=0, **fit_kwargs).history
            logs = topnet.evaluate(model, test, device=device,
                                   **{k: v for k, v in fit_kwargs.items() if k != "optimizer"})
            for metric, (value, chance) in held_out(name, logs, train[1], test[1]).items():
                entry = scores.setdefault(f"{name}|{metric}", {"test": [], "chance": [], "first": [], "last": []})
                entry["test"].append(value)
                entry["chance"].append(chance)
                entry["first"].append(history["loss"][0])
                entry["last"].append(history["loss"][-1])
    return table(scores, params, sizes, seeds, batch_size, device, out)


def held_out(name: str, logs: dict[str, float], y_train: Any, y_test: Any) -> dict[str, tuple[float, float]]:
    """``{metric: (test value, chance baseline)}``; the baselines use only training targets."""
    if name.startswith("two inputs"):
        return {"accuracy": (logs["accuracy"], 1 / NUM_ANSWERS)}
    if name.startswith("three outputs"):
        age_baseline = float((y_test["age"] - y_train["age"].mean()).abs().mean())  # predict the mean age
        majority = float((y_test["income"] == y_train["income"].mode().values).float().mean())
        return {"age MAE (years)": (logs["age_mae"], age_baseline), "income accuracy": (logs["income_accuracy"], majority),
                "gender accuracy": (logs["gender_accuracy"], 0.5)}
    if name.startswith("shared layer"):
        return {"accuracy": (logs["accuracy"], 0.5)}
    return {"object size MAE (pixels)": (logs["mae"], float((y_test - y_train.mean()).abs().mean()))}


def table(scores: dict, params: dict, sizes: dict, seeds: list[int], batch_size: int, device: Any,
          out: Any) -> RecipeResult:
    result = RecipeResult("functional-api", "Chollet 7.1: the functional API's four models on synthetic data",
                          ["model", "parameters", "training loss, first → last epoch", "held-out metric", "test",
                           "chance baseline"])
    for key, values in scores.items():
        name, metric = key.split("|")
        result.add_row(name, f"{params[name]:,}", f"{mean_spread(values['first'])} → {mean_spread(values['last'])}",
                       metric, mean_spread(values["test"]), mean_spread(values["chance"]))
    result.describe(seeds, device, data=f"synthetic, a new draw per seed: {sizes['num_train']} train / "
                                        f"{sizes['num_test']} held-out samples per model",
                    training=f"{sizes['epochs']} epochs, batch {batch_size}, RMSprop (the chapter's) for the first "
                             "two, Adam for the others")
    result.notes.append("the planted rules: the text's words come from the answer's band of the vocabulary; posts "
                        "mix words of the income group's and the gender's bands, and age = 20 + 3·group + 5·gender + "
                        "noise; a Siamese pair is 'same' when both sequences drift the same way; the two cameras see "
                        "one square whose side is the target")
    result.notes.append("the posts model's loss weights (0.25, 1, 10) are the chapter's; age is given as years from 40 "
                        "(centred: an output layer starting at 0 would need thousands of RMSprop steps to reach 40), "
                        "its MAE in years")
    result.raw = scores
    if out is not None:
        result.save(out)
    return result
