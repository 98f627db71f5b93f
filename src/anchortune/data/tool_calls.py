"""Tool-calling conversations in OpenAI's chat format: `tools` offered, assistant turns with `tool_calls` (several
at once: parallel calls), `tool` turns with their results. Reads one JSON object into an anchor point, or names
each problem by line and field: a tool without a name or with parameters that are no JSON-schema object, a call
whose arguments are not JSON or that names a tool not offered, a result no call asked for. Arguments are held as
JSON objects (what chat templates render). Knows nothing about files, templates or schemas' meaning (the gate
validates arguments against them: quality/tool_data.py).
"""

from __future__ import annotations

import json
import re

from anchortune.data import json_line
from anchortune.data.records import AnchorPoint, missing_turn
from anchortune.messages import json_kind

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule for a function name
ROLES = ("system", "user", "assistant", "tool")


def is_tool_conversation(obj: dict) -> bool:
    """Whether a `messages` row is a tool-calling conversation (it offers tools, or a turn calls one or answers
    one), read by this module rather than as a plain chat."""
    turns = obj.get("messages")
    return "tools" in obj or (isinstance(turns, list) and any(
        isinstance(t, dict) and (t.get("role") == "tool" or "tool_calls" in t) for t in turns))


def parse(obj: dict, line: int, errors) -> AnchorPoint | None:
    """The anchor point of a tool-calling row, or None with its problems added to `errors` (data/loading.py's
    collector: `add(line, field, message)`)."""
    before = errors.total
    tools = parse_tools(obj.get("tools", []), "tools", line, errors)
    if tools is None:
        return None
    messages = parse_turns(obj.get("messages"), "messages", tools, line, errors)
    if messages is None or errors.total > before:
        return None
    label = obj.get("label") if isinstance(obj.get("label"), str) else None
    return AnchorPoint(tuple(messages), line, label, tools=tuple(tools))


def tool_names(tools) -> list[str]:
    return [t["function"]["name"] for t in tools]


def parse_tools(value, field: str, line: int, errors) -> list[dict] | None:
    """The offered functions, each `{"type": "function", "function": {"name", "description", "parameters"}}`."""
    if not isinstance(value, list):
        errors.add(line, field, f"expected a list of tools ({{\"type\": \"function\", \"function\": {{...}}}}), "
                                f"found {_kind(value)}")
        return None
    tools, seen = [], set()
    for i, tool in enumerate(value):
        where = f"{field}[{i}]"
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            errors.add(line, where, "expected {\"type\": \"function\", \"function\": {\"name\": ..., \"parameters\": "
                                    "...}}")
            return None
        name = function.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            errors.add(line, f"{where}.function.name", f"expected a name of 1 to 64 letters, digits, '_' or '-', "
                                                       f"found {json.dumps(name)[:60]}")
            return None
        if name in seen:
            errors.add(line, f"{where}.function.name", f"the tool '{name}' is offered twice; name each tool once")
            return None
        seen.add(name)
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
            errors.add(line, f"{where}.function.parameters", "expected a JSON schema of type 'object' (the call's "
                                                             f"arguments), found {_kind(parameters)}")
            return None
        description = function.get("description", "")
        if not isinstance(description, str):
            errors.add(line, f"{where}.function.description", f"expected a string, found {_kind(description)}")
            return None
        tools.append({"type": "function", "function": {"name": name, "description": description,
                                                       "parameters": parameters}})
    return tools


def parse_turns(value, field: str, tools: list[dict], line: int, errors, need_answer: bool = True
                ) -> list[dict] | None:
    """The turns of a conversation with tools: roles system, user, assistant (content and/or tool calls) and tool."""
    if not isinstance(value, list) or not value:
        errors.add(line, field, "expected a non-empty list of turns")
        return None
    messages: list[dict] = []
    for i, turn in enumerate(value):
        message = parse_turn(turn, f"{field}[{i}]", tools, messages, line, errors)
        if message is None:
            return None
        messages.append(message)
    if lacking := missing_turn(messages, need_answer):
        errors.add(line, field, lacking)
        return None
    first = next(i for i, m in enumerate(messages) if m["role"] != "system")
    if messages[first]["role"] != "user":
        errors.add(line, f"{field}[{first}].role", "the conversation starts with an assistant or tool turn; expected "
                                                   "the user to speak first (a system turn may come before)")
        return None
    return messages


