"""A token whose account has not accepted a gated model's licence: the error names the model and the page.

The Hub's servers cannot exist here, so a loopback server answers every request as the Hub answers a gated
repo (403 with ``X-Error-Code: GatedRepo``). Everything between it and the project's loaders is real:
huggingface_hub turns the answer into its ``GatedRepoError``, and transformers raises it (or an ``OSError``
made from it) out of ``from_pretrained``.
"""

import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

LLAMA = "meta-llama/Llama-3.2-3B"


class GatedHub(BaseHTTPRequestHandler):
    def _refuse(self):
        body = json.dumps({"error": f"Access to model {LLAMA} is restricted. You must have access to it and be "
                                    "authenticated to access it. Please log in."}).encode()
        self.send_response(403)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _refuse

    def log_message(self, *args):
        pass


@pytest.fixture
def gated_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), GatedHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


LOAD = """
import sys
from sit.models import load_causal_lm, load_tokenizer
from sit.session import start

session = start("colab_t4", sys.argv[1], verbose=False)
spec = session.model("{model}", role="target")
try:
    {call}(spec, session.profile)
except Exception as exc:
    print(type(exc).__name__ + ": " + str(exc))
"""


@pytest.mark.parametrize("call", ["load_tokenizer", "load_causal_lm"])
def test_a_gated_model_refused_by_the_hub_names_the_licence_page_and_the_account(tmp_path, gated_hub, call):
    token = f"hf_canary{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env.update(HF_TOKEN=token, HF_ENDPOINT=gated_hub, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_XET="1")
    done = subprocess.run([sys.executable, "-c", LOAD.format(model=LLAMA, call=call), str(tmp_path / "ws")],
                          env=env, capture_output=True, text=True, timeout=300)
    printed = done.stdout + done.stderr
    assert done.returncode == 0, printed[-3000:]
    assert done.stdout.startswith("GatedModelError: "), printed[-3000:]
    message = done.stdout
    assert f"model '{LLAMA}' is gated" in message and f"https://huggingface.co/{LLAMA}" in message
    assert "the HF_TOKEN that is set" in message and "same Hugging Face account" in message
    assert token not in printed


def test_other_load_errors_pass_through_unchanged(tmp_path):
    from sit.config import load_registry
    from sit.models import from_pretrained

    spec = load_registry().get(LLAMA)

    def missing(source):
        raise OSError(f"{source} is not a local folder")

    with pytest.raises(OSError, match="nowhere is not a local folder"):
        from_pretrained(missing, spec, "nowhere")


def test_a_raw_gated_repo_error_becomes_the_same_message(monkeypatch):
    """transformers lets the hub's own error through from some paths (e.g. listing chat templates)."""
    import httpx2 as httpx  # huggingface_hub's own HTTP client
    from huggingface_hub.errors import GatedRepoError

    from sit.config import load_registry
    from sit.models import from_pretrained
    from sit.runtime import GatedModelError

    monkeypatch.delenv("HF_TOKEN", raising=False)
    spec = load_registry().get(LLAMA)
    url = f"https://huggingface.co/api/models/{LLAMA}/tree/main/additional_chat_templates"
    response = httpx.Response(401, request=httpx.Request("GET", url))

    def refused(source):
        raise GatedRepoError("401 Client Error. Cannot access gated repo.", response=response)

    with pytest.raises(GatedModelError, match=rf"refused a download without HF_TOKEN\. Accept its licence at "
                                              rf"https://huggingface\.co/{LLAMA} "):
        from_pretrained(refused, spec, LLAMA)
