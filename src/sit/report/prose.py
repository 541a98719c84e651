"""The explanations the report gives of each step: what it does and why (no numbers here)."""

from __future__ import annotations

TOY_WARNING = (
    "**Toy world.** Every number in this report comes from the offline toy world: tiny models trained by "
    "`sit toy-world` that stand in for the real ones and run through exactly the same code. These numbers "
    "test the code path only. They say nothing about how well the method works on real models."
)

MAGPIE = (
    "Magpie [1] makes instruction data without any seed questions. An aligned chat model is given only the "
    "start of a user turn (the pre-query template, {template}), so it writes a plausible user request itself. "
    "The same model then answers that request in a normal chat turn. Sampling the instruction at temperature 1 gives variety; "
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
    "Each {target} answers every filtered instruction. A reward model trained on human preference "
    "rankings [10, 11] scores every (instruction, answer) pair on one scale. For each instruction the best-scored "
    "answer becomes **chosen** and the worst-scored one **rejected** (the Magpie-DPO recipe). DPO learns from "
    "the difference between the two, so pairs with a large score margin carry the clearest signal; ties, "
    "identical and empty answers are skipped, and the pairs with the largest margins are kept."
)

TRAINING = (
    "**SFT with LoRA** [2, 3]. The base model is frozen and small low-rank matrices (LoRA) are trained on the "
    "filtered instructions in the model's chat template; only the answer tokens count in the loss. This teaches "
    "the model to follow instructions and to end its turn. On the real T4 profile the frozen base is loaded in "
    "4-bit NF4 (QLoRA) with LoRA on the attention projections; the tables below say what this run used beside "
    "it. **DPO** [4]. Direct Preference Optimization then trains the SFT adapter further on the pairs: it raises "
    "the probability of the chosen answer relative to the rejected one, measured against a frozen copy of the "
    "SFT model, with no separate reward model and no sampling during training. β controls how far the model "
    "may move from that reference."
)

STAGE_COMPARISON = (
    "Held-out instructions (kept out of SFT and DPO) are answered by each model at each stage, and the "
    "reward model scores the answers. The table gives the mean reward with its 95% confidence interval and "
    "the share of answers that ended with the end-of-turn token (a model that never stops rambles)."
)

EVALUATION = (
    "Benchmarks compare the base model, the SFT model and the SFT+DPO model of each target: IFEval [5] checks "
    "verifiable formatting instructions (headline: prompt-level strict accuracy), MMLU [7] multiple-choice "
    "knowledge (accuracy, chance 0.25), and MT-Bench [6] multi-turn answers graded 1–10 by a local open judge "
    "(not comparable to GPT-4-judged MT-Bench). Every stage is scored on the same items as base, so each "
    "change comes from a paired bootstrap over those items [15]: a change is called higher or lower only when "
    "its 95% interval excludes 0."
)

AGENT = (
    "WebShop-style [8] tasks, in AgentBench's protocol [9], ask the final models to shop: search, open a product, choose options and buy, "
    "within 10 rounds. The reward counts how many of the requested attributes, options and the price limit "
    "the bought product meets; success means all of them."
)

AGENT_BASELINES = (
    "**Baselines.** Two agents without a model frame the results. The **rule** agent searches the goal's text, "
    "opens the result whose title matches it best, clicks every option the goal names and buys: what a "
    "sensible sequence of valid moves earns in this shop. The **random** agent searches a few random words of "
    "the goal and then clicks at random: the floor."
)

AGENT_WHY = (
    "Instruction tuning alone does not make an agent here: SFT and DPO train on single-turn answers to "
    "Magpie instructions, with no example of the reply format (a thought, then `search[...]` or `click[...]`), "
    "no shop page and no multi-turn episode. A tuned model that answers fluently but never writes an action in "
    "that format ends every episode at once, however well it follows other instructions."
)

COST = (
    "Minutes: the wall time each step's manifest recorded, from the first call of a notebook or command to its "
    "last write, added up over its runs (a resumed run, one run per model) and, for SFT and DPO, over the models "
    "(their own training time). Device: where the step ran (cuda or cpu); profile: the settings it ran with."
)

LIMITATIONS = [
    "The data come from one generator ({generator}); its style, knowledge and mistakes are "
    "inherited by every tuned model.",
    "The reward model is itself a model: chosen/rejected labels and the stage comparison share its biases "
    "(e.g. a preference for longer answers).",
    "MT-Bench is judged by a local open model, so its scores are not comparable with published GPT-4-judged "
    "numbers.",
    "The agent tasks run in a small bundled WebShop-style shop, not the full WebShop with 1.18 M products, "
    "a Java search index and about 15 GB of RAM.",
]
SMALL_SAMPLES = "Sample sizes are small: read the intervals, not only the point values."
LLAMA_LICENCE = ("Outputs of Llama models carry the obligations of the Llama Community Licenses (see the dataset "
                 "and model cards).")

