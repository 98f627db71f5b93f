"""Tokenisation puts labels on answer tokens only and counts truncated and dropped examples."""

from __future__ import annotations

from anchortune.data.presets import load_preset
from anchortune.data.records import AnchorPoint
from anchortune.data.tokenize import IGNORE, encode


def point(prompt: str, answer: str, line: int = 1) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), line)


def test_only_answer_tokens_carry_labels(tiny_tokenizer):
    [example], report = encode([point("Where is my order?", "In My Account.")], load_preset("support"),
                               tiny_tokenizer, 512)
    learned = [tok for tok, label in zip(example["input_ids"], example["labels"]) if label != IGNORE]
    text = tiny_tokenizer.decode(learned)
    assert text.startswith("In My Account.") and text.rstrip().endswith("<|im_end|>")
    assert "Where is my order" not in text and report.kept == 1


def test_multi_turn_conversations_learn_every_assistant_turn(tiny_tokenizer):
    convo = AnchorPoint(({"role": "user", "content": "hi"}, {"role": "assistant", "content": "first answer"},
                         {"role": "user", "content": "and?"}, {"role": "assistant", "content": "second answer"}), 1)
    [example], _ = encode([convo], load_preset("custom"), tiny_tokenizer, 512)
    learned = tiny_tokenizer.decode([t for t, l in zip(example["input_ids"], example["labels"]) if l != IGNORE])
    assert "first answer" in learned and "second answer" in learned and "and?" not in learned


def test_long_examples_are_truncated_or_dropped_and_counted(tiny_tokenizer):
    preset = load_preset("custom")
    points = [point("short", "fine", 1), point("short", "word " * 400, 2), point("word " * 400, "lost", 3)]
    examples, report = encode(points, preset, tiny_tokenizer, 64)
    assert [e["line"] for e in examples] == [1, 2]
    assert report.truncated_lines == [2] and report.dropped_lines == [3]
    assert all(len(e["input_ids"]) <= 64 for e in examples)
    assert "1 truncated to 64 tokens (line 2)" in report.summary() and "1 dropped" in report.summary()


def test_a_conversation_the_chat_template_refuses_names_its_line(tiny_tokenizer):
    import copy

    import pytest

    from anchortune.errors import DataError

    strict = copy.deepcopy(tiny_tokenizer)  # a template like Gemma's: roles must alternate, the user's first
    strict.chat_template = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                            "{{ raise_exception('roles must alternate user/assistant') }}{% endif %}"
                            "{{ m['role'] + ': ' + m['content'] + '\n' }}{% endfor %}")
    twice = AnchorPoint(({"role": "user", "content": "a"}, {"role": "user", "content": "b"},
                         {"role": "assistant", "content": "c"}), 7)
    with pytest.raises(DataError, match="line 7, field 'messages': the model's chat template refuses this "
                                        "conversation \\(roles must alternate"):
        encode([point("q", "a"), twice], load_preset("custom"), strict, 512)
