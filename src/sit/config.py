"""The model registry and the profiles, read from ``configs/models.yaml`` and ``configs/profiles.yaml``.

A model can be named by its registry slug (``llama-3.2-3b``) or its hub id
(``meta-llama/Llama-3.2-3B``). A profile is plain data; one may ``extends:`` another and hold only
what differs. :func:`load_profile` applies dotted overrides (``{"generation.batch_size": 4}``) on top
of it, and :func:`resolve_settings` makes one section's effective settings for the phase that reads it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

ROLES = ("generator", "target", "reward", "judge")


class ConfigError(ValueError):
    """A configuration problem a user can fix; the message says what and how."""


def config_dir() -> Path:
    """Where the YAML files live (``SIT_CONFIG_DIR`` overrides the packaged copy)."""
    env = os.environ.get("SIT_CONFIG_DIR")
    if env:
        return Path(env)
    return Path(str(resources.files("sit") / "configs"))


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry, with its family merged in."""

    slug: str
    id: str
    roles: tuple[str, ...]
    family: str
    family_spec: dict
    gated: bool = False
    chat_template: str | None = None  # jinja source, or None for "use the tokenizer's own"
    chat_template_name: str | None = None
    prompt_format: str | None = None  # completion format for a base model, with {instruction}
    pad_token: str | None = None
    eot_token: str | None = None
    untrained_tokens: tuple[str, ...] = ()
    lora_targets: tuple[str, ...] = ()
    load: str = "fp16"
    t4: dict = field(default_factory=dict)
    arch: dict = field(default_factory=dict)
    toy: dict = field(default_factory=dict)
    # Weights that ship inside an installed Python package (``{distribution, module, gguf}``) instead of
    # coming from the hub or the toy world: loaded from there in every world.
    weights: dict | None = None

    @property
    def architecture(self) -> str:
        return self.family_spec["architecture"]

    @property
    def pre_query_template(self) -> str | None:
        return self.family_spec.get("pre_query_template")

    @property
    def instruct(self) -> bool:
        """A chat model already tuned to follow instructions: it has a chat template and no base completion
        format (``prompt_format``), so its base stage is asked through that template too."""
        return bool(self.chat_template_name) and self.prompt_format is None


