"""Search spaces: categorical, int and float (log) ranges with conditions, in Python or TOML.

A `SearchSpace` is an ordered mapping of parameter names to ranges plus `Rule`s. Sampling
walks the parameters in order; a parameter with ``when`` is sampled only when its condition
holds for the values chosen so far (``{"family": "resnet"}``, or a list for "any of"); a rule
whose ``when`` holds fixes values instead of sampling them (``activation == "selu"`` implies
LeCun initialisation, no batch norm). The result is a plain JSON-able dict, the *configuration*,
which `topnet.configs.builders` turns into a model and its training.

The same space in TOML (``SearchSpace.from_toml``); unknown keys are errors::

    [params.family]
    choices = ["mlp", "selu_mlp"]

    [params.lr]
    low = 1e-4
    high = 0.1
    log = true

    [params.batch_norm]
    choices = [true, false]
    when = { family = "mlp" }

    [[rules]]
    when = { family = "selu_mlp" }
    then = { activation = "selu", batch_norm = false }

    [baseline]
    family = "mlp"
    lr = 1e-3

    [[portfolio]]
    family = "selu_mlp"
    lr = 3e-4

A new study tries the ``baseline`` first, then each ``[[portfolio]]`` entry in order
(`SearchSpace.first_trials`); the sampler (TPE) then starts from their results.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from topnet.errors import format_message

__all__ = ["Categorical", "Int", "Float", "Fixed", "Rule", "SearchSpace", "matches"]

_CHOICE_TYPES = (type(None), bool, int, float, str)  # what Optuna stores for a categorical


def matches(condition: Mapping[str, Any] | None, config: Mapping[str, Any]) -> bool:
    """Whether ``config`` satisfies ``condition``: each key present and equal (a list: any of).

    Example:
        >>> matches({"family": ["mlp", "selu_mlp"]}, {"family": "mlp"}), matches({"x": 1}, {})
        (True, False)
    """
    for key, wanted in (condition or {}).items():
        if key not in config:
            return False
        options = wanted if isinstance(wanted, (list, tuple)) else [wanted]
        if config[key] not in options:
            return False
    return True


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (None, bool, int, float or str values)."""

    choices: tuple[Any, ...]
    when: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        bad = [c for c in self.choices if not isinstance(c, _CHOICE_TYPES)]
        if not self.choices or bad:
            raise ValueError(format_message("choices", list(self.choices), "a non-empty list of None, bool, int, "
                                            "float or str values", "encode lists as strings, e.g. '32-64'"))

    def sample(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.choices))


@dataclass(frozen=True)
class Int:
    """An int in ``[low, high]`` (both included), every ``step``, optionally on a log scale."""

    low: int
    high: int
    step: int = 1
    log: bool = False
    when: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_range(self, int)

    def sample(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)


