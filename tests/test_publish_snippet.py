"""The model card's "How to load" snippet, run exactly as the card prints it, on adapters trained in the toy world.

Only the hub id changes (to the dry-run folder of ``sit publish``). The snippet must run with the pinned
transformers and stop its answer at the chat template's end-of-turn token for every family.
"""

import json
import os
import re
import subprocess
import sys

import pytest
from huggingface_hub import ModelCard
from test_publish import _snippet
from test_training import LLAMA, MISTRAL, QWEN, write_inputs

from sit.publish import publish
from sit.session import start
from sit.training import train_dpo, train_sft

# The demo's SFT and DPO recipe on fewer pairs: enough to learn to end a turn, at a third of the cost.
PAIRS = 40
SMALL = {"training.heldout": 4}

RUN_AND_DUMP = """
import json, sys
namespace = {}
exec(open(sys.argv[1]).read(), namespace)
prompt_length = namespace["inputs"]["input_ids"].shape[-1]
print("GENERATED=" + json.dumps(namespace["output"][0, prompt_length:].tolist()))
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory, toy_world):
    workspace = tmp_path_factory.mktemp("snippet")
    write_inputs(workspace, PAIRS)
    session = start("demo", str(workspace), 42, SMALL, verbose=False)
    for model in (LLAMA, MISTRAL, QWEN):
        train_sft(session, model, progress=False)
        train_dpo(session, model, progress=False)
    result = publish(session, only=["models"], verbose=False)
    return session, {f.key: f for f in result.folders}


@pytest.mark.slow
@pytest.mark.parametrize("model", [LLAMA, MISTRAL, QWEN])
def test_the_model_cards_snippet_runs_as_written_and_stops_at_the_end_of_turn_token(published, model, tmp_path):
    from transformers import AutoTokenizer

    session, folders = published
    spec = session.registry.get(model)
    folder = folders[f"{spec.slug}-dpo"]
    code = _snippet(ModelCard((folder.path / "README.md").read_text()).text)
    assert f'"{folder.repo_id}"' in code
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(folder.repo_id, str(folder.path)))  # only the hub id changes
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", RUN_AND_DUMP, str(script)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    generated = json.loads(done.stdout.split("GENERATED=", 1)[1])
    eot = AutoTokenizer.from_pretrained(folder.path).convert_tokens_to_ids(spec.eot_token)
    max_new_tokens = int(re.search(r"max_new_tokens=(\d+)", code).group(1))
    print(f"{model}: {len(generated)} of {max_new_tokens} tokens")
    assert 0 < len(generated) < max_new_tokens and generated[-1] == eot, (len(generated), generated[-5:], eot)
    assert done.stdout.split("GENERATED=", 1)[0].strip()  # the snippet printed an answer
