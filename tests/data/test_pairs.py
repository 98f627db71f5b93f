"""Preference pairs in the common shapes (OpenAI's DPO rows, TRL's explicit and implicit prompts), and every defect a
pair file can have named by line and field, nothing kept."""

from __future__ import annotations

import pytest

from anchortune.data.pairs import PreferencePair, load_pairs, looks_like_pairs, save_pairs
from anchortune.errors import DataError

USER = {"role": "user", "content": "Where is my order A17?"}
GOOD = {"role": "assistant", "content": "It left our warehouse yesterday; here is the tracking link."}
BAD = {"role": "assistant", "content": "No idea."}
TOOLS = [{"type": "function", "function": {"name": "order_status", "description": "Look an order up",
                                           "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}},
                                                          "required": ["order_id"]}}}]
CALL = {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "order_status",
                                                                               "arguments": '{"order_id": "A17"}'}}]}


def problems(path) -> list[str]:
    with pytest.raises(DataError) as caught:
        load_pairs(path)
    return [str(p) for p in caught.value.problems]


def test_openai_dpo_rows_are_read_with_their_tools(write_lines):
    path = write_lines("dpo.jsonl", [{"input": {"messages": [USER], "tools": TOOLS, "parallel_tool_calls": True},
                                      "preferred_output": [CALL], "non_preferred_output": [BAD]}])
    [pair] = load_pairs(path)
    assert pair.prompt == (USER,) and pair.rejected == BAD and pair.line == 1
    assert pair.chosen["tool_calls"][0]["function"]["arguments"] == {"order_id": "A17"}
    assert pair.chosen_text == 'order_status({"order_id": "A17"})'
    assert pair.tools[0]["function"]["name"] == "order_status"
    assert looks_like_pairs(path)


def test_explicit_prompts_take_strings_or_message_lists(write_lines):
    path = write_lines("pairs.jsonl", [{"prompt": "Where is my order A17?", "chosen": GOOD["content"],
                                        "rejected": BAD["content"]},
                                       {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]}])
    first, second = load_pairs(path)
    assert first.prompt == second.prompt == (USER,)
    assert first.chosen == second.chosen == GOOD and first.rejected == second.rejected == BAD


def test_an_implicit_prompt_is_what_both_conversations_share(write_lines):
    earlier = [USER, GOOD, {"role": "user", "content": "And when will it arrive?"}]
    path = write_lines("implicit.jsonl", [{"chosen": earlier + [{"role": "assistant", "content": "Tomorrow."}],
                                           "rejected": earlier + [BAD]}])
    [pair] = load_pairs(path)
    assert list(pair.prompt) == earlier and pair.chosen["content"] == "Tomorrow." and pair.rejected == BAD


def test_pairs_written_back_read_the_same(write_lines, tmp_path):
    pair = PreferencePair((USER,), CALL | {"tool_calls": [{"type": "function", "function": {
        "name": "order_status", "arguments": {"order_id": "A17"}}}]}, BAD, 1, tuple(TOOLS))
    again = load_pairs(save_pairs([pair], tmp_path / "out.jsonl"))
    assert again[0].chosen["tool_calls"] == pair.chosen["tool_calls"] and again[0].tools == pair.tools


@pytest.mark.parametrize("row, where, said", [
    ({"prompt": "Hi", "chosen": "Hello"}, "line 1", "no preference pair"),
    ({"input": {"messages": [USER]}, "preferred_output": [GOOD]}, "field 'non_preferred_output'",
     "expected the answer as a string or a list of one assistant message, found nothing"),
    ({"input": "Where is my order?", "preferred_output": [GOOD], "non_preferred_output": [BAD]}, "field 'input'",
     "expected an object with 'messages'"),
    ({"input": {"messages": [USER]}, "preferred_output": [GOOD, GOOD], "non_preferred_output": [BAD]},
     "field 'preferred_output'", "found a list of 2 turns"),
    ({"prompt": [USER], "chosen": [USER], "rejected": [BAD]}, "field 'chosen[0].role'",
     "expected the assistant's turn, found \"user\""),
    ({"prompt": [USER, GOOD], "chosen": [GOOD], "rejected": [BAD]}, "field 'prompt[1].role'",
     "expected the prompt to end with the user's turn"),
    ({"prompt": [GOOD, USER], "chosen": [GOOD], "rejected": [BAD]}, "field 'prompt[0].role'",
     "starts with an assistant or tool turn"),
    ({"prompt": [USER], "chosen": [{"role": "assistant", "content": 5}], "rejected": [BAD]},
     "field 'chosen[0].content'", "expected a string, found a number"),
    ({"chosen": [USER, GOOD], "rejected": [{"role": "user", "content": "Other question"}, BAD]}, "field 'rejected[0]'",
     "the two conversations differ before their last turn"),
    ({"chosen": [USER, GOOD], "rejected": [USER, BAD, USER]}, "field 'rejected[2].role'",
     "expected the conversation to end with the assistant's answer"),
    ({"input": {"messages": [USER], "tools": TOOLS}, "preferred_output": [
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "refund",
                                                                                 "arguments": "{}"}}]}],
      "non_preferred_output": [BAD]}, "field 'preferred_output[0].tool_calls[0].function.name'",
     "calls \"refund\", which is not in tools (offered: order_status)"),
    ({"input": {"messages": [USER], "tools": TOOLS}, "preferred_output": [
        {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "order_status",
                                                                                 "arguments": "{order_id: A17}"}}]}],
      "non_preferred_output": [BAD]}, "field 'preferred_output[0].tool_calls[0].function.arguments'",
     "the arguments are not valid JSON"),
])
def test_each_defect_of_a_pair_file_is_named_by_line_and_field(write_lines, row, where, said):
    fine = {"input": {"messages": [USER]}, "preferred_output": [GOOD], "non_preferred_output": [BAD]} \
        if "input" in row else {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]} if "prompt" in row \
        else {"chosen": [USER, GOOD], "rejected": [USER, BAD]}
    found = problems(write_lines("bad.jsonl", [fine, row]))
    assert len(found) == 1 and "line 2" in found[0] and where.replace("line 1", "line 2") in found[0] \
        and said in found[0], found


def test_shapes_are_not_mixed_in_one_file_and_nothing_is_kept(write_lines):
    path = write_lines("mixed.jsonl", [{"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"},
                                       {"input": {"messages": [USER]}, "preferred_output": [GOOD],
                                        "non_preferred_output": [BAD]}])
    [found] = problems(path)
    assert "line 2" in found and "differs from 'prompt'/'chosen'/'rejected' used from line 1" in found


def test_a_supervised_file_reader_points_pairs_to_the_preference_objectives(write_lines):
    from anchortune.data.loading import load_anchor_points

    path = write_lines("pairs.jsonl", [{"prompt": "Hi", "chosen": "Hello", "rejected": "Go away"}])
    with pytest.raises(DataError, match="preference pairs: train them with --objective dpo or orpo"):
        load_anchor_points(path)
    assert not looks_like_pairs(write_lines("sft.jsonl", [{"prompt": "Hi", "completion": "Hello"}]))


def test_a_bad_pair_file_is_headed_as_preference_pairs_in_both_languages(write_lines):
    with pytest.raises(DataError) as caught:
        load_pairs(write_lines("bad.jsonl", [{"prompt": "Hi", "chosen": "Hello", "rejected": 7}]))
    assert caught.value.describe().startswith("1 problem in the preference pairs; nothing was imported:")
    assert caught.value.describe("de").startswith("1 Problem in den Präferenzpaaren; nichts wurde übernommen:")
    assert "anchor points" not in caught.value.describe()