@dataclass(frozen=True)
class Float:
    """A float in ``[low, high]``, optionally on a log scale (learning rates) or every ``step``."""

    low: float
    high: float
    log: bool = False
    step: float | None = None
    when: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_range(self, (int, float))

    def sample(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


@dataclass(frozen=True)
class Fixed:
    """A constant: recorded in every configuration, never searched."""

    value: Any
    when: Mapping[str, Any] | None = None

    def sample(self, trial: Any, name: str) -> Any:
        return self.value


Param = Union[Categorical, Int, Float, Fixed]
_KINDS: dict[str, type] = {"categorical": Categorical, "int": Int, "float": Float, "fixed": Fixed}


def _check_range(param: Int | Float, types: Any) -> None:
    name = type(param).__name__
    if any(isinstance(v, bool) or not isinstance(v, types) for v in (param.low, param.high)):
        raise ValueError(format_message(f"{name} low/high", (param.low, param.high), f"numbers of type {types}"))
    if param.low > param.high:
        raise ValueError(format_message(f"{name} range", (param.low, param.high), "low <= high"))
    if param.log and (param.low <= 0 or (param.step not in (None, 1))):
        raise ValueError(format_message(f"{name} log range", (param.low, param.high), "low > 0 and no step",
                                        "use log=false for ranges that include 0"))


@dataclass(frozen=True)
class Rule:
    """When ``when`` holds for a configuration, the keys of ``then`` take its values."""

    when: Mapping[str, Any]
    then: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not self.when or not self.then:
            raise ValueError(format_message("rule", {"when": self.when, "then": self.then},
                                            "a non-empty 'when' condition and 'then' values"))


@dataclass(frozen=True)
class SearchSpace:
    """Ordered parameters and rules; `sample` draws one configuration from an Optuna trial.

    Args:
        params: ``{name: Categorical | Int | Float | Fixed}``, sampled in this order.
        rules: `Rule`s; a matching rule's values replace sampling (and win over sampled values).
        baseline: parameter values of a known-good configuration, tried first by a new study
            (Optuna's ``enqueue_trial``); parameters it leaves out are sampled.
        portfolio: more partial configurations, tried after the baseline in this order (best
            expected value first; `topnet.tune.portfolio` holds measured ones per kind of data).

    Raises:
        ValueError: a ``when`` naming a parameter that is not defined before it (typos), or a
            baseline or portfolio entry naming a key that is not a parameter.

    Example:
        >>> space = SearchSpace({"family": Categorical(["mlp", "selu_mlp"]),
        ...                      "batch_norm": Categorical([True, False], when={"family": "mlp"})},
        ...                     rules=[Rule(when={"family": "selu_mlp"}, then={"activation": "selu"})])
        >>> space.config_from_params({"family": "selu_mlp"})
        {'family': 'selu_mlp', 'activation': 'selu'}
    """

    params: Mapping[str, Param]
    rules: tuple[Rule, ...] = field(default=())
    baseline: Mapping[str, Any] | None = None
    portfolio: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "portfolio", tuple(self.portfolio))
        unknown = sorted(set(self.baseline or {}) - set(self.params))
        if unknown:
            raise ValueError(format_message("baseline", unknown, f"parameters of the space {sorted(self.params)}"))
        for index, entry in enumerate(self.portfolio):
            if not isinstance(entry, Mapping):
                raise ValueError(format_message(f"portfolio[{index}]", entry, "a table of parameter values"))
            unknown = sorted(set(entry) - set(self.params))
            if unknown:
                raise ValueError(format_message(f"portfolio[{index}]: unknown key(s)", unknown,
                                                f"parameters of the space {sorted(self.params)}"))
        known = {key for rule in self.rules for key in rule.then}
        for name, param in self.params.items():
            if not isinstance(param, tuple(_KINDS.values())):
                raise TypeError(format_message(f"param {name!r}", param, "Categorical, Int, Float or Fixed"))
            unknown = sorted(set(param.when or {}) - known)
            if unknown:
                raise ValueError(format_message(f"param {name!r} when", dict(param.when), "conditions on parameters "
                                                f"defined before it ({sorted(known) or 'none'})", "reorder the params"))
            known.add(name)
        for rule in self.rules:
            unknown = sorted(set(rule.when) - known)
            if unknown:
                raise ValueError(format_message("rule when", dict(rule.when),
                                                f"conditions on known keys {sorted(known)}"))

    def sample(self, trial: Any) -> dict[str, Any]:
        """One configuration, drawing each searched value with ``trial.suggest_*``."""
        config: dict[str, Any] = {}
        for name, param in self.params.items():
            fixed = [rule.then[name] for rule in self.rules if name in rule.then and matches(rule.when, config)]
            if fixed:
                config[name] = fixed[0]
            elif matches(param.when, config):
                config[name] = param.sample(trial, name)
        for rule in self.rules:  # rules whose condition holds only now, and keys that are not params
            if matches(rule.when, config):
                config.update(rule.then)
        return config

    def first_trials(self) -> list[dict[str, Any]]:
        """What a new study enqueues, in order: the baseline, then the portfolio entries.

        Only values inside the space are kept: a baseline value outside its parameter's range
        is left to the sampler, and a portfolio entry with such a value (a default space
        narrowed for a small budget, say) is left out whole, as is a repeat of an earlier entry.

        Example:
            >>> space = SearchSpace({"width": Categorical([16, 32]), "lr": Float(1e-4, 1e-2, log=True)},
            ...                     baseline={"width": 32}, portfolio=[{"width": 64}, {"width": 16, "lr": 3e-3},
            ...                                                        {"width": 32}])
            >>> space.first_trials()
            [{'width': 32}, {'width': 16, 'lr': 0.003}]
        """
        first = [{k: v for k, v in (self.baseline or {}).items() if _inside(self.params[k], v)}]
        for entry in self.portfolio:
            entry = dict(entry)
            if all(_inside(self.params[k], v) for k, v in entry.items()) and entry not in first:
                first.append(entry)
        return [entry for entry in first if entry]

    def portfolio_trials(self) -> list[dict[str, Any]]:
        """The portfolio entries `first_trials` keeps (inside the space, not the baseline again), in order.

        Example:
            >>> space = SearchSpace({"width": Categorical([16, 32])}, baseline={"width": 32},
            ...                     portfolio=[{"width": 64}, {"width": 16}, {"width": 32}])
            >>> space.portfolio_trials()
            [{'width': 16}]
        """
        baseline = {k: v for k, v in (self.baseline or {}).items() if _inside(self.params[k], v)}
        return [entry for entry in self.first_trials() if entry != baseline]

    def config_from_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The configuration that a trial with these ``params`` (``trial.params``) sampled."""
        return self.sample(_FixedTrial(params))

    def to_dict(self) -> dict[str, Any]:
        """The space as a JSON/TOML-able dict (what `from_dict` reads)."""
        params = {}
        for name, param in self.params.items():
            fields = {k: v for k, v in dataclasses.asdict(param).items() if v is not None}
            fields = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
            params[name] = {"type": _kind_of(param), **fields}
        document = {"params": params, "rules": [{"when": dict(r.when), "then": dict(r.then)} for r in self.rules]}
        if self.baseline:
            document["baseline"] = dict(self.baseline)
        if self.portfolio:
            document["portfolio"] = [dict(entry) for entry in self.portfolio]
        return document

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> SearchSpace:
        """Read a space from the dict form of `to_dict` or a parsed TOML file.

        Raises:
            ValueError: unknown keys (top level, in a parameter, in a rule) or bad values.
        """
        _no_unknown("search space", document, {"params", "rules", "baseline", "portfolio"})
        params = {name: _param_from_dict(name, spec) for name, spec in dict(document.get("params", {})).items()}
        rules = []
        for index, rule in enumerate(document.get("rules", [])):
            _no_unknown(f"rules[{index}]", rule, {"when", "then"})
            rules.append(Rule(when=dict(rule.get("when", {})), then=dict(rule.get("then", {}))))
        portfolio = document.get("portfolio", [])
        if not isinstance(portfolio, (list, tuple)):
            raise ValueError(format_message("portfolio", portfolio, "a list of tables ([[portfolio]] in TOML)"))
        baseline = dict(document["baseline"]) if document.get("baseline") else None
        return cls(params, tuple(rules), baseline, tuple(portfolio))

    @classmethod
    def from_toml(cls, source: str | os.PathLike) -> SearchSpace:
        """Read a space from a TOML file path, or from TOML text (when it holds a newline)."""
        text = str(source) if isinstance(source, str) and "\n" in source else None
        if text is None:
            with open(source, "rb") as handle:
                return cls.from_dict(tomllib.load(handle))
        return cls.from_dict(tomllib.loads(text))

    def to_json(self) -> str:
        """`to_dict` as a JSON string (how a study stores its space); keeps the parameters' order."""
        return json.dumps(self.to_dict())


