"""Chat templates and tools: whether a template renders a tool-calling conversation whole (the offered tools, the
assistant's calls with their arguments, the results), and the one tool-capable template anchortune ships for a model
whose own cannot (`--chat-template chatml-tools`: ChatML with the tools in the system turn and `<tool_call>` tags,
the layout Hermes and Qwen2.5 use; a newline after a tag is written as an expression, since transformers renders
templates with trim_blocks). A run with tools refuses a template that would drop any of it, saying what it
drops. Knows nothing about models or training: a tokenizer comes in.
"""

from __future__ import annotations

from pathlib import Path

from anchortune.errors import ConfigError

CHATML_TOOLS = (
    "{% set offset = 1 if messages and messages[0].role == 'system' else 0 %}"
    "{% if tools %}<|im_start|>system\n"
    "{% if offset %}{{ messages[0].content }}\n\n{% endif %}"
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function "
    "signatures within <tools></tools> XML tags:\n<tools>"
    "{% for tool in tools %}{{ '\\n' }}{{ tool | tojson }}{% endfor %}{{ '\\n' }}</tools>\n\nFor each function call, return a json "
    "object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n"
    "{% elif offset %}<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n{% endif %}"
    "{% for message in messages[offset:] %}"
    "{% if message.role == 'assistant' %}<|im_start|>assistant"
    "{% if message.content %}{{ '\\n' }}{{ message.content }}{% endif %}"
    "{% for call in message.tool_calls or [] %}{% set f = call.function if call.function is defined else call %}"
    "{{ '\\n' }}<tool_call>\n{\"name\": \"{{ f.name }}\", \"arguments\": {{ f.arguments | tojson }}}\n</tool_call>"
    "{% endfor %}"
    "{% if not message.content and not message.tool_calls %}{{ '\\n' }}{% endif %}<|im_end|>\n"
    "{% elif message.role == 'tool' %}"
    "{% if loop.first or loop.previtem.role != 'tool' %}<|im_start|>user{% endif %}"
    "{{ '\\n' }}<tool_response>\n{{ message.content }}\n</tool_response>"
    "{% if loop.last or loop.nextitem.role != 'tool' %}<|im_end|>\n{% endif %}"
    "{% else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
NAMED = {"chatml-tools": CHATML_TOOLS}

# a conversation whose every part carries a marker the rendered text must show
_PROBE_TOOLS = [{"type": "function", "function": {"name": "probe_lookup_tool", "description": "Probe description",
                                                   "parameters": {"type": "object", "properties": {
                                                       "probe_param": {"type": "string"}}}}}]
_PROBE = [{"role": "user", "content": "Probe question"},
          {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "id": "call_probe", "function": {
              "name": "probe_lookup_tool", "arguments": {"probe_param": "probe_argument_value"}}}]},
          {"role": "tool", "tool_call_id": "call_probe", "content": "probe_result_text"},
          {"role": "assistant", "content": "Probe answer"}]


def template_text(spec: str) -> str:
    """The template a `--chat-template` names: a shipped one by name, or a .jinja file's text."""
    if spec in NAMED:
        return NAMED[spec]
    path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(f"--chat-template {spec!r}: expected {', '.join(NAMED)} or a .jinja file, found no such "
                          "file", param="chat_template")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--chat-template {spec!r} cannot be read: {exc}", param="chat_template") from None


def use(tokenizer, spec: str | None):
    """The tokenizer with the template `spec` names (unchanged for None): it is saved with the tuned model."""
    if spec:
        tokenizer.chat_template = template_text(spec)
    return tokenizer


def tool_problem(tokenizer) -> str | None:
    """What the tokenizer's chat template leaves out of a tool-calling conversation (None: it renders it whole)."""
    try:
        text = tokenizer.apply_chat_template(_PROBE, tools=_PROBE_TOOLS, tokenize=False)
    except Exception as exc:  # noqa: BLE001 - a template raises what its author wrote
        return f"it raises an error on a tool call ({str(exc)[:120]})"
    missing = [what for what, marker in (("the offered tools", "Probe description"),
                                         ("the assistant's tool calls", "probe_argument_value"),
                                         ("the tool results", "probe_result_text")) if marker not in text]
    return f"it leaves out {' and '.join(missing)}" if missing else None


def refuse_unrenderable(tokenizer, model: str) -> None:
    """ConfigError naming what the template drops, for a run whose data calls tools."""
    problem = tool_problem(tokenizer)
    if problem:
        raise ConfigError(f"the chat template of '{model}' cannot render tool calls: {problem}; training on it would "
                          "teach the model text without its calls. Train with a template that renders them: "
                          "--chat-template chatml-tools (ChatML with tools and <tool_call> tags) or a .jinja file",
                          param="chat_template")
