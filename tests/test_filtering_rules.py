"""The rule filters (length, incomplete, repetition, refusal): true positives, true negatives, near misses."""

from __future__ import annotations

import pytest

from sit.config import ConfigError
from sit.filtering import filter_config
from sit.filtering.registry import FILTERS
from sit.filtering.rules import longest_char_runs, most_repeated_sentence, repeated_ngram_fraction

GOOD_RESPONSE = (
    "A balanced breakfast combines protein, fibre and some fruit. Oatmeal with berries and a spoon of "
    "peanut butter is quick to make, keeps you full until lunch, and costs very little. If you prefer "
    "something savoury, try eggs on wholegrain toast with a handful of spinach."
)


def record(instruction: str = "Suggest a healthy breakfast for a busy morning.", response: str = GOOD_RESPONSE,
           **extra) -> dict:
    return {"id": extra.pop("id", "r1"), "instruction": instruction, "response": response, **extra}


def verdict(name: str, rec: dict, **overrides):
    return FILTERS[name].func([rec], filter_config(overrides=overrides))[0]


def words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


# --------------------------------------------------------------------------- length


@pytest.mark.parametrize("count, rejected", [(19, True), (20, False), (500, False), (501, True)])
def test_length_response_bounds_are_inclusive(count, rejected):
    result = verdict("length", record(response=words(count)))
    assert (result is not None) == rejected
    if rejected:
        assert result["field"] == "response" and result["words"] == count


def test_length_instruction_minimum_and_empty():
    assert verdict("length", record(instruction="   "))["reason"] == "instruction is empty"
    short = verdict("length", record(instruction="Explain gravity."))
    assert short["field"] == "instruction" and short["words"] == 2
    assert verdict("length", record(instruction="Explain gravity please.")) is None
    assert verdict("length", record(instruction="Explain gravity."), instruction_min_words=1) is None


def test_length_uses_configured_bounds():
    assert verdict("length", record(response=words(30)), response_min_words=40)["words"] == 30
    assert verdict("length", record(response=words(30)), response_max_words=25) is not None


# --------------------------------------------------------------------------- incomplete


@pytest.mark.parametrize("instruction, ending", [
    ("Here is my code, please review it:", ":"),
    ("Write a poem about the sea, the sky,", ","),
    ("Compare these two options (", "("),
    ("Write a story about a dragon and the", "the"),
    ("List some fruits such as", "such as"),
])
def test_incomplete_catches_cut_off_instructions(instruction, ending):
    result = verdict("incomplete", record(instruction=instruction))
    assert result["field"] == "instruction" and result["ending"] == ending


@pytest.mark.parametrize("instruction", [
    "Rewrite this sentence in passive voice: The dog chased the ball.",
    "What is this tool used for?",
    "Give me a recipe that uses the word 'the'.",
    "Name three animals that start with the letter A",
])
def test_incomplete_keeps_complete_instructions(instruction):
    assert verdict("incomplete", record(instruction=instruction)) is None


def test_incomplete_uses_finish_reasons_and_empty_response():
    cut = record(finish_reason={"instruction": "length", "response": "stop"})
    assert verdict("incomplete", cut)["reason"] == "instruction hit the token limit"
    empty = record(finish_reason={"instruction": "empty", "response": "stop"})
    assert verdict("incomplete", empty)["reason"] == "instruction is empty"
    truncated = record(finish_reason={"instruction": "stop", "response": "length"})
    assert verdict("incomplete", truncated)["reason"] == "response hit the token limit"
    assert verdict("incomplete", record(response="  \n "))["reason"] == "response is empty"
    assert verdict("incomplete", record(finish_reason={"instruction": "stop", "response": "stop"})) is None
    assert verdict("incomplete", record(finish_reason="length")) is None  # not the documented dict: ignored


def test_incomplete_endings_are_configurable():
    rec = record(instruction="Summarise the following:")
    assert verdict("incomplete", rec, instruction_lead_in_endings=[]) is None
    assert verdict("incomplete", record(instruction="Describe the"), instruction_dangling_words=[]) is None


# --------------------------------------------------------------------------- repetition

LOOP = "The best way to learn is to practice every day. " * 6


def test_repetition_catches_loops_and_says_where():
    result = verdict("repetition", record(response="Here is my advice. " + LOOP))
    assert result["field"] == "response"
    assert result["repeated_ngram_fraction"] > 0.3


def test_repetition_catches_repeated_sentences_below_the_ngram_threshold():
    varied = (GOOD_RESPONSE + " Porridge can be cooked the evening before and warmed in a minute. Greek "
              "yoghurt adds protein without much sugar, while nuts bring healthy fats. Coffee is fine in "
              "moderation, though water should come first after waking up.")
    repeated = varied + " Remember to drink enough water daily." * 4
    assert repeated_ngram_fraction(repeated.lower(), 3) <= 0.3
    result = verdict("repetition", record(response=repeated))
    assert result["count"] == 4 and "drink enough water" in result["sentence"]
    assert verdict("repetition", record(response=varied + " Remember to drink enough water daily." * 3)) is None


