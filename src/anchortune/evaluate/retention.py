"""General ability beyond the task: loss on plain general text, and multiple-choice accuracy with the
items that flip from right to wrong. Models and tokenizers come in; nothing is loaded here.
"""

from __future__ import annotations

from pathlib import Path

from anchortune.engine.loss import autocast
from anchortune.messages import json_kind


GENERAL_CHARS = 256 * 32 * 8  # the start of a general text that its windows can use (a token is rarely longer)


def general_text(path: Path) -> str:
    """The start of a plain-text file, as much as text_chunks can use; DataError for a file that cannot be read."""
    from anchortune.data.lines import open_input
    from anchortune.errors import DataError, Problem

    try:
        with open_input(path) as handle:
            return handle.read(GENERAL_CHARS * 4).decode("utf-8", errors="replace")[:GENERAL_CHARS]
    except OSError as exc:
        raise DataError([Problem(str(path), 0, None, f"cannot be read: {exc.strerror or exc}")]) from None


def text_chunks(path: Path, tokenizer, chunk_tokens: int = 256, max_chunks: int = 32) -> list[dict]:
    """Plain text cut into token windows, every token a target (for general-text loss); only the start of the file
    that the windows need is read. DataError for a file that cannot be read."""
    text = general_text(path)
    ids = tokenizer(text[: chunk_tokens * max_chunks * 8], add_special_tokens=False)["input_ids"]
    chunks = [ids[i:i + chunk_tokens] for i in range(0, len(ids) - chunk_tokens + 1, chunk_tokens)][:max_chunks]
    return [{"input_ids": c, "labels": list(c), "line": i} for i, c in enumerate(chunks, start=1)]


MAX_ITEM_CHARS = 8_000  # a question with its choices: a paragraph, not a document


def read_choices(path: Path, limit: int) -> list[dict]:
    """Multiple-choice items: JSONL with question, choices (a list of 2 to 4 texts) and answer (a letter of a
    choice); DataError naming every bad line. Lines split on newlines only: JSON strings may hold other line
    separators."""
    from anchortune.data.json_line import parse
    from anchortune.data.lines import text_lines
    from anchortune.errors import DataError, Problem

    items, problems = [], []
    for number, line in text_lines(path):
        item, problem = parse(line)
        why = _choice_problem(item) if problem is None else problem
        if why is not None:
            problems.append(Problem(str(path), number, *why))
            continue
        items.append(item)
    if problems:
        raise DataError(problems)
    return items[:limit]


def _choice_problem(item) -> tuple[str | None, str] | None:
    """(field, what is wrong) with a multiple-choice item, or None."""
    if not isinstance(item, dict):
        return None, f"expected a JSON object with question, choices and answer, found {json_kind(item)}"
    missing = [k for k in ("question", "choices", "answer") if k not in item]
    if missing:
        return missing[0], "expected question, choices and answer"
    choices = item["choices"]
    if not isinstance(item["question"], str):
        return "question", "expected a string"
    if not isinstance(choices, list) or not 2 <= len(choices) <= 4 or not all(isinstance(c, str) for c in choices):
        return "choices", "expected a list of 2 to 4 strings"
    if len(item["question"]) + sum(map(len, choices)) > MAX_ITEM_CHARS:
        return "question", f"longer than {MAX_ITEM_CHARS:,} characters with its choices; expected a short question"
    if item["answer"] not in list("ABCD"[: len(choices)]):
        return "answer", f"expected one of the letters {', '.join('ABCD'[: len(choices)])}, found {item['answer']!r:.40}"
    return None


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
