"""Wall time of every notebook run on a device: decoding from memory bandwidth, training and prefill
from FLOPs, plus the fixed costs of starting a notebook and loading a model.

- **Decoding** (01, 03 answers, 06 IFEval/MT-Bench, 07 episodes): each step of a batch streams the
  weights once and the KV cache of the batch. bitsandbytes nf4 with more than one sequence
  dequantizes every weight to fp16 first, so it moves 0.5 + 2 + 2 bytes per weight. A step also pays
  a fixed cost per layer (kernel launches, Python), which is all a toy model pays. With transformers
  a batch decodes until its longest sequence stops: every batch is costed at its token limit (an
  upper bound). vLLM's continuous batching is costed at the mean length.
- **Training** (04, 05): 6 N FLOPs per token with gradient checkpointing (forward, activation
  gradients, recomputed forward; the frozen base needs no weight gradients), 4 N without, plus the
  reference forward of DPO (2 N) and the LM head's weight gradient when chat-token rows train. The
  realized throughput is calibrated on public T4 anchors (:data:`ANCHORS`).
- **Prefill-only passes** (reward scoring, MMLU log-likelihoods): 2 N FLOPs per token.

Lengths the profile does not fix are assumptions, printed with the plan (:data:`LENGTHS`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import ModelSpec, Registry
from ..workspace import STAGES
from . import memory as mem
from .gpus import GPU
from .prompts import agent_prompts, mmlu_prompts
from .workload import lookup, model_arch, model_load, phase_sizes, training_setup

# Mean lengths, as fractions of the profile's limits (Magpie instructions are short; answers
# use about half their budget), and fixed token counts of templates and prompts.
LENGTHS = {"instruction": 0.25, "response": 0.5, "template": 32, "pre_query": 16, "ifeval_prompt": 80,
           "mt_bench_prompt": 120, "judge_prompt": 900,
           "agent_first_page": 1500}  # AgentBench: task prompt, one-shot example and the first page
FILTER_SECONDS_PER_RECORD = 0.003  # language ID dominates (~3 ms per text, measured on 2 CPU cores)
VLLM = {"batch": 256, "layer_overhead_ms": 0.02}  # CUDA graphs remove most launch overhead
DP_EFFICIENCY = 0.9  # gradient all-reduce and stragglers under data parallel training

# Public anchors (published Colab T4 runs): (what, model slug, stage, sequences, tokens each, epochs, lora r,
# measured Unsloth minutes). Token counts: FineTome-100k is 240 MB of text for 100k chats, ~2,400
# characters or ~600 tokens each; UltraFeedback pairs ~150 prompt + ~300 chosen/rejected tokens.
ANCHORS = (
    ("Unsloth T4: Llama-3.2-3B QLoRA SFT, 480 chats (60 steps x 8)", "llama-3.2-3b", "sft", 480, 600, 1, 16, 7.4),
    ("Unsloth T4: Zephyr-7B (Mistral) DPO, 309 pairs x 3 epochs", "mistral-7b-v0.1", "dpo", 309, 450, 3, 64, 67.0),
)
HF_VS_UNSLOTH = (1.5, 2.0)  # plain HF + PEFT is this much slower than Unsloth on a T4


@dataclass
class StepTime:
    """The estimated wall time of one notebook run, by part."""

    notebook: str  # "01".."07"
    model: str | None  # target slug for per-model notebooks
    parts: dict[str, float] = field(default_factory=dict)  # seconds
    checkpoint_every_s: float | None = None  # the most work a disconnect loses
    knob: str = ""  # the setting that shortens it most

    @property
    def seconds(self) -> float:
        return sum(self.parts.values())


class Timer:
    """Time estimates for one profile on ``num_gpus`` devices of one kind."""

    def __init__(self, registry: Registry, profile: dict, gpu: GPU, num_gpus: int = 1, backend: str = "hf"):
        self.registry, self.profile, self.gpu = registry, profile, gpu
        self.num_gpus, self.backend = max(int(num_gpus), 1), backend

    # ----------------------------------------------------------------- primitives

    def inventory(self, spec: ModelSpec) -> mem.Inventory:
        return mem.meta_inventory(spec.architecture, model_arch(spec, self.profile))

    def _traffic(self, spec: ModelSpec, inv: mem.Inventory) -> float:
        """Bytes one decoding step reads: the Linear weights at their loading precision (vLLM: 16-bit)
        and the LM head."""
        load = "fp16" if self.backend == "vllm" else model_load(spec, self.profile)
        per_weight = {"nf4": 4.5, "fp16": 2.0, "fp32": 4.0}[load]
        head = inv.vocab * inv.hidden * (4 if load == "fp32" else 2)
        return inv.quantizable * per_weight + head

    def _layer_overhead(self, inv: mem.Inventory) -> float:
        """The fixed cost of one forward pass."""
        if self.backend == "vllm":
            return inv.layers * VLLM["layer_overhead_ms"] / 1e3
        return (inv.layers * self.gpu.layer_overhead_ms + self.gpu.step_overhead_ms) / 1e3

    def load_seconds(self, spec: ModelSpec) -> float:
        """Reading the 16-bit checkpoint (download + quantization on Colab)."""
        return 2 * self.inventory(spec).params / (self.gpu.load_gbs * 1e9)

    def decode_seconds(self, spec: ModelSpec, sequences: int, batch: int, prompt: int, new: int,
                       mean_new: int | None = None) -> float:
        """Prefill and decode ``sequences`` prompts of ``prompt`` tokens, ``new`` tokens each (limit)."""
        inv = self.inventory(spec)
        if self.backend == "vllm":
            batch, new = VLLM["batch"], mean_new or new
        sequences = math.ceil(sequences / self.num_gpus)  # data parallel: each device a share
        batches = math.ceil(sequences / batch)
        batch = min(batch, sequences) or 1
        prefill = 2 * inv.params * batch * prompt / self.gpu.prefill_flops + self._layer_overhead(inv)
        kv = mem.kv_cache_bytes(inv, batch, prompt + new // 2)
        memory_bound = (self._traffic(spec, inv) + kv) / self.gpu.bandwidth
        compute_bound = 2 * inv.params * batch / self.gpu.prefill_flops
        step = max(memory_bound, compute_bound) + self._layer_overhead(inv)
        return batches * (prefill + new * step)

    def forward_seconds(self, spec: ModelSpec, sequences: int, tokens: int, batch: int) -> float:
        """A no-grad forward over ``sequences`` of ``tokens`` (scoring, log-likelihoods)."""
        inv = self.inventory(spec)
        batches = math.ceil(math.ceil(sequences / self.num_gpus) / batch)
        flops = 2 * inv.params * sequences * tokens / self.num_gpus
        return flops / self.gpu.prefill_flops + batches * self._layer_overhead(inv)

    def train_seconds(self, spec: ModelSpec, stage: str, sequences: int, tokens: int,
                      lora_r: int | None = None) -> tuple[float, float]:
        """(total, per optimizer step) seconds to train ``stage`` over ``sequences`` examples (DPO: pairs)
        of ``tokens`` tokens each (DPO: per response, prompt included)."""
        setup = training_setup(spec, stage, self.profile)
        inv = self.inventory(spec)
        r = lora_r or setup.lora_r
        per_token = (6 if setup.gradient_checkpointing else 4) * inv.params
        per_token += 6 * sum(mem.lora_tensors(inv, setup.lora_targets, r))
        if setup.train_chat_tokens:
            per_token += 2 * inv.vocab * inv.hidden  # the embedding/LM-head weight gradient
        seqs_per_example = 1
        if stage == "dpo":
            per_token += 2 * inv.params  # the reference forward
            seqs_per_example = 2
        tokens_total = sequences * seqs_per_example * min(tokens, setup.max_length) * setup.epochs
        micro_batches = math.ceil(sequences / setup.batch) * setup.epochs
        optimizer_steps = max(math.ceil(micro_batches / setup.grad_accum), 1)
        devices = self.num_gpus * (DP_EFFICIENCY if self.num_gpus > 1 else 1.0)
        compute = per_token * tokens_total / (self.gpu.train_flops * devices)
        overhead = 3 * micro_batches / self.num_gpus * self._layer_overhead(inv)  # forward + backward + recompute
        total = compute + overhead
        return total, total / optimizer_steps


# --------------------------------------------------------------------------- the notebooks


def _mean(fraction_key: str, limit: int) -> int:
    return max(int(LENGTHS[fraction_key] * limit), 1)


def notebook_times(timer: Timer) -> list[StepTime]:
    """One estimate per notebook run, in pipeline order (per-model notebooks once per target)."""
    p, reg, start = timer.profile, timer.registry, timer.gpu.startup_s
    generator, reward = reg.by_role("generator")[0], reg.by_role("reward")[0]
    gen = phase_sizes(generator, "generate", p)
    n = int(lookup(p, "generation.num_instructions", 1500))
    instruction, answer = _mean("instruction", gen["instruction"]), _mean("response", gen["new"])
    prompt = LENGTHS["template"] + instruction
    steps = []

    first = StepTime("01", None, {"start": start, "load": timer.load_seconds(generator),
                                  "instructions": timer.decode_seconds(generator, n, gen["batch"], LENGTHS["pre_query"],
                                                                       gen["instruction"], instruction),
                                  "responses": timer.decode_seconds(generator, n, gen["batch"], prompt, gen["new"],
                                                                    answer)},
                     knob="generation.num_instructions or generation.max_new_tokens_response")
    first.checkpoint_every_s = (first.parts["instructions"] + first.parts["responses"]) / n * int(
        lookup(p, "generation.checkpoint_every", 100))
    steps.append(first)
    steps.append(StepTime("02", None, {"start": start, "filters": n * FILTER_SECONDS_PER_RECORD}))

    kept = int(lookup(p, "filtering.target", n))
    heldout = int(lookup(p, "training.heldout", 0))
    reward_len = min(instruction + answer, int(lookup(p, "preference.reward_max_length", 512)))
    for spec in reg.by_role("target"):
        sizes = phase_sizes(spec, "respond", p)
        mean = _mean("response", sizes["new"])
        reward_batch = phase_sizes(reward, "score", p)["batch"]
        parts = {"start": start, "load": timer.load_seconds(spec),
                 "answers": timer.decode_seconds(spec, kept, sizes["batch"], prompt, sizes["new"], mean),
                 "reward load": timer.load_seconds(reward),
                 "scores": timer.forward_seconds(reward, kept, reward_len, reward_batch)}
        step = StepTime("03", spec.slug, parts, knob="preference.max_new_tokens_response")
        step.checkpoint_every_s = parts["answers"] / kept * int(lookup(p, "preference.checkpoint_every", 100))
        steps.append(step)
    save_steps = int(lookup(p, "training.save_steps", 25))
    pairs = min(int(lookup(p, "preference.target_pairs", kept)), kept - heldout)
    targets = reg.by_role("target")
    for stage, examples, tokens in (("sft", kept - heldout, prompt + answer),
                                    ("dpo", pairs, prompt + _mean("response", int(
                                        lookup(p, "preference.max_new_tokens_response", 512))))):
        for spec in targets:
            total, per_step = timer.train_seconds(spec, stage, examples, tokens)
            parts = {"start": start, "load": timer.load_seconds(spec), "train": total}
            # The trained stage answers the held-out instructions (notebook 04: SFT; 05: DPO, and base, which
            # loads the model once more); 05 then scores every stage's answers with the reward model.
            sizes = phase_sizes(spec, "respond", p)
            answers = timer.decode_seconds(spec, heldout, sizes["batch"], prompt, sizes["new"],
                                           _mean("response", sizes["new"]))
            parts["held-out answers"] = answers if stage == "sft" else 2 * answers
            if stage == "dpo":
                parts["base load"] = timer.load_seconds(spec)
                parts["reward load"] = timer.load_seconds(reward)
                parts["scores"] = timer.forward_seconds(reward, 3 * len(targets) * heldout, reward_len,
                                                        phase_sizes(reward, "score", p)["batch"])
            steps.append(StepTime("04" if stage == "sft" else "05", spec.slug, parts,
                                  save_steps * per_step, f"training.{stage}.epochs or training.{stage}.max_length"))
    steps += _evaluation_times(timer, start)
    steps += _agent_times(timer, start)
    return sorted(steps, key=lambda s: s.notebook)


def _evaluation_times(timer: Timer, start: float) -> list[StepTime]:
    p, reg = timer.profile, timer.registry
    stages = len(lookup(p, "evaluation.stages", list(STAGES)))
    benchmarks = set(lookup(p, "evaluation.benchmarks", ["ifeval", "mmlu", "mt_bench"]))
    judge = reg.get(lookup(p, "evaluation.mt_bench.judge", reg.by_role("judge")[0].slug))
    questions = lookup(p, "evaluation.mt_bench.questions")
    questions = 80 if questions is None else 8 * int(questions)
    subjects = lookup(p, "evaluation.mmlu.subjects")
    per_subject = lookup(p, "evaluation.mmlu.limit")
    local = _fixture_sizes() if lookup(p, "evaluation.mmlu.tasks") == "local" else {}
    if local:
        mmlu = sum(min(n, int(per_subject)) if per_subject else n for name, n in local.items() if name != "ifeval")
    else:
        mmlu = (len(subjects) if subjects else 57) * (int(per_subject) if per_subject else 246)  # 14,042 / 57
    mmlu_tokens = mmlu_prompts(p).mean
    out = []
    for spec in reg.by_role("target"):
        parts = {"start": start, "loads": stages * timer.load_seconds(spec)}
        if "ifeval" in benchmarks:
            full = _fixture_sizes().get("ifeval", 541) if lookup(p, "evaluation.ifeval.tasks") == "local" else 541
            limit = int(lookup(p, "evaluation.ifeval.limit", full))
            new = int(lookup(p, "evaluation.ifeval.max_gen_toks", 1280))
            parts["IFEval"] = stages * timer.decode_seconds(spec, limit, int(lookup(p, "evaluation.ifeval.batch_size", 8)),
                                                            LENGTHS["ifeval_prompt"], new, new // 2)
        if "mmlu" in benchmarks:  # lm-eval's logits cache: one forward scores a question's four one-token answers
            parts["MMLU"] = stages * timer.forward_seconds(spec, mmlu, mmlu_tokens,
                                                           int(lookup(p, "evaluation.mmlu.batch_size", 4)))
        if "mt_bench" in benchmarks:
            new = int(lookup(p, "evaluation.mt_bench.max_new_tokens", 1024))
            batch = int(lookup(p, "evaluation.mt_bench.batch_size", 8))
            turn2 = LENGTHS["mt_bench_prompt"] * 2 + new // 2
            parts["MT-Bench answers"] = stages * (
                timer.decode_seconds(spec, questions, batch, LENGTHS["mt_bench_prompt"], new, new // 2)
                + timer.decode_seconds(spec, questions, batch, turn2, new, new // 2))
            judged = phase_sizes(judge, "judge", p)
            parts["judge load"] = timer.load_seconds(judge)
            parts["judging"] = stages * timer.decode_seconds(judge, 2 * questions, judged["batch"],
                                                             LENGTHS["judge_prompt"], judged["new"], judged["new"] // 2)
        out.append(StepTime("06", spec.slug, parts, knob="evaluation.ifeval.limit, evaluation.mmlu.limit, "
                                                         "evaluation.mt_bench.questions"))
    return out


def _fixture_sizes() -> dict[str, int]:
    """Items in the offline evaluation fixtures the toy world uses (IFEval prompts, MMLU test questions)."""
    from importlib import resources

    try:
        folder = resources.files("sit.evaluation") / "data"
        files = [f for f in folder.iterdir() if f.name == "ifeval.jsonl" or f.name.endswith("_test.jsonl")]
    except (ModuleNotFoundError, OSError):
        return {}
    return {f.name.removesuffix(".jsonl").removesuffix("_test"): sum(1 for line in f.read_text().splitlines()
                                                                     if line.strip()) for f in files}


# Notebook 07's default STAGES: the final (SFT+DPO) model of each target.
AGENT_STAGES = ("dpo",)


def _agent_times(timer: Timer, start: float) -> list[StepTime]:
    """Notebook 07 per target: its default stages; the first run also plays the reference agent (the
    generator), once per workspace. A round's prompt grows from the first page to the longest prompt."""
    p = timer.profile
    if "agent" not in p:
        return []
    goals = lookup(p, "agent.goals") or (100 if lookup(p, "agent.split", "test") == "test" else 40)
    rounds = int(lookup(p, "agent.max_rounds", 10))
    new = int(lookup(p, "agent.max_new_tokens", 256))
    batch = int(lookup(p, "agent.batch_size", 8))

    def play(spec) -> float:
        longest = agent_prompts(p, model_arch(spec, p).get("max_positions")).longest
        mean = (longest + min(LENGTHS["agent_first_page"], longest)) // 2
        return rounds * timer.decode_seconds(spec, int(goals), batch, mean, new, new // 2)

    out = []
    generator = timer.registry.by_role("generator")[0]
    for i, spec in enumerate(timer.registry.by_role("target")):
        parts = {"start": start, "loads": len(AGENT_STAGES) * timer.load_seconds(spec),
                 "episodes": len(AGENT_STAGES) * play(spec)}
        if i == 0:
            parts["reference load"] = timer.load_seconds(generator)
            parts["reference episodes"] = play(generator)
        out.append(StepTime("07", spec.slug, parts, knob="agent.goals or agent.max_rounds"))
    return out


# --------------------------------------------------------------------------- calibration


@dataclass(frozen=True)
class AnchorCheck:
    what: str
    unsloth_minutes: float
    estimate_minutes: float  # this model's HF + PEFT estimate for the anchor's workload

    @property
    def ratio(self) -> float:
        return self.estimate_minutes / self.unsloth_minutes

    @property
    def within(self) -> bool:
        return HF_VS_UNSLOTH[0] <= self.ratio <= HF_VS_UNSLOTH[1]


def anchor_checks(registry: Registry, gpu: GPU) -> list[AnchorCheck]:
    """The training estimate for each public anchor's workload against its measured time. An anchor
    used Unsloth, so the estimate (plain HF + PEFT) should be 1.5-2x its time."""
    checks = []
    for what, slug, stage, sequences, tokens, epochs, r, minutes in ANCHORS:
        spec = registry.get(slug)
        profile = {"training": {"gradient_checkpointing": True, "train_chat_tokens": False,
                                stage: {"epochs": epochs, "batch_size": 2, "grad_accum": 4, "max_length": 2048,
                                        "lora_r": r, "lora_targets": list(spec.lora_targets)}}}
        timer = Timer(registry, profile, gpu)
        seconds, _ = timer.train_seconds(spec, stage, sequences, tokens)
        checks.append(AnchorCheck(what, minutes, seconds / 60))
    return checks
