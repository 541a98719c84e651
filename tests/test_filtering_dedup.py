"""The near-duplicate filter: exact Jaccard semantics at the threshold, which copy survives, recall."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from sit.config import ConfigError
from sit.filtering import dedup as dedup_module
from sit.filtering import filter_config
from sit.filtering.dedup import (
    DuplicateGraph,
    Shingles,
    candidate_pairs,
    keep_order,
    lsh_bands,
    normalise,
    normalise_all,
    shingle_hashes,
    signatures,
    sketch,
)
from sit.filtering.registry import FILTERS

BASE = "Write a short story about a lighthouse keeper who finds a message in a bottle on a stormy night."
AT_075 = "Compose a short tale about a lighthouse keeper who finds a message in a bottle on a stormy night."
AT_079 = "Write a short story about a lighthouse keeper who finds a letter in a bottle on a stormy night."
AT_081 = "Write a short story about a lighthouse keeper who discovers a message in a bottle on a stormy night."
AT_085 = "Write a short story about a lighthouse keeper who finds a message in a bottle on a stormy evening."


def reference_shingles(text: str, size: int = 5) -> set[str]:
    """Character 5-grams of lowercased, whitespace-collapsed text, as a Python set."""
    text = " ".join(text.lower().split())
    return {text[i:i + size] for i in range(max(1, len(text) - size + 1))}


def set_jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def reference_jaccard(a: str, b: str) -> float:
    return set_jaccard(reference_shingles(a), reference_shingles(b))


def records_of(*instructions: str, responses: list[str] | None = None) -> list[dict]:
    responses = responses or [f"answer {i}" for i in range(len(instructions))]
    return [{"id": f"r{i}", "instruction": text, "response": response}
            for i, (text, response) in enumerate(zip(instructions, responses, strict=True))]


def dedup(records: list[dict], **overrides) -> list:
    return FILTERS["near_duplicate"].func(records, filter_config(overrides=overrides), [range(len(records))])[0]


# Candidate generation is approximate at the threshold (a pair at 0.81 is found with ~95% probability
# under the defaults), so the pairs nearest to it use an index tuned lower, isolating the exact check.
@pytest.mark.parametrize("variant, low, high, removed, settings", [
    (AT_075, 0.745, 0.755, False, {}),
    (AT_079, 0.785, 0.799, False, {"lsh_threshold": 0.4}),
    (AT_081, 0.800, 0.810, True, {"lsh_threshold": 0.4}),
    (AT_085, 0.850, 0.865, True, {}),
])
def test_threshold_is_applied_to_exact_jaccard(variant, low, high, removed, settings):
    assert low <= reference_jaccard(BASE, variant) <= high
    first, second = dedup(records_of(BASE, variant), **settings)
    assert first is None
    assert (second is not None) == removed
    if removed:
        assert second["duplicate_of"] == "r0"
        assert second["jaccard"] == pytest.approx(reference_jaccard(BASE, variant), abs=1e-4)


def test_exact_duplicates_name_the_first_copy():
    verdicts = dedup(records_of(BASE, "  write a SHORT story about a lighthouse keeper who finds a message "
                                      "in a bottle on a stormy night.", BASE))
    assert verdicts[0] is None
    assert verdicts[1]["duplicate_of"] == "r0" and verdicts[1]["jaccard"] == 1.0
    assert verdicts[2]["reason"] == "exact duplicate of r0"


def test_keep_longest_response_or_numeric_field():
    records = records_of(BASE, AT_085, responses=["short answer", "a much longer and better answer"])
    records[0]["score"], records[1]["score"] = 0.9, 0.1
    assert dedup(records, dedup_keep="first")[1]["duplicate_of"] == "r0"
    longest = dedup(records, dedup_keep="longest_response")
    assert longest[1] is None and longest[0]["duplicate_of"] == "r1"
    by_score = dedup(records, dedup_keep="field:score")
    assert by_score[0] is None and by_score[1]["duplicate_of"] == "r0"
    del records[0]["score"]
    with pytest.raises(ValueError, match="no numeric field 'score'"):
        dedup(records, dedup_keep="field:score")


def test_chains_keep_both_ends():
    """A ~ B and B ~ C but A !~ C: B goes as a duplicate of A; C stays, it is not close to any kept text
    (clustering by connected components would drop it too)."""
    c = "Write a short story about a lighthouse keeper who spots a message in a bottle on a stormy evening."
    assert reference_jaccard(BASE, AT_085) >= 0.8 and reference_jaccard(AT_085, c) >= 0.8
    assert reference_jaccard(BASE, c) < 0.8
    verdicts = dedup(records_of(BASE, AT_085, c))
    assert verdicts[0] is None and verdicts[2] is None
    assert verdicts[1]["duplicate_of"] == "r0"


def greedy_reference(texts: list[str], view: list[int], threshold: float = 0.8) -> list[bool]:
    """Which texts of ``view`` survive: in order, keep one unless it is similar to one already kept."""
    kept = []
    for i in view:
        if all(reference_jaccard(texts[i], texts[j]) < threshold for j in kept):
            kept.append(i)
    return [i in kept for i in view]


def test_views_share_one_graph_and_match_the_greedy_reference():
    texts = [BASE, AT_085, AT_081, AT_079, "Explain how vaccines train the immune system.",
             "Explain how vaccines train the immune system!", "List three uses of baking soda."]
    records = records_of(*texts)
    config = filter_config(overrides={"lsh_threshold": 0.4})
    everything, subset = list(range(len(texts))), [1, 2, 3, 4, 5, 6]  # BASE left the pipeline earlier
    full, partial = FILTERS["near_duplicate"].func(records, config, [everything, subset])
    assert [v is None for v in full] == greedy_reference(texts, everything)
    assert [v is None for v in partial] == greedy_reference(texts, subset)
    assert full[1] is not None and partial[0] is None  # AT_085 only survives once BASE is gone
    alone = FILTERS["near_duplicate"].func([records[i] for i in subset], config, [range(len(subset))])[0]
    assert [v is None for v in partial] == [v is None for v in alone]


def test_word_shingles_and_threshold_one():
    records = records_of("please bake bread at home with me today", "today please bake bread with me at home")
    assert dedup(records, shingle="word", shingle_size=1)[1]["jaccard"] == 1.0  # same words
    assert dedup(records, shingle="word", shingle_size=2)[1] is None  # 4 of 10 bigrams shared
    assert dedup(records, jaccard_threshold=1.0) == [None, None]
    assert dedup(records_of("Same text.", "same   TEXT."), jaccard_threshold=1.0)[1]["jaccard"] == 1.0


def test_shingle_hashes_match_python_sets():
    text = "write a short story about a dragon"
    expected = {text[i:i + 5] for i in range(len(text) - 4)}
    assert len(shingle_hashes(text)) == len(expected)
    assert len(shingle_hashes("abc")) == 1  # shorter than one shingle: the whole text
    words = "a b a b c"
    assert len(shingle_hashes(words, "word", 2)) == 3  # "a b", "b a", "b c"


def test_batched_shingles_match_each_text_alone():
    """One pass over all texts gives each text exactly its own shingles: no window crosses into the
    next text, short and empty texts get one shingle, and code points beyond ASCII count once."""
    texts = ["write a short story about a dragon", "", "abc", "abcde", "café 🙂 naïve crème brûlée",
             "x", "the same text", "the same text", "zz top"]
    batch = Shingles.of(texts)
    assert list(batch.owners) == sorted(batch.owners) and set(batch.owners) == set(range(len(texts)))
    for i, text in enumerate(texts):
        alone = Shingles.of([text]).distinct(0)
        assert np.array_equal(batch.distinct(i), alone), text
        assert len(alone) == len(reference_shingles(text) if text else {""})
    assert np.array_equal(batch.distinct(6), batch.distinct(7))
    assert not set(batch.distinct(2)) & set(batch.distinct(3))  # "abc" is not a window of "abcde"
    words = Shingles.of(["a b a b c", "b c", "c"], "word", 2)
    assert [len(words.distinct(i)) for i in range(3)] == [3, 1, 1]
    assert set(words.distinct(1)) <= set(words.distinct(0))


def test_normalise_fast_path_is_the_full_rule():
    rng = random.Random(3)
    alphabet = ["a", "B", "É", "Σ", " ", "  ", "\t", "\n", "\x1c", "\u00a0", "\u2028", ".", "\x00", "z", "Q"]
    texts = ["Hello World", " Hello", "Hello ", "Hello  World", "HELLO\tWORLD", "ΟΔΟΣ", "plain lower",
             *("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(2000))]
    assert normalise_all(texts) == [" ".join(t.lower().split()) for t in texts]
    assert normalise("  Many   SPACES\n") == "many spaces"


def jaccard_pairs(rng: np.random.Generator, size: int, shared: int, count: int) -> Shingles:
    """``count`` pairs of random hash sets of ``size`` elements with ``shared`` in common."""
    hashes, owners = [], []
    for k in range(count):
        values = rng.integers(0, 2**63, size=2 * size - shared, dtype=np.uint64)
        hashes += [values[:size], values[size - shared:]]
        owners += [np.full(size, 2 * k), np.full(size, 2 * k + 1)]
    return Shingles(np.concatenate(hashes), np.concatenate(owners), 2 * count)


@pytest.mark.parametrize("size, shared", [(100, 33), (100, 67), (100, 89), (6, 4), (3, 2)])
def test_signature_entries_agree_as_often_as_the_jaccard_similarity(size, shared):
    """The MinHash property, also for texts with far fewer shingles than signature entries (most
    entries borrowed from another bin)."""
    jaccard = shared / (2 * size - shared)
    signature = signatures(jaccard_pairs(np.random.default_rng(size + shared), size, shared, 400), 128)
    agreement = (signature[0::2] == signature[1::2]).mean()
    assert agreement == pytest.approx(jaccard, abs=0.02)
    disjoint = signatures(jaccard_pairs(np.random.default_rng(1), size, 0, 200), 128)
    assert (disjoint[0::2] == disjoint[1::2]).mean() < 0.01


def test_sketching_in_chunks_on_threads_gives_the_one_piece_result(monkeypatch):
    rng = random.Random(5)
    texts = [" ".join(rng.choice(["red", "green", "blue", "lamp", "sofa", "tree"]) for _ in range(rng.randint(1, 9)))
             for _ in range(300)]
    config = filter_config()
    whole_shingles, whole = sketch(texts, config)
    monkeypatch.setattr(dedup_module, "SKETCH_CHUNK", 7)
    parts_shingles, parts = sketch(texts, config)
    assert np.array_equal(whole, parts)
    everything, some = np.arange(len(texts)), np.array([0, 6, 7, 13, 299])
    for chosen in (everything, some):
        for got, expected in zip(parts_shingles.rows(chosen), whole_shingles.rows(chosen), strict=True):
            assert np.array_equal(got, expected)
    assert np.array_equal(parts_shingles.distinct(13), whole_shingles.distinct(13))


def test_candidate_pairs_are_texts_that_agree_on_a_whole_band():
    rng = np.random.default_rng(0)
    signature = rng.integers(0, 2**32, size=(6, 12), dtype=np.uint32)  # 3 bands of 4 rows: band m = m, m+3, ...
    signature[1] = signature[2] = signature[0]  # one bucket of three
    signature[4, 1::3] = signature[3, 1::3]  # texts 3 and 4 agree on band 1 only
    signature[5, 0:3] = signature[3, 0:3]  # text 5 agrees with 3 on one row of each band: never a candidate
    left, right = candidate_pairs(signature, bands=3, rows=4)
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2), (3, 4)]


@pytest.mark.parametrize("threshold, num_perm", [(0.6, 128), (0.6, 64), (0.8, 128), (0.5, 256)])
def test_lsh_bands_put_the_threshold_on_the_steep_part_of_the_s_curve(threshold, num_perm):
    bands, rows = lsh_bands(threshold, num_perm)
    assert bands * rows <= num_perm

    def candidate(jaccard):
        return 1 - (1 - jaccard ** rows) ** bands

    assert candidate(min(1.0, threshold + 0.2)) > 0.95 and candidate(max(0.0, threshold - 0.3)) < 0.1
    assert 0.2 < candidate(threshold) < 0.8


def test_recall_against_all_pairs_on_a_planted_corpus():
    rng = random.Random(7)
    syllables = ["".join(p) for p in itertools.product("bdgklmnprst", "aeiou")]
    vocabulary = ["".join(rng.sample(syllables, 3)) for _ in range(400)]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(12, 24))) for _ in range(300)]
    for _ in range(300):  # planted near-copies: one to three words changed, around the threshold
        words = rng.choice(texts).split()
        for _ in range(rng.choice([1, 2, 3])):
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        texts.append(" ".join(words))
    config = filter_config()
    sets = [reference_shingles(t) for t in texts]
    truth = {(i, j) for i, j in itertools.combinations(range(len(texts)), 2) if set_jaccard(sets[i], sets[j]) >= 0.8}
    graph = DuplicateGraph.build(texts, config)
    found = {(min(i, j), max(i, j)) for i in range(len(texts)) for j in range(len(texts))
             if graph.group_of[j] in graph.neighbours[graph.group_of[i]] or (
                 i != j and graph.group_of[i] == graph.group_of[j])}
    assert len(truth) > 100
    assert found <= truth  # only verified pairs
    assert len(found & truth) / len(truth) >= 0.95


def test_keep_order_is_stable():
    records = records_of("a1 b", "a2 b", "a3 b", responses=["x y", "x y z", "x y"])
    assert keep_order(records, filter_config()) == [0, 1, 2]
    assert keep_order(records, filter_config(overrides={"dedup_keep": "longest_response"})) == [1, 0, 2]


@pytest.mark.parametrize("overrides, message", [
    ({"jaccard_threshold": 1.2}, "above the maximum"),
    ({"jaccard_threshold": 0}, "must be above 0"),
    ({"jaccard_threshold": -0.1}, "below the minimum"),
    ({"lsh_threshold": 0.9}, "lsh_threshold .* is greater than jaccard_threshold"),
    ({"shingle": "sentence"}, "not one of char, word"),
    ({"dedup_keep": "best"}, "dedup_keep"),
    ({"shingle_size": 0}, "below the minimum"),
])
def test_dedup_config_is_validated(overrides, message):
    with pytest.raises(ConfigError, match=message):
        filter_config(overrides=overrides)
