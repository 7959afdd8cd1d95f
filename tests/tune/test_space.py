"""Search spaces: sampling with conditions and rules, TOML with unknown keys as errors, defaults."""
import json

import numpy as np
import pytest

from topnet.configs.builders import build_model, complete_config
from topnet.configs.data_spec import model_arguments
from topnet.data import Dataset, Splits
from topnet.nn import initializer_for
from topnet.tune import Categorical, Fixed, Float, Int, Rule, SearchSpace, default_space, image_space, vector_space
from topnet.tune._optuna import import_optuna

TOML = """
[params.family]
choices = ["mlp", "selu_mlp"]

[params.activation]
choices = ["relu", "elu", "selu"]
when = { family = "mlp" }

[params.batch_norm]
choices = [true, false]

[params.depth]
low = 1
high = 3

[params.lr]
low = 1e-4
high = 1e-1
log = true

[params.dropout]
type = "float"
low = 0
high = 0.3
when = { family = ["mlp", "selu_mlp"] }

[[rules]]
when = { family = "selu_mlp" }
then = { activation = "selu" }

[[rules]]
when = { activation = "selu" }
then = { batch_norm = false, initializer = "lecun_normal" }

[baseline]
family = "mlp"
lr = 0.001
"""


def sample_many(space, n=40, seed=0):
    optuna = import_optuna()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = []
    for _ in range(n):
        trial = study.ask()
        configs.append(space.sample(trial))
        study.tell(trial, 0.0)
    return configs


def test_toml_space_kinds_conditions_and_rules():
    space = SearchSpace.from_toml(TOML)
    assert isinstance(space.params["depth"], Int) and isinstance(space.params["lr"], Float) and space.params["lr"].log
    assert isinstance(space.params["dropout"], Float) and space.baseline == {"family": "mlp", "lr": 0.001}
    configs = sample_many(space)
    for config in configs:
        if config["family"] == "selu_mlp" or config.get("activation") == "selu":
            assert config["activation"] == "selu" and config["batch_norm"] is False
            assert config["initializer"] == "lecun_normal"
        else:
            assert "initializer" not in config
        assert 1e-4 <= config["lr"] <= 1e-1 and 1 <= config["depth"] <= 3
    assert {c["family"] for c in configs} == {"mlp", "selu_mlp"}
    assert any(c.get("activation") == "selu" and c["family"] == "mlp" for c in configs)  # the rule, not the family


