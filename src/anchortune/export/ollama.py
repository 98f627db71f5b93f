"""An Ollama Modelfile for an exported GGUF: explicit TEMPLATE, a stop for every end token, SYSTEM, parameters.

Ollama does not run the Jinja chat template a GGUF carries; it runs its own Go template, and a wrong one is the
most common reason an exported model answers badly there. So the template is written from the chat layout the
model was trained with (ChatML, Gemma or Llama 3 turns, found from the markers in its Jinja template), and the
same layout is rendered here in Python and compared with what transformers renders from the Jinja template for a
conversation with a system prompt, a user turn and the assistant's cue (`check`): an export whose template would
frame conversations differently is refused. The preset's user template is applied to each prompt as training did.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from anchortune.errors import RunError


@dataclass(frozen=True)
class Layout:
    """How one chat family frames turns; `system_in_user` puts the system text at the start of the first user
    turn (Gemma has no system role)."""

    name: str
    marker: str  # a token only this family's template holds
    system: tuple[str, str]
    user: tuple[str, str]
    assistant: tuple[str, str]
    system_in_user: bool = False
    begin: str = ""  # text before the first turn (BOS written out by the template)


LAYOUTS = (
    Layout("chatml", "<|im_start|>", ("<|im_start|>system\n", "<|im_end|>\n"), ("<|im_start|>user\n", "<|im_end|>\n"),
           ("<|im_start|>assistant\n", "<|im_end|>\n")),
    Layout("gemma", "<start_of_turn>", ("", "\n\n"), ("<start_of_turn>user\n", "<end_of_turn>\n"),
           ("<start_of_turn>model\n", "<end_of_turn>\n"), system_in_user=True, begin="<bos>"),
    Layout("llama3", "<|start_header_id|>", ("<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"),
           ("<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>"),
           ("<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"), begin="<|begin_of_text|>"),
)


def layout_of(chat_template: str) -> Layout:
    for layout in LAYOUTS:
        if layout.marker in chat_template:
            return layout
    raise RunError("no Ollama template is known for this model's chat template (ChatML, Gemma and Llama 3 are); "
                   "export --format gguf and write the Modelfile's TEMPLATE by hand")


def render(layout: Layout, system: str, prompt: str, user_template: str = "{input}") -> str:
    """The prompt text the Go template below makes for one system prompt and one user turn (for `check`)."""
    prompt = user_template.replace("{input}", prompt)
    if layout.system_in_user:
        head = f"{layout.system[0]}{system}{layout.system[1]}" if system else ""
        return f"{layout.begin}{layout.user[0]}{head}{prompt}{layout.user[1]}{layout.assistant[0]}"
    head = f"{layout.system[0]}{system}{layout.system[1]}" if system else ""
    return f"{layout.begin}{head}{layout.user[0]}{prompt}{layout.user[1]}{layout.assistant[0]}"


def go_template(layout: Layout, user_template: str = "{input}") -> str:
    """Ollama's TEMPLATE for the layout (System / Prompt / Response; Ollama repeats it for every turn)."""
    prompt = user_template.replace("{input}", "{{ .Prompt }}")
    system = f"{{{{ if .System }}}}{layout.system[0]}{{{{ .System }}}}{layout.system[1]}{{{{ end }}}}"
    if layout.system_in_user:
        turn = f"{{{{ if .Prompt }}}}{layout.user[0]}{system}{prompt}{layout.user[1]}{{{{ end }}}}"
        return f"{turn}{layout.assistant[0]}{{{{ .Response }}}}{layout.assistant[1]}"
    turn = f"{{{{ if .Prompt }}}}{layout.user[0]}{prompt}{layout.user[1]}{{{{ end }}}}"
    return f"{system}{turn}{layout.assistant[0]}{{{{ .Response }}}}{layout.assistant[1]}"


def check(tokenizer, layout: Layout, system: str, user_template: str) -> str | None:
    """None when the layout renders a system + user conversation exactly as the model's Jinja template does
    (BOS aside: llama.cpp adds it by the GGUF's own flag), else what differs."""
    probe = "Where is my parcel?"
    framed = [{"role": "system", "content": system}] if system else []
    framed.append({"role": "user", "content": user_template.replace("{input}", probe)})
    expected = tokenizer.apply_chat_template(framed, tokenize=False, add_generation_prompt=True)
    mine = render(layout, system, probe, user_template)
    if expected.removeprefix(layout.begin) == mine.removeprefix(layout.begin):
        return None
    return f"the {layout.name} template renders {mine!r}, the model's chat template {expected!r}"


def modelfile(gguf_name: str, tokenizer, system: str, user_template: str, stops: list[str],
              json_fields: list[str] | None = None, context: int = 4096) -> str:
    """The Modelfile text (RunError where the layout is unknown or would frame conversations differently)."""
    layout = layout_of(tokenizer.chat_template or "")
    differs = check(tokenizer, layout, system, user_template)
    if differs:
        raise RunError(f"the Ollama template would not match training: {differs}")
    lines = [f"# written by anchortune: `ollama create NAME -f Modelfile` in this folder, then `ollama run NAME`",
             f"FROM ./{gguf_name}", "", f'TEMPLATE """{go_template(layout, user_template)}"""', ""]
    if system:
        lines += [f'SYSTEM """{system}"""', ""]
    ends = list(dict.fromkeys(list(stops) + [layout.assistant[1].strip()]))  # the turn's end, token or not
    lines += [f'PARAMETER stop "{_quote(s)}"' for s in ends if s]
    lines += ["PARAMETER temperature 0", f"PARAMETER num_ctx {context}"]
    if json_fields is not None:
        lines += ["", "# a JSON task: ask Ollama for JSON (API: \"format\": \"json\", or a schema with these fields; "
                      "CLI: ollama run NAME --format json)",
                  f"# fields: {', '.join(json_fields)}"]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def export(source, folder: Path, quant: str) -> dict:
    """The ollama format (export/formats.py): the GGUF (export/gguf.py) and a Modelfile beside it; the record's
    fields."""
    from transformers import AutoTokenizer

    from anchortune.export import gguf, served

    record = gguf.export(source, folder, quant)
    preset = source.preset
    tokenizer = AutoTokenizer.from_pretrained(source.model_dir)
    stops = [text for _, text in served.end_tokens(tokenizer, source.model_dir)]
    fields = preset.output.fields if preset.output.format == "json" else None
    (folder / "Modelfile").write_text(modelfile(record["file"], tokenizer, preset.system_text(), preset.user_template,
                                                stops, fields), encoding="utf-8")
    return {**record, "modelfile": "Modelfile"}
