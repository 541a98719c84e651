"""Deterministic CPU training loops for the toy models: causal LM pre-training and pairwise reward training."""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

BUILD_THREADS = 1


@contextlib.contextmanager
def deterministic(seed: int, threads: int = BUILD_THREADS) -> Iterator[None]:
    """Fixed thread count, deterministic kernels and seeded RNGs; the caller's settings are restored after."""
    previous_threads = torch.get_num_threads()
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_state = torch.random.get_rng_state()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_det)
        torch.random.set_rng_state(previous_state)


@dataclass
class Schedule:
    """Optimisation settings for one model."""

    steps: int
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.01

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to a tenth of the peak."""
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _optimizer(model: torch.nn.Module, schedule: Schedule) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "norm" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "norm" not in n)]
    groups = [{"params": decay, "weight_decay": schedule.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=schedule.lr, betas=(0.9, 0.98), foreach=False)


def length_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices with similar lengths (less padding)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 16
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


def _batches_forever(lengths: list[int], batch_size: int, rng: random.Random) -> Iterator[list[int]]:
    while True:
        yield from length_batches(lengths, batch_size, rng)


def train_causal_lm(model, sequences: list[list[int]], schedule: Schedule, *, pad_id: int, seed: int) -> list[float]:
    """Next-token training on whole sequences (pads ignored); returns the loss of every step."""
    rng = random.Random(seed)
    optimizer = _optimizer(model, schedule)
    batches = _batches_forever([len(s) for s in sequences], schedule.batch_size, rng)
    model.train()
    losses = []
    for step in range(schedule.steps):
        ids, mask = _pad([sequences[i] for i in next(batches)], pad_id)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
        targets = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        losses.append(_step(model, optimizer, schedule, step, loss))
    model.eval()
    return losses


def _step(model, optimizer, schedule: Schedule, step: int, loss: torch.Tensor) -> float:
    for group in optimizer.param_groups:
        group["lr"] = schedule.lr_at(step)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())


def _encode_pairs(tokenizer, questions: list[str], answers: list[str], max_length: int) -> dict:
    return tokenizer(questions, answers, padding=True, truncation="only_second", max_length=max_length,
                     return_tensors="pt")


def reward_scores(model, tokenizer, questions: list[str], answers: list[str], *, max_length: int = 256,
                  batch_size: int = 64) -> torch.Tensor:
    """Scalar rewards for (question, answer) pairs."""
    scores = []
    with torch.no_grad():
        for start in range(0, len(questions), batch_size):
            enc = _encode_pairs(tokenizer, questions[start:start + batch_size], answers[start:start + batch_size],
                                max_length)
            scores.append(model(**enc).logits[:, 0])
    return torch.cat(scores) if scores else torch.zeros(0)


def train_reward(model, tokenizer, triples: list[tuple[str, str, str]], schedule: Schedule, *, seed: int,
                 max_length: int = 256) -> list[float]:
    """Pairwise ranking loss ``-log sigmoid(r_good - r_bad)``; returns the loss of every step."""
    rng = random.Random(seed)
    optimizer = _optimizer(model, schedule)
    lengths = [len(q) + len(g) + len(b) for q, g, b in triples]
    batches = _batches_forever(lengths, schedule.batch_size, rng)
    model.train()
    losses = []
    for step in range(schedule.steps):
        chosen = [triples[i] for i in next(batches)]
        questions = [q for q, _, _ in chosen] * 2
        answers = [g for _, g, _ in chosen] + [b for _, _, b in chosen]
        rewards = model(**_encode_pairs(tokenizer, questions, answers, max_length)).logits[:, 0]
        good, bad = rewards.chunk(2)
        loss = -F.logsigmoid(good - bad).mean() + 1e-3 * (rewards ** 2).mean()
        losses.append(_step(model, optimizer, schedule, step, loss))
    model.eval()
    return losses


def pairwise_accuracy(model, tokenizer, triples: list[tuple[str, str, str]], *, max_length: int = 256) -> float:
    """Share of triples whose good answer outscores the bad one."""
    questions = [q for q, _, _ in triples]
    good = reward_scores(model, tokenizer, questions, [g for _, g, _ in triples], max_length=max_length)
    bad = reward_scores(model, tokenizer, questions, [b for _, _, b in triples], max_length=max_length)
    return float((good > bad).float().mean()) if triples else 0.0
