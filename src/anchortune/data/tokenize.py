"""Turning anchor points into token ids with labels on the answer tokens only, counting what is cut.

The model learns only assistant turns: every other token's label is -100. Examples longer than the
context are truncated, and those left with no answer token are dropped; both are counted with their
lines, never silent. Knows nothing about models or training loops.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anchortune.data.presets import Preset
from anchortune.data.records import AnchorPoint
from anchortune.errors import DataError, Problem
from anchortune.messages import say

IGNORE = -100


@dataclass
class EncodingReport:
    """What tokenisation did to the data: kept, truncated and dropped examples with their lines."""

    max_length: int
    kept: int = 0
    total_tokens: int = 0
    answer_tokens: int = 0
    truncated_lines: list[int] = field(default_factory=list)
    dropped_lines: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list, repr=False)  # every input's full length, in input order

    def summary(self) -> str:
        parts = [say("log_encoding_kept", kept=self.kept, answer=self.answer_tokens, total=self.total_tokens)]
        if self.truncated_lines:
            parts.append(say("log_encoding_truncated", n=len(self.truncated_lines), limit=self.max_length,
                             lines=_lines(self.truncated_lines)))
        if self.dropped_lines:
            parts.append(say("log_encoding_dropped", n=len(self.dropped_lines), limit=self.max_length,
                             lines=_lines(self.dropped_lines)))
        return "; ".join(parts)

    def to_json(self) -> dict:
        return {"max_length": self.max_length, "kept": self.kept, "total_tokens": self.total_tokens,
                "answer_tokens": self.answer_tokens, "truncated": len(self.truncated_lines),
                "dropped": len(self.dropped_lines), "truncated_lines": self.truncated_lines,
                "dropped_lines": self.dropped_lines}


def _lines(lines: list[int], shown: int = 10) -> str:
    text = ", ".join(map(str, lines[:shown]))
    return text + (f", ... {len(lines) - shown} more" if len(lines) > shown else "")


def answer_spans(messages: list[dict], tokenizer, tools: list[dict] | None = None
                 ) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant turns (end marker included; an assistant
    turn's tool calls too, as the template writes them, with `tools` offered in the render)."""
    render = {"tools": tools} if tools else {}
    full = tokenizer.apply_chat_template(messages, tokenize=False, **render)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True, **render)
        last = i == len(messages) - 1
        upto = full if last else tokenizer.apply_chat_template(messages[: i + 1], tokenize=False, **render)
        if full.startswith(upto) and upto.startswith(prefix):
            spans.append((len(prefix), len(upto)))
    return full, spans


def encode(points: list[AnchorPoint], preset: Preset, tokenizer, max_length: int
           ) -> tuple[list[dict], EncodingReport]:
    """Token ids, answer-only labels and source line for each example that keeps an answer token."""
    report = EncodingReport(max_length=max_length)
    if not points:
        return [], report
    from jinja2 import TemplateError

    rendered, refused = [], []
    for point in points:
        try:
            rendered.append(answer_spans(preset.to_messages(point), tokenizer, list(point.tools)))
        except (TemplateError, ValueError, TypeError, KeyError, IndexError) as exc:  # what templates raise
            refused.append(Problem("anchor points", point.line, "messages",
                                   f"the model's chat template refuses this conversation ({exc})"))
    if refused:
        raise DataError(refused)
    batch = tokenizer([text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True)
    examples = []
    for point, (_, spans), ids, offsets in zip(points, rendered, batch["input_ids"], batch["offset_mapping"]):
        labels = [tok if any(s <= start < e for s, e in spans) else IGNORE
                  for tok, (start, _) in zip(ids, offsets)]
        report.total_tokens += len(ids)
        report.lengths.append(len(ids))
        if len(ids) > max_length:
            ids, labels = ids[:max_length], labels[:max_length]
            if all(label == IGNORE for label in labels):
                report.dropped_lines.append(point.line)
                continue
            report.truncated_lines.append(point.line)
        if all(label == IGNORE for label in labels):
            report.dropped_lines.append(point.line)
            continue
        report.kept += 1
        report.answer_tokens += sum(label != IGNORE for label in labels)
        examples.append({"input_ids": list(ids), "labels": labels, "line": point.line})
    return examples, report
