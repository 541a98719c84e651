"""The filtering config: one flat mapping of validated keys.

It starts from the defaults below (the spec: 1,000 examples, responses of 20-500 words, instruction
Jaccard < 0.8), then a profile's ``filtering:`` section, then overrides. Every key is checked: an
unknown key, an unknown filter in ``pipeline``, a value of the wrong type or out of range, or a
minimum above its maximum raises :class:`sit.config.ConfigError` with a message saying what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..config import ConfigError, resolve_settings
from . import dedup, language, rules
from .registry import FILTERS, Param

BUILTIN_FILTER_MODULES = (rules, language, dedup)  # importing them registers the built-in filters

# The most specific reason first ("I'm sorry, but I can't" is reported as a refusal, not as too short);
# near-duplicates last, so a cluster keeps a member that passed every other rule.
DEFAULT_PIPELINE = ("incomplete", "refusal", "repetition", "language", "length", "near_duplicate")
SELECTION_MODES = ("longest", "random", "all")

GENERAL_PARAMS: dict[str, Param] = {
    "pipeline": Param(list(DEFAULT_PIPELINE), list, help="filters to run, in this order"),
    "target": Param(1000, int, minimum=1, nullable=True,
                    help="how many examples to keep when more pass (null: keep all)"),
    "selection": Param("longest", str, choices=SELECTION_MODES,
                       help="longest responses, a seeded random sample, or all that pass"),
}


def all_params() -> dict[str, Param]:
    """Every config key: the general ones, then each registered filter's (default pipeline order first)."""
    params = dict(GENERAL_PARAMS)
    order = {name: position for position, name in enumerate(DEFAULT_PIPELINE)}
    for spec in sorted(FILTERS.values(), key=lambda spec: order.get(spec.name, len(order))):
        reserved = sorted(set(spec.params) & set(GENERAL_PARAMS))
        if reserved:
            raise ConfigError(f"filter '{spec.name}' uses reserved setting name(s) {reserved}")
        params.update(spec.params)
    return params


def config_reference() -> str:
    """One line per config key: name, default, what it does."""
    return "\n".join(f"  {key} = {param.default!r}: {param.help}" for key, param in all_params().items())


def default_config() -> dict:
    """The defaults of every key (a fresh copy)."""
    return {key: _copy(param.default) for key, param in all_params().items()}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _check_value(key: str, value: Any, param: Param) -> Any:
    """The value, normalised (tuples become lists, ints become floats where a float is expected)."""
    if value is None:
        if param.nullable:
            return None
        raise ConfigError(f"filtering.{key}: must not be null")
    kinds = param.kind if isinstance(param.kind, tuple) else (param.kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ConfigError(f"filtering.{key}: expected {_kind_names(kinds)}, got {value!r}")
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if list in kinds and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kinds):
        raise ConfigError(f"filtering.{key}: expected {_kind_names(kinds)}, got {value!r}")
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise ConfigError(f"filtering.{key}: expected a list of strings, got {value!r}")
    if param.minimum is not None and value < param.minimum:
        raise ConfigError(f"filtering.{key}: {value!r} is below the minimum {param.minimum}")
    if param.maximum is not None and value > param.maximum:
        raise ConfigError(f"filtering.{key}: {value!r} is above the maximum {param.maximum}")
    if param.choices is not None and value not in param.choices:
        raise ConfigError(f"filtering.{key}: {value!r} is not one of {', '.join(map(str, param.choices))}")
    return value


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list"}
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _check_pipeline(pipeline: list[str]) -> None:
    unknown = [name for name in pipeline if name not in FILTERS]
    if unknown:
        raise ConfigError(f"filtering.pipeline: unknown filter(s) {', '.join(map(repr, unknown))} "
                          f"(registered filters: {', '.join(sorted(FILTERS))})")
    repeated = sorted({name for name in pipeline if pipeline.count(name) > 1})
    if repeated:
        raise ConfigError(f"filtering.pipeline: filter(s) listed twice: {', '.join(repeated)}")


def filter_config(profile_section: Mapping | None = None, overrides: Mapping | None = None) -> dict:
    """The validated config: defaults, then ``profile_section``, then ``overrides`` (plain keys).

    The result has every key, so it can be stored in a manifest and passed back in unchanged."""
    params = all_params()
    config = resolve_settings("filtering", default_config(), profile_section, overrides, known=params)
    for key, param in params.items():
        config[key] = _check_value(key, config[key], param)
    _check_pipeline(config["pipeline"])
    for spec in FILTERS.values():
        if spec.check is not None:
            spec.check(config)
    return config
