"""The near-duplicate filter: no two kept instructions with Jaccard similarity >= ``jaccard_threshold``.

Instructions are normalised (lowercase, whitespace runs collapsed) and cut into shingles. Exact
duplicates (same normalised text) are grouped first. Each distinct text gets a MinHash signature
(one-permutation hashing, :func:`signatures`); texts whose signatures agree on a whole band are
candidate pairs (LSH banding, :func:`candidate_pairs`); candidates whose MinHash estimate is far
below the threshold are dropped, and every remaining one is verified with the exact Jaccard
similarity of the two shingle sets. Only verified pairs lead to a removal. Shingling, signatures,
banding and the checks are numpy over all texts at once (no Python loop per shingle or per pair);
signatures are computed in chunks on every core.

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

The LSH bands are tuned below ``jaccard_threshold`` (``lsh_threshold``) so that pairs just above the
threshold are found with high probability; the checks discard the extra candidates.
Shingle sets are compared as sets of 64-bit hashes, exact up to a hash collision (~1e-15 per pair).
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..config import ConfigError
from .registry import Param, Verdict, check_ordered, register_filter
from .rules import word_count

MINHASH_SEED = 1
KEEP_FIRST, KEEP_LONGEST = "first", "longest_response"
FIELD_PREFIX = "field:"
POLY = np.uint64(0x100000001B3)  # odd multiplier of the rolling polynomial hash (mod 2^64)
BORROW_MARK = np.uint16(0x9E37)  # odd: added once per bin an empty signature entry borrows over
SKETCH_CHUNK = 2048  # texts sketched per step (cache-sized arrays; one step per thread)
MAX_THREADS = 4
PAIR_BLOCK = 200_000  # candidate pairs compared per vectorised step (bounds memory)
# A true pair is dropped by the estimate pre-check with p < 1e-4 (the spread of densified estimates is
# ~1.2x that of independent permutations, so this is ~3.8 of their standard errors).
ESTIMATE_STANDARD_ERRORS = 4.5


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
        "minhash_num_perm": Param(128, int, minimum=4, maximum=1024, help="MinHash signature entries"),
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
    return normalise_all([text])[0]


def normalise_all(texts: Sequence[str]) -> list[str]:
    """:func:`normalise` of each text. A printable ASCII text whose only whitespace is single inner
    spaces (most instructions) has nothing to collapse and is only lowercased."""
    return [t.lower() if t.isascii() and t.isprintable() and "  " not in t and t[:1] != " " and t[-1:] != " "
            else " ".join(t.lower().split()) for t in texts]


def shingle_hashes(text: str, kind: str = "char", size: int = 5) -> np.ndarray:
    """The sorted distinct 64-bit hashes of a normalised text's shingles (a text shorter than one
    shingle is a single shingle)."""
    return Shingles.of([text], kind, size).distinct(0)


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (by sorting: numpy's hash-based ``unique`` is slower here)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _rolling(units: np.ndarray, width: int) -> np.ndarray:
    """Polynomial hash of every window of ``width`` consecutive units (``len(units) - width + 1`` of them)."""
    count = len(units) - width + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    hashes = units[:count].copy()
    with np.errstate(over="ignore"):
        for offset in range(1, width):
            np.multiply(hashes, POLY, out=hashes)
            np.add(hashes, units[offset:offset + count], out=hashes)
    return hashes


class ShingleSets:
    """Shingle hashes by text: ``rows`` gives the hashes of some texts."""

    def rows(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def distinct(self, i: int) -> np.ndarray:
        """Text ``i``'s shingle set: sorted distinct hashes."""
        return sorted_distinct(self.rows(np.array([i]))[0])


