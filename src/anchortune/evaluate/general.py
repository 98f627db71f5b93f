"""General ability outside the task, measured with data anchortune ships (written for it, Apache-2.0 like the
package): loss on general text (general_text.txt: twelve encyclopedic paragraphs) and accuracy on two-way cloze
items (general_cloze.yaml: a true or sensible ending against one that is not, scored by log-likelihood).

The set was chosen by measuring base models (bench/general_baselines.py, bench/results/general_baselines.md):
SmolLM2-135M-Instruct 0.93 cloze accuracy and Gemma 3 270M 0.92, where the same networks with random weights
score near chance (0.56 for SmolLM2's) and lose nothing they could forget; MMLU, tried first, leaves a 135M
model at chance (23 %), and its letters cannot move when general ability does.

The cloze items are scored by the model's own forward (transformers' attention and LM head, padded batches),
whichever engine trains, so the guard's measure of general ability does not lean on the engine's code. Models
and tokenizers come in; nothing is loaded here. What the measures mean for retention is evaluate/balance.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from anchortune.data.tokenize import IGNORE

TEXT_CHUNK = 128  # tokens per general-text window (every token a target)


@dataclass
class GeneralSet:
    """A tokenizer's general-ability material: text windows and the cloze items' two endings each."""

    text: list[dict]
    cloze: list[dict]  # pairs: the right ending's example, then the wrong one's

    def __bool__(self) -> bool:
        return bool(self.text or self.cloze)


def general_set(tokenizer, max_chunks: int = 24) -> GeneralSet:
    """The shipped general text cut into TEXT_CHUNK-token windows and the cloze items, for this tokenizer."""
    return GeneralSet(text_windows(tokenizer, max_chunks), cloze_examples(tokenizer))


def text_windows(tokenizer, max_chunks: int = 24) -> list[dict]:
    text = resources.files("anchortune.evaluate").joinpath("general_text.txt").read_text(encoding="utf-8")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    windows = [ids[i:i + TEXT_CHUNK] for i in range(0, len(ids) - TEXT_CHUNK + 1, TEXT_CHUNK)][:max_chunks]
    return [{"input_ids": w, "labels": list(w), "line": i} for i, w in enumerate(windows, start=1)]


def cloze_items() -> list[tuple[str, str, str]]:
    """(sentence start, right ending, wrong ending) of every shipped cloze item."""
    import yaml

    text = resources.files("anchortune.evaluate").joinpath("general_cloze.yaml").read_text(encoding="utf-8")
    return [tuple(item) for item in yaml.safe_load(text)["items"]]


def cloze_examples(tokenizer) -> list[dict]:
    """Two examples per item (right ending first), targets on the ending's tokens only."""
    examples = []
    for number, (start, right, wrong) in enumerate(cloze_items(), start=1):
        prefix = tokenizer(start, add_special_tokens=False)["input_ids"]
        for ending in (right, wrong):
            ids = tokenizer(start + ending, add_special_tokens=False)["input_ids"]
            shared = next((i for i, (a, b) in enumerate(zip(prefix, ids)) if a != b), min(len(prefix), len(ids)))
            shared = min(shared, len(ids) - 1)  # at least one target token, however the tokenizer merges
            examples.append({"input_ids": ids, "labels": [IGNORE] * shared + ids[shared:], "line": number})
    return examples


def sequence_nlls(model, examples: list[dict], pad_id: int, precision: str = "fp32") -> list[float]:
    """Summed negative log-likelihood of each example's target tokens (engine/loss.py, example_nlls: packed rows, on
    the parts of the engine the caller's run entered)."""
    from anchortune.engine.loss import example_nlls

    return example_nlls(model, examples, pad_id, precision)


def cloze_accuracy(model, examples: list[dict], pad_id: int, precision: str = "fp32") -> float | None:
    """Share of cloze items whose right ending the model finds more likely than the wrong one (None: no items)."""
    if not examples:
        return None
    nll = sequence_nlls(model, examples, pad_id, precision)
    pairs = list(zip(nll[0::2], nll[1::2]))
    return sum(right < wrong for right, wrong in pairs) / len(pairs)


def measure(model, material: GeneralSet, pad_id: int, batch_size: int, precision: str) -> dict:
    """{"text_loss": ..., "cloze_accuracy": ...} of `model` (keys only for material that is there); the text loss on
    the parts of the engine the caller's run entered (engine/loss.py, answer_loss)."""
    from anchortune.engine.loss import answer_loss

    scores = {}
    if material.text:
        scores["text_loss"] = answer_loss(model, material.text, pad_id, batch_size, precision)
    if material.cloze:
        scores["cloze_accuracy"] = cloze_accuracy(model, material.cloze, pad_id, precision)
    return scores