def parse_turn(turn, where: str, tools: list[dict], earlier: list[dict], line: int, errors) -> dict | None:
    """One turn, checked against the offered tools and the calls made before it."""
    if not isinstance(turn, dict):
        errors.add(line, where, "expected an object with 'role' and 'content'")
        return None
    role = turn.get("role")
    if role not in ROLES:
        errors.add(line, f"{where}.role", f"expected one of {', '.join(ROLES)}, found {json.dumps(role)[:60]}")
        return None
    if role == "assistant":
        return _assistant(turn, where, tools, line, errors)
    content = _text(turn.get("content"), f"{where}.content", line, errors, allow_object=role == "tool")
    if content is None:
        return None
    if role != "tool":
        return {"role": role, "content": content}
    return _tool_result(turn, content, where, earlier, line, errors)


def _assistant(turn: dict, where: str, tools: list[dict], line: int, errors) -> dict | None:
    content = turn.get("content")
    if content is not None:
        content = _text(content, f"{where}.content", line, errors)
        if content is None:
            return None
    message = {"role": "assistant", "content": content or ""}
    if "tool_calls" not in turn or turn["tool_calls"] is None:
        if content is None:
            errors.add(line, where, "the assistant turn has neither content nor tool_calls")
            return None
        return message
    calls = parse_calls(turn["tool_calls"], f"{where}.tool_calls", tools, line, errors)
    if calls is None:
        return None
    message["tool_calls"] = calls
    return message


def parse_calls(value, field: str, tools: list[dict], line: int, errors) -> list[dict] | None:
    """An assistant turn's calls: each names an offered tool, with arguments that are a JSON object (a string of
    JSON as OpenAI writes it, or the object itself)."""
    if not isinstance(value, list) or not value:
        errors.add(line, field, f"expected a non-empty list of calls, found {_kind(value)}")
        return None
    offered = tool_names(tools)
    calls = []
    for j, call in enumerate(value):
        at = f"{field}[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            errors.add(line, at, "expected {\"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": "
                                 "\"{...}\"}}")
            return None
        name = function.get("name")
        if not isinstance(name, str) or name not in offered:
            shown = json.dumps(name)[:60]
            errors.add(line, f"{at}.function.name",
                       f"calls {shown}, which is not in tools (offered: {', '.join(offered)})" if offered else
                       f"calls {shown}, but the row offers no tools: list the function in 'tools'")
            return None
        arguments = _arguments(function.get("arguments", "{}"), f"{at}.function.arguments", line, errors)
        if arguments is None:
            return None
        parsed = {"type": "function", "function": {"name": name, "arguments": arguments}}
        if isinstance(call.get("id"), str):
            parsed["id"] = call["id"]
        calls.append(parsed)
    return calls


def _arguments(value, field: str, line: int, errors) -> dict | None:
    if isinstance(value, str):
        try:
            if json_line.nesting(value) > json_line.MAX_DEPTH:
                raise ValueError(f"nested deeper than {json_line.MAX_DEPTH} levels")
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            errors.add(line, field, f"the arguments are not valid JSON ({exc.msg} at column {exc.colno}); expected a "
                                    f"JSON object such as '{{\"order_id\": \"A1\"}}', found {value[:60]!r}")
            return None
        except (ValueError, RecursionError) as exc:
            errors.add(line, field, f"the arguments cannot be read ({exc})")
            return None
    if not isinstance(value, dict):
        errors.add(line, field, f"expected the arguments as a JSON object, found {_kind(value)}")
        return None
    return value


def _tool_result(turn: dict, content: str, where: str, earlier: list[dict], line: int, errors) -> dict | None:
    """A tool turn answers a call of the assistant turn before it (other results may come between)."""
    calls = []
    for message in reversed(earlier):
        if message["role"] == "assistant":
            calls = message.get("tool_calls") or []
            break
        if message["role"] != "tool":
            break
    if not calls:
        errors.add(line, f"{where}.role", "a tool result with no tool call before it: expected an assistant turn "
                                          "with tool_calls just before")
        return None
    message = {"role": "tool", "content": content}
    call_id = turn.get("tool_call_id")
    if call_id is not None:
        ids = [c["id"] for c in calls if "id" in c]
        if ids and call_id not in ids:
            errors.add(line, f"{where}.tool_call_id", f"answers the call {json.dumps(call_id)[:40]}, which the turn "
                                                      f"before did not make (its calls: {', '.join(ids)})")
            return None
        message["tool_call_id"] = str(call_id)
    if isinstance(turn.get("name"), str):
        message["name"] = turn["name"]
    return message


def _text(value, field: str, line: int, errors, allow_object: bool = False) -> str | None:
    if allow_object and isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, str):
        errors.add(line, field, f"expected a string, found {_kind(value)}")
        return None
    problem = json_line.text_problem(value)
    if problem:
        errors.add(line, field, problem)
        return None
    return value


def _kind(value) -> str:
    return "nothing" if value is None else json_kind(value)