class Shingles(ShingleSets):
    """The shingle hashes of many texts in one flat array, text after text: ``hashes[k]`` belongs
    to text ``owners[k]`` (ascending; repeats included).

    All texts are hashed in one pass over their concatenated units (code points, or word hashes);
    the windows that would cross from one text into the next are dropped, and a text shorter than
    one shingle gets one shingle of its whole length."""

    def __init__(self, hashes: np.ndarray, owners: np.ndarray, count: int):
        self.hashes, self.owners, self.count = hashes, owners, count

    def __len__(self) -> int:
        return self.count

    @classmethod
    def of(cls, texts: Sequence[str], kind: str = "char", size: int = 5) -> Shingles:
        if kind == "char":
            units = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        else:
            words = [t.split() for t in texts]
            units = np.fromiter((_word_hash(w) for ws in words for w in ws), dtype=np.uint64)
            lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(texts))
        units = units.astype(np.uint64)
        ends = np.cumsum(lengths)
        windows = _rolling(units, size)
        valid = np.ones(len(windows), dtype=bool)
        crossing = (ends[:, None] - np.arange(1, size)[None, :]).ravel()  # the last size-1 starts of a text
        valid[crossing[(crossing >= 0) & (crossing < len(windows))]] = False
        hashes = windows[valid]
        counts = np.maximum(lengths - size + 1, 0)
        short = np.flatnonzero(lengths < size)
        if len(short):  # one shingle of the whole text, in its place
            whole = [_rolling(units[e - n:e], int(n))[0] if n else np.uint64(0)
                     for e, n in zip(ends[short], lengths[short], strict=True)]
            hashes = np.insert(hashes, np.cumsum(counts)[short], np.array(whole, dtype=np.uint64))
            counts[short] = 1
        return cls(hashes, np.repeat(np.arange(len(texts)), counts), len(texts))

    def rows(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The hashes of the given texts (ascending indices), one after the other, and how many each has."""
        starts, ends = np.searchsorted(self.owners, texts), np.searchsorted(self.owners, texts + 1)
        lengths = ends - starts
        positions = np.repeat(starts, lengths) + ragged_arange(lengths)
        return self.hashes[positions], lengths


class ShingleChunks(ShingleSets):
    """Shingles of consecutive runs of texts, used as one :class:`Shingles` (without copying them
    into one array)."""

    def __init__(self, parts: Sequence[Shingles]):
        self.parts = list(parts)
        self.starts = np.cumsum([0] + [len(p) for p in self.parts])

    def rows(self, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bounds = np.searchsorted(texts, self.starts)
        pieces = [part.rows(texts[bounds[c]:bounds[c + 1]] - self.starts[c])
                  for c, part in enumerate(self.parts) if bounds[c + 1] > bounds[c]]
        if not pieces:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        return np.concatenate([h for h, _ in pieces]), np.concatenate([n for _, n in pieces])


def mix64(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """A bijective 64-bit finaliser (splitmix64): every output bit depends on every input bit.
    Works in place on ``out`` (which may be ``values``) with one temporary."""
    if out is None:
        out = values.copy()
    elif out is not values:
        out[...] = values
    shifted = np.empty_like(out)
    with np.errstate(over="ignore"):
        for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB), (31, None)):
            np.right_shift(out, np.uint64(shift), out=shifted)
            out ^= shifted
            if multiplier:
                out *= np.uint64(multiplier)
    return out


def signatures(shingles: Shingles, num_perm: int, seed: int = MINHASH_SEED) -> np.ndarray:
    """MinHash signatures, ``(texts, num_perm)`` uint16, by one-permutation hashing with densification
    by rotation (Li, Owen & Zhang 2012; Shrivastava & Li 2014).

    Each shingle is hashed once: the hash picks one of ``num_perm`` bins, and the smallest value of
    16 other bits of the hash in a bin is that bin's entry. A bin no shingle of the text fell into
    takes the entry of the next non-empty bin after it (wrapping around), marked with the distance it
    was borrowed over. For two texts, an entry agrees with probability equal to their Jaccard
    similarity, as with ``num_perm`` independent permutations, at the cost of one hash per shingle
    instead of ``num_perm``. (Two different minima agree by chance with probability 2^-16, which the
    estimates and the bands can ignore; the exact check decides anyway.)"""
    count, bins_ = len(shingles), num_perm
    hashed = shingles.hashes ^ mix64(np.array([seed], dtype=np.uint64))
    mix64(hashed, out=hashed)
    bins = hashed >> np.uint64(32)
    with np.errstate(over="ignore"):
        bins *= np.uint64(bins_)
    bins >>= np.uint64(32)
    # an entry as one number, bin << 16 | value: the minimum over a bin is the minimum value, and the
    # minimum over "this bin and all after it" is the nearest non-empty bin's entry
    keyed = (bins << np.uint64(16) | (hashed & np.uint64(0xFFFF))).astype(np.uint32)
    flat = bins.view(np.int64)
    flat += shingles.owners * bins_  # the flat index of (text, bin)
    keys = np.full(count * bins_, np.iinfo(np.uint32).max, dtype=np.uint32)
    np.minimum.at(keys, flat, keyed)
    keys = keys.reshape(count, bins_)
    keys = np.minimum.accumulate(keys[:, ::-1], axis=1)[:, ::-1]  # empty bins take the next entry after them
    np.minimum(keys, keys[:, :1] + np.uint32(bins_ << 16), out=keys)  # none after: the first, wrapping around
    distance = ((keys >> np.uint32(16)).astype(np.int32) - np.arange(bins_, dtype=np.int32)).astype(np.uint16)
    entries = keys.astype(np.uint16)  # the low 16 bits: the value
    with np.errstate(over="ignore"):
        distance *= BORROW_MARK
    entries += distance  # entries borrowed over different distances never agree
    return entries


def ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """``0..n-1`` for each ``n`` of ``lengths``, one after the other."""
    total = int(lengths.sum())
    return np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)


@functools.lru_cache(maxsize=64)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimising the sum of the false-positive area
    (pairs below ``threshold`` that become candidates) and the false-negative area (pairs above it that
    do not), the rule datasketch's MinHashLSH uses."""
    grid = np.linspace(0.0, 1.0, 1001)[:, None]
    shapes = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)])
    candidate = 1 - (1 - grid ** shapes[:, 1]) ** shapes[:, 0]  # P(pair becomes a candidate | Jaccard)
    below, above = grid[:, 0] <= threshold, grid[:, 0] >= threshold
    false_positive = np.trapezoid(candidate[below], grid[below, 0], axis=0) if below.sum() > 1 else 0.0
    false_negative = np.trapezoid(1 - candidate[above], grid[above, 0], axis=0) if above.sum() > 1 else 0.0
    bands, rows = shapes[int(np.argmin(false_positive + false_negative))]
    return int(bands), int(rows)


