"""Preference pairs rendered by the model's chat template and turned into token ids, with what the context cuts
counted by line, never silent (TRL truncates and drops them without a word).

A pair becomes three texts: the prompt as the template writes it up to the assistant's turn, and each answer as the
template continues it (its end-of-turn marker included, the tools offered where the pair has them). Token ids come
from tokenising prompt and answer together; the answer starts where that and the prompt alone part. A pair whose
prompt alone fills the context is dropped; one whose longer side runs past it is truncated (TRL keeps the start).
Also the seeded split of pairs into training and held-out pairs, pairs of one prompt kept together. Knows nothing
about models or training.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from anchortune.data.pairs import PreferencePair
from anchortune.data.presets import Preset
from anchortune.data.tokenize import IGNORE, EncodingReport
from anchortune.errors import DataError, Problem


@dataclass
class RenderedPair:
    """One pair as text (what TRL's trainers take) and as token ids (what the held-out scores read)."""

    line: int
    prompt: str
    chosen: str
    rejected: str
    prompt_ids: list[int] = field(default_factory=list, repr=False)
    chosen_ids: list[int] = field(default_factory=list, repr=False)
    rejected_ids: list[int] = field(default_factory=list, repr=False)

    def text_row(self) -> dict:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}

    def scored(self, side: str) -> dict:
        """The prompt and one answer as an example whose labels are the answer's tokens (for a summed log-prob)."""
        answer = self.chosen_ids if side == "chosen" else self.rejected_ids
        return {"input_ids": self.prompt_ids + answer, "labels": [IGNORE] * len(self.prompt_ids) + answer,
                "line": self.line}


def render(pairs: list[PreferencePair], preset: Preset, tokenizer, max_length: int
           ) -> tuple[list[RenderedPair], EncodingReport]:
    """The pairs that keep an answer token within `max_length`, rendered and tokenised, and what was cut."""
    report = EncodingReport(max_length=max_length)
    rendered, refused = [], []
    skip_bos = _adds_bos(tokenizer)
    for pair in pairs:
        try:
            texts = _texts(pair, preset, tokenizer)
        except ValueError as exc:
            refused.append(Problem("preference pairs", pair.line, "prompt", str(exc)))
            continue
        if skip_bos and texts[0].startswith(tokenizer.bos_token):  # the tokenizer writes it itself
            texts = (texts[0][len(tokenizer.bos_token):], *texts[1:])
        rendered.append(RenderedPair(pair.line, *texts))
    if refused:
        raise DataError(refused)
    kept = []
    for row in rendered:
        _tokenise(row, tokenizer)
        longest = len(row.prompt_ids) + max(len(row.chosen_ids), len(row.rejected_ids))
        report.total_tokens += longest
        report.lengths.append(longest)
        if len(row.prompt_ids) >= max_length or not row.chosen_ids or not row.rejected_ids:
            report.dropped_lines.append(row.line)
            continue
        if longest > max_length:
            room = max_length - len(row.prompt_ids)
            row.chosen_ids, row.rejected_ids = row.chosen_ids[:room], row.rejected_ids[:room]
            report.truncated_lines.append(row.line)
        report.kept += 1
        report.answer_tokens += len(row.chosen_ids) + len(row.rejected_ids)
        kept.append(row)
    return kept, report


def _texts(pair: PreferencePair, preset: Preset, tokenizer) -> tuple[str, str, str]:
    from jinja2 import TemplateError

    prompt = preset.frame(list(pair.prompt))
    tools = {"tools": list(pair.tools)} if pair.tools else {}
    try:
        head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True, **tools)
        sides = [tokenizer.apply_chat_template(prompt + [dict(answer)], tokenize=False, **tools)
                 for answer in (pair.chosen, pair.rejected)]
    except (TemplateError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"the model's chat template refuses this pair ({exc})") from None
    if not all(side.startswith(head) for side in sides):
        raise ValueError("the model's chat template writes the prompt differently when an answer follows it: the "
                         "answer cannot be told apart from the prompt")
    return head, *(side[len(head):].rstrip() for side in sides)


def _adds_bos(tokenizer) -> bool:
    """Whether tokenising plain text puts the BOS token in front by itself (TRL tokenises the texts so)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a")["input_ids"][:1] == [bos] \
        and tokenizer("a", add_special_tokens=False)["input_ids"][:1] != [bos]


def _tokenise(row: RenderedPair, tokenizer) -> None:
    """Token ids as TRL makes them: prompt and answer tokenised together, the answer from where they part."""
    prompt = tokenizer(row.prompt)["input_ids"]
    full = {side: tokenizer(row.prompt + getattr(row, side))["input_ids"] for side in ("chosen", "rejected")}
    shared = min(_common(prompt, ids) for ids in full.values())
    row.prompt_ids = prompt[:shared]
    row.chosen_ids, row.rejected_ids = full["chosen"][shared:], full["rejected"][shared:]


def _common(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def split_pairs(pairs: list[PreferencePair], fraction: float, seed: int
                ) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held out): about `fraction` of the prompts held out with all their pairs, at least one pair; the
    same pairs and seed give the same split (what `--resume` needs)."""
    if len(pairs) < 2:
        return list(pairs), []
    groups: dict[str, list[PreferencePair]] = {}
    for pair in pairs:
        key = "\n".join(" ".join((m.get("content") or "").split()).casefold() for m in pair.prompt)
        groups.setdefault(key, []).append(pair)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    target = min(len(pairs) - 1, max(1, round(len(pairs) * fraction)))
    held: set[int] = set()
    for key in keys:
        if len(held) >= target or len(held) + len(groups[key]) > len(pairs) - 1:
            continue
        held.update(id(p) for p in groups[key])
    return [p for p in pairs if id(p) not in held], [p for p in pairs if id(p) in held]
