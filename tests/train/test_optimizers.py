"""Optimizers: every name trains, defaults equal the documented table, Keras names, errors."""
import ast
import doctest
import re

import pytest
import torch

import topnet.train.optimizers as optimizers_module
from topnet.train.optimizers import OPTIMIZERS, get_optimizer


def _quadratic(w):
    return ((w - 1.0) ** 2).sum()


def _documented_table():
    """{name: (class name, {argument: value})} parsed from the module docstring's table."""
    table = {}
    for line in optimizers_module.__doc__.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in OPTIMIZERS:
            pairs = re.findall(r"(\w+)=(\([^)]*\)|[^,\s]+)", cells[2])
            table[cells[0]] = (cells[1], {k: ast.literal_eval(v) for k, v in pairs})
    return table


def test_docstring_examples_run():
    assert doctest.testmod(optimizers_module).failed == 0


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_lowers_a_quadratic(name):
    w = torch.nn.Parameter(torch.zeros(3))
    optimizer = get_optimizer(name, [w])
    start = float(_quadratic(w.detach()))
    for _ in range(5):
        optimizer.zero_grad()
        _quadratic(w).backward()
        optimizer.step()
    assert float(_quadratic(w.detach())) < start


def test_defaults_equal_the_documented_table():
    table = _documented_table()
    assert sorted(table) == sorted(OPTIMIZERS) and len(OPTIMIZERS) >= 8
    for name, (class_name, defaults) in table.items():
        entry = OPTIMIZERS[name]
        assert entry.cls.__name__ == class_name, name
        assert entry.defaults == defaults, name
        built = get_optimizer(name, [torch.nn.Parameter(torch.zeros(1))])
        assert type(built) is entry.cls
        assert {k: built.defaults[k] for k in defaults} == defaults, name


def test_defaults_that_differ_from_keras_3():
    assert OPTIMIZERS["adadelta"].defaults == {"lr": 1.0, "rho": 0.95, "eps": 1e-6}  # the paper
    assert OPTIMIZERS["adagrad"].defaults["lr"] == 0.01


def test_keras_argument_names_are_translated():
    w = [torch.nn.Parameter(torch.zeros(2))]
    rms = get_optimizer("rmsprop", w, rho=0.8, epsilon=1e-5, learning_rate=0.1)
    assert (rms.defaults["alpha"], rms.defaults["eps"], rms.defaults["lr"]) == (0.8, 1e-5, 0.1)
    assert get_optimizer("adadelta", w, rho=0.9).defaults["rho"] == 0.9  # Adadelta's rho is rho
    assert get_optimizer("adam", w, beta_1=0.5).defaults["betas"] == (0.5, 0.999)
    assert get_optimizer("nadam", w, beta_2=0.99).defaults["betas"] == (0.9, 0.99)
    assert get_optimizer("sgd", w, lr=0.5, momentum=0.9, nesterov=True).defaults["nesterov"] is True


def test_both_spellings_are_refused():
    w = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(TypeError, match="both"):
        get_optimizer("adam", w, lr=0.1, learning_rate=0.2)
    with pytest.raises(TypeError, match="both"):
        get_optimizer("adam", w, betas=(0.9, 0.99), beta_1=0.8)
    with pytest.raises(TypeError, match="both"):
        get_optimizer("rmsprop", w, rho=0.9, alpha=0.9)


def test_unknown_arguments_name_the_valid_ones():
    w = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(TypeError, match=r"SGD got unknown arguments \['beta_1'\].*'momentum'"):
        get_optimizer("sgd", w, beta_1=0.9)
    with pytest.raises(TypeError, match="clips gradients in the training loop"):
        get_optimizer("adam", w, clipnorm=1.0)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov.*momentum"):
        get_optimizer("sgd", [torch.nn.Parameter(torch.zeros(2))], nesterov=True)


def test_instances_pass_through_and_classes_are_built():
    w = [torch.nn.Parameter(torch.zeros(2))]
    built = torch.optim.SGD(w, lr=0.1)
    assert get_optimizer(built, w) is built
    with pytest.raises(ValueError, match="already built"):
        get_optimizer(built, w, lr=0.2)
    with pytest.raises(ValueError, match="already built"):
        get_optimizer(built, w, momentum=0.9)
    adam = get_optimizer(torch.optim.Adam, w, lr=0.3, beta_1=0.8)
    assert type(adam) is torch.optim.Adam and adam.defaults["lr"] == 0.3
    assert adam.defaults["betas"] == (0.8, 0.999)


def test_param_groups_give_discriminative_learning_rates():
    body, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    groups = [{"params": body.parameters(), "learning_rate": 1e-4},
              {"params": head.parameters()}]
    optimizer = get_optimizer("adam", groups, lr=1e-2)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-4, 1e-2]
    assert optimizer.param_groups[1]["eps"] == 1e-7


def test_params_may_be_a_generator_but_not_a_module():
    model = torch.nn.Linear(3, 1)
    assert len(get_optimizer("sgd", model.parameters()).param_groups[0]["params"]) == 2
    with pytest.raises(TypeError, match=r"model\.parameters\(\)"):
        get_optimizer("sgd", model)
    with pytest.raises(ValueError, match="params"):
        get_optimizer("sgd", [])


def test_name_errors():
    w = [torch.nn.Parameter(torch.zeros(2))]
    assert isinstance(get_optimizer("Adam", w), torch.optim.Adam)
    with pytest.raises(ValueError, match="did you mean 'adamw'"):
        get_optimizer("adamw_", w)
    with pytest.raises(ValueError, match=r"expected one of \['adadelta'"):
        get_optimizer("lion", w)
    with pytest.raises(TypeError, match="int"):
        get_optimizer(3, w)
