"""The near-duplicate filter: no two kept instructions with Jaccard similarity >= ``jaccard_threshold``.

Instructions are normalised (lowercase, whitespace runs collapsed) and cut into shingles. Exact
duplicates (same normalised text) are grouped first. Each distinct text gets a datasketch MinHash;
a datasketch MinHashLSH index proposes candidate pairs; candidates whose MinHash estimate is far
below the threshold are dropped, and every remaining one is verified with the exact Jaccard
similarity of the two shingle sets. Only verified pairs lead to a removal.

Shingles: character 5-grams by default. Instructions are short (often under 15 words); a 7-word
instruction has only 6 word bigrams, so changing one word moves its word-bigram Jaccard from 1 to
0.5 and the measure takes only a few coarse values. Character 5-grams give ~5x more shingles per
text, so the similarity degrades smoothly with the size of an edit and changes little with
inflection or punctuation ("improve"/"improving"). ``shingle: word`` with ``shingle_size: 2`` or 3
is the word-level alternative.

Which copy survives: records are visited in a priority order (input order for ``dedup_keep: first``;
the longest response, or the highest value of a numeric field, first otherwise). A record is
removed when it is similar enough to one already kept, and its rejection names that record's id.
Comparing only with kept records means a chain A~B~C with A !~ C keeps A and C.

The LSH index is tuned below ``jaccard_threshold`` (``lsh_threshold``) so that pairs just above the
threshold are found with high probability; the checks discard the extra candidates.
Shingle sets are compared as sets of 64-bit hashes, exact up to a hash collision (~1e-15 per pair).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..config import ConfigError
from .registry import Param, Verdict, check_ordered, register_filter
from .rules import word_count

if TYPE_CHECKING:  # datasketch and scipy load on first use: `sit --help` should not wait for them
    from datasketch import MinHash, MinHashLSH

MINHASH_SEED = 1
KEEP_FIRST, KEEP_LONGEST = "first", "longest_response"
FIELD_PREFIX = "field:"
POLY = np.uint64(0x100000001B3)  # odd multiplier of the rolling polynomial hash (mod 2^64)
MASK32 = np.uint64(0xFFFFFFFF)
PAIR_BLOCK = 200_000  # candidate pairs compared per vectorised step (bounds memory)
ESTIMATE_STANDARD_ERRORS = 4.5  # a true pair is dropped by the estimate pre-check with p < 1e-5


def _check_dedup_config(config: dict) -> None:
    if config["jaccard_threshold"] <= 0:
        raise ConfigError("filtering.jaccard_threshold must be above 0 (1.0 removes exact duplicates only)")
    if config["lsh_threshold"] is not None:
        check_ordered(config, "lsh_threshold", "jaccard_threshold")
    keep = config["dedup_keep"]
    if keep not in (KEEP_FIRST, KEEP_LONGEST) and not (keep.startswith(FIELD_PREFIX) and keep[len(FIELD_PREFIX):]):
        raise ConfigError(f"filtering.dedup_keep: {keep!r} is not one of {KEEP_FIRST}, {KEEP_LONGEST}, "
                          f"{FIELD_PREFIX}<numeric field> (highest kept)")


@register_filter(
    "near_duplicate",
    per_record=False,
    params={
        "jaccard_threshold": Param(0.8, float, minimum=0.0, maximum=1.0,
                                   help="remove an instruction this similar (Jaccard) to a kept one"),
        "shingle": Param("char", str, choices=("char", "word"), help="character or word n-gram shingles"),
        "shingle_size": Param(5, int, minimum=1, help="n of the shingle n-grams"),
        "minhash_num_perm": Param(64, int, minimum=4, maximum=1024, help="MinHash permutations"),
        "lsh_threshold": Param(0.6, float, minimum=0.0, maximum=1.0, nullable=True,
                               help="similarity the LSH index is tuned for (null: jaccard_threshold)"),
        "dedup_keep": Param(KEEP_FIRST, str,
                            help=f"which copy survives: {KEEP_FIRST}, {KEEP_LONGEST}, or {FIELD_PREFIX}NAME"),
    },
    check=_check_dedup_config,
)
def near_duplicate_filter(records: Sequence[dict], config: dict,
                          views: Sequence[Sequence[int]]) -> list[list[Verdict]]:
    """Exact and near-duplicate instructions (MinHash LSH candidates, exact Jaccard check)."""
    graph = DuplicateGraph.build([r["instruction"] for r in records], config)
    order = keep_order(records, config)
    ids = [r["id"] for r in records]
    return [graph.resolve(view, order, ids) for view in views]


def keep_order(records: Sequence[dict], config: dict) -> list[int]:
    """Indices in the order records claim their place: the preferred copy of a duplicate first."""
    keep = config["dedup_keep"]
    if keep == KEEP_FIRST:
        return list(range(len(records)))
    if keep == KEEP_LONGEST:
        scores = [word_count(r["response"]) for r in records]
    else:
        scores = [_numeric_field(r, keep[len(FIELD_PREFIX):]) for r in records]
    return sorted(range(len(records)), key=lambda i: -scores[i])  # stable: ties keep input order


def _numeric_field(record: dict, name: str) -> float:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"dedup_keep: record {record.get('id')!r} has no numeric field '{name}'")
    return float(value)


def normalise(text: str) -> str:
    """Lowercase with whitespace runs collapsed: what shingles and exact matches are taken from."""
    return " ".join(text.lower().split())


def shingle_hashes(text: str, kind: str = "char", size: int = 5) -> np.ndarray:
    """The sorted distinct 64-bit hashes of a normalised text's shingles (a text shorter than one
    shingle is a single shingle)."""
    if kind == "char":
        units = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    else:
        units = np.array([_word_hash(w) for w in text.split()], dtype=np.uint64)
    width = min(size, len(units))
    count = len(units) - width + 1
    hashes = np.zeros(max(count, 1), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(width):
            hashes = hashes * POLY + units[offset:offset + count]
    return sorted_distinct(hashes)


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (by sorting: numpy's hash-based ``unique`` is slower here)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def minhashes(shingle_sets: Sequence[np.ndarray], num_perm: int) -> list[MinHash]:
    """datasketch MinHashes of shingle-hash sets (64-bit hashes folded to the 32 bits it expects)."""
    from datasketch import MinHash

    folded = ((s ^ (s >> np.uint64(32))) & MASK32 for s in shingle_sets)
    return MinHash.bulk((f.tolist() for f in folded), num_perm=num_perm, seed=MINHASH_SEED, hashfunc=int)


class DuplicateGraph:
    """Distinct normalised texts and the pairs of them with Jaccard >= the threshold.

    The graph is computed once; :meth:`resolve` then decides any subset of the texts (the induced
    subgraph of a subset is the subset's own graph), so the pipeline and the filter-alone count
    share the work."""

    def __init__(self, group_of: list[int], neighbours: list[dict[int, float]]):
        self.group_of = group_of  # text index -> index of its distinct normalised text
        self.neighbours = neighbours  # group -> {similar group: Jaccard}

    @classmethod
    def build(cls, texts: Sequence[str], config: dict) -> DuplicateGraph:
        groups: dict[str, int] = {}
        group_of = [groups.setdefault(normalise(t), len(groups)) for t in texts]
        neighbours: list[dict[int, float]] = [{} for _ in groups]
        if config["jaccard_threshold"] < 1.0 and len(groups) > 1:
            shingles = [shingle_hashes(t, config["shingle"], config["shingle_size"]) for t in groups]
            for g, h, similarity in similar_pairs(shingles, config):
                neighbours[g][h] = neighbours[h][g] = similarity
        return cls(group_of, neighbours)

    def resolve(self, view: Sequence[int], order: Sequence[int], ids: Sequence) -> list[Verdict]:
        """Verdicts for the texts in ``view`` (aligned with it), visiting them in ``order``: a text
        similar to one already kept is removed and names the most similar kept one."""
        members = set(view)
        kept_in_group: dict[int, int] = {}
        verdict_of: dict[int, Verdict] = {}
        for i in order:
            if i not in members:
                continue
            group = self.group_of[i]
            if group in kept_in_group:
                j = kept_in_group[group]
                verdict_of[i] = {"reason": f"exact duplicate of {ids[j]}", "duplicate_of": ids[j], "jaccard": 1.0}
                continue
            match = self._best_kept(group, kept_in_group)
            if match is None:
                kept_in_group[group] = i
            else:
                j, similarity = match
                verdict_of[i] = {"reason": f"near-duplicate of {ids[j]} (Jaccard {similarity:.2f})",
                                 "duplicate_of": ids[j], "jaccard": round(similarity, 4)}
        return [verdict_of.get(i) for i in view]

    def _best_kept(self, group: int, kept_in_group: dict[int, int]) -> tuple[int, float] | None:
        """The kept record most similar to ``group`` (ties: the earlier record)."""
        best = None
        for other, similarity in self.neighbours[group].items():
            j = kept_in_group.get(other)
            if j is not None and (best is None or (similarity, -j) > (best[1], -best[0])):
                best = (j, similarity)
        return best


def estimate_margin(threshold: float, num_perm: int) -> float:
    """How far below the threshold a MinHash estimate may fall for a pair at or above it:
    ``ESTIMATE_STANDARD_ERRORS`` standard errors of the estimate (variance J(1-J)/num_perm, largest
    over J >= threshold)."""
    variance = threshold * (1 - threshold) if threshold >= 0.5 else 0.25
    return ESTIMATE_STANDARD_ERRORS * (variance / num_perm) ** 0.5


def similar_pairs(shingles: Sequence[np.ndarray], config: dict) -> list[tuple[int, int, float]]:
    """``(i, j, Jaccard)`` for i < j whose exact Jaccard is >= the threshold.

    Every text's MinHash goes into a datasketch MinHashLSH index; texts sharing a bucket in any
    band are candidates. Candidates whose MinHash estimate is far below the threshold
    (:func:`estimate_margin`) are dropped, the rest get the exact Jaccard of their shingle sets."""
    from datasketch import MinHashLSH

    num_perm = config["minhash_num_perm"]
    sketches = minhashes(shingles, num_perm)
    lsh_threshold = config["lsh_threshold"] if config["lsh_threshold"] is not None else config["jaccard_threshold"]
    index = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
    for i, sketch in enumerate(sketches):
        index.insert(i, sketch, check_duplication=False)
    left, right = candidate_pairs(index, len(sketches))
    signatures = np.stack([s.hashvalues for s in sketches])
    threshold = config["jaccard_threshold"]
    plausible = np.zeros(len(left), dtype=bool)
    for start in range(0, len(left), PAIR_BLOCK):
        block = slice(start, start + PAIR_BLOCK)
        estimate = (signatures[left[block]] == signatures[right[block]]).mean(axis=1)
        plausible[block] = estimate >= threshold - estimate_margin(threshold, num_perm)
    left, right = left[plausible], right[plausible]
    similarity = exact_jaccard(shingles, left, right)
    hits = similarity >= threshold
    return list(zip(left[hits].tolist(), right[hits].tolist(), similarity[hits].tolist(), strict=True))


def candidate_pairs(index: MinHashLSH, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(i, j)``, i < j, that share a bucket of ``index`` in at least one band."""
    pair_codes = [np.zeros(0, dtype=np.int64)]
    twos = []
    for table in index.hashtables:
        for key in table.keys():
            members = table.get(key)
            if len(members) == 2:
                low, high = sorted(members)
                twos.append(low * count + high)
            elif len(members) > 2:
                ordered = np.sort(np.fromiter(members, dtype=np.int64, count=len(members)))
                rows, columns = np.triu_indices(len(ordered), 1)
                pair_codes.append(ordered[rows] * count + ordered[columns])
    codes = sorted_distinct(np.concatenate([np.array(twos, dtype=np.int64), *pair_codes]))
    return codes // count, codes % count


def exact_jaccard(shingles: Sequence[np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard similarity of the shingle sets of each pair ``(left[k], right[k])``, vectorised with
    a sparse 0/1 matrix (one row per text, one column per distinct shingle)."""
    import scipy.sparse as sp

    if len(left) == 0:
        return np.zeros(0)
    involved = sorted_distinct(np.concatenate([left, right]))
    rows = np.searchsorted(involved, np.concatenate([left, right]))
    rows_left, rows_right = rows[: len(left)], rows[len(left):]
    sets = [shingles[i] for i in involved]
    sizes = np.array([len(s) for s in sets])
    flat = np.concatenate(sets)
    columns = np.searchsorted(sorted_distinct(flat), flat)
    row_starts = np.concatenate(([0], np.cumsum(sizes)))
    matrix = sp.csr_matrix((np.ones(len(columns), dtype=np.int32), columns, row_starts),
                           shape=(len(sets), int(columns.max()) + 1))
    common = np.zeros(len(left))
    for start in range(0, len(left), PAIR_BLOCK):
        block = slice(start, start + PAIR_BLOCK)
        both = matrix[rows_left[block]].multiply(matrix[rows_right[block]])
        common[block] = np.asarray(both.sum(axis=1)).ravel()
    return common / (sizes[rows_left] + sizes[rows_right] - common)
