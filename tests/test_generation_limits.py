"""What the shared generation engine does at its limits, on the real toy models: out of memory,
prompts longer than the context window, and logits that turn NaN/inf."""

import pytest
import torch

from sit.generation.magpie import instruction_settings, pre_query_prompt
from sit.inference.engine import HFBackend, Prompt, SamplingSettings
from sit.inference.runner import BatchLimit, run_stage
from sit.models import load_causal_lm, load_tokenizer, stop_token_ids
from sit.runtime import derive_seed
from sit.session import start
from sit.store import JsonlStore

GENERATOR = "meta-llama/Llama-3.1-8B-Instruct"
JUDGE = "Qwen/Qwen2.5-7B-Instruct"


def _load(name):
    profile = start("demo", verbose=False).profile
    spec = start("demo", verbose=False).registry.get(name)
    tokenizer = load_tokenizer(spec, profile)
    return spec, tokenizer, load_causal_lm(spec, profile)


@pytest.fixture(scope="module")
def generator(toy_world):
    return _load(GENERATOR)


@pytest.fixture(scope="module")
def judge(toy_world):
    return _load(JUDGE)


def _record(prompt, completion):
    return {"id": prompt.id, "text": completion.text, "finish_reason": completion.finish_reason}


def _stage(path, prompts, backend, settings, **kwargs):
    return run_stage(JsonlStore(path), prompts, backend, settings, make_record=_record, checkpoint_every=4,
                     bucket=False, progress=False, **kwargs)


# ----------------------------------------------------------------------------- out of memory


class OOMAbove:
    """The real backend, except that a batch above ``limit`` raises CUDA's out-of-memory error (no GPU here)."""

    def __init__(self, backend, limit):
        self.backend, self.limit, self.sizes = backend, limit, []

    def count_tokens(self, text):
        return self.backend.count_tokens(text)

    def generate(self, prompts, settings):
        self.sizes.append(len(prompts))
        if len(prompts) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.backend.generate(prompts, settings)


def test_out_of_memory_halves_the_batch_for_the_rest_of_the_stage(generator, tmp_path):
    spec, tokenizer, model = generator
    backend = HFBackend(model, tokenizer)
    settings = instruction_settings(spec, tokenizer, start("demo", verbose=False).profile["generation"])
    prompts = [Prompt(f"i{i}", pre_query_prompt(spec, tokenizer), derive_seed(3, i)) for i in range(24)]
    flaky = OOMAbove(backend, limit=2)
    got, stats = _stage(tmp_path / "a.jsonl", prompts, flaky, settings, batch_size=8)
    want, _ = _stage(tmp_path / "b.jsonl", prompts, backend, settings, batch_size=8)
    assert got == want and len(got) == 24  # nothing lost, and no text depends on the batch size
    # 8 fails, 4 fails, then every piece of this and the next two planned batches has 2 prompts.
    assert flaky.sizes == [8, 4] + [2] * 12
    assert stats.batch.size == 2 and stats.note() == "batch halved from 8 to 2 after 2 out-of-memory errors"
    # One limit shared by a later stage of the same model: it starts at the smaller batch.
    later = OOMAbove(backend, limit=2)
    _stage(tmp_path / "c.jsonl", prompts[:8], later, settings, batch_size=8, batch_limit=stats.batch)
    assert later.sizes == [2, 2, 2, 2]
    fits = OOMAbove(backend, limit=8)
    _, calm = _stage(tmp_path / "d.jsonl", prompts[:8], fits, settings, batch_size=8)
    assert fits.sizes == [8] and calm.batch.size is None and calm.note() == ""


def test_an_error_that_is_not_out_of_memory_is_raised(tmp_path):
    class Failing:
        def count_tokens(self, text):
            return 1

        def generate(self, prompts, settings):
            raise ValueError("other failure")

    limit = BatchLimit()
    with pytest.raises(ValueError, match="other failure"):
        _stage(tmp_path / "a.jsonl", [Prompt("a", "x", 0)], Failing(), SamplingSettings(max_new_tokens=4),
               batch_size=8, batch_limit=limit)
    assert limit.size is None


# ----------------------------------------------------------------------------- the context window


