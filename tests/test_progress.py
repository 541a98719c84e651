"""Where progress bars draw: one rule (sit.progress) for every phase's stages and for the libraries' own bars;
and the libraries' warnings about their own internals (sit.noise) stay out of the output."""

import importlib.machinery
import sys
import types
import warnings

import pytest

from sit.noise import library_warnings_silenced
from sit.progress import draws_bars, library_bars, progress_default


class Stderr:
    """A terminal (``tty``) or a pipe / log file."""

    def __init__(self, tty: bool):
        self.tty, self.text = tty, []

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def _module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module


@pytest.fixture
def place(monkeypatch):
    """Set up where the code runs: a terminal or a pipe, a kernel (with or without widgets), Colab, CI."""

    def where(*, tty=False, kernel=False, widgets=False, colab=False, **env):
        for name in ("CI", "TQDM_DISABLE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stderr", Stderr(tty))
        for name, present in (("ipykernel", kernel), ("google.colab", colab)):
            if present:
                monkeypatch.setitem(sys.modules, name, sys.modules.get(name) or _module(name))
            else:
                monkeypatch.delitem(sys.modules, name, raising=False)
        # None in sys.modules makes find_spec report the package as not installed
        monkeypatch.setitem(sys.modules, "ipywidgets", _module("ipywidgets") if widgets else None)

    return where


@pytest.mark.parametrize(("where", "drawn"), [
    ({"tty": True}, True),                                # a terminal redraws a bar in place
    ({}, False),                                          # a pipe or log file: one line per update
    ({"tty": True, "CI": "true"}, False),
    ({"tty": True, "TQDM_DISABLE": "1"}, False),
    ({"kernel": True}, False),                            # papermill / nbval: the text fallback of tqdm.auto
    ({"kernel": True, "widgets": True}, True),            # Jupyter with ipywidgets
    ({"kernel": True, "colab": True}, True),              # Colab draws the widgets
    ({"kernel": True, "colab": True, "CI": "1"}, False),
])
def test_bars_draw_only_where_they_redraw_in_place(place, where, drawn):
    place(**where)
    assert progress_default() is drawn
    assert draws_bars() is drawn and draws_bars(True) is drawn
    assert draws_bars(False) is False  # turned off by the caller, whatever the place


def test_libraries_draw_no_bars_inside_where_bars_would_print_lines_and_get_them_back_after(place):
    import datasets
    from transformers.utils import logging

    place(kernel=True)
    assert logging.is_progress_bar_enabled() and not datasets.are_progress_bars_disabled()
    with library_bars():
        assert not logging.is_progress_bar_enabled() and datasets.are_progress_bars_disabled()
    assert logging.is_progress_bar_enabled() and not datasets.are_progress_bars_disabled()
    place(kernel=True, colab=True)
    with library_bars():
        assert logging.is_progress_bar_enabled() and not datasets.are_progress_bars_disabled()
    with library_bars(False):
        assert not logging.is_progress_bar_enabled()


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2))


def test_loading_a_model_under_papermill_prints_no_loading_bar(place, tmp_path):
    """transformers draws "Loading weights" on every load; in an executed notebook that is a line per update."""
    from transformers import AutoModelForCausalLM

    from sit.config import load_registry
    from sit.models import from_pretrained

    tiny_llama().save_pretrained(tmp_path)
    spec = load_registry().get("meta-llama/Llama-3.2-3B")
    place(kernel=True)
    model = from_pretrained(AutoModelForCausalLM.from_pretrained, spec, str(tmp_path))
    assert model.config.num_hidden_layers == 2
    assert "Loading weights" not in "".join(sys.stderr.text)
    place(tty=True)  # a terminal keeps the bar
    from_pretrained(AutoModelForCausalLM.from_pretrained, spec, str(tmp_path))
    assert "Loading weights" in "".join(sys.stderr.text)


def test_the_trainer_shows_progress_as_its_notebook_table_or_where_bars_draw(place, monkeypatch):
    """In a notebook the Trainer draws an HTML table of the losses (it needs no widgets, so it stays under
    papermill); elsewhere its tqdm bar follows the one rule."""
    import transformers.trainer
    from transformers.trainer_callback import ProgressCallback
    from transformers.utils.notebook import NotebookProgressCallback

    from sit.training.fit import trainer_draws_progress

    monkeypatch.setattr(transformers.trainer, "DEFAULT_PROGRESS_CALLBACK", ProgressCallback)  # not a notebook
    place(tty=True)
    assert trainer_draws_progress(True) and not trainer_draws_progress(False)
    place()
    assert not trainer_draws_progress(True)  # a log file: no bar
    monkeypatch.setattr(transformers.trainer, "DEFAULT_PROGRESS_CALLBACK", NotebookProgressCallback)
    place(kernel=True)
    assert trainer_draws_progress(True) and not trainer_draws_progress(False)


def test_wrapping_a_model_in_an_adapter_drops_only_the_deprecation_peft_triggers_inside_transformers():
    from peft import LoraConfig, get_peft_model

    def warned(quiet: bool) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if quiet:
                with library_warnings_silenced():
                    get_peft_model(tiny_llama(), LoraConfig(r=2, target_modules=["q_proj"]))
                    warnings.warn("a warning that tells the user something", FutureWarning, stacklevel=1)
            else:
                get_peft_model(tiny_llama(), LoraConfig(r=2, target_modules=["q_proj"]))
        return [str(w.message) for w in caught if w.category is FutureWarning]

    assert any("`is_gradient_checkpointing` is deprecated" in m for m in warned(quiet=False))  # the noise exists
    assert warned(quiet=True) == ["a warning that tells the user something"]


FORCED_AVX512_BF16 = """
import importlib.abc, importlib.util, sys

class ForceAvx512Bf16(importlib.abc.MetaPathFinder):
    # bitsandbytes decides at import whether to load its optional CPU kernel: take that branch here too
    def find_spec(self, name, path, target=None):
        if name != "bitsandbytes.backends.cpu.ops":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            import bitsandbytes.functional
            bitsandbytes.functional.has_avx512bf16 = lambda: True
            run(module)

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, ForceAvx512Bf16())
if sys.argv[1] == "library":
    import bitsandbytes
else:
    import sit  # the setup cell imports the project before anything loads a model
    from peft.import_utils import is_bnb_4bit_available  # PEFT imports bitsandbytes when it wraps a model
    print("4-bit available:", is_bnb_4bit_available())
"""


def test_bitsandbytes_missing_kernel_message_on_an_avx512_bf16_cpu_never_reaches_the_user():
    """On a CPU with AVX512-BF16, bitsandbytes logs at import that its optional kernel package is missing (the
    CPU fallback runs instead). Forced here: without the project the message shows, with it nothing does."""
    import subprocess

    def run(mode):
        done = subprocess.run([sys.executable, "-c", FORCED_AVX512_BF16, mode], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout + done.stderr

    assert "Failed to load CPU gemm_4bit_forward" in run("library")  # the branch was really taken
    printed = run("project")
    assert "4-bit available: True" in printed
    assert "gemm_4bit_forward" not in printed, printed
