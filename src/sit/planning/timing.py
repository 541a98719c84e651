"""Wall time of every notebook run on a device: decoding from memory bandwidth, training and prefill
from FLOPs, plus the fixed costs of starting a notebook and loading a model.

- **Decoding** (01, 03 answers, 06 IFEval/MT-Bench, 07 episodes): each step of a batch streams the
  weights once and the KV cache of the batch. bitsandbytes nf4 with more than one sequence
  dequantizes every weight to fp16 first, so it moves 0.5 + 2 + 2 bytes per weight; a model whose
  ``t4.decode_weights`` is fp16 decodes from its dequantized copy (2 bytes). A step also pays a fixed
  cost per layer (kernel launches, Python), which is all a toy model pays. With transformers a batch
  decodes until its longest sequence stops: the expected total costs every batch at the expected
  longest answer of the batch (:mod:`.lengths`), the upper bound at its token limit. vLLM's continuous
  batching is costed at the mean length.
- **Training** (04, 05): 6 N FLOPs per token with gradient checkpointing (forward, activation
  gradients, recomputed forward; the frozen base needs no weight gradients), 4 N without, plus the
  reference forward of DPO (2 N) and the LM head's weight gradient when chat-token rows train. The
  realized throughput is calibrated on public T4 anchors (:data:`ANCHORS`).
- **Prefill-only passes** (reward scoring, MMLU log-likelihoods): 2 N FLOPs per token.

Lengths the profile does not fix are recorded, published or assumed, and named with the plan
(:mod:`.lengths`). ``sit plan --calibrate`` replaces the assumed rates with measured ones
(:mod:`.calibrate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..config import ModelSpec, Registry
from ..workspace import STAGES
from . import memory as mem
from .gpus import GPU
from .lengths import JUDGE_PROMPT_TOKENS, PUBLIC, Lengths, assumed, expected_max, recorded
from .prompts import agent_prompts, mmlu_prompts
from .workload import decode_load, lookup, model_arch, phase_sizes, training_setup

# Mean lengths, as fractions of the profile's limits (Magpie instructions are short; answers
# use about half their budget), and fixed token counts of templates and prompts.
LENGTHS = {"instruction": 0.25, "response": 0.5, "template": 32, "pre_query": 16, "ifeval_prompt": 80,
           "mt_bench_prompt": 120, "judge_prompt": JUDGE_PROMPT_TOKENS,
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
    parts: dict[str, float] = field(default_factory=dict)  # seconds, expected
    checkpoint_every_s: float | None = None  # the most work a disconnect loses
    knob: str = ""  # the setting that shortens it most
    upper: dict[str, float] = field(default_factory=dict)  # decoding parts at their token limits (upper bound)

    @property
    def seconds(self) -> float:
        return sum(self.parts.values())

    @property
    def upper_seconds(self) -> float:
        """Every decoding batch runs to its token limit."""
        return sum(self.upper.get(name, value) for name, value in self.parts.items())

    def decode(self, name: str, cost: tuple[float, float]) -> None:
        """Add a decoding part: (expected, upper bound) seconds."""
        self.parts[name], self.upper[name] = cost


@dataclass(frozen=True)
class Measured:
    """Rates ``sit plan --calibrate`` measured for one model on this device, extrapolated to its full depth."""

    decode_step_s: dict[int, float]  # batch -> seconds of one decoding step (short cache)
    train_flops: float  # realized FLOP/s of a training step (forward and activation gradients)
    device: str
    scale: str  # "full" (the registry's widths) or "tiny" (a CPU test: the numbers say nothing about a T4)

    def step(self, batch: int) -> float:
        """Linear in the batch between the measured sizes, extended by the last slope."""
        points = sorted(self.decode_step_s.items())
        if len(points) == 1:
            return points[0][1]
        for (b0, t0), (b1, t1) in zip(points, points[1:], strict=False):
            if batch <= b1 or (b1, t1) == points[-1]:
                return max(t0 + (t1 - t0) * (batch - b0) / (b1 - b0), 0.0)
        return points[-1][1]


class Timer:
    """Time estimates for one profile on ``num_gpus`` devices of one kind."""

    def __init__(self, registry: Registry, profile: dict, gpu: GPU, num_gpus: int = 1, backend: str = "hf",
                 *, workspace=None, measured: dict[str, Measured] | None = None):
        self.registry, self.profile, self.gpu = registry, profile, gpu
        self.num_gpus, self.backend = max(int(num_gpus), 1), backend
        self.workspace = workspace  # a sit.workspace.Workspace whose recorded lengths the plan uses
        self.measured = measured or {}  # slug -> rates measured by `sit plan --calibrate`
        # (what, model) -> its lengths and where they come from (printed with the plan)
        self.sources: dict[tuple[str, str | None], Lengths] = {}

    # ----------------------------------------------------------------- primitives

    def inventory(self, spec: ModelSpec) -> mem.Inventory:
        return mem.meta_inventory(spec.architecture, model_arch(spec, self.profile))

    def _traffic(self, spec: ModelSpec, inv: mem.Inventory) -> float:
        """Bytes one decoding step reads: the Linear weights at their loading precision (vLLM: 16-bit)
        and the LM head."""
        load = "fp16" if self.backend == "vllm" else decode_load(spec, self.profile)
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
                       lengths: Lengths | None = None) -> tuple[float, float]:
        """(expected, upper bound) seconds to prefill and decode ``sequences`` prompts of ``prompt`` tokens
        with a limit of ``new`` tokens each. Expected: each batch decodes for the expected longest of its
        rows' ``lengths`` (capped at the limit); upper bound: for the limit."""
        inv = self.inventory(spec)
        lengths = (lengths or Lengths(new, new, "the limit")).capped(new)
        if self.backend == "vllm":  # continuous batching: a finished row's slot is refilled at once
            batch = VLLM["batch"]
        sequences = math.ceil(sequences / self.num_gpus)  # data parallel: each device a share
        batches = math.ceil(sequences / batch)
        batch = min(batch, sequences) or 1
        prefill = 2 * inv.params * batch * prompt / self.gpu.prefill_flops + self._layer_overhead(inv)

        def run(tokens: float) -> float:
            kv = mem.kv_cache_bytes(inv, batch, int(prompt + tokens // 2))
            if spec.slug in self.measured and self.backend != "vllm":
                step = self.measured[spec.slug].step(batch) + kv / self.gpu.bandwidth
            else:
                memory_bound = (self._traffic(spec, inv) + kv) / self.gpu.bandwidth
                compute_bound = 2 * inv.params * batch / self.gpu.prefill_flops
                step = max(memory_bound, compute_bound) + self._layer_overhead(inv)
            return batches * (prefill + tokens * step)

        longest = lengths.mean if self.backend == "vllm" else expected_max(lengths, batch, new)
        return run(longest), run(new)

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
        rate = self.measured[spec.slug].train_flops if spec.slug in self.measured else self.gpu.train_flops
        compute = per_token * tokens_total / (rate * devices)
        overhead = 3 * micro_batches / self.num_gpus * self._layer_overhead(inv)  # forward + backward + recompute
        total = compute + overhead
        return total, total / optimizer_steps


# --------------------------------------------------------------------------- the notebooks


def _mean(fraction_key: str, limit: int) -> int:
    return max(int(LENGTHS[fraction_key] * limit), 1)


def _pair(cost: tuple[float, float], times: float) -> tuple[float, float]:
    return cost[0] * times, cost[1] * times


def _sum(*costs: tuple[float, float]) -> tuple[float, float]:
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


def phase_lengths(timer: Timer, what: str, limit: int, *, model: str | None = None, records: list | None = None,
                  public: str | None = None, fraction: float = 0.5) -> Lengths:
    """The lengths of one decoding phase: recorded in the workspace (the first of ``records``, each
    (path, field)), else published (``PUBLIC[public]``), else the planner's assumption. The source is
    kept in ``timer.sources`` for the plan's output."""
    world = str(timer.profile.get("world", "hub"))
    found = None
    if timer.workspace is not None:
        for path, name in records or []:
            found = recorded(path, name, world=world)
            if found:
                break
    if found is None and public and world != "toy":
        found = PUBLIC[public]
    if found is None:
        found = assumed(limit, fraction)
    timer.sources[what, model] = found
    return found


def notebook_times(timer: Timer) -> list[StepTime]:
    """One estimate per notebook run, in pipeline order (per-model notebooks once per target)."""
    p, reg, start, ws = timer.profile, timer.registry, timer.gpu.startup_s, timer.workspace
    generator, reward = reg.by_role("generator")[0], reg.by_role("reward")[0]
    gen = phase_sizes(generator, "generate", p)
    n = int(lookup(p, "generation.num_instructions", 1500))
    raw = ws.raw_dir if ws is not None else None
    asked = phase_lengths(timer, "01 instructions", gen["instruction"], fraction=LENGTHS["instruction"],
                          records=[(raw / "instructions.jsonl", "instruction_tokens")] if raw else None)
    written = phase_lengths(timer, "01 answers", gen["new"], public="response",
                            records=[(raw / "magpie.jsonl", "response_tokens")] if raw else None)
    instruction = int(asked.capped(gen["instruction"]).mean)
    answer = int(written.capped(gen["new"]).mean)
    prompt = LENGTHS["template"] + instruction
    steps = []

    first = StepTime("01", None, {"start": start, "load": timer.load_seconds(generator)},
                     knob="generation.num_instructions or generation.max_new_tokens_response")
    first.decode("instructions", timer.decode_seconds(generator, n, gen["batch"], LENGTHS["pre_query"],
                                                      gen["instruction"], asked))
    first.decode("responses", timer.decode_seconds(generator, n, gen["batch"], prompt, gen["new"], written))
    first.checkpoint_every_s = (first.parts["instructions"] + first.parts["responses"]) / n * int(
        lookup(p, "generation.checkpoint_every", 100))
    steps.append(first)
    steps.append(StepTime("02", None, {"start": start, "filters": n * FILTER_SECONDS_PER_RECORD}))

    kept = int(lookup(p, "filtering.target", n))
    heldout = int(lookup(p, "training.heldout", 0))
    reward_len = min(instruction + answer, int(lookup(p, "preference.reward_max_length", 512)))
    targets = reg.by_role("target")
    answered = {}
    for spec in targets:
        sizes = phase_sizes(spec, "respond", p)
        answers = phase_lengths(timer, "03 answers", sizes["new"], model=spec.slug, records=[
            (ws.responses_file(spec.slug), "response_tokens")] if ws is not None else None)
        answered[spec.slug] = answers
        reward_batch = phase_sizes(reward, "score", p)["batch"]
        step = StepTime("03", spec.slug, {"start": start, "load": timer.load_seconds(spec)},
                        knob="preference.max_new_tokens_response")
        step.decode("answers", timer.decode_seconds(spec, kept, sizes["batch"], prompt, sizes["new"], answers))
        step.parts.update({"reward load": timer.load_seconds(reward),
                           "scores": timer.forward_seconds(reward, kept, reward_len, reward_batch)})
        step.checkpoint_every_s = step.parts["answers"] / kept * int(lookup(p, "preference.checkpoint_every", 100))
        steps.append(step)
    save_steps = int(lookup(p, "training.save_steps", 25))
    pairs = min(int(lookup(p, "preference.target_pairs", kept)), kept - heldout)
    dpo_answer = int(min(answered[targets[0].slug].mean, int(lookup(p, "preference.max_new_tokens_response", 512))))
    for stage, examples, tokens in (("sft", kept - heldout, prompt + answer), ("dpo", pairs, prompt + dpo_answer)):
        for spec in targets:
            total, per_step = timer.train_seconds(spec, stage, examples, tokens)
            step = StepTime("04" if stage == "sft" else "05", spec.slug,
                            {"start": start, "load": timer.load_seconds(spec), "train": total},
                            save_steps * per_step, f"training.{stage}.epochs or training.{stage}.max_length")
            # The trained stage answers the held-out instructions (notebook 04: SFT; 05: DPO, and the base of
            # this notebook's model only, which loads it once more); 05 then scores the answers with the reward
            # model: this model's three stages, and those of the targets that were trained before it.
            sizes = phase_sizes(spec, "respond", p)
            own = [(ws.stage_answers_file(spec.slug, s), "response_tokens")
                   for s in (("sft",) if stage == "sft" else ("dpo", "base"))] if ws is not None else []
            held = phase_lengths(timer, f"{step.notebook} held-out answers", sizes["new"], model=spec.slug,
                                 records=own + ([(ws.responses_file(spec.slug), "response_tokens")] if ws else []))
            answers = timer.decode_seconds(spec, heldout, sizes["batch"], prompt, sizes["new"], held)
            step.decode("held-out answers", answers if stage == "sft" else _pair(answers, 2))
            if stage == "dpo":
                step.parts["base load"] = timer.load_seconds(spec)
                step.parts["reward load"] = timer.load_seconds(reward)
                trained = targets.index(spec) + 1
                step.parts["scores"] = timer.forward_seconds(reward, 3 * trained * heldout, reward_len,
                                                             phase_sizes(reward, "score", p)["batch"])
            steps.append(step)
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
        step = StepTime("06", spec.slug, {"start": start, "loads": stages * timer.load_seconds(spec)},
                        knob="evaluation.ifeval.limit, evaluation.mmlu.limit, evaluation.mt_bench.questions")
        if "ifeval" in benchmarks:
            full = _fixture_sizes().get("ifeval", 541) if lookup(p, "evaluation.ifeval.tasks") == "local" else 541
            limit = int(lookup(p, "evaluation.ifeval.limit", full))
            new = int(lookup(p, "evaluation.ifeval.max_gen_toks", 1280))
            lengths = phase_lengths(timer, "IFEval answers", new, public="ifeval")
            step.decode("IFEval", _pair(timer.decode_seconds(
                spec, limit, int(lookup(p, "evaluation.ifeval.batch_size", 8)), LENGTHS["ifeval_prompt"], new,
                lengths), stages))
        if "mmlu" in benchmarks:  # lm-eval's logits cache: one forward scores a question's four one-token answers
            step.parts["MMLU"] = stages * timer.forward_seconds(spec, mmlu, mmlu_tokens,
                                                                int(lookup(p, "evaluation.mmlu.batch_size", 4)))
        if "mt_bench" in benchmarks:
            new = int(lookup(p, "evaluation.mt_bench.max_new_tokens", 1024))
            batch = int(lookup(p, "evaluation.mt_bench.batch_size", 8))
            lengths = phase_lengths(timer, "MT-Bench answers", new, public="mt_bench")
            turn2 = LENGTHS["mt_bench_prompt"] * 2 + int(lengths.capped(new).mean)
            step.decode("MT-Bench answers", _pair(_sum(
                timer.decode_seconds(spec, questions, batch, LENGTHS["mt_bench_prompt"], new, lengths),
                timer.decode_seconds(spec, questions, batch, turn2, new, lengths)), stages))
            judged = phase_sizes(judge, "judge", p)
            verdicts = phase_lengths(timer, "MT-Bench judgments", judged["new"], public="judge")
            step.parts["judge load"] = timer.load_seconds(judge)
            step.decode("judging", _pair(timer.decode_seconds(judge, 2 * questions, judged["batch"],
                                                              LENGTHS["judge_prompt"], judged["new"], verdicts),
                                         stages))
        out.append(step)
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

    replies = phase_lengths(timer, "agent replies", new)

    def play(spec) -> tuple[float, float]:
        longest = agent_prompts(p, model_arch(spec, p).get("max_positions")).longest
        mean = (longest + min(LENGTHS["agent_first_page"], longest)) // 2
        return _pair(timer.decode_seconds(spec, int(goals), batch, mean, new, replies), rounds)

    out = []
    generator = timer.registry.by_role("generator")[0]
    for i, spec in enumerate(timer.registry.by_role("target")):
        step = StepTime("07", spec.slug, {"start": start, "loads": len(AGENT_STAGES) * timer.load_seconds(spec)},
                        knob="agent.goals or agent.max_rounds")
        step.decode("episodes", _pair(play(spec), len(AGENT_STAGES)))
        if i == 0:
            step.parts["reference load"] = timer.load_seconds(generator)
            step.decode("reference episodes", play(generator))
        out.append(step)
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
