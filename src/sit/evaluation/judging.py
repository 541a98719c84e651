"""MT-Bench judging: the registry's judge grades every answer with FastChat's single-answer prompts.

Math, reasoning and coding are graded against FastChat's reference answers (``single-math-v1``);
the second turn is graded with the whole conversation (``-multi-turn``). The rating is parsed as
FastChat does (:func:`sit.evaluation.judge_prompts.parse_rating`). A judgment without a rating is
asked again once, sampled with a new seed; if that fails too it is stored as unparsable
(``rating: null``) and counted, never scored as 0. Judgments are stored beside the answers through
:func:`sit.inference.runner.run_stage`, so a killed run resumes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..inference.engine import Completion, HFBackend, Prompt, SamplingSettings
from ..inference.runner import BatchLimit, generate_with_retry, run_stage
from ..models import load_decoding_lm, load_tokenizer, stop_token_ids
from ..runtime import derive_seed
from ..store import JsonlStore
from .judge_prompts import judge_messages, load_prompts, parse_rating, prompt_name
from .mtbench import check_fingerprint, render

if TYPE_CHECKING:
    from ..session import Session

RETRY_TEMPERATURE = 0.7


class Judge:
    """The judge model of one evaluation run: loaded at its first use, then kept for every stage it grades.

    :meth:`release` drops it; the caller then frees the memory (``release_memory``)."""

    def __init__(self, session: Session, spec):
        self.session = session
        self.spec = spec
        self.id = spec.id
        self._loaded = None

    def load(self):
        """(model, tokenizer), loaded on the first call only."""
        if self._loaded is None:
            tokenizer = load_tokenizer(self.spec, self.session.profile)
            self._loaded = (load_decoding_lm(self.spec, self.session.profile, tokenizer=tokenizer), tokenizer)
        return self._loaded

    def release(self) -> None:
        self._loaded = None


class RetryOnce:
    """A generation backend that asks again, once and sampled, for each judgment without a rating."""

    def __init__(self, backend, retry: SamplingSettings, seed: int, limit: BatchLimit | None = None):
        self.backend = backend
        self.retry = retry
        self.seed = seed
        self.limit = limit if limit is not None else BatchLimit()
        self.attempts: dict[str, list[str]] = {}

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def generate(self, prompts: list[Prompt], settings: SamplingSettings) -> list[Completion]:
        first = generate_with_retry(self.backend, prompts, settings, self.limit)
        failed = [i for i, c in enumerate(first) if parse_rating(c.text) is None]
        for i, c in zip(prompts, first, strict=True):
            self.attempts[i.id] = [c.text]
        if failed:
            again = [Prompt(id=prompts[i].id, text=prompts[i].text, seed=derive_seed(self.seed, "judge-retry",
                                                                                      prompts[i].id)) for i in failed]
            for i, c in zip(failed, generate_with_retry(self.backend, again, self.retry, self.limit), strict=True):
                self.attempts[prompts[i].id].append(c.text)
                first[i] = c
        return first


def judge_fingerprint(session: Session, judge_spec, settings: dict, answers_fp: dict) -> dict:
    return {"judge": judge_spec.id, "world": session.world_id, "seed": session.seed,
            "prompts": settings["judge_prompts"], "max_new_tokens": int(settings["judge_max_new_tokens"]),
            "max_answer_words": settings["max_answer_words"], "answers": answers_fp}


def judge_prompt_items(questions: list[dict], answers: dict[str, dict], prompts: dict, tokenizer,
                       max_answer_words: int | None, seed: int) -> list[Prompt]:
    from .mtbench import item_id

    items = []
    for q in questions:
        for turn in (1, 2):
            name = prompt_name(q["category"], turn)
            refs = q["reference"][:turn] if "math" in name and q["reference"] else None
            shown = [answers[item_id(q["question_id"], t)]["answer"] for t in range(1, turn + 1)]
            asked = q["turns"][:turn]
            if turn == 2:
                messages = judge_messages(prompts[name], asked, shown, refs, max_answer_words=max_answer_words)
            else:
                messages = judge_messages(prompts[name], asked[:1], shown[:1], refs, max_answer_words=max_answer_words)
            pid = item_id(q["question_id"], turn)
            items.append(Prompt(id=pid, text=render(tokenizer, messages), seed=derive_seed(seed, "judge", pid),
                                meta={"question": q, "turn": turn, "prompt": name}, messages=messages,
                                keep_first=len(messages) - 1))
    return items


def judge_answers(session: Session, store: JsonlStore, questions: list[dict], answers: dict[str, dict], *, judge: Judge,
                  settings: dict, fingerprint: dict, progress: bool = False,
                  batch_limit: BatchLimit | None = None) -> list[dict]:
    """A judgment per answer; the judge is loaded (once per :class:`Judge`) only when some judgment is missing.

    ``batch_limit``: the judge's batch as learned so far in the run (halved after an out-of-memory error)."""
    stored = store.read()
    check_fingerprint(store.path, stored, fingerprint, "judged_with")
    wanted = {f"{q['question_id']}-{t}" for q in questions for t in (1, 2)}
    have = {r["id"]: r for r in stored}
    if wanted <= set(have):
        return [have[i] for i in sorted(wanted, key=_order)]
    model, tokenizer = judge.load()
    stops = tuple(stop_token_ids(judge.spec, tokenizer))
    greedy = SamplingSettings(max_new_tokens=int(settings["judge_max_new_tokens"]), stop_token_ids=stops)
    retry = SamplingSettings(max_new_tokens=greedy.max_new_tokens, temperature=RETRY_TEMPERATURE, stop_token_ids=stops)
    stage = fingerprint.get("answers", {}).get("stage")
    backend = RetryOnce(HFBackend(model, tokenizer, label=f"judge {judge.id} (answers of stage {stage})"),
                        retry, session.seed, batch_limit)
    prompts = judge_prompt_items(questions, answers, load_prompts(settings["judge_prompts"]), tokenizer,
                                 settings["max_answer_words"], session.seed)

    def record(prompt: Prompt, completion: Completion) -> dict:
        q = prompt.meta["question"]
        attempts = backend.attempts.get(prompt.id, [completion.text])
        # NaN/inf logits in the answer or the judgment: no rating, never a score made of garbage.
        non_finite = "non_finite" in (completion.finish_reason, answers[prompt.id].get("finish_reason"))
        return {"id": prompt.id, "question_id": q["question_id"], "category": q["category"],
                "turn": prompt.meta["turn"], "judge_prompt": prompt.meta["prompt"], "judgment": completion.text,
                "rating": None if non_finite else parse_rating(completion.text), "non_finite": non_finite,
                "prompt_trimmed": completion.prompt_trimmed, "attempts": len(attempts),
                "first_judgment": attempts[0], "judged_with": fingerprint}

    records, _ = run_stage(store, prompts, backend, greedy, make_record=record,
                           batch_size=int(settings["judge_batch_size"]),
                           checkpoint_every=int(settings["checkpoint_every"]), bucket=True,
                           desc="judging", progress=progress)
    backend.backend = None
    del model
    return records


def _order(pid: str) -> tuple[int, int]:
    q, t = pid.split("-")
    return int(q), int(t)
