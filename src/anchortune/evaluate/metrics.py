"""Task metrics per preset: ROUGE-L and embedding similarity for free text, accuracy and macro-F1 with
robust label extraction for labels, JSON validity and per-field exact match and F1 for JSON answers.
Pure functions over strings; embeddings come in as a callable.
"""

from __future__ import annotations

import json
import re
from collections import Counter


def _tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure: longest common token subsequence against both lengths."""
    a, b = _tokens(prediction), _tokens(reference)
    if not a or not b:
        return float(a == b)
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def _label_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.lower()).strip(" .:;!\"'")


def extract_label(output: str, labels: list[str]) -> str | None:
    """The label an answer gives: the whole answer if it is one, else the label named first (longest
    first where labels overlap, so 'card_arrival' wins over 'card'); None when it names none."""
    key = _label_key(output)
    keys = {_label_key(label): label for label in labels}
    if key in keys:
        return keys[key]
    best: tuple[int, int, str] | None = None
    for label_key, label in keys.items():
        match = re.search(rf"(?<!\w){re.escape(label_key)}(?!\w)", key)
        if match and (best is None or (match.start(), -len(label_key)) < (best[0], best[1])):
            best = (match.start(), -len(label_key), label)
    return best[2] if best else None


def label_scores(predictions: list[str | None], references: list[str]) -> dict:
    """Accuracy and macro-F1 over the reference labels (an unextractable answer counts as wrong)."""
    from sklearn.metrics import f1_score

    predicted = [p if p is not None else "(none)" for p in predictions]
    labels = sorted(set(references))
    return {"accuracy": sum(p == r for p, r in zip(predicted, references)) / max(1, len(references)),
            "macro_f1": float(f1_score(references, predicted, labels=labels, average="macro", zero_division=0)),
            "unextractable": sum(p is None for p in predictions)}


def parse_json_answer(output: str) -> dict | None:
    """The first JSON object in an answer (models wrap it in prose or code fences), or None."""
    start = output.find("{")
    while start != -1:
        depth = 0
        for end in range(start, len(output)):
            depth += {"{": 1, "}": -1}.get(output[end], 0)
            if depth == 0:
                try:
                    value = json.loads(output[start:end + 1])
                except json.JSONDecodeError:
                    break
                return value if isinstance(value, dict) else None
        start = output.find("{", start + 1)
    return None


def _norm_value(value) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().lower() if value is not None else ""


def json_scores(outputs: list[str], references: list[str], fields: list[str]) -> dict:
    """JSON validity, exact match per field, and micro-F1 over (field, value) pairs."""
    valid = 0
    exact = Counter()
    tp = fp = fn = 0
    for output, reference in zip(outputs, references):
        predicted = parse_json_answer(output)
        gold = parse_json_answer(reference) or {}
        if predicted is not None:
            valid += 1
        predicted = predicted or {}
        for field in fields:
            p, g = _norm_value(predicted.get(field)), _norm_value(gold.get(field))
            exact[field] += p == g
            if p and g and p == g:
                tp += 1
            else:
                fp += bool(p)
                fn += bool(g)
    n = max(1, len(outputs))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"json_valid": valid / n, "field_exact": {f: exact[f] / n for f in fields},
            "field_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def per_example(kind: str, output: str, reference: str, labels: list[str], fields: list[str]) -> float:
    """One number per example for ranking best, worst and typical examples."""
    if kind == "label":
        return float(extract_label(output, labels) == extract_label(reference, labels))
    if kind == "json":
        return json_scores([output], [reference], fields)["field_f1"]
    return rouge_l(output, reference)


def copied_answers(outputs: list[str], references: list[str], training_answers: list[str],
                   threshold: float = 0.9) -> float:
    """Share of answers that repeat a training answer nearly verbatim (5-gram Jaccard >= 0.9) where the
    reference answer is a different one: the model recites its anchor points instead of answering."""
    from anchortune.quality.text import jaccard, shingles

    train = [shingles(a) for a in training_answers if a.strip()]
    if not outputs or not train:
        return 0.0
    copied = 0
    for output, reference in zip(outputs, references):
        grams, ref = shingles(output), shingles(reference)
        best = max(train, key=lambda t: jaccard(grams, t))
        copied += jaccard(grams, best) >= threshold and jaccard(ref, best) < threshold
    return copied / len(outputs)
