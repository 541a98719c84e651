"""NLTK's ``punkt_tab`` sentence model, which IFEval's scoring needs for its sentence-count instructions.

No package ships it. On a machine that reaches the NLTK download server (Colab) nltk fetches the real
model. Offline, a Punkt model is trained with nltk's own :class:`~nltk.tokenize.punkt.PunktTrainer` on
the toy world's corpus and written in the ``punkt_tab`` format with ``save_punkt_params``. Which of the
two produced a number is recorded with it (:func:`punkt_source`).

nltk decides at import time which folders it may read and write, so :func:`ensure_punkt` must run before
nltk (or lm-eval's IFEval module, which imports it and tries a download) is first imported.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LANGUAGE = "english"
MARKER = "trained-offline.txt"  # written beside a model this module trained
TRAINING_ITEMS = 3000


def _model_dir(root: Path) -> Path:
    return root / "tokenizers" / "punkt_tab" / LANGUAGE


def _register(root: Path) -> None:
    """Put ``root`` first on nltk's search path (also for nltk imported later)."""
    paths = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p and p != str(root)]
    os.environ["NLTK_DATA"] = os.pathsep.join([str(root), *paths])
    if "nltk" in sys.modules:  # imported already: its search path was read from the environment then
        import nltk

        nltk.data.path[:] = [str(root), *(p for p in nltk.data.path if p != str(root))]


def installed(root: Path) -> bool:
    """Whether ``root`` holds a ``punkt_tab`` model."""
    return (_model_dir(root) / "sent_starters.txt").exists()


def training_text(seed: int, items: int = TRAINING_ITEMS) -> str:
    """Answers from the toy corpus: plain English prose with sentence ends, lists and numbers."""
    from ..toy.corpus import make_corpus

    return "\n\n".join(item["response"] for item in make_corpus(seed, items) if item["kind"] == "clean")


def train_punkt(root: Path, seed: int) -> Path:
    """Train a Punkt model on the project's corpus and save it as ``<root>/tokenizers/punkt_tab/english``."""
    from nltk.tokenize.punkt import PunktTrainer, save_punkt_params

    trainer = PunktTrainer()
    trainer.INCLUDE_ALL_COLLOCS = True
    trainer.train(training_text(seed), finalize=True)
    target = _model_dir(root)
    target.parent.mkdir(parents=True, exist_ok=True)  # nltk creates only the last folder
    save_punkt_params(trainer.get_params(), dir=str(target))
    (target / MARKER).write_text(f"Punkt model trained with nltk's PunktTrainer on the toy corpus (seed {seed}).\n",
                                 encoding="utf-8")
    return target


def ensure_punkt(workspace, *, seed: int, offline: bool) -> str:
    """Make ``punkt_tab`` available and return where it came from (``nltk download`` or ``trained offline``).

    The model always lives in the workspace, first on nltk's path: a model nltk would find elsewhere (a
    user's ``nltk_data``, or another workspace registered earlier in this process) is not the one this
    workspace's results record. ``offline`` (the toy world) never tries the network; otherwise nltk
    downloads the real model once and a failed download falls back to training one."""
    root = workspace.nltk_data_dir
    root.mkdir(parents=True, exist_ok=True)
    _register(root)
    if installed(root):
        return punkt_source(root)
    if not offline:
        import nltk

        if nltk.download("punkt_tab", download_dir=str(root), quiet=True) and installed(root):
            return punkt_source(root)
    train_punkt(root, seed)
    return punkt_source(root)


def punkt_source(root: Path) -> str:
    model = _model_dir(root)
    if (model / MARKER).exists():
        return "punkt_tab trained offline (nltk PunktTrainer on the toy corpus)"
    return "punkt_tab from nltk download"
