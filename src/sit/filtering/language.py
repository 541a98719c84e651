"""The language filter: keep pairs whose instruction and response are in the target language (English).

Language identification is py3langid (a maintained fork of langid.py; the model ships in the wheel,
so it works offline), with two adjustments that matter for this data:

* **Candidate set.** Over all 140 languages, short English instructions lose to look-alikes
  ("Give me a pasta recipe." -> es, "Define photosynthesis." -> la). Restricting the candidates to
  the languages an instruction-tuned generator actually writes keeps non-English text non-English
  (it still lands on its nearest candidate) and raises P(en) for short English text.
* **Thresholds on P(target), not the argmax, and lenient on the instruction.** A one-line instruction
  is weak evidence, so it is rejected only when P(en) is very low; the response (long, decisive
  evidence, and in this data written in the instruction's language) must be clearly English. A
  pair is thus judged jointly, with the response weighted: "Wat is inflatie?" passes the lenient
  instruction check but its Dutch answer does not.

Speed: py3langid walks the text byte by byte in Python, so texts are cut to
``language_max_chars``, and a text that is plainly English prose (enough words, essentially ASCII,
at least ``FAST_MIN_FUNCTION_WORDS`` of its words English function words that other languages do
not use) is accepted without calling the model (``language_fast_path``). Other texts, and every
text when the target is not English, go to the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..config import ConfigError
from .registry import Param, Verdict, register_filter

# Languages an instruction-tuned generator plausibly writes; non-English text scores as one of them.
DEFAULT_CANDIDATES = (
    "en fr es de it pt nl da sv no pl cs ro hu fi tr ru uk el ar he fa hi zh ja ko vi id th ms ca gl eu af "
    "sw tl la et lv lt sk sl hr sr bg is ga cy eo bn ta ur mr"
).split()

# English function words that are not (common) words in other languages written in Latin script.
# Left out on purpose: a, in, on, me, is, of, to, for, or, at, do, so, was, will, also, die, man (de,
# nl, it, pl, ...), he, has (es), her, by, just (da/sv/no), be (hu), any (ca).
ENGLISH_FUNCTION_WORDS = frozenset(
    "the and that this with you your are have been it its not which what would should could from they "
    "their there these those if when how who about into than then more other such each some we our she "
    "his them were does did here only like use using make may might must".split()
)
FAST_MIN_WORDS = 15
FAST_MIN_FUNCTION_WORDS = 0.10  # measured: English prose 0.12-0.26 of words, other Latin-script text <= 0.03
FAST_MAX_NON_ASCII_LETTERS = 0.01
LETTERS_RE = re.compile(r"[^\W\d_]+")
NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")


def _check_language_config(config: dict) -> None:
    if "language" not in config["pipeline"]:
        return
    candidates = config["language_candidates"]
    if candidates is not None and config["language"] not in candidates:
        raise ConfigError(f"filtering.language_candidates must include the target language "
                          f"'{config['language']}'")
    try:
        identifier(config["language"], tuple(candidates or ()))
    except ValueError as exc:
        raise ConfigError(f"filtering.language / language_candidates: {exc}") from exc


@register_filter(
    "language",
    params={
        "language": Param("en", str, help="the language to keep (an ISO 639-1 code py3langid knows)"),
        "language_candidates": Param(list(DEFAULT_CANDIDATES), list, nullable=True,
                                     help="languages py3langid chooses among (null: all 140)"),
        "instruction_language_min_probability": Param(0.01, float, minimum=0.0, maximum=1.0,
                                                      help="reject an instruction below this P(language)"),
        "response_language_min_probability": Param(0.5, float, minimum=0.0, maximum=1.0,
                                                   help="reject a response below this P(language)"),
        "language_max_chars": Param(600, int, minimum=20, help="characters of each text to identify"),
        "language_fast_path": Param(True, bool, help="accept plain English prose without the model"),
    },
    check=_check_language_config,
)
def language_filter(records: Sequence[dict], config: dict) -> list[Verdict]:
    """Instructions or responses not in the target language (py3langid; English by default)."""
    judge = LanguageJudge.from_config(config)
    thresholds = {"instruction": config["instruction_language_min_probability"],
                  "response": config["response_language_min_probability"]}
    return [_language_verdict(record, judge, thresholds) for record in records]


def _language_verdict(record: dict, judge: LanguageJudge, thresholds: dict) -> Verdict:
    for field, threshold in thresholds.items():
        guess = judge.guess(record[field])
        if guess.probability < threshold:
            return {"reason": f"{field} looks {guess.top_language} (P({judge.language}) = {guess.probability:.3f})",
                    "field": field, "language": guess.top_language,
                    "confidence": round(guess.top_probability, 4),
                    "probability": round(guess.probability, 4)}
    return None


@dataclass(frozen=True)
class LanguageGuess:
    probability: float  # P(target language)
    top_language: str
    top_probability: float
    method: str  # "model", "fast path" or "no letters"


@lru_cache(maxsize=4)
def identifier(language: str, candidates: tuple[str, ...]):
    """A py3langid identifier with normalised probabilities over ``candidates`` (all when empty)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    if language not in ident.labels:
        raise ValueError(f"py3langid does not know the language '{language}'")
    if candidates:
        ident.set_languages(list(candidates))
    return ident


class LanguageJudge:
    """P(target language) for a text, from py3langid or, for plain English prose, the fast path."""

    def __init__(self, language: str = "en", candidates: Sequence[str] | None = DEFAULT_CANDIDATES,
                 max_chars: int = 600, fast_path: bool = True):
        self.language = language
        self.identifier = identifier(language, tuple(candidates or ()))
        self.max_chars = max_chars
        self.fast_path = fast_path and language == "en"

    @classmethod
    def from_config(cls, config: dict) -> LanguageJudge:
        return cls(config["language"], config["language_candidates"], config["language_max_chars"],
                   config["language_fast_path"])

    def guess(self, text: str) -> LanguageGuess:
        """The fast path's or the model's guess; a text without letters is language-neutral (passes)."""
        text = text[: self.max_chars]
        if not LETTERS_RE.search(text):
            return LanguageGuess(1.0, "und", 0.0, "no letters")
        if self.fast_path and looks_like_english_prose(text):
            return LanguageGuess(1.0, self.language, 1.0, "fast path")
        return self.model_guess(text)

    def model_guess(self, text: str) -> LanguageGuess:
        """The model's answer, never the fast path (the full ranking only when the top is another language)."""
        top_language, top_probability = self.identifier.classify(text)
        if top_language == self.language:
            probability = top_probability
        else:
            probability = next((p for lang, p in self.identifier.rank(text) if lang == self.language), 0.0)
        return LanguageGuess(float(probability), top_language, float(top_probability), "model")


def looks_like_english_prose(text: str) -> bool:
    """Enough words, (almost) no non-ASCII letters, and many English-only function words."""
    if text.count(" ") + 1 < FAST_MIN_WORDS:
        return False
    words = LETTERS_RE.findall(text.lower())
    if len(words) < FAST_MIN_WORDS:
        return False
    if not text.isascii():
        non_ascii_letters = sum(ch.isalpha() for ch in NON_ASCII_RE.findall(text))
        if non_ascii_letters > FAST_MAX_NON_ASCII_LETTERS * sum(map(len, words)):
            return False
    function_words = sum(map(ENGLISH_FUNCTION_WORDS.__contains__, words))
    return function_words >= FAST_MIN_FUNCTION_WORDS * len(words)