def candidate_pairs(signature: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``(i, j)``, i < j, whose signatures agree on all ``rows`` entries of at least one band.

    Band ``m`` takes entries ``m, m + bands, m + 2 * bands, ...``: neighbouring entries may have been
    borrowed from the same bin, so a band of spread-out entries agrees more independently."""
    count = len(signature)
    bits = max(1, (count - 1).bit_length())
    keys = signature[:, :bands].astype(np.uint64)  # (texts, bands)
    with np.errstate(over="ignore"):
        for r in range(1, rows):
            keys *= POLY
            keys += signature[:, r * bands:(r + 1) * bands]
    keys ^= mix64(np.arange(1, bands + 1, dtype=np.uint64))  # one key space per band
    mix64(keys, out=keys)
    # the low bits of a key carry the text's index, so sorting the keys also groups the texts
    keys >>= np.uint64(bits)
    keys <<= np.uint64(bits)
    keys |= np.arange(count, dtype=np.uint64)[:, None]
    packed = np.sort(keys.ravel())
    members = (packed & np.uint64((1 << bits) - 1)).astype(np.int64)
    high = packed >> np.uint64(bits)
    run_starts = np.flatnonzero(np.concatenate(([True], high[1:] != high[:-1])))
    run_ends = np.concatenate((run_starts[1:], [len(high)]))
    # every position pairs with each later position of its run (members ascend within a run)
    later = np.repeat(run_ends, run_ends - run_starts) - np.arange(len(high)) - 1
    first = np.repeat(np.arange(len(high)), later)
    second = first + 1 + ragged_arange(later)
    codes = sorted_distinct(members[first] * count + members[second])
    return codes // count, codes % count


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
        group_of = [groups.setdefault(t, len(groups)) for t in normalise_all(texts)]
        neighbours: list[dict[int, float]] = [{} for _ in groups]
        if config["jaccard_threshold"] < 1.0 and len(groups) > 1:
            for g, h, similarity in similar_pairs(list(groups), config):
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
            match = self._best_kept(group, kept_in_group) if self.neighbours[group] else None
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


def sketch(texts: Sequence[str], config: dict) -> tuple[ShingleSets, np.ndarray]:
    """The shingles and MinHash signatures of normalised ``texts``. Texts are independent, so they are
    sketched in chunks, on as many threads as there are cores (numpy releases the GIL): the result
    is the same as in one piece."""
    def one(chunk: Sequence[str]) -> tuple[Shingles, np.ndarray]:
        shingles = Shingles.of(chunk, config["shingle"], config["shingle_size"])
        return shingles, signatures(shingles, config["minhash_num_perm"])

    chunks = [texts[i:i + SKETCH_CHUNK] for i in range(0, len(texts), SKETCH_CHUNK)]
    if len(chunks) <= 1:
        return one(texts)
    with ThreadPoolExecutor(max_workers=min(len(chunks), os.cpu_count() or 1, MAX_THREADS)) as pool:
        parts = list(pool.map(one, chunks))
    return ShingleChunks([p for p, _ in parts]), np.concatenate([signature for _, signature in parts])


def similar_pairs(texts: Sequence[str], config: dict) -> list[tuple[int, int, float]]:
    """``(i, j, Jaccard)`` for i < j whose exact Jaccard is >= the threshold, among distinct normalised
    ``texts``.

    Texts whose MinHash signatures agree on a whole band (:func:`candidate_pairs`, bands from
    :func:`lsh_bands` for ``lsh_threshold``) are candidates. Candidates whose MinHash estimate is far
    below the threshold (:func:`estimate_margin`) are dropped, the rest get the exact Jaccard of their
    shingle sets."""
    num_perm = config["minhash_num_perm"]
    shingles, signature = sketch(texts, config)
    lsh_threshold = config["lsh_threshold"] if config["lsh_threshold"] is not None else config["jaccard_threshold"]
    left, right = candidate_pairs(signature, *lsh_bands(lsh_threshold, num_perm))
    threshold = config["jaccard_threshold"]
    plausible = np.zeros(len(left), dtype=bool)
    for start in range(0, len(left), PAIR_BLOCK):
        block = slice(start, start + PAIR_BLOCK)
        estimate = (signature[left[block]] == signature[right[block]]).mean(axis=1)
        plausible[block] = estimate >= threshold - estimate_margin(threshold, num_perm)
    left, right = left[plausible], right[plausible]
    similarity = exact_jaccard(shingles, left, right)
    hits = similarity >= threshold
    return list(zip(left[hits].tolist(), right[hits].tolist(), similarity[hits].tolist(), strict=True))


def exact_jaccard(shingles: ShingleSets, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard similarity of the shingle sets of each pair ``(left[k], right[k])``, vectorised with
    a sparse 0/1 matrix (one row per text involved, one column per shingle hash)."""
    import scipy.sparse as sp

    if len(left) == 0:
        return np.zeros(0)
    involved = sorted_distinct(np.concatenate([left, right]))
    hashes, lengths = shingles.rows(involved)
    # one sort of (row, shingle) numbers gives every row's distinct shingles in order; a column is
    # 44-62 bits of the mixed shingle hash (two shingles of a pair collide with p ~ 1e-9 or less)
    row_bits = max(1, int(len(involved) - 1).bit_length())
    column_bits = min(62, 64 - row_bits)
    column_mask = np.uint64((1 << column_bits) - 1)
    packed = mix64(hashes)
    packed &= column_mask
    packed |= np.repeat(np.arange(len(involved), dtype=np.uint64) << np.uint64(64 - row_bits), lengths)
    packed = sorted_distinct(packed)
    sizes = np.bincount((packed >> np.uint64(64 - row_bits)).astype(np.int64), minlength=len(involved))
    matrix = sp.csr_matrix((np.ones(len(packed), dtype=np.int32), (packed & column_mask).astype(np.int64),
                            np.concatenate(([0], np.cumsum(sizes)))), shape=(len(involved), 1 << column_bits))
    matrix.has_canonical_format = True  # sorted, distinct columns in every row, by construction
    rows_left, rows_right = np.searchsorted(involved, left), np.searchsorted(involved, right)
    common = np.zeros(len(left))
    for start in range(0, len(left), PAIR_BLOCK):
        block = slice(start, start + PAIR_BLOCK)
        both = matrix[rows_left[block]].multiply(matrix[rows_right[block]])
        common[block] = np.asarray(both.sum(axis=1)).ravel()
    return common / (sizes[rows_left] + sizes[rows_right] - common)