def _inside(param: Param, value: Any) -> bool:
    """Whether ``value`` is one that ``param`` can take (True is not 1 here, unlike in Python)."""
    if isinstance(param, (Categorical, Fixed)):
        options = param.choices if isinstance(param, Categorical) else (param.value,)
        return any(value == option and isinstance(value, bool) == isinstance(option, bool) for option in options)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not param.low <= value <= param.high:
        return False
    if isinstance(param, Int):
        return isinstance(value, int) and (value - param.low) % param.step == 0
    return param.step is None or math.isclose(round((value - param.low) / param.step) * param.step, value - param.low)


def _kind_of(param: Param) -> str:
    return next(kind for kind, cls in _KINDS.items() if isinstance(param, cls))


def _no_unknown(what: str, spec: Any, allowed: set[str]) -> None:
    if not isinstance(spec, Mapping):
        raise ValueError(format_message(what, spec, f"a table with keys {sorted(allowed)}"))
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(format_message(f"{what}: unknown key(s)", unknown, f"only {sorted(allowed)}"))


def _param_from_dict(name: str, spec: Mapping[str, Any]) -> Param:
    """A parameter from its table: ``choices`` → Categorical, ``value`` → Fixed, ``low``/``high``
    → Int when both are ints (``low = 1``), else Float (``low = 1.0``); ``type`` forces the kind."""
    if not isinstance(spec, Mapping):
        raise ValueError(format_message(f"param {name!r}", spec, "a table such as {low = 1, high = 4}"))
    kind = spec.get("type")
    if kind is None:
        kind = ("categorical" if "choices" in spec else "fixed" if "value" in spec else
                "int" if all(isinstance(spec.get(k), int) for k in ("low", "high")) else "float")
    if kind not in _KINDS:
        raise ValueError(format_message(f"param {name!r} type", kind, f"one of {sorted(_KINDS)}"))
    cls = _KINDS[kind]
    allowed = {f.name for f in dataclasses.fields(cls)}
    _no_unknown(f"param {name!r}", spec, allowed | {"type"})
    fields = {k: v for k, v in spec.items() if k != "type"}
    missing = sorted(f.name for f in dataclasses.fields(cls)
                     if f.default is dataclasses.MISSING and f.name not in fields)
    if missing:
        raise ValueError(format_message(f"param {name!r}", dict(spec), f"the key(s) {missing} for a {kind} parameter"))
    if cls is Float:
        fields = {k: float(v) if k in ("low", "high") else v for k, v in fields.items()}
    return cls(**fields)


class _FixedTrial:
    """Replays known parameter values through the ``suggest_*`` calls of `SearchSpace.sample`."""

    def __init__(self, params: Mapping[str, Any]):
        self.params = dict(params)

    def _get(self, name: str) -> Any:
        if name not in self.params:
            raise ValueError(format_message("params", sorted(self.params), f"a value for {name!r}",
                                            "pass the trial's params from the same search space"))
        return self.params[name]

    def suggest_categorical(self, name: str, choices: list) -> Any:
        return self._get(name)

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return int(self._get(name))

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return float(self._get(name))