class Registry:
    def __init__(self, data: dict, source: str = "models.yaml"):
        self.source = source
        self.families: dict = data.get("families") or {}
        self.chat_templates: dict = data.get("chat_templates") or {}
        self.prompt_formats: dict = data.get("prompt_formats") or {}
        self._models: dict[str, ModelSpec] = {}
        for slug, entry in (data.get("models") or {}).items():
            self._models[slug] = self._build(slug, entry)

    def _build(self, slug: str, entry: dict) -> ModelSpec:
        where = f"{self.source}: model '{slug}'"
        for key in ("id", "roles", "family"):
            if key not in entry:
                raise ConfigError(f"{where}: missing field '{key}'")
        family = entry["family"]
        if family not in self.families:
            raise ConfigError(f"{where}: unknown family '{family}' (known: {', '.join(self.families)})")
        roles = tuple(entry["roles"])
        bad = [r for r in roles if r not in ROLES]
        if bad:
            raise ConfigError(f"{where}: unknown role(s) {bad} (known: {', '.join(ROLES)})")
        _check_t4(where, entry.get("t4") or {})
        template_name = entry.get("chat_template")
        template = None
        if template_name and template_name != "native":
            if template_name not in self.chat_templates:
                raise ConfigError(
                    f"{where}: unknown chat_template '{template_name}' "
                    f"(known: native, {', '.join(self.chat_templates)})"
                )
            template = self.chat_templates[template_name]
        fmt_name = entry.get("prompt_format")
        fmt = None
        if fmt_name:
            if fmt_name not in self.prompt_formats:
                raise ConfigError(
                    f"{where}: unknown prompt_format '{fmt_name}' (known: {', '.join(self.prompt_formats)})"
                )
            fmt = self.prompt_formats[fmt_name]
        return ModelSpec(
            slug=slug,
            id=entry["id"],
            roles=roles,
            family=family,
            family_spec=dict(self.families[family]),
            gated=bool(entry.get("gated", False)),
            chat_template=template,
            chat_template_name=template_name,
            prompt_format=fmt,
            pad_token=entry.get("pad_token"),
            eot_token=entry.get("eot_token"),
            untrained_tokens=tuple(entry.get("untrained_tokens") or ()),
            lora_targets=tuple(entry.get("lora_targets") or ()),
            load=entry.get("load", "fp16"),
            t4=dict(entry.get("t4") or {}),
            arch=dict(entry.get("arch") or {}),
            toy=dict(entry.get("toy") or {}),
            weights=self._weights(where, entry.get("weights")),
        )

    @staticmethod
    def _weights(where: str, weights) -> dict | None:
        if weights is None:
            return None
        keys = ("distribution", "module", "gguf")
        if not isinstance(weights, dict) or sorted(weights) != sorted(keys):
            raise ConfigError(f"{where}: `weights` must name exactly {', '.join(keys)} (the pip distribution, "
                              f"its import name and the GGUF file inside it), got {weights!r}")
        return dict(weights)

    def for_profile(self, profile: Mapping) -> Registry:
        """The models a profile uses: the slugs its ``models`` list names, else every model its world provides
        (a toy world: the models with a ``toy`` stand-in; the hub: every model whose weights do not ship in a
        package). A profile's phases see only these, so a model added for one profile leaves the others alone."""
        names = profile.get("models")
        if names is None:
            if profile.get("world") == "toy":
                chosen = [spec for spec in self if spec.toy]
            else:
                chosen = [spec for spec in self if spec.weights is None]
        else:
            chosen = [self.get(name) for name in names]
        return self.subset(spec.slug for spec in chosen)

    def subset(self, slugs: Iterable[str]) -> Registry:
        """A registry holding only ``slugs`` (same families, templates and formats)."""
        keep = set(slugs)
        other = copy.copy(self)
        other._models = {slug: spec for slug, spec in self._models.items() if slug in keep}
        return other

    def with_toy_stand_ins(self) -> Registry:
        """The models the toy world builds: those with a ``toy`` stand-in."""
        return self.subset(spec.slug for spec in self if spec.toy)

    def __iter__(self):
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    @property
    def slugs(self) -> list[str]:
        return list(self._models)

    def get(self, name: str, role: str | None = None) -> ModelSpec:
        """Look a model up by slug or hub id (case-insensitive); optionally require a role."""
        if role is not None and role not in ROLES:
            raise ConfigError(f"unknown role '{role}' (known: {', '.join(ROLES)})")
        key = name.strip()
        spec = self._models.get(key)
        if spec is None:
            lowered = key.lower()
            for candidate in self._models.values():
                if lowered in (candidate.id.lower(), candidate.slug.lower()):
                    spec = candidate
                    break
        if spec is None:
            known = ", ".join(f"{s.slug} ({s.id})" for s in self._models.values())
            raise ConfigError(f"unknown model '{name}'. Registered models: {known}")
        if role is not None and role not in spec.roles:
            allowed = ", ".join(s.id for s in self.by_role(role))
            raise ConfigError(f"model '{name}' is not registered as a {role} (registered {role}s: {allowed})")
        return spec

    def by_role(self, role: str) -> list[ModelSpec]:
        if role not in ROLES:
            raise ConfigError(f"unknown role '{role}' (known: {', '.join(ROLES)})")
        return [s for s in self._models.values() if role in s.roles]


def _check_t4(where: str, t4: dict) -> None:
    """The registry's per-model T4 switches that the loaders and trainers read (typos would silently mean the default)."""
    if t4.get("decode_weights", "nf4") not in ("fp16", "nf4"):
        raise ConfigError(f"{where}: t4.decode_weights must be fp16 or nf4, got {t4['decode_weights']!r}")
    if not isinstance(t4.get("gradient_checkpointing", True), bool):
        raise ConfigError(f"{where}: t4.gradient_checkpointing must be true or false, "
                          f"got {t4['gradient_checkpointing']!r}")


def load_registry(path: str | Path | None = None) -> Registry:
    path = Path(path) if path else config_dir() / "models.yaml"
    return Registry(_read_yaml(path), source=str(path))


# --------------------------------------------------------------------------- profiles

AUTO = "auto"


def _cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # torch missing or broken: no GPU to use
        return False


