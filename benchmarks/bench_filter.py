"""Benchmark of the filtering phase on a synthetic corpus with planted problems.

    .venv/bin/python benchmarks/bench_filter.py [--n 100000] [--sample 20000] [--seed 0]

Prints, without asserting anything:

1. the whole pipeline on ``--n`` records: wall time, records/s, seconds per filter, and which
   filter caught each kind of planted problem;
2. the language filter's fast path: how often it decides, and how often the model agrees with it
   on texts it accepted;
3. near-duplicates on the first ``--sample`` instructions: recall and precision of the filter's
   removals against exact all-pairs Jaccard (the same shingles, every pair, sparse-matrix products
   in row blocks), and the speed ratio of the two at finding the pairs, both timed in this run.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import Counter

import numpy as np
import scipy.sparse as sp

from sit.filtering import filter_config, run_filters
from sit.filtering.dedup import DuplicateGraph, Shingles, keep_order, normalise
from sit.filtering.language import LanguageJudge

NOUNS = """garden kitchen bicycle laptop river mountain library museum coffee recipe budget resume
interview project database website server network password battery camera guitar piano painting
novel poem story essay article newsletter podcast video channel audience customer client team
manager employee student teacher parent child puppy kitten horse bird forest ocean desert island
city village country history economy climate energy vaccine protein vitamin muscle exercise
workout marathon diet breakfast dinner dessert bread cheese pasta salad soup sauce spice wine tea
garden spreadsheet algorithm function variable loop class module package framework compiler
robot telescope planet galaxy satellite rocket engine car truck train airport hotel vacation
passport wedding birthday holiday festival concert movie theater stadium tournament league coach
player referee contract invoice mortgage loan tax salary pension startup product market brand
logo slogan campaign strategy meeting deadline schedule calendar email letter report summary
presentation chart graph survey experiment hypothesis theory equation fraction triangle circle
matrix vector probability statistic sample dataset model neuron memory habit dream emotion
friendship relationship conflict apology gift surprise joke riddle puzzle game chess tennis soccer
basketball swimming hiking camping fishing gardening knitting pottery photography sculpture
violin drum lyric melody rhythm harmony opera ballet""".split()
VERBS = """improve explain describe compare summarize design build write plan organize fix debug
optimize translate analyze evaluate create choose learn teach clean repair decorate cook bake
grow train prepare protect reduce increase measure calculate estimate predict schedule negotiate
present promote review edit rewrite outline simplify test deploy install configure automate
monitor visualize compose practice memorize celebrate""".split()
ADJECTIVES = """small large simple complex modern ancient quick slow cheap expensive healthy spicy
sweet quiet noisy friendly formal casual creative practical scientific historical funny serious
beginner advanced local remote digital classic seasonal rural urban elegant rustic colorful
minimal detailed short long gentle bold""".split()

TEMPLATES = [
    "Write a {adj} story about a {noun} and a {noun2}.",
    "Explain how a {noun} affects the {noun2} in a {adj} {noun3}.",
    "Give me {k} tips to {verb} my {noun} before the {noun2} arrives.",
    "What is the difference between a {noun} and a {noun2}?",
    "Summarize the history of the {noun} and the {noun2} in {k} sentences.",
    "Suggest a title for my blog post about {adj} {noun}s and {noun2}s.",
    "How do I {verb} a {noun} that keeps breaking my {noun2}?",
    "Create a weekly plan to {verb} my {noun} and my {noun2}.",
    "Compare the {noun}, the {noun2} and the {noun3} for a {adj} beginner.",
    "Write a {adj} poem about a {noun} and a {noun2} at night.",
    "Why does my {noun} make a strange noise after I {verb} the {noun2}?",
    "Draft an email to my {noun} about the {adj} {noun2} schedule.",
    "List {k} ways to use a {noun} in a {adj} {noun2}.",
    "Can you explain the {noun} to a {adj} student who loves {noun2}s?",
    "Describe a {adj} {noun} next to a {noun2} in vivid detail.",
    "Help me choose between a {noun} and a {noun2} for my {noun3}.",
    "I want to {verb} my {noun} without a {noun2}. Where should I start?",
    "What are the pros and cons of a {adj} {noun} for a {noun2}?",
    "Design a {adj} logo concept for a {noun} and {noun2} shop.",
    "Rewrite this sentence to sound more {adj}: The {noun} is next to the {noun2}.",
    "Brainstorm {k} names for a {adj} {noun} business that sells {noun2}s.",
    "How can a {noun} help me {verb} my {noun2} faster?",
    "Plan a {adj} {noun} party with a {noun2} theme for {k} people.",
    "Teach me the basics of {noun}s and {noun2}s in {adj} terms.",
    "Generate {k} interview questions for a {noun} {noun2} role.",
    "What should I know before I buy a {adj} {noun} for my {noun2}?",
    "Outline an essay arguing that every {noun} needs a {noun2}.",
    "Recommend {k} {adj} books about the {noun} and the {noun2}.",
    "Write a Python function that can {verb} a list of {noun}s by {noun2}.",
    "Is it safe to leave a {noun} next to a {noun2} overnight?",
]
OPENERS = ["", "", "", "Quick question: ", "Hi! ", "For a school project, ", "Please help. ", "I'm curious. "]
CONTEXT = [
    " I am a {adj} beginner with a small budget.",
    " My {noun} is very old and I cannot replace it yet.",
    " Keep it under {k} sentences, please.",
    " It is for my {noun2} who is {k} years old.",
    " Please use a {adj} tone.",
    " I have about {k} hours this week.",
    " My {noun3} thinks this is a bad idea.",
]
SENTENCES = [
    "The {noun} is one of the most important parts of any {noun2}, and it is often used with a {noun3}.",
    "You should start with the {noun} before you move on to the {noun2}.",
    "Many people think that a {adj} {noun} is difficult, but with a little practice it becomes easy.",
    "If you have a {noun}, make sure that it is stored away from the {noun2}.",
    "This is why the {noun} and the {noun2} are usually discussed together.",
    "Here are a few things to keep in mind when you {verb} your {noun}.",
    "It can also help to compare your {noun} with the {noun2} you had last year.",
    "Finally, remember that a good {noun} takes time, so be patient with yourself.",
    "A {adj} approach works best when you want to {verb} the {noun} without losing the {noun2}.",
    "Try to {verb} the {noun} every morning, and write down what changes.",
    "Most experts agree that the {noun} should be checked at least once a week.",
    "In short, the {noun} gives you more control over the {noun2} than you might expect.",
    "Do not forget to ask your {noun} for feedback on the {noun2}.",
    "A common mistake is to buy an expensive {noun} when a {adj} one would do.",
    "For example, a {noun} can be turned into a {noun2} with some {adj} changes.",
    "Keep a simple list of every {noun} you use, and note which {noun2} it belongs to.",
    "When the {noun} stops working, check the {noun2} first.",
    "Some people prefer a {adj} {noun}, while others choose a {noun2} instead.",
    "The cost of a {noun} depends on the size of the {noun2} and the season.",
    "After a few weeks you will notice that the {noun} feels much more natural.",
    "Set a clear goal for the {noun}, such as finishing the {noun2} by Friday.",
    "You can find more ideas about the {noun} in a {adj} guide or a local {noun2}.",
    "Small steps with the {noun} add up, especially if you {verb} them regularly.",
    "Be careful with the {noun} near water, because the {noun2} can be damaged.",
]
FOREIGN = {
    "es": ("¿Cómo puedo mejorar mi {noun} en casa?",
           "Claro, aquí tienes algunas ideas para mejorar tu {noun}. Primero, organiza el espacio y elimina "
           "lo que no necesitas. Después, dedica unos minutos cada día a practicar y anota tus progresos."),
    "fr": ("Peux-tu m'expliquer comment fonctionne un {noun} ?",
           "Bien sûr ! Un {noun} fonctionne grâce à plusieurs éléments qui travaillent ensemble. Il faut "
           "d'abord comprendre le rôle de chaque partie, puis observer comment elles interagissent."),
    "de": ("Wie kann ich meinen {noun} am besten reinigen?",
           "Am besten reinigst du deinen {noun} mit einem weichen Tuch und etwas warmem Wasser. Vermeide "
           "aggressive Reinigungsmittel, denn sie können die Oberfläche beschädigen."),
    "zh": ("如何提高我的{noun}技能？",
           "提高{noun}技能需要时间和耐心。首先，每天练习一点点，然后记录你的进步。其次，向有经验的人请教，"
           "并认真听取他们的建议。"),
}
REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "As an AI language model, I don't have personal opinions about this.",
    "I cannot provide that information.",
    "I'm unable to browse the internet, so I can't check that for you.",
]
PLANTED = (("near_duplicate", 0.08), ("exact_duplicate", 0.02), ("foreign", 0.02), ("refusal", 0.02),
           ("repetition", 0.015), ("truncated", 0.02), ("lead_in", 0.01), ("short", 0.02), ("long", 0.01))


def fill(rng: random.Random, template: str) -> str:
    nouns = rng.sample(NOUNS, 3)
    return template.format(noun=nouns[0], noun2=nouns[1], noun3=nouns[2], verb=rng.choice(VERBS),
                           adj=rng.choice(ADJECTIVES), k=rng.randint(3, 10))


def instruction(rng: random.Random) -> str:
    text = rng.choice(OPENERS) + fill(rng, rng.choice(TEMPLATES))
    return text + fill(rng, rng.choice(CONTEXT)) if rng.random() < 0.4 else text


def response(rng: random.Random, sentences: int) -> str:
    """Distinct sentence templates (a response does not repeat itself unless planted)."""
    opening = rng.choice(["Sure! ", "Great question. ", "Here is what I suggest. ", ""])
    parts = [fill(rng, template) for template in rng.sample(SENTENCES, min(sentences, len(SENTENCES)))]
    return opening + " ".join(parts)


def perturb(rng: random.Random, text: str) -> str:
    """One to three word edits (substitute, insert, delete), sometimes a changed final mark."""
    words = text.split()
    for _ in range(rng.choice([1, 1, 2, 3])):
        i = rng.randrange(len(words))
        op = rng.random()
        if op < 0.4:
            words[i] = rng.choice(NOUNS)
        elif op < 0.7:
            words.insert(i, rng.choice(ADJECTIVES))
        elif len(words) > 4:
            del words[i]
    if rng.random() < 0.3:
        words[-1] = words[-1].rstrip(".?!") + "!"
    return " ".join(words)


def make_corpus(seed: int, n: int) -> list[dict]:
    """``n`` Magpie-shaped records; ``planted`` says which problem (if any) each one carries."""
    rng = random.Random(seed)
    records: list[dict] = []
    for i in range(n):
        kind = "clean"
        roll = rng.random()
        for name, share in PLANTED:
            if roll < share:
                kind = name
                break
            roll -= share
        records.append(_record(rng, i, kind, records))
    return records


def _record(rng: random.Random, i: int, kind: str, earlier: list[dict]) -> dict:
    text, answer = instruction(rng), response(rng, rng.randint(3, 12))
    finish = {"instruction": "stop", "response": "stop"}
    if kind in ("near_duplicate", "exact_duplicate") and earlier:
        source = rng.choice(earlier[-5000:])["instruction"]
        text = perturb(rng, source) if kind == "near_duplicate" else source
    elif kind == "foreign":
        template_i, template_r = FOREIGN[rng.choice(sorted(FOREIGN))]
        noun = rng.choice(NOUNS)
        text, answer = template_i.format(noun=noun), template_r.format(noun=noun)
    elif kind == "refusal":
        answer = rng.choice(REFUSALS) + " " + response(rng, 2)
    elif kind == "repetition":
        loop = fill(rng, rng.choice(SENTENCES))
        answer = response(rng, 2) + " " + " ".join([loop] * rng.randint(5, 12))
    elif kind == "truncated":
        finish["response"] = "length"
    elif kind == "lead_in":
        text = text.rstrip(".?!") + " as follows:"
    elif kind == "short":
        answer = fill(rng, rng.choice(SENTENCES))
    elif kind == "long":
        answer = " ".join(response(rng, 24) for _ in range(2))
    return {"id": f"syn-{i:06d}", "instruction": text, "response": answer, "raw_instruction": text,
            "finish_reason": finish, "instruction_tokens": len(text.split()), "response_tokens": len(answer.split()),
            "generator": "synthetic", "gen": {}, "planted": kind}


# --------------------------------------------------------------------------- exact all-pairs baseline


def all_pairs(texts: list[str], config: dict, block: int = 1000) -> set[tuple[int, int]]:
    """Every pair (i < j) with exact shingle Jaccard >= the threshold: sparse incidence matrix times its
    transpose, one block of rows at a time, so all n^2 pairs are scored. The shingles are the filter's
    own (same normalisation, same hashes, computed by the same batched code)."""
    shingles = Shingles.of([normalise(t) for t in texts], config["shingle"], config["shingle_size"])
    _, columns = np.unique(shingles.hashes, return_inverse=True)
    matrix = sp.csr_matrix((np.ones(len(columns), dtype=np.float32), (shingles.owners, columns)),
                           shape=(len(texts), int(columns.max()) + 1))
    matrix.sum_duplicates()
    matrix.data[:] = 1  # sets: a repeated shingle counts once
    sizes = np.diff(matrix.indptr).astype(np.float32)
    transposed = matrix.T.tocsc()
    threshold = config["jaccard_threshold"]
    pairs = set()
    for start in range(0, len(texts), block):
        common = (matrix[start:start + block] @ transposed).toarray()
        union = sizes[start:start + block, None] + sizes[None, :] - common
        rows_hit, cols_hit = np.nonzero(common >= threshold * union - 1e-6)
        for i, j in zip(rows_hit + start, cols_hit, strict=True):
            if i < j:
                pairs.add((int(i), int(j)))
    return pairs


def greedy_removals(n: int, pairs: set[tuple[int, int]], priority: list[int]) -> set[int]:
    """What the filter should remove given the true pairs: visiting in priority order, drop a record
    similar to one already kept."""
    neighbours: dict[int, list[int]] = {}
    for i, j in pairs:
        neighbours.setdefault(i, []).append(j)
        neighbours.setdefault(j, []).append(i)
    kept, removed = set(), set()
    for i in priority:
        if any(j in kept for j in neighbours.get(i, ())):
            removed.add(i)
        else:
            kept.add(i)
    return removed


# --------------------------------------------------------------------------- reports


def bench_pipeline(records: list[dict], config: dict, seed: int) -> None:
    started, cpu_started = time.perf_counter(), time.process_time()
    result = run_filters(records, config, seed)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"pipeline: {len(records):,} records in {seconds:.1f} s wall ({cpu:.1f} s CPU) = "
          f"{len(records) / seconds:,.0f} records/s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for step in result.report["filters"]:
        print(f"  {step['filter']:<15} removed {step['removed']:>6,}  alone {step['solo']:>6,}  "
              f"{result.timings[step['filter']]:>6.1f} s")
    print(f"  selection: {result.report['selection']}")
    caught = Counter((r["planted"], r["rejection"]["filter"]) for r in result.rejected)
    planted = Counter(r["planted"] for r in records)
    print("planted problem -> filter that removed it (count)")
    for kind, total in sorted(planted.items()):
        by = ", ".join(f"{f}: {c}" for (k, f), c in sorted(caught.items()) if k == kind) or "-"
        print(f"  {kind:<16} {total:>6,}  {by}")


def bench_language(records: list[dict], config: dict, limit: int = 20000) -> None:
    judge = LanguageJudge.from_config(config)
    texts = [r[field] for r in records[:limit // 2] for field in ("instruction", "response")]
    started = time.perf_counter()
    guesses = [judge.guess(t) for t in texts]
    seconds = time.perf_counter() - started
    fast = [t for t, g in zip(texts, guesses, strict=True) if g.method == "fast path"]
    started = time.perf_counter()
    model_only = [judge.model_guess(t[: judge.max_chars]) for t in texts]
    model_seconds = time.perf_counter() - started
    agree = sum(judge.model_guess(t[: judge.max_chars]).top_language == "en" for t in fast)
    print(f"language: {len(texts):,} texts in {seconds:.2f} s with the fast path, {model_seconds:.2f} s model only; "
          f"fast path decided {len(fast):,} ({len(fast) / len(texts):.0%}); "
          f"model also says 'en' for {agree:,}/{len(fast):,} of those")
    disagree = sum((g.probability >= 0.5) != (m.probability >= 0.5)
                   for g, m in zip(guesses, model_only, strict=True))
    print(f"  decisions at P(en) >= 0.5 that differ between fast path and model only: {disagree}")


def bench_dedup(records: list[dict], config: dict, sample: int, repeats: int = 5) -> None:
    """Both sides find every pair of instructions with Jaccard >= the threshold, from the raw texts
    (normalising and shingling included): the filter with MinHash LSH and exact checks (median of
    ``repeats`` runs after a warm-up), the baseline by scoring all n^2 pairs exactly (one run). The
    filter's keep/remove decisions on top of the pairs are timed separately."""
    subset = records[:sample]
    texts = [r["instruction"] for r in subset]
    priority = keep_order(subset, config)
    DuplicateGraph.build(texts[:100], config)  # warm-up: imports, caches
    finding, deciding = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        graph = DuplicateGraph.build(texts, config)
        found_at = time.perf_counter()
        verdicts = graph.resolve(range(len(texts)), priority, ids=list(range(len(texts))))
        finding.append(found_at - started)
        deciding.append(time.perf_counter() - found_at)
    lsh_seconds, decide_seconds = float(np.median(finding)), float(np.median(deciding))
    started = time.perf_counter()
    pairs = all_pairs(texts, config)
    exact_seconds = time.perf_counter() - started
    truth = greedy_removals(len(texts), pairs, priority)
    found = {i for i, v in enumerate(verdicts) if v}
    hits = len(found & truth)
    linked = {(i, j) for i, j in pairs if graph.group_of[i] == graph.group_of[j]
              or graph.group_of[j] in graph.neighbours[graph.group_of[i]]}
    print(f"near-duplicates on {len(texts):,} instructions ({len(pairs):,} pairs with Jaccard >= "
          f"{config['jaccard_threshold']}, {len(truth):,} records to remove; load average {os.getloadavg()[0]:.1f}):")
    print(f"  MinHash LSH + exact check finds the pairs in {lsh_seconds * 1000:.0f} ms (median of {repeats}; "
          f"{min(finding) * 1000:.0f}-{max(finding) * 1000:.0f} ms): {len(linked):,}/{len(pairs):,} pairs = "
          f"{len(linked) / max(1, len(pairs)):.4f}")
    print(f"  decisions: {decide_seconds * 1000:.0f} ms, removed {len(found):,}; recall {hits / max(1, len(truth)):.4f}, "
          f"precision {hits / max(1, len(found)):.4f}")
    print(f"  exact all-pairs baseline finds the pairs in {exact_seconds:.2f} s -> LSH is "
          f"{exact_seconds / lsh_seconds:.0f}x faster ({exact_seconds / (lsh_seconds + decide_seconds):.0f}x "
          f"with the decisions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="pipeline,language,dedup", help="which of the three reports to run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    started = time.perf_counter()
    records = make_corpus(args.seed, args.n)
    print(f"corpus: {len(records):,} synthetic records generated in {time.perf_counter() - started:.1f} s")
    config = filter_config()
    if "pipeline" in parts:
        bench_pipeline(records, config, args.seed)
    if "language" in parts:
        bench_language(records, config)
    if "dedup" in parts:
        bench_dedup(records, config, args.sample)


if __name__ == "__main__":
    main()
