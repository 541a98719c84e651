"""``sit plan``: peak memory per step, wall time per notebook run, and the Colab session plan."""

from __future__ import annotations

import argparse

from ..config import load_profile, load_registry, parse_set_args
from ..inference.parallel import vllm_parallelism
from . import memory as mem
from .downloads import download_table, downloads
from .gpus import GPUS, default_gpu, get_gpu
from .plan import OVERHEAD_GIB, Settings, plan
from .prompts import CHARS_PER_TOKEN, agent_prompts, mmlu_prompts
from .report import plan_table
from .schedule import SESSION_HOURS, oversized, session_table, time_table
from .timing import DP_EFFICIENCY, HF_VS_UNSLOTH, LENGTHS, VLLM, Timer, anchor_checks, notebook_times
from .workload import lookup, model_arch, training_setup


def register(subparsers) -> None:
    parser = subparsers.add_parser("plan", help="estimate peak GPU memory and wall time of every step")
    parser.add_argument("--profile", default="colab_t4", help="profile whose sizes override the registry's t4 ones")
    parser.add_argument("--gpu", default=None, help=f"device to plan for ({', '.join(GPUS)}; default: the profile's)")
    parser.add_argument("--num-gpus", type=int, default=1, help="devices: data-parallel training, vLLM replicas")
    parser.add_argument("--backend", choices=("hf", "vllm"), default="hf",
                        help="generation engine (vLLM: continuous batching, 16-bit weights; not on a T4)")
    parser.add_argument("--budget-gib", type=float, default=None, help="usable memory per device (default: the GPU's)")
    parser.add_argument("--hours", type=float, default=SESSION_HOURS, help="length of one Colab session")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile value, e.g. --set generation.batch_size=4 (repeatable)")
    parser.add_argument("--workspace", default=None,
                        help="workspace whose recorded answer lengths the plan uses (default: the usual one)")
    parser.add_argument("--calibrate", action="store_true",
                        help="measure decoding and training rates on this device with random-weight builds of each "
                             "model (nothing is downloaded), then plan again with them")
    parser.add_argument("--calibrate-scale", choices=("full", "tiny"), default=None,
                        help="full: the registry's widths (default on CUDA and for the toy models); tiny: a few dozen "
                             "units wide, a quick check of the machinery on a CPU")
    parser.add_argument("--full-logits", action="store_true",
                        help="assume training materializes (tokens x vocab) logits instead of TRL's fused LM head")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile, parse_set_args(args.set))
    registry = load_registry().for_profile(profile)  # the models this profile runs
    gpu = get_gpu(args.gpu) if args.gpu else default_gpu(profile)
    budget = args.budget_gib if args.budget_gib is not None else gpu.memory_gib
    settings = Settings(budget_gib=budget, fused_lm_head=not args.full_logits,
                        overhead_gib=OVERHEAD_GIB if gpu.key != "cpu" else 0.0)
    target = registry.by_role("target")[0]
    sft = training_setup(target, "sft", profile)
    print(f"sit plan: profile {profile['name']} on {args.num_gpus} x {gpu.name}, backend {args.backend}; "
          f"LoRA r={sft.lora_r} on {','.join(sft.lora_targets)}, optimizer {sft.optim}, "
          f"{'trained' if sft.train_chat_tokens else 'frozen'} chat-token rows, "
          f"{'full logits' if args.full_logits else 'fused LM head'}\n")
    print("Peak memory per step (one device)")
    print(plan_table(plan(registry, profile, settings)))
    timer = Timer(registry, profile, gpu, args.num_gpus, args.backend, workspace=_workspace(args.workspace))
    times = notebook_times(timer)
    print("\nWall time per notebook run (assumed rates)" if args.calibrate else "\nWall time per notebook run")
    print(time_table(times))
    if args.calibrate:
        from .calibrate import calibrate

        measured = calibrate(registry, profile, scale=args.calibrate_scale)
        print("\n" + "\n".join(measured.lines()))
        timer = Timer(registry, profile, gpu, args.num_gpus, args.backend, workspace=timer.workspace,
                      measured=measured.measured)
        times = notebook_times(timer)
        print(f"\nWall time per notebook run (measured: decoding steps and training rates of "
              f"{', '.join(measured.measured)} on {measured.device}, {measured.scale} scale; the rest assumed)")
        print(time_table(times))
    if profile.get("world") == "hub":
        print("\nDownloads from the hub (per model)")
        print(download_table(downloads(registry)))
    print("\n" + assumptions(timer))
    if args.backend == "vllm" or args.num_gpus > 1:
        print("\n" + parallel_lines(registry, profile, gpu, args.num_gpus))
    print(f"\nSession plan ({args.hours:.0f} h sessions)")
    print(session_table(times, args.hours))
    for step in oversized(times, args.hours):
        print(f"✗ {step.notebook} {step.model or ''} takes more than one session: lower {step.knob} "
              "(it resumes from its checkpoints, but over several sessions).")
    return 0


