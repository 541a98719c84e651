"""The registry of named filters.

A verdict is ``None`` (keep the record) or a dict (reject it) with a human-readable ``"reason"`` plus
whatever evidence the filter found (matched phrase, detected language, duplicated id, ...).

A filter is one function. Most judge each record on its own: ``func(records, config)`` returns one
verdict per record. A filter whose verdicts depend on the other records (near-duplicates) is
registered with ``per_record=False`` and is called as ``func(records, config, views)``: each view
is a list of indices into ``records`` (all records, then those still in the pipeline), and it
returns one verdict list per view, so it can share work between them.

Register it with :func:`register_filter`, declaring its parameters (their defaults become config
keys), then name it in the config's ``pipeline`` list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import ConfigError

Verdict = dict | None
FilterFunc = Callable[..., list]


@dataclass(frozen=True)
class Param:
    """One config key a filter reads: its default and the values it accepts."""

    default: Any
    kind: type | tuple[type, ...]
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    help: str = ""


@dataclass(frozen=True)
class FilterSpec:
    name: str
    func: FilterFunc
    params: dict[str, Param]
    per_record: bool
    description: str
    check: Callable[[dict], None] | None = None


FILTERS: dict[str, FilterSpec] = {}


def register_filter(name: str, *, params: dict[str, Param] | None = None, per_record: bool = True,
                    check: Callable[[dict], None] | None = None) -> Callable[[FilterFunc], FilterFunc]:
    """Decorator adding a filter to :data:`FILTERS`.

    ``check(config)`` validates what single parameters cannot (a minimum above its maximum) and
    raises :class:`sit.config.ConfigError`. Parameter names share one flat config namespace, so a
    name may belong to one filter only."""

    def decorate(func: FilterFunc) -> FilterFunc:
        if name in FILTERS:
            raise ValueError(f"a filter named '{name}' is already registered")
        taken = {key for spec in FILTERS.values() for key in spec.params}
        clashes = sorted(set(params or {}) & taken)
        if clashes:
            raise ValueError(f"filter '{name}': parameter(s) {clashes} already belong to another filter")
        doc = (func.__doc__ or "").strip().splitlines()
        FILTERS[name] = FilterSpec(name=name, func=func, params=dict(params or {}), per_record=per_record,
                                   description=doc[0] if doc else "", check=check)
        return func

    return decorate


def check_ordered(config: dict, low: str, high: str) -> None:
    """Raise :class:`ConfigError` unless ``config[low] <= config[high]``."""
    if config[low] > config[high]:
        raise ConfigError(f"filtering: {low} ({config[low]}) is greater than {high} ({config[high]})")
