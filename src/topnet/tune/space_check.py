"""``check_space``: a search space's words are words of the configuration vocabulary.

`SearchSpace` checks a space's structure; this checks its vocabulary against
`topnet.configs.builders` (keys, model families, schedules, augmentations), so a typo in a
user's TOML file fails before anything is written, not halfway through a search.
"""
from __future__ import annotations

from typing import Any

from topnet.configs.builders import AUGMENTATIONS, SCHEDULES, check_keys
from topnet.errors import format_message, unknown_name
from topnet.nn.models import list_models
from topnet.tune.space import Categorical, Fixed, SearchSpace

__all__ = ["check_space"]


def check_space(space: SearchSpace) -> None:
    """Raise ValueError for a search space whose words no configuration can hold: a parameter,
    a rule's ``then`` key, a baseline or portfolio key outside the vocabulary above, or a ``family``,
    ``schedule`` or ``augment`` value (a choice, a fixed value, a condition) that does not exist.

    `SearchSpace` checks a space's structure; this checks its vocabulary, so a typo in a user's
    TOML file fails before anything is written, not halfway through a search.

    Raises:
        ValueError: naming the place (``params``, ``rules[0].then``, ``portfolio[1]``...), the
            bad key or value, the valid ones and the nearest.

    Example:
        >>> check_space(SearchSpace({"family": Categorical(["mlp", "resnet"]), "width": Categorical([16, 32])}))
        >>> check_space(SearchSpace({"widht": Categorical([16, 32])}))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: search space params: unknown configuration key 'widht'; expected one of [...]; did you mean 'width'?
    """
    sections = {"params": space.params, "baseline": space.baseline or {},
                **{f"portfolio[{i}]": entry for i, entry in enumerate(space.portfolio)},
                **{f"rules[{i}].then": rule.then for i, rule in enumerate(space.rules)}}
    for where, section in sections.items():
        try:
            check_keys(section)
        except ValueError as error:
            raise ValueError(f"search space {where}: {error}") from None
        _check_names(where, section)
    conditions = {f"params.{name}.when": param.when for name, param in space.params.items() if param.when}
    conditions.update({f"rules[{i}].when": rule.when for i, rule in enumerate(space.rules)})
    for where, condition in conditions.items():  # their keys are checked by SearchSpace
        _check_names(where, condition)


def _check_names(where: str, section: Any) -> None:
    """The ``family``, ``schedule`` and ``augment`` values of ``section`` exist."""
    named = {"family": ("model family", list_models()), "schedule": ("schedule", SCHEDULES),
             "augment": ("augment", AUGMENTATIONS)}
    for key in sorted(named.keys() & set(section)):
        value = section[key]
        if isinstance(value, (Categorical, Fixed)):
            values = value.choices if isinstance(value, Categorical) else (value.value,)
        elif hasattr(value, "low"):  # an Int or Float range
            raise ValueError(format_message(f"search space {where}.{key}", "a numeric range", "choices or a value",
                                            f"e.g. choices = {list(named[key][1])[:2]}"))
        else:
            values = value if isinstance(value, (list, tuple)) else (value,)
        kind, valid = named[key]
        for name in values:
            if name not in valid:
                raise ValueError(f"search space {where}.{key}: {unknown_name(kind, name, valid)}")
