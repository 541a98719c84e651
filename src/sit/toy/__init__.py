"""The offline toy world: small trained stand-ins for every registry model, built from a seed.

The world lives in ``<root>/<content-hash>/`` with one hub-style folder per registry slug
(``config.json``, ``model.safetensors``, tokenizer files) and a ``manifest.json``. The hash covers
the seed, the scale, the registry entries and families, the source of ``sit/toy`` and the versions
of torch/transformers/tokenizers: a change rebuilds, an unchanged world is reused at once.

A build happens in a temporary folder renamed into place when complete (a killed build never
leaves a half world) under a file lock (two processes never build the same world together).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..config import ConfigError, Registry, load_registry

__all__ = ["Fingerprint", "cpu_kernels", "default_root", "describe", "ensure_toy_world", "fingerprint", "fingerprint_of",
           "toy_model_path", "world_hash"]

MANIFEST = "manifest.json"
DEFAULT_SEED = 42


def default_root() -> Path:
    """``$SIT_TOY_DIR``, else ``<checkout>/.cache/toy-world``, else ``~/.cache/synthetic-instruction-tuner/toy-world``."""
    env = os.environ.get("SIT_TOY_DIR")
    if env:
        return Path(env).expanduser()
    from ..workspace import find_repo_root

    repo = find_repo_root()
    if repo is not None:
        return repo / ".cache" / "toy-world"
    return Path.home() / ".cache" / "synthetic-instruction-tuner" / "toy-world"


def _registry_data(registry: Registry) -> dict:
    """Everything in the registry that shapes the toy models (a model without a ``toy`` stand-in is no part
    of the toy world: adding one leaves the world, and its hash, as it was)."""
    registry = registry.with_toy_stand_ins()
    models = {
        spec.slug: {"family": spec.family, "roles": list(spec.roles), "toy": spec.toy,
                    "tie_embeddings": spec.arch.get("tie_embeddings"), "chat_template": spec.chat_template,
                    "prompt_format": spec.prompt_format, "pad_token": spec.pad_token, "eot_token": spec.eot_token}
        for spec in registry
    }
    families = {name: registry.families[name] for name in sorted({spec.family for spec in registry})}
    return {"models": models, "families": families}


# Modules of sit/toy that only find, name or show a world; they do not shape its weights.
NOT_BUILD_SOURCE = ("__init__.py", "cli.py")


def cpu_kernels() -> dict[str, str | None]:
    """The CPU kernel choice that shapes trained weights: PyTorch's capability (AVX512, AVX2, DEFAULT, ...;
    ``ATEN_CPU_CAPABILITY`` lowers it) and MKL's conditional-numerical-reproducibility mode when set."""
    import torch

    return {"capability": torch.backends.cpu.get_cpu_capability(), "mkl_cbwr": os.environ.get("MKL_CBWR") or None}


def _source_digest() -> dict[str, str]:
    from .skills import source_files

    here = Path(__file__).resolve().parent
    files = {p.name: p for p in sorted(here.glob("*.py")) if p.name not in NOT_BUILD_SOURCE}
    files.update({f"{p.parent.name}/{p.name}": p for p in source_files()})
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files.items()}


def _versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in ("torch", "transformers", "tokenizers")}


def world_hash(seed: int = DEFAULT_SEED, scale: float = 1.0, registry: Registry | None = None) -> str:
    """The content hash naming a world folder. It covers the CPU kernel choice (:func:`cpu_kernels`):
    the same seeded training gives other weights on another instruction set, so a world built under
    one capability is never reused under another."""
    payload = {"seed": int(seed), "scale": float(scale), "registry": _registry_data(registry or load_registry()),
               "source": _source_digest(), "versions": _versions(), "cpu": cpu_kernels()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)


def ensure_toy_world(seed: int = DEFAULT_SEED, root: str | Path | None = None, force: bool = False,
                     *, scale: float = 1.0) -> Path:
    """The world folder for ``seed``, built first if missing (or if ``force``).

    ``scale`` < 1 shrinks corpus and training (a quick, lower-quality world for tests)."""
    registry = load_registry().with_toy_stand_ins()
    root = Path(root).expanduser() if root else default_root()
    digest = world_hash(seed, scale, registry)
    world = root / digest
    if not force and (world / MANIFEST).is_file():
        return world
    with _locked(root / f".{digest}.lock"):
        if not force and (world / MANIFEST).is_file():
            return world  # another process built it while we waited
        for stale in root.glob(f".{digest}.tmp-*"):
            _remove(stale)  # left by a killed build (we hold the lock, so nobody else is building)
        tmp = root / f".{digest}.tmp-{os.getpid()}"
        try:
            from .build import build_world

            build_world(tmp, registry, seed=seed, scale=scale, content_hash=digest)
            if world.exists():
                old = root / f".{digest}.tmp-old-{os.getpid()}"
                world.rename(old)
                _remove(old)
            tmp.rename(world)
        finally:
            _remove(tmp)
    return world


def toy_model_path(slug: str, seed: int = DEFAULT_SEED) -> Path:
    """``<world>/<slug>`` for a registry slug, building the world first if needed."""
    registry = load_registry().with_toy_stand_ins()
    if slug not in registry.slugs:
        raise ConfigError(f"no toy model '{slug}' (a registry model without a `toy:` stand-in has none). "
                          f"Known toy models: {', '.join(registry.slugs)}")
    return ensure_toy_world(seed) / slug


def describe(world: Path) -> dict:
    """The manifest of a built world."""
    return json.loads((world / MANIFEST).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Fingerprint:
    """Which world a result came from: two people whose fingerprints match built the same weights."""

    world_id: str  # toy:<content hash>
    capability: str  # the CPU kernels that trained it (plus MKL's mode when set)
    weights: str  # short hash over every model's weights

    def __str__(self) -> str:
        return f"{self.world_id} · CPU {self.capability} · weights {self.weights}"


def fingerprint(world: Path) -> Fingerprint:
    """The fingerprint of a built world, from its manifest (:func:`describe`)."""
    manifest = describe(world)
    try:
        cpu = manifest["cpu"]
        per_model = {slug: info["weights_sha256"] for slug, info in sorted(manifest["models"].items())}
    except KeyError as missing:
        raise ConfigError(f"{world / MANIFEST}: no {missing} recorded; this world was built by an older version, "
                          "run `sit toy-world --force` to rebuild it") from None
    capability = cpu["capability"] + (f" MKL_CBWR={cpu['mkl_cbwr']}" if cpu.get("mkl_cbwr") else "")
    weights = hashlib.sha256(json.dumps(per_model, sort_keys=True).encode()).hexdigest()[:12]
    return Fingerprint(world_id=f"toy:{manifest['hash']}", capability=capability, weights=weights)


def fingerprint_of(world_id: str, root: str | Path | None = None) -> Fingerprint | None:
    """The fingerprint of the world a ``toy:<hash>`` id names, when that world is built on this machine
    (None otherwise, or when an older build recorded no fingerprint)."""
    folder = (Path(root).expanduser() if root else default_root()) / world_id.removeprefix("toy:")
    if not (folder / MANIFEST).is_file():
        return None
    try:
        return fingerprint(folder)
    except ConfigError:
        return None
