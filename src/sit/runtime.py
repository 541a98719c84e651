"""Where the code runs: Colab or not, Drive, the HF token, seeding, and a short environment summary.

The only seam to Colab is :func:`colab_module` (``google.colab`` cannot exist off Colab); tests
replace it. The token is never printed, logged or saved: it goes into ``os.environ["HF_TOKEN"]``,
where ``huggingface_hub`` reads it.
"""

from __future__ import annotations

import hashlib
import os
import platform
import random
import sys
from importlib import metadata

TOKEN_HELP = (
    "model '{model}' is gated on the Hugging Face hub and no HF_TOKEN was found. On Colab: open the "
    "key icon (Secrets) in the left sidebar, add a secret named HF_TOKEN holding a token from "
    "https://huggingface.co/settings/tokens, switch on 'Notebook access', accept the model's licence on "
    "its hub page, then re-run the setup cell. Elsewhere: export HF_TOKEN=... before starting."
)


GATED_HELP = (
    "model '{model}' is gated on the Hugging Face hub, and the hub refused {who}. Accept its licence at "
    "https://huggingface.co/{model} (logged in, on the model page; approval can take a while), and make sure "
    "HF_TOKEN is a token of that same Hugging Face account: access is granted per account, not per token. "
    "Then re-run the setup cell."
)


class MissingTokenError(RuntimeError):
    pass


class GatedModelError(MissingTokenError):
    """The Hub refused a gated model: no accepted licence for the token's account (or no token)."""


def in_colab() -> bool:
    return "google.colab" in sys.modules


def colab_module(name: str):
    """Import ``google.colab.<name>`` (the single place the project touches Colab's API)."""
    import importlib

    return importlib.import_module(f"google.colab.{name}")


def mount_drive(mountpoint: str = "/content/drive") -> bool:
    """Mount Google Drive on Colab; a no-op (returns False) elsewhere."""
    if not in_colab():
        return False
    if os.path.isdir(os.path.join(mountpoint, "MyDrive")):
        return True
    colab_module("drive").mount(mountpoint)
    return True


# Outside the workspace, so that every workspace (and a deleted one) shares the downloads.
DRIVE_HF_CACHE = "/content/drive/MyDrive/hf-cache"


def use_drive_cache(enabled: bool) -> str | None:
    """Keep Hugging Face hub downloads on Drive (Colab only): a new runtime then finds the base models
    there instead of downloading them again. Returns the cache folder in use, None when unchanged.

    Called at session start, before any model is loaded. ``HF_HUB_CACHE`` serves processes started
    later; ``huggingface_hub`` reads it once at import, and transformers asks its module constant at
    every download, so an already imported ``huggingface_hub`` is pointed there too."""
    if not enabled or not in_colab():
        return None
    mount_drive()
    os.makedirs(DRIVE_HF_CACHE, exist_ok=True)
    os.environ["HF_HUB_CACHE"] = DRIVE_HF_CACHE
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_CACHE = DRIVE_HF_CACHE
    return DRIVE_HF_CACHE


def load_hf_token() -> bool:
    """Find an HF token (Colab secret ``HF_TOKEN``, else the environment) and export it.

    Returns whether a token is available; never returns or prints the token itself."""
    if os.environ.get("HF_TOKEN"):
        return True
    if in_colab():
        try:
            token = colab_module("userdata").get("HF_TOKEN")
        except Exception:  # secret missing or notebook access not granted
            token = None
        if token:
            os.environ["HF_TOKEN"] = token
            return True
    return False


def require_token(spec, world: str) -> None:
    """A gated hub model needs a token; the toy world needs none."""
    if world == "hub" and getattr(spec, "gated", False) and not os.environ.get("HF_TOKEN"):
        raise MissingTokenError(TOKEN_HELP.format(model=spec.id))


def gated_error(exc: BaseException) -> BaseException | None:
    """The ``huggingface_hub`` ``GatedRepoError`` behind ``exc``, if any (transformers re-raises it as an
    ``OSError`` from some paths and lets it through from others)."""
    from huggingface_hub.errors import GatedRepoError

    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GatedRepoError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def gated_model_error(model_id: str) -> GatedModelError:
    who = "the HF_TOKEN that is set" if os.environ.get("HF_TOKEN") else "a download without HF_TOKEN"
    return GatedModelError(GATED_HELP.format(model=model_id, who=who))


def derive_seed(*parts) -> int:
    """A stable 63-bit seed from any parts (run seed, item id, stage, ...)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:
        pass


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment_summary() -> dict:
    summary = {
        "python": platform.python_version(),
        "platform": "colab" if in_colab() else platform.system().lower(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "trl": _version("trl"),
        "peft": _version("peft"),
        "device": "cpu",
        "hf_token": "set" if os.environ.get("HF_TOKEN") else "not set",
    }
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            summary["device"] = f"cuda: {props.name}, {props.total_memory / 2**30:.1f} GiB"
        else:
            summary["device"] = f"cpu ({os.cpu_count()} cores)"
    except ImportError:
        pass
    return summary
