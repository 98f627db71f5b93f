"""General ability beyond the task: loss on plain general text, and multiple-choice accuracy with the
items that flip from right to wrong. Models and tokenizers come in; nothing is loaded here.
"""

from __future__ import annotations

import json
from pathlib import Path

from anchortune.engine.loss import autocast


def text_chunks(path: Path, tokenizer, chunk_tokens: int = 256, max_chunks: int = 32) -> list[dict]:
    """Plain text cut into token windows, every token a target (for general-text loss)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    ids = tokenizer(text[: chunk_tokens * max_chunks * 8], add_special_tokens=False)["input_ids"]
    chunks = [ids[i:i + chunk_tokens] for i in range(0, len(ids) - chunk_tokens + 1, chunk_tokens)][:max_chunks]
    return [{"input_ids": c, "labels": list(c), "line": i} for i, c in enumerate(chunks, start=1)]


def read_choices(path: Path, limit: int) -> list[dict]:
    """Multiple-choice items: JSONL with question, choices (list) and answer (a letter); DataError naming
    every bad line. Lines split on newlines only: JSON strings may hold other line separators."""
    from anchortune.errors import DataError, Problem

    items, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), number, None, f"not valid JSON ({exc.msg})"))
            continue
        missing = [k for k in ("question", "choices", "answer") if k not in item]
        if missing:
            problems.append(Problem(str(path), number, missing[0], "expected question, choices and answer"))
            continue
        items.append(item)
    if problems:
        raise DataError(problems)
    return items[:limit]


def choice_answers(model, tokenizer, items: list[dict], precision: str = "fp32") -> list[str]:
    """The letter each item's answer gets: the most likely of ' A'..' D' after the question."""
    import torch

    letters = "ABCD"
    letter_ids = [tokenizer(f" {c}", add_special_tokens=False)["input_ids"][-1] for c in letters]
    answers = []
    model.eval()
    for item in items:
        options = "\n".join(f"{letters[i]}. {choice}" for i, choice in enumerate(item["choices"][:4]))
        prompt = f"{item['question']}\n{options}\nAnswer:"
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with torch.inference_mode(), autocast(precision):
            logits = model(input_ids=ids).logits[0, -1].float()
        scores = logits[letter_ids[: len(item["choices"][:4])]]
        answers.append(letters[int(scores.argmax())])
    return answers


def choice_scores(base: list[str], tuned: list[str], items: list[dict]) -> dict:
    gold = [item["answer"] for item in items]
    right_base = [b == g for b, g in zip(base, gold)]
    right_tuned = [t == g for t, g in zip(tuned, gold)]
    n = max(1, len(items))
    return {"items": len(items), "base_accuracy": sum(right_base) / n, "tuned_accuracy": sum(right_tuned) / n,
            "right_to_wrong": sum(b and not t for b, t in zip(right_base, right_tuned)),
            "wrong_to_right": sum(t and not b for b, t in zip(right_base, right_tuned))}