def resolve_profile_name(name: str | None) -> str:
    """``auto``/None -> ``colab_t4`` with a CUDA GPU, else ``demo``."""
    if name in (None, "", AUTO):
        return "colab_t4" if _cuda_available() else "demo"
    return name


def _coerce(text: str) -> Any:
    """CLI override values: YAML scalars (``4``, ``0.5``, ``true``, ``null``, ``[a, b]``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(config: dict, overrides: dict | None, *, where: str = "overrides") -> dict:
    """Return a copy of ``config`` with dotted-key overrides applied.

    Unknown keys are an error (a typo must not be silently ignored)."""
    result = copy.deepcopy(config)
    for dotted, value in (overrides or {}).items():
        parts = str(dotted).split(".")
        node = result
        for i, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                prefix = ".".join(parts[:i]) or "<top>"
                known = ", ".join(sorted(node)) if isinstance(node, dict) else "(not a section)"
                raise ConfigError(f"{where}: unknown setting '{dotted}' (under {prefix}: {known})")
            if i == len(parts) - 1:
                node[part] = _coerce(value) if isinstance(value, str) else value
            else:
                node = node[part]
    return result


def parse_set_args(items: list[str] | None) -> dict:
    """``["generation.batch_size=4", ...]`` -> ``{"generation.batch_size": "4"}``."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got '{item}'")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def merge_profile(base: dict, diff: dict) -> dict:
    """``diff`` over ``base``: a section merges key by key, any other value (a list too) replaces."""
    merged = copy.deepcopy(base)
    for key, value in diff.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_profile(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_profiles(profiles: dict, source: str = "profiles.yaml") -> dict:
    """Every profile complete: one that ``extends`` another is its parent (resolved first) with its own values over it."""
    resolved: dict[str, dict] = {}

    def resolve(name: str, chain: list[str]) -> dict:
        if name in resolved:
            return resolved[name]
        own = profiles[name]
        if not isinstance(own, dict):
            raise ConfigError(f"{source}: profile '{name}' must be a mapping of settings")
        parent, values = own.get("extends"), {k: v for k, v in own.items() if k != "extends"}
        lineage = [*chain, name]
        if parent is None:
            profile = values
        elif parent not in profiles:
            raise ConfigError(f"{source}: profile '{name}' extends unknown profile '{parent}' "
                              f"(known: {', '.join(profiles)})")
        elif parent in lineage:
            raise ConfigError(f"{source}: profile '{name}' extends '{parent}', a cycle "
                              f"({' -> '.join([*lineage[lineage.index(parent):], parent])})")
        else:
            profile = merge_profile(resolve(parent, lineage), values)
        resolved[name] = profile
        return profile

    return {name: resolve(name, []) for name in profiles}


def load_profiles(path: str | Path | None = None) -> dict:
    path = Path(path) if path else config_dir() / "profiles.yaml"
    return resolve_profiles(_read_yaml(path), source=str(path))


def resolve_settings(name: str, *layers: Mapping | None, overrides: Mapping | None = None,
                     known: Iterable[str] | None = None) -> dict:
    """One section's effective settings: ``layers`` in order, each over the ones before (the code's or a
    registry's defaults, then the profile's section), then ``overrides`` (a None value means "not given").

    ``known`` names the settings there are (default: every key of the layers). A key outside them is an
    error naming the section: in ``overrides`` always, in a layer when ``known`` is given."""
    settings: dict = {}
    for layer in layers:
        settings.update(layer or {})
    names = sorted(known if known is not None else settings)
    for source in [*(layers if known is not None else ()), overrides]:
        unknown = sorted(set(source or {}) - set(names))
        if unknown:
            raise ConfigError(f"unknown {name} setting(s) {', '.join(map(repr, unknown))} "
                              f"(known: {', '.join(names)})")
    settings.update({key: value for key, value in (overrides or {}).items() if value is not None})
    return settings


def load_profile(name: str | None = AUTO, overrides: dict | None = None) -> dict:
    """The effective profile: the named one (``auto`` resolved), with overrides; ``name`` key set."""
    profiles = load_profiles()
    resolved = resolve_profile_name(name)
    if resolved not in profiles:
        raise ConfigError(f"unknown profile '{name}'. Known profiles: {', '.join([AUTO, *profiles])}")
    config = apply_overrides(profiles[resolved], overrides, where=f"profile '{resolved}'")
    config["name"] = resolved
    return config
