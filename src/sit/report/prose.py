"""The explanations the report gives of each step: what it does and why (no numbers here)."""

from __future__ import annotations

TOY_WARNING = (
    "**Toy world.** Every number in this report comes from the offline toy world: tiny models trained by "
    "`sit toy-world` that stand in for the real ones and run through exactly the same code. These numbers "
    "test the code path only. They say nothing about how well the method works on real models."
)

MAGPIE = (
    "[Magpie](https://arxiv.org/abs/2406.08464) makes instruction data without any seed questions. An aligned "
    "chat model is given only the start of a user turn (the pre-query template, for Llama-3 "
    "`<|start_header_id|>user<|end_header_id|>`), so it writes a plausible user request itself. The same model "
    "then answers that request in a normal chat turn. Sampling the instruction at temperature 1 gives variety; "
    "answering greedily gives the model's best answer. The output is noisy, which is why step 2 exists."
)

FILTER_WHY = {
    "incomplete": "a cut-off instruction or answer teaches the model to stop mid-thought",
    "refusal": "refusals and \"As an AI…\" boilerplate teach over-refusal",
    "repetition": "sampling loops would be learned as loops",
    "language": "the evaluations are in English",
    "length": "one-line answers teach curtness; very long ones teach padding",
    "near_duplicate": "repeated tasks overweight a few skills",
}

FILTERING = (
    "SFT copies whatever is in its data, so every kind of noise in the raw Magpie output would become a habit "
    "of the tuned model. The rules run in order; each removes what the rules before it left. After the rules, "
    "a selection keeps the target number of records (by default the ones with the longest answers, as the "
    "Magpie authors do)."
)

PREFERENCE = (
    "Each target base model answers every filtered instruction. A reward model trained on human preference "
    "rankings scores every (instruction, answer) pair on one scale. For each instruction the best-scored "
    "answer becomes **chosen** and the worst-scored one **rejected** (the Magpie-DPO recipe). DPO learns from "
    "the difference between the two, so pairs with a large score margin carry the clearest signal; ties, "
    "identical and empty answers are skipped, and the pairs with the largest margins are kept."
)

TRAINING = (
    "**QLoRA SFT.** The base model is loaded in 4-bit NF4 and frozen; small low-rank matrices (LoRA) are added "
    "to its attention projections and trained on the filtered instructions in the model's chat template. Only "
    "the answer tokens count in the loss. This teaches the model to follow instructions and to end its turn. "
    "**DPO.** Direct Preference Optimization then trains the SFT adapter further on the pairs: it raises the "
    "probability of the chosen answer relative to the rejected one, measured against a frozen copy of the "
    "SFT model, with no separate reward model and no sampling during training. β controls how far the model "
    "may move from that reference."
)

STAGE_COMPARISON = (
    "Held-out instructions (kept out of SFT and DPO) are answered by each model at each stage, and the "
    "reward model scores the answers. The table gives the mean reward with its 95% confidence interval and "
    "the share of answers that ended with the end-of-turn token (a model that never stops rambles)."
)

EVALUATION = (
    "Benchmarks compare the base model, the SFT model and the SFT+DPO model of each target: IFEval checks "
    "verifiable formatting instructions, MMLU multiple-choice knowledge, and MT-Bench multi-turn answers "
    "graded by a local open judge (not comparable to GPT-4-judged MT-Bench). Every value comes with its "
    "sample size and a 95% interval; a verdict says higher or lower only when the two intervals do not "
    "overlap, which is a conservative test."
)

AGENT = (
    "WebShop-style tasks ask the final models to shop: search, open a product, choose options and buy, "
    "within 10 rounds. The reward counts how many of the requested attributes, options and the price limit "
    "the bought product meets; success means all of them."
)

COST = (
    "Wall time per step, from the `started_at` and `finished_at` of each step's manifest, on the device of "
    "its profile. Notebooks that resume after a disconnect record the time of their last run."
)

LIMITATIONS = [
    "The data come from one generator (Llama-3.1-8B-Instruct); its style, knowledge and mistakes are "
    "inherited by every tuned model.",
    "The reward model is itself a model: chosen/rejected labels and the stage comparison share its biases "
    "(e.g. a preference for longer answers).",
    "Sample sizes are small (a few hundred pairs, limited benchmark subsets): read the intervals, not only "
    "the point values.",
    "MT-Bench is judged by a local open model, so its scores are not comparable with published GPT-4-judged "
    "numbers.",
    "The agent tasks are a small WebShop-style environment, not the full WebShop with 1.18 M products.",
    "Outputs of Llama models carry the obligations of the Llama Community Licenses (see the dataset and "
    "model cards).",
]

TOY_LIMITATION = ("This run used the toy world: the models are tiny stand-ins, so no number here says anything "
                  "about real model quality.")

NEXT_STEP = {
    "raw": "Run notebook 01 (Magpie generation) or `sit generate`.",
    "filtered": "Run notebook 02 (quality filtering) or `sit filter`.",
    "preference": "Run notebook 03 (preference data) for at least two target models, or `sit preference`.",
    "training": "Run notebooks 04 (SFT) and 05 (DPO).",
    "stages": "Notebook 05 writes it after DPO (the held-out comparison of base, SFT and DPO).",
    "evaluation": "Run notebook 06 (evaluation).",
    "agent": "Run notebook 07 (agent evaluation).",
}