TOY_LIMITATION = ("This run used the toy world: the models are tiny stand-ins trained on CPU, so no number "
                  "here says anything about real model quality. Toy numbers also vary by CPU: PyTorch picks "
                  "kernels by instruction set, so the same seed trains slightly different weights on another "
                  "machine, and every downstream number moves with them.")

NEXT_STEP = {
    "raw": "Run notebook 01 (Magpie generation) or `sit generate`.",
    "filtered": "Run notebook 02 (quality filtering) or `sit filter`.",
    "preference": "Run notebook 03 (preference data) for at least two target models, or `sit preference`.",
    "training": "Run notebooks 04 (SFT) and 05 (DPO).",
    "stages": "Notebook 05 writes it after DPO (the held-out comparison of base, SFT and DPO).",
    "evaluation": "Run notebook 06 (evaluation).",
    "agent": "Run notebook 07 (agent evaluation).",
}

# Cited as [n] in the text above and in the report's tables; real bibliographic entries.
REFERENCES = [
    "Z. Xu, F. Jiang, L. Niu, Y. Deng, R. Poovendran, Y. Choi, B. Y. Lin. Magpie: Alignment Data Synthesis from "
    "Scratch by Prompting Aligned LLMs with Nothing. ICLR 2025. arXiv:2406.08464.",
    "E. J. Hu, Y. Shen, P. Wallis, Z. Allen-Zhu, Y. Li, S. Wang, L. Wang, W. Chen. LoRA: Low-Rank Adaptation of "
    "Large Language Models. ICLR 2022. arXiv:2106.09685.",
    "T. Dettmers, A. Pagnoni, A. Holtzman, L. Zettlemoyer. QLoRA: Efficient Finetuning of Quantized LLMs. "
    "NeurIPS 2023. arXiv:2305.14314.",
    "R. Rafailov, A. Sharma, E. Mitchell, S. Ermon, C. D. Manning, C. Finn. Direct Preference Optimization: Your "
    "Language Model is Secretly a Reward Model. NeurIPS 2023. arXiv:2305.18290.",
    "J. Zhou, T. Lu, S. Mishra, S. Brahma, S. Basu, Y. Luan, D. Zhou, L. Hou. Instruction-Following Evaluation "
    "for Large Language Models. arXiv:2311.07911, 2023.",
    "L. Zheng, W.-L. Chiang, Y. Sheng, S. Zhuang, Z. Wu, Y. Zhuang, Z. Lin, Z. Li, D. Li, E. P. Xing, H. Zhang, "
    "J. E. Gonzalez, I. Stoica. Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena. NeurIPS 2023 Datasets "
    "and Benchmarks. arXiv:2306.05685.",
    "D. Hendrycks, C. Burns, S. Basart, A. Zou, M. Mazeika, D. Song, J. Steinhardt. Measuring Massive Multitask "
    "Language Understanding. ICLR 2021. arXiv:2009.03300.",
    "S. Yao, H. Chen, J. Yang, K. Narasimhan. WebShop: Towards Scalable Real-World Web Interaction with Grounded "
    "Language Agents. NeurIPS 2022. arXiv:2207.01206.",
    "X. Liu, H. Yu, H. Zhang, Y. Xu, X. Lei, H. Lai, Y. Gu, H. Ding, K. Men, K. Yang, et al. AgentBench: "
    "Evaluating LLMs as Agents. ICLR 2024. arXiv:2308.03688.",
    "P. He, J. Gao, W. Chen. DeBERTaV3: Improving DeBERTa using ELECTRA-Style Pre-Training with "
    "Gradient-Disentangled Embedding Sharing. ICLR 2023. arXiv:2111.09543. (The reward model, "
    "OpenAssistant/reward-model-deberta-v3-large-v2, is a DeBERTa-v3-large fine-tuned on human preference data.)",
    "A. Köpf, Y. Kilcher, D. von Rütte, S. Anagnostidis, Z.-R. Tam, K. Stevens, et al. OpenAssistant "
    "Conversations: Democratizing Large Language Model Alignment. NeurIPS 2023 Datasets and Benchmarks. "
    "arXiv:2304.07327.",
    "Llama Team, AI @ Meta. The Llama 3 Herd of Models. arXiv:2407.21783, 2024.",
    "A. Q. Jiang, A. Sablayrolles, A. Mensch, C. Bamford, D. S. Chaplot, D. de las Casas, et al. Mistral 7B. "
    "arXiv:2310.06825, 2023.",
    "Qwen Team. Qwen2.5 Technical Report. arXiv:2412.15115, 2024.",
    "P. Koehn. Statistical Significance Tests for Machine Translation Evaluation. EMNLP 2004 (the paired "
    "bootstrap over test items).",
    "S. Biderman, H. Schoelkopf, L. Sutawika, L. Gao, et al. Lessons from the Trenches on Reproducible "
    "Evaluation of Language Models (lm-evaluation-harness). arXiv:2405.14782, 2024.",
]
REWARD_REFERENCE = next(i for i, entry in enumerate(REFERENCES) if "reward-model-deberta" in entry)  # [10]