def test_repetition_catches_character_runs_but_not_markdown_rules():
    assert verdict("repetition", record(response=GOOD_RESPONSE + " Wow" + "!" * 25))["run"] == "!" * 25
    assert verdict("repetition", record(response=GOOD_RESPONSE + " ha" + "ha" * 15))["run"].startswith("haha")
    table = "| Name | Age |\n|------|-----|\n| Ann | 31 |\n" + "-" * 40 + "\n" + "=" * 30
    assert verdict("repetition", record(response=GOOD_RESPONSE + "\n" + table)) is None


def test_repetition_keeps_normal_prose_lists_and_code():
    listing = "\n".join(f"{i}. Step {i}: mix the {x} with the flour." for i, x in enumerate(
        ["eggs", "milk", "butter", "sugar", "salt", "yeast"], start=1))
    code = ("```python\ndef area(r):\n    return 3.14159 * r * r\n\n\ndef perimeter(r):\n"
            "    return 2 * 3.14159 * r\n```\nBoth functions take the radius in metres.")
    for text in (GOOD_RESPONSE, listing, code):
        assert verdict("repetition", record(response=text)) is None, text


def test_repetition_thresholds_are_configurable():
    rec = record(response=GOOD_RESPONSE + " " + "Z" * 15)
    assert verdict("repetition", rec) is None
    assert verdict("repetition", rec, max_char_run=10)["run"] == "Z" * 15


def test_repetition_helpers():
    assert most_repeated_sentence("a b c d. a b c d. x y.", 4) == ("a b c d", 2)
    assert most_repeated_sentence("a b. a b. a b.", 4) == ("", 0)
    assert repeated_ngram_fraction("one two three", 3) == 0.0  # too short to judge
    runs = longest_char_runs(["aaaa", "x" * 21, "ab" * 11, "-" * 40, "a " * 30], 20)
    assert runs == ["", "x" * 21, "ab" * 11, "", ""]


# --------------------------------------------------------------------------- refusal

LONG_HELPFUL = " ".join(["Here is a detailed, helpful explanation of the topic with several steps."] * 8)


@pytest.mark.parametrize("response, phrase", [
    ("I'm sorry, but I can't help with that request.", "I'm sorry, but"),
    ("I’m sorry, but I can’t help with that.", "I'm sorry, but"),  # curly apostrophes
    ("As an AI language model, I do not have opinions. " + LONG_HELPFUL, "As an AI language model"),
    ("I cannot provide instructions for that. " + LONG_HELPFUL, "I cannot"),
    ("Great question! Unfortunately, as an AI, I can't browse the web to check today's scores for you.",
     "as an AI"),
    ("Thanks for asking. I'm an AI, so I have no personal favourite. " + LONG_HELPFUL, "I'm an AI"),
])
def test_refusal_true_positives(response, phrase):
    result = verdict("refusal", record(response=response))
    assert result is not None and result["phrase"] == phrase


@pytest.mark.parametrize("response", [
    "I cannot stress enough how important sleep is. " + LONG_HELPFUL,
    "I can't wait to help you plan this trip! " + LONG_HELPFUL,
    "I can't help but notice this is a great idea. " + LONG_HELPFUL,
    LONG_HELPFUL + " Note that I cannot see your screen, so check the settings menu yourself.",
    LONG_HELPFUL + " As an AI language model I cannot browse, but the steps above are standard.",
    "Syria's capital is Damascus, and the airline Aircanada is Canadian. " + LONG_HELPFUL,  # no word-part matches
])
def test_refusal_true_negatives(response):
    assert verdict("refusal", record(response=response)) is None


def test_refusal_opening_window_and_short_response_size_are_configurable():
    late = "Here are some thoughts on this. " * 3 + "I cannot help with the rest. " + LONG_HELPFUL
    assert verdict("refusal", record(response=late)) is not None  # starts within 150 characters
    assert verdict("refusal", record(response=late), refusal_opening_chars=50) is None
    short = "Here is a quick answer for you. Note: I cannot check live prices."
    assert verdict("refusal", record(response=short), refusal_opening_chars=20)["position"] == 38
    assert verdict("refusal", record(response=short), refusal_opening_chars=20,
                   refusal_short_response_words=5) is None


def test_refusal_phrases_are_extendable(tmp_path):
    text = "Nope, not doing that one. " + LONG_HELPFUL
    assert verdict("refusal", record(response=text)) is None
    assert verdict("refusal", record(response=text), refusal_extra_phrases=["not doing that"])["phrase"] == (
        "not doing that")
    phrases = tmp_path / "phrases.yaml"
    phrases.write_text("refusal:\n  - Nope\nexceptions:\n  - Nope, not\n", encoding="utf-8")
    assert verdict("refusal", record(response=text), refusal_phrases_file=str(phrases)) is None
    assert verdict("refusal", record(response="Nope. " + LONG_HELPFUL),
                   refusal_phrases_file=str(phrases))["phrase"] == "Nope"


def test_refusal_phrase_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("refusal: I cannot\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="mapping of category name to a list"):
        verdict("refusal", record(), refusal_phrases_file=str(bad))
    with pytest.raises(ConfigError, match="cannot read"):
        verdict("refusal", record(), refusal_phrases_file=str(tmp_path / "missing.yaml"))
