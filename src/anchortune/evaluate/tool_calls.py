"""Tool calls in generated answers, measured against held-out tool-calling conversations, base against tuned.

A model's answer is read for calls whatever its template's layout: every JSON object in it with a string `name` and
an object (or a JSON string of one) as `arguments` (or `parameters`) is a call, inside `<tool_call>` tags, a list or
plain text alike. For each held-out conversation that calls tools
  (measured on its last turn that calls tools, asked with the conversation before it)
  tool-name accuracy    the answer calls the same tools (as a multiset: parallel calls in any order);
  argument exact match  ... each with the same arguments (JSON values equal: 5 and 5.0 alike, strings exactly);
over every call an answer makes:
  schema validity       the called tool is offered and its arguments fit its JSON schema;
and where no tool is needed (held-out turns answered in text, and the shipped general questions asked with the
data's tools offered):
  plain text            the answer calls nothing: the regression peers' users report most after tuning is a model
                        that calls tools where it should talk, or stops calling them.
Knows nothing about training; generation is evaluate/generation.py's.
"""

from __future__ import annotations

import json

from anchortune.data.records import AnchorPoint

NO_TOOL_QUESTIONS = 12  # shipped general questions asked with the data's tools offered


def parse_calls(text: str) -> list[dict]:
    """The calls an answer makes: [{"name", "arguments"}] in order of appearance."""
    decoder = json.JSONDecoder()
    calls, at = [], 0
    while (start := text.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            at = start + 1
            continue
        found = _call(value)
        if found is not None:
            calls.append(found)
            at = end
        else:
            at = start + 1  # a call may sit inside another object ({"tool_calls": [...]})
    return calls


def _call(value) -> dict | None:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get("arguments", value.get("parameters", {}))
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    return {"name": value["name"], "arguments": arguments} if isinstance(arguments, dict) else None


def scored_turn(point: AnchorPoint) -> int:
    """The assistant turn a held-out conversation is measured on: its last turn that calls tools (the call is what
    is asked of the model there), else its final assistant turn."""
    turns = [i for i, m in enumerate(point.messages) if m["role"] == "assistant"]
    return next((i for i in reversed(turns) if point.messages[i].get("tool_calls")), turns[-1])


def reference_calls(point: AnchorPoint) -> list[dict]:
    """The calls of the measured turn."""
    turn = point.messages[scored_turn(point)]
    return [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in turn.get("tool_calls") or []]


def prompt_of(point: AnchorPoint) -> list[dict]:
    """The conversation before the measured turn (what the model is asked)."""
    return list(point.messages[:scored_turn(point)])


def score(answers: list[str], held: list[AnchorPoint], no_tool_answers: list[str] = ()) -> dict:
    """The tool measures of one model's answers to the held-out conversations (`no_tool_answers`: its answers to the
    general questions asked with tools offered)."""
    from anchortune.quality.tool_data import violation

    named = exact = with_calls = valid = made = plain = no_tool = 0
    for answer, point in zip(answers, held):
        predicted, wanted = parse_calls(answer), reference_calls(point)
        for call in predicted:
            made += 1
            schema = next((t["function"].get("parameters") or {} for t in point.tools
                           if t["function"]["name"] == call["name"]), None)
            valid += schema is not None and violation(schema, call["arguments"]) is None
        if wanted:
            with_calls += 1
            named += sorted(c["name"] for c in predicted) == sorted(c["name"] for c in wanted)
            exact += sorted(map(_key, predicted)) == sorted(map(_key, wanted))
        else:
            no_tool += 1
            plain += not predicted
    for answer in no_tool_answers:
        no_tool += 1
        plain += not parse_calls(answer)
    share = lambda k, n: k / n if n else None  # noqa: E731
    return {"tool_name_accuracy": share(named, with_calls), "argument_exact_match": share(exact, with_calls),
            "schema_validity": share(valid, made), "calls_made": made,
            "plain_text_when_no_tool": share(plain, no_tool), "conversations_with_calls": with_calls,
            "no_tool_questions": no_tool}


def _key(call: dict) -> str:
    return json.dumps({"name": call["name"], "arguments": _plain(call["arguments"])}, sort_keys=True,
                      ensure_ascii=False)


def _plain(value):
    """JSON values compared as values: 5 and 5.0 alike."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def exact_matches(answers: list[str], held: list[AnchorPoint]) -> list[float]:
    """1 or 0 for each held-out conversation with calls: the answer makes the same calls with the same arguments."""
    return [float(sorted(map(_key, parse_calls(a))) == sorted(map(_key, reference_calls(p))))
            for a, p in zip(answers, held) if reference_calls(p)]


def no_tool_conversations(held: list[AnchorPoint]) -> tuple[list[list[dict]], list[list[dict]]]:
    """(conversations, tools) of the shipped general questions, each asked with the tools of a held-out conversation
    (cycled): what a tuned model should still answer in words."""
    from anchortune.evaluate.probe import general_prompts

    offered = [list(p.tools) for p in held if p.tools]
    if not offered:
        return [], []
    questions = general_prompts("probe")[:NO_TOOL_QUESTIONS]
    return [[{"role": "user", "content": q}] for q in questions], [offered[i % len(offered)]
                                                                   for i in range(len(questions))]


def general_answers(model, tokenizer, held: list[AnchorPoint], frame, precision: str = "fp32",
                    max_new_tokens: int = 48) -> list[str]:
    """A model's answers to the general questions asked with the held-out conversations' tools offered."""
    from anchortune.evaluate.generation import generate

    conversations, tools = no_tool_conversations(held)
    return generate(model, tokenizer, [frame(c) for c in conversations], max_new_tokens, precision=precision,
                    tools=tools) if conversations else []


def held_out_answers(model, tokenizer, held: list[AnchorPoint], frame, precision: str = "fp32",
                     max_new_tokens: int = 128) -> list[str]:
    """A model's answers to the held-out conversations (framed as training framed them), their tools offered."""
    from anchortune.evaluate.generation import generate

    return generate(model, tokenizer, [frame(prompt_of(p)) for p in held], max_new_tokens, precision=precision,
                    tools=[list(p.tools) or None for p in held])


def compare(held: list[AnchorPoint], answers: dict[str, list[str]], general: dict[str, list[str]]) -> dict:
    """Base and tuned side by side (`answers` and `general` by model name), the change of each measure, and the
    argument exact-match gain with its 95 % paired-bootstrap interval."""
    from anchortune.evaluate.verdict import paired_gain

    measured = {name: score(answers[name], held, general.get(name, [])) for name in ("base", "tuned")}
    change = {k: measured["tuned"][k] - measured["base"][k]
              for k in ("tool_name_accuracy", "argument_exact_match", "schema_validity", "plain_text_when_no_tool")
              if measured["base"].get(k) is not None and measured["tuned"].get(k) is not None}
    return {"examples": len(held), **measured, "change": change,
            "exact_gain": paired_gain(exact_matches(answers["tuned"], held), exact_matches(answers["base"], held))}


PLAIN_TEXT_LOSS = 0.25  # the tuned model calls tools on this much larger a share of general questions: forgetting


def decide(comparison: dict, diagnosis: dict | None) -> dict:
    """The verdict of a tool-calling run, in the supervised run's words: the balance guard's overfitting or
    forgetting first; forgetting too where the tuned model calls tools on general questions it answered in words;
    then whether its calls are surely more often exactly right than the base model's."""
    from anchortune.evaluate.verdict import HARM, Verdict, gain_verdict
    from anchortune.messages import say

    loss = (diagnosis or {}).get("verdict")
    base, tuned, n = comparison["base"], comparison["tuned"], comparison["tuned"]["conversations_with_calls"]
    pct = lambda v: "-" if v is None else f"{v:.0%}"  # noqa: E731
    values = dict(n=n, name_tuned=pct(tuned["tool_name_accuracy"]), name_base=pct(base["tool_name_accuracy"]),
                  tuned=pct(tuned["argument_exact_match"]), base=pct(base["argument_exact_match"]),
                  valid=pct(tuned["schema_validity"]), plain=pct(tuned["plain_text_when_no_tool"]),
                  plain_base=pct(base["plain_text_when_no_tool"]))
    summary = say("tools_summary", **values)
    if loss in HARM:
        return Verdict(loss, diagnosis["reason"], diagnosis["advice"], summary, loss).to_json()
    lost = comparison["change"].get("plain_text_when_no_tool")
    if lost is not None and lost <= -PLAIN_TEXT_LOSS:
        return Verdict("forgetting", say("verdict_tools_plain", **values), say("advice_tools_plain"), summary,
                       loss).to_json()
    gain = comparison["exact_gain"]
    return gain_verdict(n, gain["low"], gain["high"], "tools", values, summary, diagnosis)