def length_lines(sources: dict) -> list[str]:
    """One line per phase and source: the models that share the same lengths are named together."""
    grouped: dict[tuple, list[str]] = {}
    for (what, model), lengths in sources.items():
        grouped.setdefault((what, lengths.mean, lengths.p90, lengths.source), []).extend([model] if model else [])
    lines = []
    for (what, mean, p90, source), models in grouped.items():
        named = f"{what} ({', '.join(models)})" if models else what
        lines.append(f"    {named}: mean {mean:.0f}, p90 {p90:.0f} tokens; {source}")
    return lines


def _workspace(root):
    """The workspace whose records the plan reads (never created by planning)."""
    from ..workspace import Workspace

    return Workspace(root, create=False)


def assumptions(timer: Timer) -> str:
    gpu = timer.gpu
    mmlu = mmlu_prompts(timer.profile)
    agent = agent_prompts(timer.profile, model_arch(timer.registry.by_role("target")[0], timer.profile).get(
        "max_positions"))
    lines = [
        "Assumptions:",
        f"- decoding: weights streamed each step at {gpu.bandwidth / 1e9:.0f} GB/s realized "
        f"({gpu.decode_fraction:.0%} of {gpu.bandwidth_gbs:.0f}); "
        + (f"vLLM: continuous batching at the mean length, up to {VLLM['batch']} sequences, 16-bit weights"
           if timer.backend == "vllm" else
           f"nf4 moves 4.5 bytes per weight (dequantized to fp16 for batches), a model with t4.decode_weights: "
           f"fp16 2; + {gpu.layer_overhead_ms} ms per layer and {gpu.step_overhead_ms} ms per step. A transformers "
           "batch decodes until its longest row stops: expected = each batch at the expected longest of its rows "
           "(a log-normal fitted to the mean and p90 below, capped at the limit); upper bound = at the limit"),
        f"- training: 6 N FLOPs per token with checkpointing (4 N without), DPO + 2 N for the reference, at "
        f"{gpu.train_flops / 1e12:.1f} TFLOP/s ({gpu.train_fraction:.1%} of {gpu.peak_tflops:g})"
        + (f"; {timer.num_gpus} GPUs data parallel at {DP_EFFICIENCY:.0%} efficiency" if timer.num_gpus > 1 else ""),
        f"- prefill, reward scoring, MMLU log-likelihoods: 2 N FLOPs per token at {gpu.prefill_flops / 1e12:.2f} TFLOP/s",
        f"- prompts: MT-Bench judge prompts {LENGTHS['judge_prompt']} tokens (FastChat: 1,100-1,400); IFEval prompts "
        f"{LENGTHS['ifeval_prompt']}, MT-Bench questions {LENGTHS['mt_bench_prompt']}",
        "- generated lengths (mean, p90) and their sources:",
        *length_lines(timer.sources),
        f"- MMLU prompts: longest {mmlu.longest} tokens ({mmlu.longest_subject}), mean {mmlu.mean}; {mmlu.source}. "
        "lm-eval scores a batch from fp16 [batch, length, vocab] logits plus their log_softmax of the same size",
        f"- agent prompts: task prompt, one-shot example and up to {lookup(timer.profile, 'agent.max_rounds', 10)} "
        f"rounds: ~{agent.untrimmed} tokens"
        + (f", trimmed to {agent.window} (context_window - max_new_tokens)" if agent.window else "")
        + f"; measured in characters at {CHARS_PER_TOKEN:g} a token",
        f"- each notebook: {gpu.startup_s:.0f} s to start; a model loads at {gpu.load_gbs} GB/s of 16-bit checkpoint",
    ]
    if not gpu.calibrated:
        lines.append(f"- {gpu.name}: not calibrated here; the T4's realized fractions of peak are assumed")
    if gpu.key == "t4":
        lines.append(f"Calibration against public T4 anchors (plain HF + PEFT should take {HF_VS_UNSLOTH[0]}-"
                     f"{HF_VS_UNSLOTH[1]}x Unsloth's time):")
        for check in anchor_checks(timer.registry, gpu):
            lines.append(f"  {check.what}: Unsloth {check.unsloth_minutes:.1f} min, this estimate "
                         f"{check.estimate_minutes:.1f} min ({check.ratio:.2f}x) {'ok' if check.within else '✗'}")
    return "\n".join(lines)


def parallel_lines(registry, profile: dict, gpu, num_gpus: int) -> str:
    lines = [f"vLLM layout on {num_gpus} x {gpu.name} (16-bit weights):"]
    for spec in registry:
        if spec.architecture == "deberta-v2":
            continue
        arch = model_arch(spec, profile)
        inv = mem.meta_inventory(spec.architecture, arch)
        layout = vllm_parallelism(2 * inv.params, int(gpu.memory_gib * 1024**3), num_gpus,
                                  heads=inv.heads, kv_heads=inv.kv_heads)
        lines.append(f"  {spec.slug:<26} tensor_parallel_size={layout.tensor_parallel_size}  "
                     f"data_parallel_size={layout.data_parallel_size}")
    return "\n".join(lines)
