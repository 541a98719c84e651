"""`sit sft` unchanged under `accelerate launch`: two CPU processes (gloo) train the same adapter as one.

`accelerate launch --cpu` runs a single process (its multi-CPU mode expects an MPI launcher), so the
two ranks come from `--multi_gpu`, which starts them with torch.distributed.run; without CUDA the
Trainer picks the gloo backend. Both runs see the same effective batch, and every optimizer step
covers the whole training set (single: 6 x accumulation 2; DDP: 2 ranks x 6), so which rank or
micro-batch an example lands in cannot change a step's gradient. With a global batch smaller than
the data, the two runs shuffle differently and the adapters differ by 25-150% (measured).

Tolerance: the runs differ only in floating-point summation order (the gloo all-reduce adds two
halves; one process accumulates two micro-batches), about 1e-7 relative per gradient. Adam divides
by the root of its second moment, which amplifies that for the smallest gradients: after 3 steps the
worst adapter tensor differs by 1.5e-5 (relative L2, measured). 1e-4 leaves a 6x margin and is
still three orders of magnitude below a real mismatch.
"""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

SIT = str(Path(sys.executable).with_name("sit"))
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))
MODEL = "llama-3.2-3b"
TOLERANCE = 1e-4
SETTINGS = ["--set", "training.heldout=0", "--set", "training.sft.epochs=3", "--set", "training.sft.batch_size=6"]
TOPICS = ["tea", "bread", "rain", "maps", "bees", "salt", "ice", "clocks", "paper", "glass", "wool", "stone"]


def workspace(root: Path) -> Path:
    folder = root / "data" / "filtered"
    folder.mkdir(parents=True)
    rows = [{"id": f"magpie-{i:05d}", "instruction": f"Explain in two sentences how {topic} is made.",
             "response": f"{topic.capitalize()} is made in a few careful steps. First the raw material is "
                         f"gathered, then it is shaped, dried and checked before anyone uses the {topic}."}
            for i, topic in enumerate(TOPICS)]
    (folder / "filtered.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def adapter(root: Path) -> dict:
    return load_file(root / "models" / MODEL / "sft" / "adapter_model.safetensors")


@pytest.mark.slow
def test_two_gloo_processes_train_the_adapter_one_process_trains(tmp_path, toy_world):
    single = workspace(tmp_path / "single")
    done = subprocess.run([SIT, "sft", "--profile", "demo", "--workspace", str(single), "--model", MODEL, "--quiet",
                           *SETTINGS, "--set", "training.sft.grad_accum=2"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = workspace(tmp_path / "ddp")
    launched = subprocess.run([ACCELERATE, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
                               "-m", "sit.cli", "sft", "--profile", "demo", "--workspace", str(ddp), "--model", MODEL,
                               "--quiet", *SETTINGS, "--set", "training.sft.grad_accum=1"],
                              capture_output=True, text=True, timeout=600)
    assert launched.returncode == 0, launched.stderr[-3000:]
    steps = [json.loads((root / "models" / MODEL / "sft" / "manifest.json").read_text())["training"]["global_steps"]
             for root in (single, ddp)]
    assert steps == [3, 3]  # the DDP run really split each step over two ranks
    one, two = adapter(single), adapter(ddp)
    assert one.keys() == two.keys()
    for name in one:
        relative = ((one[name] - two[name]).norm() / one[name].norm()).item()
        assert relative < TOLERANCE, (name, relative)
