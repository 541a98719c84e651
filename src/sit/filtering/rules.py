"""Rule-based filters: length, incomplete generations, repetition, refusals.

Each judges one record at a time and explains a rejection with the evidence it found.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from ..config import ConfigError
from .registry import Param, Verdict, check_ordered, register_filter

FIELDS = ("instruction", "response")


def word_count(text: str) -> int:
    """Words as the spec counts them: whitespace-separated tokens."""
    return len(text.split())


# --------------------------------------------------------------------------- length


@register_filter(
    "length",
    params={
        "response_min_words": Param(20, int, minimum=0, help="shortest response kept, in words"),
        "response_max_words": Param(500, int, minimum=1, help="longest response kept, in words"),
        "instruction_min_words": Param(3, int, minimum=1, help="shortest instruction kept (1: just non-empty)"),
    },
    check=lambda config: check_ordered(config, "response_min_words", "response_max_words"),
)
def length_filter(records: Sequence[dict], config: dict) -> list[Verdict]:
    """Responses outside the word range; empty or too short instructions."""
    return [_length_verdict(record, config) for record in records]


def _length_verdict(record: dict, config: dict) -> Verdict:
    instruction_words = word_count(record["instruction"])
    if instruction_words == 0:
        return {"reason": "instruction is empty", "field": "instruction", "words": 0}
    if instruction_words < config["instruction_min_words"]:
        return {"reason": f"instruction has {instruction_words} words (minimum {config['instruction_min_words']})",
                "field": "instruction", "words": instruction_words}
    response_words = word_count(record["response"])
    if response_words < config["response_min_words"]:
        return {"reason": f"response has {response_words} words (minimum {config['response_min_words']})",
                "field": "response", "words": response_words}
    if response_words > config["response_max_words"]:
        return {"reason": f"response has {response_words} words (maximum {config['response_max_words']})",
                "field": "response", "words": response_words}
    return None


# --------------------------------------------------------------------------- incomplete


@register_filter(
    "incomplete",
    params={
        "instruction_lead_in_endings": Param([":", ",", ";", "(", "-", "–", "—"], list,
                                             help="an instruction ending with one of these was cut off"),
        "instruction_dangling_words": Param(["a", "an", "the", "and", "or", "but", "such as", "e.g.", "i.e.",
                                             "including"], list,
                                            help="an instruction ending with one of these words (same case) was cut off"),
    },
)
def incomplete_filter(records: Sequence[dict], config: dict) -> list[Verdict]:
    """Cut-off or empty instructions, empty responses, responses that hit the token limit."""
    endings = tuple(config["instruction_lead_in_endings"])
    dangling = _ending_words_pattern(tuple(config["instruction_dangling_words"]))
    return [_incomplete_verdict(record, endings, dangling) for record in records]


@lru_cache(maxsize=8)
def _ending_words_pattern(words: tuple[str, ...]) -> re.Pattern | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})$")  # case-sensitive: "the letter A" is complete


def _finish_reasons(record: dict) -> dict:
    reasons = record.get("finish_reason")
    return reasons if isinstance(reasons, dict) else {}


def _incomplete_verdict(record: dict, endings: tuple[str, ...], dangling: re.Pattern | None) -> Verdict:
    finish = _finish_reasons(record)
    instruction = record["instruction"].strip()
    if not instruction or finish.get("instruction") == "empty":
        return {"reason": "instruction is empty", "field": "instruction"}
    if finish.get("instruction") == "length":
        return {"reason": "instruction hit the token limit", "field": "instruction", "finish_reason": "length"}
    if endings and instruction.endswith(endings):
        ending = next(e for e in endings if instruction.endswith(e))
        return {"reason": f"instruction ends with '{ending}' (a lead-in with nothing after it)",
                "field": "instruction", "ending": ending}
    match = dangling.search(instruction) if dangling else None
    if match:
        return {"reason": f"instruction ends with '{match.group(0)}' (cut off mid-sentence)",
                "field": "instruction", "ending": match.group(0)}
    if not record["response"].strip():
        return {"reason": "response is empty", "field": "response"}
    if finish.get("response") == "length":
        return {"reason": "response hit the token limit", "field": "response", "finish_reason": "length"}
    return None


# --------------------------------------------------------------------------- repetition

WORD_RE = re.compile(r"\w+")
SENTENCE_SPLIT_RE = re.compile(r"[.!?\n]+")
# Runs of these are markdown rules, table borders or leaders, not degenerate text.
FORMATTING_CHARS = frozenset("-=_*#~.`|+:<>/\\")
MIN_NGRAMS = 10  # fewer n-grams than this: a repeated fraction means nothing
RUN_PERIODS = (1, 2, 3)


@register_filter(
    "repetition",
    params={
        "repetition_ngram_size": Param(3, int, minimum=1, help="word n-gram size for the repeated-n-gram check"),
        "max_repeated_ngram_fraction": Param(0.3, float, minimum=0.0, maximum=1.0,
                                             help="share of word n-grams that repeat an earlier one"),
        "max_sentence_repeats": Param(3, int, minimum=1, help="times one line or sentence may occur"),
        "sentence_repeat_min_words": Param(4, int, minimum=1,
                                           help="lines/sentences shorter than this are not counted"),
        "max_char_run": Param(20, int, minimum=4,
                              help="longest run of one repeated 1-3 character unit (markdown rules exempt)"),
    },
)
def repetition_filter(records: Sequence[dict], config: dict) -> list[Verdict]:
    """Degenerate loops: repeated word n-grams, repeated lines or sentences, character runs."""
    runs = {field: longest_char_runs([r[field] for r in records], config["max_char_run"]) for field in FIELDS}
    return [_repetition_verdict(record, config, {field: runs[field][i] for field in FIELDS})
            for i, record in enumerate(records)]


def _repetition_verdict(record: dict, config: dict, runs: dict[str, str]) -> Verdict:
    for field in FIELDS:
        verdict = _repetition_in(record[field], config, runs[field])
        if verdict:
            return {**verdict, "field": field, "reason": f"{field}: {verdict['reason']}"}
    return None


def _repetition_in(text: str, config: dict, run: str) -> Verdict:
    lowered = text.lower()
    fraction = repeated_ngram_fraction(lowered, config["repetition_ngram_size"])
    if fraction > config["max_repeated_ngram_fraction"]:
        return {"reason": f"{fraction:.0%} of word {config['repetition_ngram_size']}-grams are repeats",
                "repeated_ngram_fraction": round(fraction, 3)}
    sentence, count = most_repeated_sentence(lowered, config["sentence_repeat_min_words"])
    if count > config["max_sentence_repeats"]:
        return {"reason": f"a sentence occurs {count} times", "sentence": sentence[:200], "count": count}
    if run:
        return {"reason": f"a run of {len(run)} repeated characters", "run": run[:60]}
    return None


def repeated_ngram_fraction(text: str, n: int) -> float:
    """Share of word n-grams that repeat an earlier one (give it lowercased text); 0 for short texts."""
    words = WORD_RE.findall(text)
    total = len(words) - n + 1
    if total < MIN_NGRAMS:
        return 0.0
    distinct = len(set(zip(*(words[i:] for i in range(n)), strict=False)))  # shifted copies: unequal
    return 1.0 - distinct / total


def most_repeated_sentence(text: str, min_words: int) -> tuple[str, int]:
    """The most frequent line or sentence of at least ``min_words`` words, and its count."""
    counts = Counter(map(str.strip, SENTENCE_SPLIT_RE.split(text)))
    for sentence, count in counts.most_common():
        if len(sentence.split()) >= min_words:
            return sentence, count
    return "", 0


def longest_char_runs(texts: Sequence[str], max_run: int, block: int = 2000) -> list[str]:
    """For each text, its longest substring over ``max_run`` characters that repeats a unit of 1-3
    non-space characters ("!!!!", "hahaha"), ignoring markdown formatting runs; ``""`` if none.

    Vectorised over blocks of texts joined by newlines: for each period p, a stretch of positions
    where character i equals character i+p (non-space) is a periodic run."""
    longest = [""] * len(texts)
    for first in range(0, len(texts), block):
        chunk = texts[first:first + block]
        joined = "\n".join(chunk)
        starts_of_texts = np.cumsum([0] + [len(t) + 1 for t in chunk[:-1]])
        for start, end in _periodic_runs(joined, max_run):
            run = joined[start:end]
            owner = first + int(np.searchsorted(starts_of_texts, start, side="right")) - 1
            if len(run) > len(longest[owner]) and not set(run) <= FORMATTING_CHARS:
                longest[owner] = run
    return longest


def _periodic_runs(text: str, max_run: int) -> list[tuple[int, int]]:
    """``(start, end)`` of every stretch longer than ``max_run`` with period 1, 2 or 3 (no whitespace)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    found = []
    for period in RUN_PERIODS:
        same = codes[period:] == codes[:-period]
        same &= codes[period:] > 32  # equal characters, so both are non-space
        edges = np.diff(same.view(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        long_enough = ends - starts >= max_run + 1 - period
        pairs = zip(starts[long_enough].tolist(), ends[long_enough].tolist(), strict=True)
        found += [(start, end + period) for start, end in pairs]
    return found


# --------------------------------------------------------------------------- refusal

PHRASES_RESOURCE = "refusal_phrases.yaml"
EXCEPTIONS = "exceptions"


@register_filter(
    "refusal",
    params={
        "refusal_phrases_file": Param(None, str, nullable=True,
                                      help="a YAML phrase file replacing the packaged refusal_phrases.yaml"),
        "refusal_extra_phrases": Param([], list, help="more refusal phrases, added to the file's"),
        "refusal_opening_chars": Param(150, int, minimum=1,
                                       help="a phrase starting within this many characters opens the response"),
        "refusal_short_response_words": Param(40, int, minimum=0,
                                              help="in a response this short a phrase counts anywhere"),
    },
)
def refusal_filter(records: Sequence[dict], config: dict) -> list[Verdict]:
    """Refusals and AI-identity boilerplate where they act as one: opening a response, or in a short one."""
    matcher = phrase_matcher(config["refusal_phrases_file"], tuple(config["refusal_extra_phrases"]))
    opening, short = config["refusal_opening_chars"], config["refusal_short_response_words"]
    return [_refusal_verdict(record["response"], matcher, opening, short) for record in records]


def load_phrases(path: str | Path | None = None) -> dict[str, list[str]]:
    """The phrase lists by category (plus ``exceptions``) from ``path`` or the packaged file."""
    if path is None:
        text = (resources.files(__package__) / PHRASES_RESOURCE).read_text(encoding="utf-8")
        source = PHRASES_RESOURCE
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"filtering.refusal_phrases_file: cannot read {path} ({exc.strerror or exc})") from exc
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    valid = isinstance(data, dict) and all(
        isinstance(v, list) and all(isinstance(p, str) and p.strip() for p in v) for v in data.values())
    if not valid:
        raise ConfigError(f"{source}: expected a mapping of category name to a list of phrases")
    return data


class PhraseMatcher:
    """Finds phrases of each category in text, skipping places where an exception starts.

    Phrases are bucketed by their first word; a regex finds where any first word starts, and only
    that bucket's phrases are compared there (a big case-insensitive alternation is ~20x slower)."""

    def __init__(self, phrases: dict[str, list[str]]):
        self.buckets: dict[str, list[tuple[str, str]]] = {}  # first word -> (phrase, category), longest first
        for category, items in phrases.items():
            for phrase in {normalise_phrase_text(p).lower() for p in items}:
                self.buckets.setdefault(phrase.split(" ")[0], []).append((phrase, category))
        for bucket in self.buckets.values():
            bucket.sort(key=lambda entry: (entry[1] != EXCEPTIONS, -len(entry[0])))
        first_words = sorted(self.buckets, key=len, reverse=True)
        self.starts = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, first_words)) + ")")

    def find(self, text: str, before: int | None = None) -> tuple[str, str, int] | None:
        """The first ``(category, phrase as written, offset)`` starting before ``before`` (if given)."""
        lowered = text.lower()
        for start in self.starts.finditer(lowered):
            if before is not None and start.start() >= before:
                return None
            hit = self._match_at(lowered, start.start(), start.group(0))
            if hit is not None and hit[1] != EXCEPTIONS:
                phrase, category = hit
                end = start.start() + len(phrase)
                written = text[start.start():end] if len(lowered) == len(text) else phrase
                return category, written, start.start()
        return None

    def _match_at(self, text: str, position: int, first_word: str) -> tuple[str, str] | None:
        """The exception or longest phrase of ``first_word``'s bucket that occurs at ``position``."""
        for phrase, category in self.buckets[first_word]:
            end = position + len(phrase)
            if text.startswith(phrase, position) and not (
                    phrase[-1].isalnum() and end < len(text) and (text[end].isalnum() or text[end] == "_")):
                return phrase, category
        return None


def normalise_phrase_text(text: str) -> str:
    """Curly apostrophes as straight ones, every whitespace run as one space."""
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


@lru_cache(maxsize=8)
def phrase_matcher(path: str | None, extra: tuple[str, ...]) -> PhraseMatcher:
    phrases = load_phrases(path)
    phrases.setdefault("refusal", [])
    phrases["refusal"] = [*phrases["refusal"], *extra]
    return PhraseMatcher(phrases)


def _refusal_verdict(response: str, matcher: PhraseMatcher, opening_chars: int, short_words: int) -> Verdict:
    if word_count(response) <= short_words:
        where, found = "in a short response", matcher.find(normalise_phrase_text(response))
    else:
        # Normalising shortens the text, so a slice twice the opening covers it.
        head = normalise_phrase_text(response[: 2 * opening_chars])
        where, found = "at the start of the response", matcher.find(head, before=opening_chars)
    if found is None:
        return None
    category, phrase, position = found
    label = "AI-identity phrase" if category == "ai_identity" else f"{category} phrase"
    return {"reason": f"{label} '{phrase}' {where}", "category": category, "phrase": phrase, "position": position}