class PromptLengths:
    """Records the prompt length of every ``generate`` call the real model gets (a forward pre-hook)."""

    def __init__(self, model):
        self.lengths = []
        self.handle = model.register_forward_pre_hook(self._seen, with_kwargs=True)

    def _seen(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        self.lengths.append(ids.shape[1] if ids is not None else args[0].shape[1])

    def close(self):
        self.handle.remove()


def _long_conversation(tokenizer, words=220):
    filler = " ".join(["the market opens at nine and closes at five"] * (words // 9))
    return [{"role": "user", "content": "Describe a day at the market. " + filler},
            {"role": "assistant", "content": "It was busy. " + filler},
            {"role": "user", "content": "Now summarize it in one sentence."}]


def test_a_chat_prompt_longer_than_the_window_loses_its_oldest_turn(generator, tmp_path):
    spec, tokenizer, model = generator
    window = model.config.max_position_embeddings
    settings = SamplingSettings(max_new_tokens=64, stop_token_ids=tuple(stop_token_ids(spec, tokenizer)))
    backend = HFBackend(model, tokenizer)
    messages = _long_conversation(tokenizer)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert backend.count_tokens(text) > window  # it really overflows the model's positions
    long = Prompt("long", text, 5, messages=messages)
    latest = messages[-1:]
    alone = Prompt("alone", tokenizer.apply_chat_template(latest, tokenize=False, add_generation_prompt=True), 5)
    short = Prompt("short", alone.text, 6)
    seen = PromptLengths(model)
    try:
        records, stats = _stage(tmp_path / "a.jsonl", [long, short], backend, settings, batch_size=2)
    finally:
        seen.close()
    assert max(seen.lengths) <= window - settings.max_new_tokens
    [trimmed, untouched] = backend.generate([long, short], settings)
    assert trimmed.prompt_trimmed and not untouched.prompt_trimmed
    # What was asked is the latest turn alone: the same text as asking it without the history.
    assert trimmed.text == backend.generate([alone], settings)[0].text
    assert stats.trimmed_prompts == 1 and "1 prompt(s) longer than the context window trimmed" in stats.note()


def test_a_system_prompt_stays_and_a_plain_prompt_keeps_its_head_and_tail(generator):
    spec, tokenizer, model = generator
    backend = HFBackend(model, tokenizer, context_window=300)
    settings = SamplingSettings(max_new_tokens=40, stop_token_ids=tuple(stop_token_ids(spec, tokenizer)))
    system = {"role": "system", "content": "You answer in French."}
    messages = [system, *_long_conversation(tokenizer)]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    from sit.inference.window import fit_prompt

    fitted, trimmed = fit_prompt(Prompt("s", text, 1, messages=messages, keep_first=1), 260, tokenizer)
    assert trimmed and fitted.messages == [system, messages[-1]]
    assert backend.count_tokens(fitted.text) <= 260
    # One user turn far too long on its own: its middle goes, its question and the template's ends stay.
    question = "Which stall sells the freshest bread?"
    huge = [{"role": "user", "content": question + " " + " ".join(["crowded aisles"] * 300) + " Answer briefly."}]
    plain = tokenizer.apply_chat_template(huge, tokenize=False, add_generation_prompt=True)
    for prompt in (Prompt("m", plain, 1, messages=huge), Prompt("p", plain, 1)):
        cut, trimmed = fit_prompt(prompt, 260, tokenizer)
        assert trimmed and backend.count_tokens(cut.text) <= 260
        assert question in cut.text and cut.text.endswith(plain[-40:]) and cut.text.startswith(tokenizer.bos_token)
    [done] = backend.generate([Prompt("p", plain, 1)], settings)
    assert done.prompt_trimmed and done.finish_reason in ("stop", "length")


# ----------------------------------------------------------------------------- non-finite logits


class NonFiniteLogits:
    """A forward hook on the real model's LM head: row ``row`` gets NaN logits from decoding step ``step`` on."""

    def __init__(self, model, row, step, value=float("nan")):
        self.row, self.step, self.value, self.calls = row, step, value, 0
        self.handle = model.get_output_embeddings().register_forward_hook(self._hook)

    def _hook(self, module, args, output):
        self.calls += 1
        if self.calls - 1 >= self.step:  # call 0 is the prompt, call k the k-th new token
            output = output.clone()
            output[self.row] = self.value
        return output

    def close(self):
        self.handle.remove()


def _judge_prompts(tokenizer, n=3):
    asks = ["Rate this answer: 2+2=4.", "Rate this answer: the sky is green.", "Rate this answer: water is wet."]
    return [Prompt(f"j{i}", tokenizer.apply_chat_template([{"role": "user", "content": asks[i]}], tokenize=False,
                                                          add_generation_prompt=True), derive_seed(9, i))
            for i in range(n)]


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_logits_end_that_row_only_and_are_counted(judge, tmp_path, value):
    spec, tokenizer, model = judge
    backend = HFBackend(model, tokenizer, label=f"{spec.id} (judging stage sft)")
    settings = SamplingSettings(max_new_tokens=24, temperature=0.7, stop_token_ids=tuple(stop_token_ids(spec, tokenizer)))
    prompts = _judge_prompts(tokenizer)
    clean = backend.generate(prompts, settings)
    hook = NonFiniteLogits(model, row=1, step=2, value=value)
    try:
        with pytest.warns(RuntimeWarning, match=r"Qwen/Qwen2.5-7B-Instruct \(judging stage sft\): 1 of 3 "
                                                r"generations had non-finite logits"):
            records, stats = _stage(tmp_path / "a.jsonl", prompts, backend, settings, batch_size=3)
    finally:
        hook.close()
    assert [r["finish_reason"] == "non_finite" for r in records] == [False, True, False]
    assert records[1]["text"] == ""  # no garbage text to score
    assert [r["text"] for r in records[::2]] == [c.text for c in clean[::2]]  # the other rows are untouched
    assert stats.non_finite == 1 and "1 generation(s) with non-finite logits (NaN/inf) left out" in stats.note()


def test_a_row_that_ended_before_its_logits_broke_is_not_marked(judge):
    spec, tokenizer, model = judge
    backend = HFBackend(model, tokenizer)
    settings = SamplingSettings(max_new_tokens=48, stop_token_ids=tuple(stop_token_ids(spec, tokenizer)))
    prompts = _judge_prompts(tokenizer)
    clean = backend.generate(prompts, settings)
    ended = min(range(3), key=lambda i: clean[i].num_tokens)
    assert clean[ended].finish_reason == "stop" and max(c.num_tokens for c in clean) > clean[ended].num_tokens + 1
    hook = NonFiniteLogits(model, row=ended, step=clean[ended].num_tokens + 1)
    try:
        again = backend.generate(prompts, settings)
    finally:
        hook.close()
    assert again[ended] == clean[ended]


def test_mt_bench_leaves_an_answer_with_non_finite_logits_unscored(toy_world, tmp_path):
    from sit.evaluation.judging import Judge, judge_answers
    from sit.evaluation.mtbench_data import read_questions
    from sit.evaluation.mtbench_run import generation_note, question_items

    session = start("demo", str(tmp_path), 42, verbose=False)
    settings = session.section("evaluation")["mt_bench"]
    [question] = read_questions(1)[:1]
    qid = question["question_id"]
    answers = {f"{qid}-1": {"answer": "", "finish_reason": "non_finite"},
               f"{qid}-2": {"answer": "A short, clear answer.", "finish_reason": "stop", "prompt_trimmed": True}}
    judge = Judge(session, session.model(settings["judge"], role="judge"))
    judgments = judge_answers(session, JsonlStore(tmp_path / "judgments.jsonl"), [question], answers,
                              judge=judge, settings=settings, fingerprint={"answers": {"stage": "base"}})
    first, second = sorted(judgments, key=lambda j: j["turn"])
    assert first["non_finite"] and first["rating"] is None  # the judge is never asked to score garbage
    assert not second["non_finite"]
    [item] = question_items(judgments, answers)
    assert item["scores"]["unparsable"] == float(second["rating"] is None)  # NaN/inf is not "unparsable"
    note = generation_note("Qwen/Qwen2.5-3B", "base", answers.values(), judge.id, judgments)
    assert "1 answer prompt(s) longer than Qwen/Qwen2.5-3B (base)'s context window trimmed" in note
    assert "1 judgment(s) left out for non-finite logits (NaN/inf): 1 in answers of Qwen/Qwen2.5-3B (base)" in note