def test_toml_file_and_dict_round_trip(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(TOML)
    space = SearchSpace.from_toml(path)
    again = SearchSpace.from_dict(json.loads(space.to_json()))
    assert again == space
    params = {"family": "mlp", "activation": "elu", "batch_norm": True, "depth": 2, "lr": 0.01, "dropout": 0.1}
    assert again.config_from_params(params) == space.config_from_params(params) == params


@pytest.mark.parametrize("text, message", [
    ("[params.lr]\nlow = 1e-4\nhigh = 0.1\nlog = true\nlogg = true\n", "unknown key.*logg"),
    ("[param.lr]\nlow = 1\nhigh = 2\n", "unknown key.*param"),
    ("[params.x]\nchoices = [1]\n[[rules]]\nwhen = { x = 1 }\nthen = { y = 2 }\nunless = 3\n", "unknown key.*unless"),
    ("[params.x]\ntype = \"integer\"\nlow = 1\nhigh = 2\n", "type"),
    ("[params.x]\nhigh = 2\n", "low"),
    ("[params.x]\nchoices = [1]\nwhen = { y = 2 }\n", "defined before"),
    ("[params.x]\nlow = 0.0\nhigh = 1.0\nlog = true\n", "low > 0"),
    ("[params.x]\nchoices = []\n", "non-empty"),
    ("[params.x]\nchoices = [1]\n[baseline]\nz = 1\n", "baseline"),
])
def test_toml_errors_name_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace.from_toml(text)


def test_python_space_with_rules_and_fixed():
    space = SearchSpace({"family": Categorical(["convnet", "small_convnet"]),
                         "activation": Categorical(["relu", "selu"], when={"family": "convnet"}),
                         "batch_size": Fixed(32)},
                        rules=[Rule(when={"family": "small_convnet"}, then={"activation": "relu"})])
    assert space.config_from_params({"family": "small_convnet"}) == {"family": "small_convnet", "activation": "relu",
                                                                      "batch_size": 32}
    with pytest.raises(ValueError, match="a value for 'activation'"):
        space.config_from_params({"family": "convnet"})


@pytest.mark.parametrize("bad", [lambda: Int(3, 1), lambda: Int(1.5, 3), lambda: Categorical([[1, 2]]),
                                 lambda: Rule(when={}, then={"a": 1}), lambda: Float(0, 1, log=True)])
def test_bad_ranges_raise(bad):
    with pytest.raises(ValueError):
        bad()


def build_every_config(space, input_shape, num_classes=3, n=30):
    train = Dataset(x=np.zeros((4, *input_shape), np.float32), y=np.array([0, 1, 2, 0]))
    for config in sample_many(space, n):
        config = complete_config(config, epochs=1)
        family = config["family"]
        model = build_model(config, model_arguments(family, train, num_classes))
        if config.get("activation") and family != "small_convnet":
            assert config["initializer"] == initializer_for(config["activation"])
        yield config, model


def test_default_image_space_builds_every_sample():
    seen = set()
    for config, model in build_every_config(image_space(widths=(4,), max_depth=3), (1, 8, 8)):
        seen.add(config["family"])
        if config.get("activation") == "selu":
            assert config["batch_norm"] is False and config["dropout"] == 0.0
        if config["family"] == "small_convnet":
            assert config["activation"] == "relu"
    assert seen == {"small_convnet", "convnet", "separable_convnet", "resnet"}


def test_default_vector_space_selu_means_a_self_normalising_net():
    import torch

    for config, model in build_every_config(vector_space(widths=(8,)), (6,)):
        uses_alpha = any(isinstance(m, torch.nn.AlphaDropout) for m in model.modules())
        uses_bn = any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
        if config["activation"] == "selu":
            assert config["family"] == "selu_mlp" and not uses_bn and config["initializer"] == "lecun_normal"
            assert uses_alpha == (config["dropout"] > 0)
        else:
            assert config["family"] == "mlp" and uses_bn == config["batch_norm"]


def test_default_signal_space_builds_every_sample_and_each_model_reads_the_whole_signal():
    import torch

    from topnet.tune.defaults import signal_space

    seen = set()
    for config, model in build_every_config(signal_space(length=16), (2, 16), n=40):
        seen.add(config["family"])
        x = torch.randn(3, 2, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
        model.eval()
        model(x)[:, 0].sum().backward()
        assert x.grad[:, :, -1].abs().sum() > 0, config  # the signal's last step reaches the output
        assert config["family"] != "rnn_net" or "depth" not in config
    assert seen == {"conv1d_net", "rnn_net", "mlp"}
    assert signal_space(length=16).params["depth"].high == 4 and signal_space(length=5).params["depth"].high == 2


def test_default_space_by_data_kind():
    images = Splits(train=Dataset(x=np.zeros((2, 1, 8, 8)), y=np.array([0, 1])))
    signals = Splits(train=Dataset(x=np.zeros((2, 1, 40)), y=np.array([0, 1])))
    flat = Splits(train=Dataset(x=np.zeros((2, 40)), y=np.array([0, 1])))
    assert "augment" in default_space(images).params and "augment" not in default_space(signals).params
    assert default_space(signals).baseline["family"] == "conv1d_net"
    assert "conv1d_net" in default_space(signals).params["family"].choices
    assert default_space(flat).params["family"].value == "mlp"
    assert default_space("tabular").params["family"].choices == ("mlp", "wide_and_deep")
    with pytest.raises(ValueError, match="unknown data kind"):
        default_space("audio")


def test_a_table_with_a_text_column_starts_from_a_model_that_reads_the_text():
    """The stand-in of a search that finishes no trial is the space's baseline: on a table with a
    text column it must be a ``wide_and_deep`` (an MLP on the flattened table drops the text)."""
    import numpy as np

    from topnet.data import Dataset, Splits
    from topnet.pipeline.search import baseline_record
    from topnet.tune.defaults import default_space

    def table(with_text: bool) -> Splits:
        x = {"numeric": np.zeros((4, 1), np.float32), "categorical": np.zeros((4, 1), np.int64)}
        if with_text:
            x["text"] = np.ones((4, 8), np.int64)
        return Splits(train=Dataset(x=x, y=np.array([0, 1, 0, 1])))

    texts = default_space(table(True))
    assert texts.baseline["family"] == "wide_and_deep" and baseline_record(texts).config["family"] == "wide_and_deep"
    assert texts.first_trials()[0]["family"] == "wide_and_deep"
    assert "family" not in default_space(table(False)).baseline  # without text the first trial samples it, as before
